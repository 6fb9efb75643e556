//! The columns of every table the normalizer writes, in the order they are written.
//!
//! The one source of truth for the writer ([`crate::flatten`] writes exactly these columns),
//! for `ddb-lake spec check`, and for the catalog (glue-schema turns these into Glue
//! tables and Athena DDL). Every table is partitioned by `dt` (not stored in the rows).

use crate::spec::{LakeSpec, COMMON_COLUMNS, ELEMENT_INDEX_COLUMN};

/// One column: name, Glue/Athena type, comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSchema {
    /// Column name.
    pub name: String,
    /// Glue/Athena type (`string`, `bigint`, `timestamp`, `decimal(38,0)` …).
    pub sql_type: String,
    /// What the column holds.
    pub comment: String,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// Table name (also its folder under the lake prefix).
    pub name: String,
    /// What the table holds.
    pub comment: String,
    /// Columns in file order.
    pub columns: Vec<ColumnSchema>,
}

fn col(name: &str, sql_type: &str, comment: &str) -> ColumnSchema {
    ColumnSchema { name: name.into(), sql_type: sql_type.into(), comment: comment.into() }
}

fn common_columns() -> Vec<ColumnSchema> {
    let cols = vec![
        col("event_name", "string", "INSERT, MODIFY or REMOVE"),
        col("sequence_number", "string", "stream sequence number, decimal up to 40 digits: order by length, then text"),
        col("event_time", "timestamp", "ApproximateCreationDateTime, UTC"),
        col("tenant", "string", "customer the item belongs to (from the spec's tenant rule)"),
        col("item_key", "string", "the item's key attributes as canonical JSON (sorted names)"),
        col("pk", "string", "partition key value"),
        col("sk", "string", "sort key value"),
    ];
    debug_assert!(cols.iter().map(|c| c.name.as_str()).eq(COMMON_COLUMNS));
    cols
}

/// Every table of the lake, built-in tables first, each with its columns in file order.
pub fn table_schemas(spec: &LakeSpec) -> Vec<TableSchema> {
    let mut out = Vec::with_capacity(2 + spec.tables.len());
    let mut changes = common_columns();
    changes.extend([
        col("event_id", "string", "eventID of the stream record"),
        col("stream_view_type", "string", "NEW_AND_OLD_IMAGES, NEW_IMAGE, OLD_IMAGE or KEYS_ONLY"),
        col("size_bytes", "bigint", "SizeBytes reported by DynamoDB"),
        col("ttl_delete", "boolean", "true when a REMOVE came from TTL expiry"),
        col("principal", "string", "userIdentity.principalId (service deletions)"),
        col(
            "changed_attributes",
            "string",
            "top-level attributes an INSERT sets, a MODIFY changes or a REMOVE deletes: sorted, comma-separated, `,` and `%` in names percent-encoded; NULL without the images",
        ),
    ]);
    out.push(TableSchema { name: "changes".into(), comment: "one row per stream record".into(), columns: changes });

    let mut attributes = common_columns();
    attributes.extend([
        col("path", "string", "attribute path, e.g. fieldMappings[3].fieldId"),
        col("type", "string", "DynamoDB type: S N B SS NS BS M L NULL BOOL (M/L only for empty ones)"),
        col("value", "string", "the value as text: numbers exact, binary base64, NULL for NULL and empty M/L"),
        col("changed", "boolean", "differs from the old image (MODIFY); true for INSERT; NULL when unknown"),
    ]);
    out.push(TableSchema {
        name: "attributes".into(),
        comment: "one row per leaf value of the new image".into(),
        columns: attributes,
    });

    for t in &spec.tables {
        let mut columns = common_columns();
        if t.explode.is_some() {
            columns.push(col(ELEMENT_INDEX_COLUMN, "int", "position of the element in the exploded list"));
        }
        for c in &t.columns {
            let mut comment = c.comment.clone().unwrap_or_else(|| format!("from {}", c.path));
            if c.hashed {
                comment.push_str(" (HMAC-SHA256, redacted)");
            }
            columns.push(col(&c.name, &c.kind.sql_name(), &comment));
        }
        let comment = t.comment.clone().unwrap_or_else(|| match &t.explode {
            Some(e) => format!("one row per element of {e}"),
            None => "one row per new image".into(),
        });
        out.push(TableSchema { name: t.name.clone(), comment, columns });
    }
    out
}
