//! Table definitions: the lake spec as Glue tables, in one serializable form.
//!
//! [`table_definitions`] turns the columns the normalizer writes ([`ddb_lake_core::schema`])
//! into Glue table definitions with the matching SerDe, gzip text input, `dt` partition and
//! partition projection. The same value becomes a Glue `TableInput` ([`to_table_input`]),
//! Athena DDL ([`crate::ddl`]) and the JSON the CDK app reads (`ddb-lake schema export`), so
//! `schema apply` and a deployment register the same catalog. Field names follow
//! CloudFormation's `AWS::Glue::Table` `TableInput` so the export can be used as it is.

use std::collections::BTreeMap;

use aws_sdk_glue::types::{Column, SerDeInfo, StorageDescriptor, Table, TableInput};
use ddb_lake_core::rowfmt::SERDE_PROPERTIES;
use ddb_lake_core::schema::PARTITION_COLUMN;
use ddb_lake_core::spec::LakeSpec;
use serde::{Deserialize, Serialize};

/// SerDe that reads the row format (docs/row-format.md).
pub const SERDE_LIBRARY: &str = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe";
/// Input format for (gzip'd) text.
pub const INPUT_FORMAT: &str = "org.apache.hadoop.mapred.TextInputFormat";
/// Output format for text tables.
pub const OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
/// Format of the `dt` partition values, in Java's notation (partition projection).
pub const DT_FORMAT: &str = "yyyy-MM-dd";

/// One column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ColumnDefinition {
    /// Column name.
    pub name: String,
    /// Glue/Athena type.
    #[serde(rename = "Type")]
    pub kind: String,
    /// What the column holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The SerDe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SerdeDefinition {
    /// SerDe class.
    pub serialization_library: String,
    /// SerDe properties.
    pub parameters: BTreeMap<String, String>,
}

/// Where and how the rows are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StorageDefinition {
    /// Columns in file order.
    pub columns: Vec<ColumnDefinition>,
    /// `s3://bucket/prefix/<table>/`.
    pub location: String,
    /// Input format class.
    pub input_format: String,
    /// Output format class.
    pub output_format: String,
    /// Objects are gzip'd.
    pub compressed: bool,
    /// SerDe and its properties.
    pub serde_info: SerdeDefinition,
}

/// One Glue table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TableDefinition {
    /// Table name.
    pub name: String,
    /// Table comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Always `EXTERNAL_TABLE`.
    pub table_type: String,
    /// Table properties: header skip, partition projection, …
    pub parameters: BTreeMap<String, String>,
    /// `dt`.
    pub partition_keys: Vec<ColumnDefinition>,
    /// Columns and storage.
    pub storage_descriptor: StorageDefinition,
}

/// The whole catalog of one lake: its database and tables (what `schema export` writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CatalogDefinition {
    /// Glue database.
    pub database_name: String,
    /// Tables, built-in ones first.
    pub tables: Vec<TableDefinition>,
}

/// The table definitions of every table the normalizer writes under `spec`.
pub fn table_definitions(spec: &LakeSpec) -> Vec<TableDefinition> {
    spec.table_schemas()
        .into_iter()
        .map(|t| {
            let location = spec.location.url(&format!("{}/", t.name));
            let mut parameters = BTreeMap::new();
            for (k, v) in [
                ("EXTERNAL", "TRUE".to_owned()),
                ("classification", "csv".to_owned()),
                ("compressionType", "gzip".to_owned()),
                ("skip.header.line.count", "1".to_owned()),
                ("projection.enabled", "true".to_owned()),
                ("projection.dt.type", "date".to_owned()),
                ("projection.dt.format", DT_FORMAT.to_owned()),
                ("projection.dt.range", format!("{},NOW", spec.projection_start)),
                ("projection.dt.interval", "1".to_owned()),
                ("projection.dt.interval.unit", "DAYS".to_owned()),
                ("storage.location.template", format!("{location}{PARTITION_COLUMN}=${{{PARTITION_COLUMN}}}")),
                ("ddb_lake.source_table", spec.source_table.clone()),
            ] {
                parameters.insert(k.to_owned(), v);
            }
            TableDefinition {
                name: t.name,
                description: Some(t.comment),
                table_type: "EXTERNAL_TABLE".into(),
                parameters,
                partition_keys: vec![ColumnDefinition {
                    name: PARTITION_COLUMN.into(),
                    kind: "string".into(),
                    comment: Some("UTC day of the change, YYYY-MM-DD".into()),
                }],
                storage_descriptor: StorageDefinition {
                    columns: t
                        .columns
                        .into_iter()
                        .map(|c| ColumnDefinition { name: c.name, kind: c.sql_type, comment: Some(c.comment) })
                        .collect(),
                    location,
                    input_format: INPUT_FORMAT.into(),
                    output_format: OUTPUT_FORMAT.into(),
                    compressed: true,
                    serde_info: SerdeDefinition {
                        serialization_library: SERDE_LIBRARY.into(),
                        parameters: SERDE_PROPERTIES.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                    },
                },
            }
        })
        .collect()
}

