//! `ddb-lake schema` against a real Glue API (moto_server on 127.0.0.1): apply creates the
//! database and every table exactly as defined; a second apply changes nothing (no new table
//! version); a new trailing column updates the table in place; a breaking change is refused
//! unless forced. Also checks the printed DDL against the Glue TableInput.

mod helpers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ddb_lake_core::spec::LakeSpec;
use ddb_lake_glue_schema::definition::{catalog_definition, from_glue_table, to_table_input};
use helpers::Moto;

fn example_spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/sync-configurations.toml")
}

fn schema(moto: &Moto, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .arg("schema")
        .args(args)
        .args(["--endpoint-url", &moto.endpoint])
        .envs(moto.env())
        .output()
        .expect("ddb-lake runs")
}

fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

async fn version_count(glue: &aws_sdk_glue::Client, db: &str, table: &str) -> usize {
    glue.get_table_versions().database_name(db).table_name(table).send().await.unwrap().table_versions().len()
}

/// The type of `column` in `sync_lake.<table>` as the catalog has it.
async fn column_type(glue: &aws_sdk_glue::Client, table: &str, column: &str) -> Option<String> {
    let t = glue.get_table().database_name("sync_lake").name(table).send().await.unwrap();
    let sd = t.table().unwrap().storage_descriptor().unwrap();
    sd.columns().iter().find(|c| c.name() == column).and_then(|c| c.r#type().map(str::to_owned))
}

#[tokio::test]
async fn apply_creates_then_changes_nothing_then_evolves() {
    let moto = Moto::start();
    let glue = moto.glue();
    let spec_path = example_spec();
    let spec = LakeSpec::from_file(&spec_path).unwrap();
    let catalog = catalog_definition(&spec);
    let spec_arg = spec_path.to_str().unwrap();

    let say = stdout_ok(&schema(&moto, &["plan", "--spec", spec_arg]));
    assert!(say.contains("+ create database sync_lake"), "{say}");
    let say = stdout_ok(&schema(&moto, &["apply", "--spec", spec_arg]));
    assert!(say.contains("+ create table sync_lake.field_mappings") && say.contains("applied"), "{say}");

    // Read back: every table is exactly its definition.
    for def in &catalog.tables {
        let t = glue.get_table().database_name("sync_lake").name(&def.name).send().await.unwrap();
        assert_eq!(&from_glue_table(t.table().unwrap()), def, "table {}", def.name);
    }
    let before = version_count(&glue, "sync_lake", "sync_configs").await;

    // Second run: no changes, no new version.
    let say = stdout_ok(&schema(&moto, &["apply", "--spec", spec_arg]));
    assert!(say.starts_with("no changes"), "{say}");
    assert_eq!(version_count(&glue, "sync_lake", "sync_configs").await, before);

    // A new column at the end: updated in place.
    let dir = tempfile::tempdir().unwrap();
    let evolved = dir.path().join("lake.toml");
    let text = std::fs::read_to_string(&spec_path).unwrap();
    let text = text.replacen(
        "[[tables]]\nname = \"field_mappings\"",
        "[[tables.columns]]\nname = \"updated_at\"\npath = \"updatedAt\"\ntype = \"string\"\n\n[[tables]]\nname = \"field_mappings\"",
        1,
    );
    std::fs::write(&evolved, &text).unwrap();
    let say = stdout_ok(&schema(&moto, &["apply", "--spec", evolved.to_str().unwrap()]));
    assert!(
        say.contains("~ update table sync_lake.sync_configs") && say.contains("add column `updated_at` string"),
        "{say}"
    );
    let t = glue.get_table().database_name("sync_lake").name("sync_configs").send().await.unwrap();
    let cols = t.table().unwrap().storage_descriptor().unwrap().columns();
    assert_eq!(cols.last().unwrap().name(), "updated_at");
    assert!(version_count(&glue, "sync_lake", "sync_configs").await > before);

    // [[entities]] added to a lake: `entity` at the end of changes and attributes (and by
    // name in their Parquet tables), updated in place, nothing breaking; other tables unchanged.
    let with_entities = dir.path().join("entities.toml");
    let text = format!(
        "{text}\n[[entities]]\nname = \"sync_config\"\n[entities.when]\nsk_prefix = \"SYNC#\"\n\
         [[entities]]\nname = \"user\"\n[entities.when]\nsk_prefix = \"USER#\"\n"
    );
    std::fs::write(&with_entities, &text).unwrap();
    let say = stdout_ok(&schema(&moto, &["apply", "--spec", with_entities.to_str().unwrap()]));
    assert!(!say.contains("BREAKING"), "{say}");
    let mut updated: Vec<&str> = say.lines().filter_map(|l| l.strip_prefix("~ update table sync_lake.")).collect();
    updated.sort_unstable();
    let want =
        ["attributes", "attributes_compacted", "attributes_state", "changes", "changes_compacted", "changes_state"];
    assert_eq!(updated, want, "{say}");
    for t in ["changes", "attributes"] {
        let got = glue.get_table().database_name("sync_lake").name(t).send().await.unwrap();
        let cols = got.table().unwrap().storage_descriptor().unwrap().columns();
        assert_eq!((cols.last().unwrap().name(), cols.last().unwrap().r#type()), ("entity", Some("string")), "{t}");
        for suffix in ["_compacted", "_state"] {
            let got = glue.get_table().database_name("sync_lake").name(format!("{t}{suffix}")).send().await.unwrap();
            let cols = got.table().unwrap().storage_descriptor().unwrap().columns();
            assert!(cols.iter().any(|c| c.name() == "entity"), "{t}{suffix}");
        }
    }
    let entity_spec = LakeSpec::from_file(&with_entities).unwrap();
    for def in &catalog_definition(&entity_spec).tables {
        let t = glue.get_table().database_name("sync_lake").name(&def.name).send().await.unwrap();
        assert_eq!(&from_glue_table(t.table().unwrap()), def, "table {}", def.name);
    }

    // A retyped column: refused, catalog unchanged; then forced.
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        text.replacen("path = \"version\"\ntype = \"bigint\"", "path = \"version\"\ntype = \"string\"", 1),
    )
    .unwrap();
    let out = schema(&moto, &["apply", "--spec", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing breaking changes") && err.contains("`version` would change type from bigint to string"),
        "{err}"
    );
    assert_eq!(column_type(&glue, "sync_configs", "version").await.as_deref(), Some("bigint"));
    stdout_ok(&schema(&moto, &["apply", "--spec", broken.to_str().unwrap(), "--force"]));
    assert_eq!(column_type(&glue, "sync_configs", "version").await.as_deref(), Some("string"));
}

#[tokio::test]
async fn default_spec_applies_to_a_fresh_catalog() {
    let moto = Moto::start();
    let say = stdout_ok(&schema(&moto, &["apply"]));
    assert!(
        say.contains("+ create table ddb_lake.changes")
            && say.contains("+ create table ddb_lake.attributes")
            && say.contains("+ create table ddb_lake.snapshots")
            && say.contains("+ create table ddb_lake._rejects"),
        "{say}"
    );
    let say = stdout_ok(&schema(&moto, &["plan"]));
    // changes, attributes, _rejects, snapshots, compactions; the Parquet history and state of
    // changes and attributes.
    assert!(say.starts_with("no changes: database `ddb_lake` and its 9 tables match the spec"), "{say}");
}

/// The DDL of every table carries the same columns, SerDe properties, location and
/// projection as its TableInput.
#[test]
fn ddl_matches_table_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .args(["schema", "ddl", "--spec", example_spec().to_str().unwrap()])
        .output()
        .unwrap();
    let ddl = String::from_utf8(out.stdout).unwrap();
    assert!(ddl.starts_with("CREATE DATABASE IF NOT EXISTS `sync_lake`;"), "{ddl}");
    let spec = LakeSpec::from_file(&example_spec()).unwrap();
    let statements: Vec<&str> = ddl.split("CREATE EXTERNAL TABLE").skip(1).collect();
    let catalog = catalog_definition(&spec);
    assert_eq!(statements.len(), catalog.tables.len());
    for (stmt, def) in statements.iter().zip(&catalog.tables) {
        let input = to_table_input(def);
        let sd = input.storage_descriptor().unwrap();
        assert!(stmt.starts_with(&format!(" IF NOT EXISTS `sync_lake`.`{}` (\n", input.name())), "{stmt}");
        // Columns in order, each with its type.
        let body = &stmt[stmt.find("(\n").unwrap() + 2..stmt.find("\n)\n").unwrap()];
        let ddl_cols: Vec<(String, String)> = body
            .lines()
            .map(|l| {
                let mut it = l.trim().splitn(3, ' ');
                (it.next().unwrap().trim_matches('`').to_owned(), it.next().unwrap().to_owned())
            })
            .collect();
        let input_cols: Vec<(String, String)> =
            sd.columns().iter().map(|c| (c.name().to_owned(), c.r#type().unwrap().to_owned())).collect();
        assert_eq!(ddl_cols, input_cols);
        // The state tables have no partition: a compaction's state is one set of objects.
        assert_eq!(stmt.contains("PARTITIONED BY (\n  `dt` string"), !input.partition_keys().is_empty(), "{stmt}");
        assert!(
            stmt.contains(&format!("ROW FORMAT SERDE '{}'", sd.serde_info().unwrap().serialization_library().unwrap()))
        );
        for (k, v) in sd.serde_info().unwrap().parameters().unwrap() {
            let v = v.replace('\\', "\\\\").replace('\t', "\\t");
            assert!(stmt.contains(&format!("'{k}' = '{v}'")), "serde property {k} in {stmt}");
        }
        assert!(stmt.contains(&format!("LOCATION '{}'", sd.location().unwrap())));
        for (k, v) in input.parameters().unwrap() {
            if k != "EXTERNAL" {
                assert!(stmt.contains(&format!("'{k}' = '{v}'")), "table property {k} in {stmt}");
            }
        }
    }
}
