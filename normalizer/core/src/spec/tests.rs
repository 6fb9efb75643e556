//! The spec's tests: the documented example, and every refusal naming its line and fix.

use super::*;

pub(crate) const EXAMPLE: &str = include_str!("../../../../docs/examples/sync-configurations.toml");

#[test]
fn the_backfill_margin_is_read_and_bounded() {
    let base = "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n";
    assert_eq!(LakeSpec::from_toml(base, "t.toml").unwrap().snapshot_margin_seconds, 300);
    let spec = LakeSpec::from_toml(&format!("{base}[backfill]\nmargin_seconds = 0\n"), "t.toml").unwrap();
    assert_eq!(spec.snapshot_margin_seconds, 0);
    let e = LakeSpec::from_toml(&format!("{base}[backfill]\nmargin_seconds = 90000\n"), "t.toml").unwrap_err();
    assert!(e.to_string().contains("t.toml:6: backfill.margin_seconds 90000 is out of range"), "{e}");
    let e = LakeSpec::from_toml(&format!("{base}[[tables]]\nname = \"snapshots\"\n"), "t.toml").unwrap_err();
    assert!(e.to_string().contains("is a built-in table"), "{e}");
}

#[test]
fn the_documented_example_is_valid() {
    let spec = LakeSpec::from_toml(EXAMPLE, "example.toml").unwrap();
    assert_eq!(spec.location.bucket, "acme-config-lake");
    assert!(spec.tables.iter().any(|t| t.explode.is_some()));
    assert!(spec.explain().contains("field_mappings"));
}

fn err(text: &str) -> SpecError {
    LakeSpec::from_toml(text, "lake.toml").unwrap_err()
}

const BASE: &str = "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n";

#[test]
fn typo_names_file_line_and_fix() {
    let e = err(&format!("{BASE}[[tables]]\nname = \"x\"\nexplod = \"a\"\n"));
    assert_eq!(e.file, "lake.toml");
    assert_eq!(e.line, Some(7));
    assert!(e.message.contains("unknown field `explod`"), "{e}");
    assert!(e.to_string().contains("fix:"));
}

#[test]
fn bad_identifiers_types_paths_and_duplicates() {
    let e = err(&format!(
        "{BASE}[[tables]]\nname = \"Field Mappings\"\n[[tables.columns]]\nname=\"a\"\npath=\"a\"\ntype=\"string\"\n"
    ));
    assert!(e.fix.contains("field_mappings"), "{e}");
    let e = err(&format!(
        "{BASE}[[tables]]\nname = \"t1\"\n[[tables.columns]]\nname=\"a\"\npath=\"a\"\ntype=\"varchar\"\n"
    ));
    assert_eq!(e.line, Some(10));
    let e = err(&format!(
        "{BASE}[[tables]]\nname = \"t1\"\n[[tables.columns]]\nname=\"a\"\npath=\"a..b\"\ntype=\"string\"\n"
    ));
    assert!(e.message.contains("a..b"));
    let e = err(&format!("{BASE}[[tables]]\nname = \"t1\"\n[[tables.columns]]\nname=\"a\"\npath=\"a\"\ntype=\"string\"\n[[tables.columns]]\nname=\"a\"\npath=\"b\"\ntype=\"string\"\n"));
    assert!(e.message.contains("appears twice"), "{e}");
    let e = err(&format!(
        "{BASE}[[tables]]\nname = \"t1\"\n[[tables.columns]]\nname=\"pk\"\npath=\"b\"\ntype=\"string\"\n"
    ));
    assert!(e.message.contains("appears twice"), "{e}");
    let e = err("[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://b/../x\"\n");
    assert_eq!(e.line, Some(4));
    let e = err(&format!(
        "{BASE}[[tables]]\nname = \"changes\"\n[[tables.columns]]\nname=\"a\"\npath=\"a\"\ntype=\"string\"\n"
    ));
    assert!(e.message.contains("declared twice"));
}

#[test]
fn redaction_rules_are_checked() {
    let e = err(&format!("{BASE}[redaction]\n[[redaction.rule]]\npath = \"pk\"\naction = \"drop\"\n"));
    assert!(e.message.contains("key attribute"));
    let e = err(&format!("{BASE}[redaction]\n[[redaction.rule]]\npath = \"secret\"\naction = \"drop\"\n[[tables]]\nname = \"t1\"\n[[tables.columns]]\nname=\"s\"\npath=\"secret.x\"\ntype=\"string\"\n"));
    assert!(e.message.contains("drops"), "{e}");
    let ok = LakeSpec::from_toml(&format!("{BASE}[redaction]\n[[redaction.rule]]\npath = \"m[].secret\"\naction = \"hash\"\n[[tables]]\nname = \"t1\"\nexplode = \"m\"\n[[tables.columns]]\nname=\"s\"\npath=\"m[].secret\"\ntype=\"string\"\n"), "x").unwrap();
    assert!(ok.tables[0].columns[0].hashed);
    assert!(ok.needs_redaction_key());
}