/// The catalog of `spec`.
pub fn catalog_definition(spec: &LakeSpec) -> CatalogDefinition {
    CatalogDefinition { database_name: spec.database.clone(), tables: table_definitions(spec) }
}

fn column(c: &ColumnDefinition) -> Column {
    // `build` fails only without a name, which every definition has.
    Column::builder()
        .name(&c.name)
        .r#type(&c.kind)
        .set_comment(c.comment.clone())
        .build()
        .unwrap_or_else(|_| unreachable!("a column definition always has a name"))
}

/// The Glue `TableInput` of a definition.
pub fn to_table_input(def: &TableDefinition) -> TableInput {
    let sd = &def.storage_descriptor;
    let serde_info = SerDeInfo::builder()
        .serialization_library(&sd.serde_info.serialization_library)
        .set_parameters(Some(sd.serde_info.parameters.clone().into_iter().collect()))
        .build();
    let storage = StorageDescriptor::builder()
        .set_columns(Some(sd.columns.iter().map(column).collect()))
        .location(&sd.location)
        .input_format(&sd.input_format)
        .output_format(&sd.output_format)
        .compressed(sd.compressed)
        .serde_info(serde_info)
        .build();
    TableInput::builder()
        .name(&def.name)
        .set_description(def.description.clone())
        .table_type(&def.table_type)
        .set_parameters(Some(def.parameters.clone().into_iter().collect()))
        .set_partition_keys(Some(def.partition_keys.iter().map(column).collect()))
        .storage_descriptor(storage)
        .build()
        .unwrap_or_else(|_| unreachable!("a table definition always has a name"))
}

fn column_def(c: &Column) -> ColumnDefinition {
    ColumnDefinition {
        name: c.name().to_owned(),
        kind: c.r#type().unwrap_or_default().to_owned(),
        comment: c.comment().map(str::to_owned),
    }
}

/// Reads a table from the Glue catalog back into a definition (for comparison).
pub fn from_glue_table(t: &Table) -> TableDefinition {
    let sd = t.storage_descriptor();
    let serde = sd.and_then(|s| s.serde_info());
    TableDefinition {
        name: t.name().to_owned(),
        description: t.description().map(str::to_owned),
        table_type: t.table_type().unwrap_or_default().to_owned(),
        parameters: t.parameters().map(|p| p.clone().into_iter().collect()).unwrap_or_default(),
        partition_keys: t.partition_keys().iter().map(column_def).collect(),
        storage_descriptor: StorageDefinition {
            columns: sd.map(|s| s.columns().iter().map(column_def).collect()).unwrap_or_default(),
            location: sd.and_then(|s| s.location()).unwrap_or_default().to_owned(),
            input_format: sd.and_then(|s| s.input_format()).unwrap_or_default().to_owned(),
            output_format: sd.and_then(|s| s.output_format()).unwrap_or_default().to_owned(),
            compressed: sd.is_some_and(|s| s.compressed()),
            serde_info: SerdeDefinition {
                serialization_library: serde.and_then(|s| s.serialization_library()).unwrap_or_default().to_owned(),
                parameters: serde
                    .and_then(|s| s.parameters())
                    .map(|p| p.clone().into_iter().collect())
                    .unwrap_or_default(),
            },
        },
    }
}

/// How a table in the catalog must change to match the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableChange {
    /// Not in the catalog yet.
    Create,
    /// Already as the spec says.
    Unchanged,
    /// Changes that keep every existing object readable (new trailing columns, comments,
    /// properties).
    Update(Vec<String>),
    /// Changes that would make existing objects read wrongly (a removed, renamed, retyped or
    /// moved column, another location or SerDe). Refused unless forced.
    Breaking {
        /// Why old data would break.
        reasons: Vec<String>,
        /// Everything that differs.
        changes: Vec<String>,
    },
}

