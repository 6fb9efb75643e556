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
use ddb_lake_core::schema::{
    is_compacted, BuiltInTable, TableSchema, COMPACTED_SUFFIX, COMPACTION_ID_COLUMN, PARTITION_COLUMN, STATE_SUFFIX,
};
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

/// The table definitions of every table of a lake under `spec`: the text tables the
/// normalizer writes (and `compactions`, which `ddb-lake compact` writes), in
/// [`LakeSpec::table_schemas`] order, then the Parquet tables of compaction
/// (docs/compaction.md): for every compacted table, `<table>_compacted` (its history, by day)
/// and `<table>_state` (its rows of every item at a compaction's watermark).
pub fn table_definitions(spec: &LakeSpec) -> Vec<TableDefinition> {
    let schemas = spec.table_schemas();
    let mut out: Vec<TableDefinition> = schemas.iter().map(|t| text_definition(spec, t)).collect();
    for t in schemas.iter().filter(|t| is_compacted(&t.name)) {
        out.push(compacted_definition(spec, t));
        out.push(state_definition(spec, t));
    }
    out
}

/// The parameter that names what writes a table's objects: [`WRITTEN_BY_NORMALIZER`] or
/// [`WRITTEN_BY_COMPACTION`] (the CDK app grants the function write access to the first only).
pub const WRITTEN_BY: &str = "ddb_lake.written_by";
/// [`WRITTEN_BY`] of the tables the stream function and the backfill write.
pub const WRITTEN_BY_NORMALIZER: &str = "normalizer";
/// [`WRITTEN_BY`] of the tables `ddb-lake compact` writes.
pub const WRITTEN_BY_COMPACTION: &str = "compaction";

/// SerDe of the Parquet tables.
pub const PARQUET_SERDE_LIBRARY: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
/// Input format of the Parquet tables.
pub const PARQUET_INPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
/// Output format of the Parquet tables.
pub const PARQUET_OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";

impl TableDefinition {
    /// Whether the table's objects are Parquet (else gzip'd text in the row format).
    pub fn is_parquet(&self) -> bool {
        self.storage_descriptor.input_format == PARQUET_INPUT_FORMAT
    }
}

fn day_partition() -> ColumnDefinition {
    ColumnDefinition {
        name: PARTITION_COLUMN.into(),
        kind: "string".into(),
        comment: Some("UTC day of the change, YYYY-MM-DD".into()),
    }
}

fn columns_of(t: &TableSchema) -> Vec<ColumnDefinition> {
    t.columns
        .iter()
        .map(|c| ColumnDefinition { name: c.name.clone(), kind: c.sql_type.clone(), comment: Some(c.comment.clone()) })
        .collect()
}

fn compaction_id_column() -> ColumnDefinition {
    ColumnDefinition {
        name: COMPACTION_ID_COLUMN.into(),
        kind: "string".into(),
        comment: Some(
            "the run of `ddb-lake compact` that wrote the row: it counts once that run has its `compactions` row"
                .into(),
        ),
    }
}

/// Partition projection on `dt` for a table whose objects live under `location`.
fn day_projection(spec: &LakeSpec, location: &str, parameters: &mut BTreeMap<String, String>) {
    for (k, v) in [
        ("projection.enabled", "true".to_owned()),
        ("projection.dt.type", "date".to_owned()),
        ("projection.dt.format", DT_FORMAT.to_owned()),
        ("projection.dt.range", format!("{},NOW", spec.projection_start)),
        ("projection.dt.interval", "1".to_owned()),
        ("projection.dt.interval.unit", "DAYS".to_owned()),
        ("storage.location.template", format!("{location}{PARTITION_COLUMN}=${{{PARTITION_COLUMN}}}")),
    ] {
        parameters.insert(k.to_owned(), v);
    }
}

