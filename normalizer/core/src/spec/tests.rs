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

#[test]
fn a_table_takes_one_entity_by_key_prefix_or_attribute() {
    let table = |when: &str| {
        format!("{BASE}[[tables]]\nname = \"t1\"\n[tables.when]\n{when}\n[[tables.columns]]\nname=\"a\"\npath=\"a\"\ntype=\"string\"\n")
    };
    let rule = |when: &str| LakeSpec::from_toml(&table(when), "lake.toml").unwrap().tables[0].when.clone();
    assert_eq!(rule("sk_prefix = \"SYNC#\""), Some(EntityRule::SkPrefix("SYNC#".into())));
    assert_eq!(rule("pk_prefix = \"CLIENT#\""), Some(EntityRule::PkPrefix("CLIENT#".into())));
    assert_eq!(
        rule("attribute = \"entityType\"\nequals = \"SyncConfig\""),
        Some(EntityRule::Attribute { attribute: "entityType".into(), equals: "SyncConfig".into() })
    );
    let spec = LakeSpec::from_toml(&table("sk_prefix = \"SYNC#\""), "lake.toml").unwrap();
    assert!(spec.explain().contains("takes:   only items whose sort key starts with \"SYNC#\""), "{}", spec.explain());
    let r = EntityRule::SkPrefix("SYNC#".into());
    assert!(r.matches(Some("CLIENT#1"), Some("SYNC#2"), |_| None));
    assert!(!r.matches(Some("CLIENT#1"), Some("USER#2"), |_| None) && !r.matches(Some("SYNC#"), None, |_| None));
    let a = EntityRule::Attribute { attribute: "entityType".into(), equals: "User".into() };
    assert!(a.matches(None, None, |n| (n == "entityType").then_some("User")));
    assert!(!a.matches(None, None, |n| (n == "entityType").then_some("Users")));

    for (when, says) in [
        ("sk_prefix = \"A\"\npk_prefix = \"B\"", "needs exactly one rule"),
        ("", "needs exactly one rule"),
        ("sk_prefix = \"\"", "when.sk_prefix is empty"),
        ("attribute = \"entityType\"", "when.attribute and when.equals go together"),
        ("equals = \"x\"", "when.attribute and when.equals go together"),
        ("sk_prefixx = \"A\"", "unknown field `sk_prefixx`"),
    ] {
        let e = err(&table(when));
        assert!(e.to_string().contains(says), "{when}: {e}");
        assert!(e.to_string().contains("lake.toml:"), "{e}");
    }
    let no_sort_key = "[source]\ntable = \"t\"\nsort_key = \"\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n";
    assert!(LakeSpec::from_toml(no_sort_key, "lake.toml").unwrap().sort_key.is_none());
    let e = err(&table("sk_prefix = \"A\"").replace(BASE, no_sort_key));
    assert!(e.to_string().contains("when.sk_prefix needs a sort key"), "{e}");
}

fn with_entities(entities: &[(&str, &str)]) -> String {
    let mut text = BASE.to_owned();
    for (name, when) in entities {
        text.push_str(&format!("[[entities]]\nname = \"{name}\"\n[entities.when]\n{when}\n"));
    }
    text
}

#[test]
fn entities_name_the_item_types_and_add_the_entity_column() {
    let spec = LakeSpec::from_toml(
        &with_entities(&[("sync_config", "sk_prefix = \"SYNC#\""), ("user", "sk_prefix = \"USER#\"")]),
        "lake.toml",
    )
    .unwrap();
    let names: Vec<&str> = spec.entities.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["sync_config", "user"]);
    assert_eq!(spec.entity_of(Some("CLIENT#1"), Some("USER#ann"), |_| None), Some("user"));
    assert_eq!(spec.entity_of(Some("CLIENT#1"), Some("AUDIT#1"), |_| None), None);
    let explained = spec.explain();
    assert!(explained.contains("user               items whose sort key starts with \"USER#\""), "{explained}");
    // changes and attributes end with `entity`; no other table has it.
    for t in spec.table_schemas() {
        let last = t.columns.last().unwrap().name.as_str();
        assert_eq!(last == "entity", t.name == "changes" || t.name == "attributes", "{}", t.name);
    }
    // Without the list the tables are exactly the built-in ones.
    let plain = LakeSpec::from_toml(BASE, "lake.toml").unwrap();
    assert!(plain.table_schemas().iter().all(|t| t.columns.iter().all(|c| c.name != "entity")));
    assert!(!plain.explain().contains("entities"));

    // Rules on one attribute with different values exclude each other, so do they on the
    // sort key itself when the value does not start with the other's prefix.
    let by_type = with_entities(&[
        ("sync_config", "attribute = \"entityType\"\nequals = \"SyncConfig\""),
        ("user", "attribute = \"entityType\"\nequals = \"User\""),
    ]);
    let spec = LakeSpec::from_toml(&by_type, "lake.toml").unwrap();
    assert_eq!(spec.entity_of(None, None, |n| (n == "entityType").then_some("User")), Some("user"));
    let mixed =
        with_entities(&[("profile", "attribute = \"sk\"\nequals = \"PROFILE\""), ("sync", "sk_prefix = \"SYNC#\"")]);
    LakeSpec::from_toml(&mixed, "lake.toml").unwrap();
}

#[test]
fn entities_that_one_item_can_both_be_are_refused_naming_both() {
    for (entities, says) in [
        (
            [("sync", "sk_prefix = \"SYNC#\""), ("sync_v2", "sk_prefix = \"SYNC#V2#\"")],
            "entities `sync` and `sync_v2` overlap",
        ),
        (
            [("sync", "sk_prefix = \"SYNC#\""), ("user", "attribute = \"entityType\"\nequals = \"User\"")],
            "entities `sync` and `user` overlap: one item can be both (items whose sort key starts with \"SYNC#\" and items whose attribute entityType is \"User\")",
        ),
        (
            [("a", "pk_prefix = \"CLIENT#\""), ("b", "sk_prefix = \"USER#\"")],
            "entities `a` and `b` overlap",
        ),
        ([("a", "attribute = \"t\"\nequals = \"x\""), ("b", "attribute = \"t\"\nequals = \"x\"")], "entities `a` and `b` overlap"),
        ([("a", "attribute = \"sk\"\nequals = \"USER#1\""), ("b", "sk_prefix = \"USER#\"")], "entities `a` and `b` overlap"),
        ([("a", "sk_prefix = \"A\""), ("a", "sk_prefix = \"B\"")], "entity `a` is declared twice"),
        ([("a", "sk_prefix = \"A\""), ("Users", "sk_prefix = \"B\"")], "entity `Users` is not usable"),
        ([("a", "sk_prefix = \"A\""), ("b", "sk_prefix = \"\"")], "entity `b`: when.sk_prefix is empty"),
    ] {
        let text = with_entities(&entities);
        let e = err(&text);
        assert!(e.to_string().contains(says), "{text}: {e}");
        assert!(e.line.is_some(), "{e}");
    }
    let e = err(&format!("{BASE}[[entities]]\nname = \"user\"\n"));
    assert!(e.to_string().contains("entity `user` has no [entities.when]"), "{e}");
    assert_eq!(e.line, Some(BASE.lines().count() + 2));
}