/// Compares what the catalog has with what the spec wants.
pub fn compare(existing: &TableDefinition, wanted: &TableDefinition) -> TableChange {
    let mut changes = Vec::new();
    let mut reasons = Vec::new();
    let (old, new) = (&existing.storage_descriptor.columns, &wanted.storage_descriptor.columns);
    for (i, o) in old.iter().enumerate() {
        match new.get(i) {
            None => reasons.push(format!("column `{}` (position {}) would be removed", o.name, i + 1)),
            Some(n) if n.name != o.name => reasons.push(format!(
                "position {} holds `{}` in the catalog but `{}` in the spec (columns are read by position: add new columns at the end)",
                i + 1,
                o.name,
                n.name
            )),
            Some(n) if !n.kind.eq_ignore_ascii_case(&o.kind) => {
                reasons.push(format!("column `{}` would change type from {} to {}", o.name, o.kind, n.kind))
            }
            Some(n) if n.comment != o.comment => changes.push(format!("column `{}` comment", o.name)),
            Some(_) => {}
        }
    }
    for n in new.iter().skip(old.len()) {
        changes.push(format!("add column `{}` {}", n.name, n.kind));
    }
    let same = |a: &str, b: &str, what: &str, reasons: &mut Vec<String>| {
        if a != b {
            reasons.push(format!("{what} would change from `{a}` to `{b}`"));
        }
    };
    let (os, ns) = (&existing.storage_descriptor, &wanted.storage_descriptor);
    same(&os.location, &ns.location, "location", &mut reasons);
    same(&os.serde_info.serialization_library, &ns.serde_info.serialization_library, "SerDe", &mut reasons);
    same(&os.input_format, &ns.input_format, "input format", &mut reasons);
    if os.serde_info.parameters != ns.serde_info.parameters {
        reasons.push("SerDe properties (delimiter, escape, NULL marker) would change".into());
    }
    let key_names = |d: &TableDefinition| d.partition_keys.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    if key_names(existing) != key_names(wanted) {
        reasons.push("partition keys would change".into());
    }
    if existing.description != wanted.description {
        changes.push("table comment".into());
    }
    for (k, v) in &wanted.parameters {
        if existing.parameters.get(k) != Some(v) {
            changes.push(format!("property {k} = {v}"));
        }
    }
    for k in existing.parameters.keys() {
        if !wanted.parameters.contains_key(k) {
            changes.push(format!("remove property {k}"));
        }
    }
    if os.output_format != ns.output_format
        || os.compressed != ns.compressed
        || existing.table_type != wanted.table_type
    {
        changes.push("storage settings".into());
    }
    if !reasons.is_empty() {
        changes.extend(reasons.iter().cloned());
        TableChange::Breaking { reasons, changes }
    } else if changes.is_empty() {
        TableChange::Unchanged
    } else {
        TableChange::Update(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> LakeSpec {
        LakeSpec::from_toml(include_str!("../../docs/examples/sync-configurations.toml"), "example").unwrap()
    }

    #[test]
    fn definitions_follow_the_writer() {
        let spec = example();
        let defs = table_definitions(&spec);
        let schemas = spec.table_schemas();
        assert_eq!(defs.len(), schemas.len());
        for (d, s) in defs.iter().zip(&schemas) {
            let names: Vec<&str> = d.storage_descriptor.columns.iter().map(|c| c.name.as_str()).collect();
            let want: Vec<&str> = s.columns.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, want);
            assert_eq!(
                d.storage_descriptor.location,
                format!("s3://acme-config-lake/ddb/sync-configurations/{}/", d.name)
            );
            assert_eq!(
                d.parameters["storage.location.template"],
                format!("s3://acme-config-lake/ddb/sync-configurations/{}/dt=${{dt}}", d.name)
            );
            assert_eq!(d.parameters["projection.dt.range"], "2024-01-01,NOW");
            assert_eq!(d.storage_descriptor.serde_info.parameters["field.delim"], "\t");
        }
    }

    #[test]
    fn table_input_round_trips() {
        for d in table_definitions(&example()) {
            let input = to_table_input(&d);
            let table = Table::builder()
                .name(input.name())
                .set_description(input.description().map(str::to_owned))
                .set_table_type(input.table_type().map(str::to_owned))
                .set_parameters(input.parameters().cloned())
                .set_partition_keys(Some(input.partition_keys().to_vec()))
                .set_storage_descriptor(input.storage_descriptor().cloned())
                .build()
                .unwrap();
            assert_eq!(from_glue_table(&table), d);
        }
    }

    #[test]
    fn additive_changes_update_and_breaking_ones_are_named() {
        let old = table_definitions(&example()).remove(3);
        let mut new = old.clone();
        assert_eq!(compare(&old, &new), TableChange::Unchanged);
        new.storage_descriptor.columns.push(ColumnDefinition {
            name: "extra".into(),
            kind: "string".into(),
            comment: None,
        });
        assert!(matches!(compare(&old, &new), TableChange::Update(c) if c == vec!["add column `extra` string"]));
        let mut retyped = old.clone();
        retyped.storage_descriptor.columns[8].kind = "bigint".into();
        let TableChange::Breaking { reasons, .. } = compare(&old, &retyped) else { panic!() };
        assert!(reasons[0].contains("would change type from string to bigint"), "{reasons:?}");
        let mut removed = old.clone();
        removed.storage_descriptor.columns.pop();
        assert!(matches!(compare(&old, &removed), TableChange::Breaking { .. }));
        let mut moved = old.clone();
        moved.storage_descriptor.columns.swap(8, 9);
        assert!(matches!(compare(&old, &moved), TableChange::Breaking { .. }));
    }
}