fn text_definition(spec: &LakeSpec, t: &TableSchema) -> TableDefinition {
    let location = spec.location.url(&format!("{}/", t.name));
    let written_by =
        if t.name == BuiltInTable::Compactions.name() { WRITTEN_BY_COMPACTION } else { WRITTEN_BY_NORMALIZER };
    let mut parameters = BTreeMap::new();
    for (k, v) in [
        ("EXTERNAL", "TRUE"),
        ("classification", "csv"),
        ("compressionType", "gzip"),
        ("skip.header.line.count", "1"),
        ("ddb_lake.source_table", spec.source_table.as_str()),
        (WRITTEN_BY, written_by),
    ] {
        parameters.insert(k.to_owned(), v.to_owned());
    }
    day_projection(spec, &location, &mut parameters);
    TableDefinition {
        name: t.name.clone(),
        description: Some(t.comment.clone()),
        table_type: "EXTERNAL_TABLE".into(),
        parameters,
        partition_keys: vec![day_partition()],
        storage_descriptor: StorageDefinition {
            columns: columns_of(t),
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
}

fn parquet_definition(
    spec: &LakeSpec,
    name: String,
    description: String,
    columns: Vec<ColumnDefinition>,
    partitioned: bool,
) -> TableDefinition {
    let location = spec.location.url(&format!("{name}/"));
    let mut parameters = BTreeMap::new();
    for (k, v) in [
        ("EXTERNAL", "TRUE"),
        ("classification", "parquet"),
        ("parquet.compression", "SNAPPY"),
        ("ddb_lake.source_table", spec.source_table.as_str()),
        (WRITTEN_BY, WRITTEN_BY_COMPACTION),
    ] {
        parameters.insert(k.to_owned(), v.to_owned());
    }
    if partitioned {
        day_projection(spec, &location, &mut parameters);
    }
    TableDefinition {
        name,
        description: Some(description),
        table_type: "EXTERNAL_TABLE".into(),
        parameters,
        partition_keys: if partitioned { vec![day_partition()] } else { Vec::new() },
        storage_descriptor: StorageDefinition {
            columns,
            location,
            input_format: PARQUET_INPUT_FORMAT.into(),
            output_format: PARQUET_OUTPUT_FORMAT.into(),
            compressed: true,
            serde_info: SerdeDefinition {
                serialization_library: PARQUET_SERDE_LIBRARY.into(),
                // What Glue and Athena's CTAS give a Parquet table.
                parameters: BTreeMap::from([("serialization.format".to_owned(), "1".to_owned())]),
            },
        },
    }
}

/// `<table>_compacted`: the table's columns and `compaction_id`, by day, in Parquet.
fn compacted_definition(spec: &LakeSpec, t: &TableSchema) -> TableDefinition {
    let mut columns = columns_of(t);
    columns.push(compaction_id_column());
    parquet_definition(
        spec,
        format!("{}{COMPACTED_SUFFIX}", t.name),
        format!("the compacted history of {}: its rows of every compacted day, in Parquet", t.name),
        columns,
        true,
    )
}

/// `<table>_state`: the table's columns, the row's day and `compaction_id`, in Parquet.
fn state_definition(spec: &LakeSpec, t: &TableSchema) -> TableDefinition {
    let mut columns = columns_of(t);
    columns.push(ColumnDefinition {
        name: PARTITION_COLUMN.into(),
        kind: "string".into(),
        comment: Some("UTC day of the row's change, YYYY-MM-DD (the day folder it came from)".into()),
    });
    columns.push(compaction_id_column());
    parquet_definition(
        spec,
        format!("{}{STATE_SUFFIX}", t.name),
        format!(
            "the rows of {} that decide each item's state at a compaction's watermark (deleted items as tombstones in changes), in Parquet",
            t.name
        ),
        columns,
        false,
    )
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

/// Text objects are read by position: a column that moves or goes misreads every object.
fn positional_changes(
    old: &[ColumnDefinition],
    new: &[ColumnDefinition],
    changes: &mut Vec<String>,
    reasons: &mut Vec<String>,
) {
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
}

/// Compares what the catalog has with what the spec wants.
pub fn compare(existing: &TableDefinition, wanted: &TableDefinition) -> TableChange {
    let mut changes = Vec::new();
    let mut reasons = Vec::new();
    let (old, new) = (&existing.storage_descriptor.columns, &wanted.storage_descriptor.columns);
    if existing.is_parquet() && wanted.is_parquet() {
        // Parquet objects carry their column names and are read by name: a column may come
        // anywhere, and one that goes is no longer read; only a new type misreads.
        for o in old {
            match new.iter().find(|n| n.name == o.name) {
                None => changes.push(format!("remove column `{}`", o.name)),
                Some(n) if !n.kind.eq_ignore_ascii_case(&o.kind) => {
                    reasons.push(format!("column `{}` would change type from {} to {}", o.name, o.kind, n.kind))
                }
                Some(n) if n.comment != o.comment => changes.push(format!("column `{}` comment", o.name)),
                Some(_) => {}
            }
        }
        for n in new.iter().filter(|n| !old.iter().any(|o| o.name == n.name)) {
            changes.push(format!("add column `{}` {}", n.name, n.kind));
        }
    } else {
        positional_changes(old, new, &mut changes, &mut reasons);
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
        let compacted: Vec<&str> = schemas.iter().map(|s| s.name.as_str()).filter(|n| is_compacted(n)).collect();
        assert_eq!(compacted, ["changes", "attributes", "sync_configs", "field_mappings"]);
        assert_eq!(defs.len(), schemas.len() + 2 * compacted.len());
        for (d, s) in defs.iter().zip(&schemas) {
            assert!(!d.is_parquet());
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
        // Every compacted table: its history by day, and its state with the day as a column.
        for (pair, name) in defs[schemas.len()..].chunks(2).zip(&compacted) {
            let text = defs.iter().find(|d| d.name == *name).unwrap();
            let text_columns: Vec<&str> = text.storage_descriptor.columns.iter().map(|c| c.name.as_str()).collect();
            let (history, state) = (&pair[0], &pair[1]);
            assert_eq!(history.name, format!("{name}_compacted"));
            assert_eq!(state.name, format!("{name}_state"));
            for d in pair {
                assert!(d.is_parquet());
                assert_eq!(d.parameters[WRITTEN_BY], WRITTEN_BY_COMPACTION);
                assert_eq!(
                    d.storage_descriptor.location,
                    format!("s3://acme-config-lake/ddb/sync-configurations/{}/", d.name)
                );
            }
            let names = |d: &TableDefinition| -> Vec<String> {
                d.storage_descriptor.columns.iter().map(|c| c.name.clone()).collect()
            };
            assert_eq!(names(history), [&text_columns[..], &["compaction_id"]].concat());
            assert_eq!(history.partition_keys, text.partition_keys);
            assert_eq!(
                history.parameters["storage.location.template"],
                format!("s3://acme-config-lake/ddb/sync-configurations/{name}_compacted/dt=${{dt}}")
            );
            assert_eq!(names(state), [&text_columns[..], &["dt", "compaction_id"]].concat());
            assert!(state.partition_keys.is_empty());
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
