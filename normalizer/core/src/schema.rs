//! The columns of every table the normalizer writes, in the order they are written.
//!
//! The one source of truth for the writer (the typed rows of [`crate::rows`] write exactly
//! these columns, in this order), for
//! `ddb-lake spec check`, and for the catalog (glue-schema turns these into Glue tables and
//! Athena DDL). The built-in tables and the column names every table shares live here; a
//! spec's declared tables add theirs through [`crate::spec::LakeSpec::table_schemas`].
//! Every table is partitioned by [`PARTITION_COLUMN`] (not stored in the rows).

/// A table every lake has, whatever its spec. The item tables come first, in this order, in
/// every list of tables (`LakeSpec::table_schemas`, the writer's rows per table); the spec's
/// declared tables follow, then `_rejects`, then `snapshots`, then `compactions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltInTable {
    /// `changes`: one row per stream record, and one per item of a snapshot.
    Changes,
    /// `attributes`: one row per leaf value of the new image (or of the snapshot's item).
    Attributes,
    /// `snapshots`: one row per data file of a snapshot (a backfilled export), written after
    /// the file's rows; it tells the views which snapshots are whole and their rule.
    Snapshots,
    /// `_rejects`: one row per cell of a declared table whose value does not fit the column's
    /// type (the cell is NULL): where and why, never the value.
    Rejects,
    /// `compactions`: one row per run of `ddb-lake compact`, written after everything the run
    /// wrote; it tells the views which compacted objects count and which state is the latest
    /// (docs/compaction.md).
    Compactions,
}

impl BuiltInTable {
    /// Every built-in table.
    pub const ALL: [BuiltInTable; 5] = [
        BuiltInTable::Changes,
        BuiltInTable::Attributes,
        BuiltInTable::Rejects,
        BuiltInTable::Snapshots,
        BuiltInTable::Compactions,
    ];
    /// The built-in tables an item's rows go to, in table order (declared tables follow).
    pub const ITEM_TABLES: [BuiltInTable; 2] = [BuiltInTable::Changes, BuiltInTable::Attributes];

    /// The table's name (also its folder under the lake prefix).
    pub const fn name(self) -> &'static str {
        match self {
            BuiltInTable::Changes => "changes",
            BuiltInTable::Attributes => "attributes",
            BuiltInTable::Snapshots => "snapshots",
            BuiltInTable::Rejects => "_rejects",
            BuiltInTable::Compactions => "compactions",
        }
    }

    /// The position of an item table in every list of tables (`_rejects`, `snapshots` and
    /// `compactions` come after the declared tables, so they have no fixed position).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The table's columns when the spec declares `[[entities]]` (`with_entity`): `changes`
    /// and `attributes` end with [`ENTITY_COLUMN`]; every other table is [`BuiltInTable::schema`].
    pub fn item_schema(self, with_entity: bool) -> TableSchema {
        let mut schema = self.schema();
        if with_entity && BuiltInTable::ITEM_TABLES.contains(&self) {
            schema.columns.push(col(
                ENTITY_COLUMN,
                "string",
                "the entity the item is, by the spec's [[entities]] rules (a REMOVE's from its old image or keys); NULL when none takes it",
            ));
        }
        schema
    }

    /// The table's columns, in file order (without the `entity` column: [`BuiltInTable::item_schema`]).
    pub fn schema(self) -> TableSchema {
        let (comment, columns) = match self {
            BuiltInTable::Changes => (
                "one row per stream record, and one per item of a snapshot",
                [common_columns(), changes_columns()].concat(),
            ),
            BuiltInTable::Attributes => (
                "one row per leaf value of the new image (or of a snapshot's item)",
                [common_columns(), attributes_columns()].concat(),
            ),
            BuiltInTable::Snapshots => {
                ("one row per data file of a snapshot (a backfilled export)", snapshots_columns())
            }
            BuiltInTable::Compactions => {
                ("one row per run of `ddb-lake compact`, written after everything it wrote", compactions_columns())
            }
            BuiltInTable::Rejects => (
                "one row per declared-table cell whose value does not fit its column type (the cell is NULL); never the value",
                [common_columns(), rejects_columns()].concat(),
            ),
        };
        TableSchema { name: self.name().into(), comment: comment.into(), columns }
    }
}

/// `event_name` of the rows of an incremental export's item as its last write in the window
/// left it.
pub const INCREMENTAL_EVENT_NAME: &str = "INCREMENTAL";

/// `event_name` of the row of an incremental export's item that its last write in the window
/// deleted.
pub const INCREMENTAL_REMOVE_EVENT_NAME: &str = "INCREMENTAL_REMOVE";

/// `event_name` of the rows of a snapshot's items (stream records are INSERT, MODIFY or REMOVE).
pub const SNAPSHOT_EVENT_NAME: &str = "SNAPSHOT";

/// Columns every table starts with, in this order.
pub const COMMON_COLUMNS: [&str; 7] = ["event_name", "sequence_number", "event_time", "tenant", "item_key", "pk", "sk"];
/// The last column of `changes` and `attributes` when the spec declares `[[entities]]`: the
/// entity the item is (absent otherwise, so a lake without entities keeps its bytes; a lake
/// that adds entities later reads NULL there in its older objects).
pub const ENTITY_COLUMN: &str = "entity";
/// Column of an exploded table that holds the element's position in its list.
pub const ELEMENT_INDEX_COLUMN: &str = "element_index";
/// The partition column.
pub const PARTITION_COLUMN: &str = "dt";
/// The column of every compacted table that names the run of `ddb-lake compact` that wrote
/// the row (a row counts only when its run has a `compactions` row).
pub const COMPACTION_ID_COLUMN: &str = "compaction_id";
/// Suffix of the Parquet table that holds a table's compacted history: `changes_compacted`.
pub const COMPACTED_SUFFIX: &str = "_compacted";
/// Suffix of the Parquet table that holds a table's rows of every item at a compaction's
/// watermark: `changes_state`.
pub const STATE_SUFFIX: &str = "_state";

/// Whether `table`'s rows are compacted (`ddb-lake compact`): the item tables (`changes`,
/// `attributes`, the declared tables), not `_rejects` nor the marker tables.
pub fn is_compacted(table: &str) -> bool {
    table != BuiltInTable::Rejects.name()
        && table != BuiltInTable::Snapshots.name()
        && table != BuiltInTable::Compactions.name()
}

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

impl TableSchema {
    /// The header row its objects start with: the column names, written as the row format
    /// writes every row (`skip.header.line.count=1` makes Athena skip it).
    pub fn header_row(&self) -> Vec<u8> {
        let mut row = Vec::with_capacity(self.columns.iter().map(|c| c.name.len() + 1).sum());
        crate::rowfmt::push_row(&mut row, self.columns.iter().map(|c| Some(c.name.as_str())));
        row
    }
}

/// A column from its name, type and comment.
pub(crate) fn col(name: &str, sql_type: &str, comment: &str) -> ColumnSchema {
    ColumnSchema { name: name.into(), sql_type: sql_type.into(), comment: comment.into() }
}

/// The columns every table starts with ([`COMMON_COLUMNS`]), with their types and comments.
pub(crate) fn common_columns() -> Vec<ColumnSchema> {
    let cols = vec![
        col(
            "event_name",
            "string",
            "INSERT, MODIFY or REMOVE; SNAPSHOT for an item of a snapshot; INCREMENTAL or INCREMENTAL_REMOVE for an item of an incremental export",
        ),
        col(
            "sequence_number",
            "string",
            "stream sequence number, decimal up to 40 digits: order by length, then text; NULL in a snapshot; an incremental export's WriteTimestampMicros",
        ),
        col(
            "event_time",
            "timestamp",
            "ApproximateCreationDateTime, UTC; a snapshot's time (exportTime); an incremental export's write time",
        ),
        col("tenant", "string", "customer the item belongs to (from the spec's tenant rule)"),
        col("item_key", "string", "the item's key attributes as canonical JSON (sorted names)"),
        col("pk", "string", "partition key value"),
        col("sk", "string", "sort key value"),
    ];
    debug_assert!(cols.iter().map(|c| c.name.as_str()).eq(COMMON_COLUMNS));
    cols
}

/// The columns of `changes` after the common ones.
fn changes_columns() -> Vec<ColumnSchema> {
    vec![
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
    ]
}

/// The columns of `_rejects` after the common ones.
fn rejects_columns() -> Vec<ColumnSchema> {
    vec![
        col("table_name", "string", "the declared table"),
        col("column_name", "string", "the column whose cell is NULL (NULL when the explode path is not a list)"),
        col("path", "string", "the attribute path the column reads"),
        col("element_index", "int", "the element of an exploded table; NULL otherwise"),
        col("reason", "string", "why the value does not fit (its type and the column's, never the value)"),
    ]
}

/// The columns of `snapshots`.
fn snapshots_columns() -> Vec<ColumnSchema> {
    vec![
        col("snapshot_id", "string", "the snapshot: the export id"),
        col("snapshot_time", "timestamp", "the instant T the snapshot shows (exportTime), UTC"),
        col(
            "stream_wins_after",
            "timestamp",
            "T minus the margin W: stream records later than this win over the snapshot, older ones lose",
        ),
        col("margin_seconds", "bigint", "the margin W (the spec's backfill.margin_seconds)"),
        col("source", "string", "where the snapshot came from: the export's ARN"),
        col("data_file", "string", "the data file this row stands for (its rows are written before it)"),
        col("data_files", "bigint", "data files in the snapshot: it is whole when every one has its row"),
        col("items", "bigint", "items in this data file"),
        col(
            "window_start",
            "timestamp",
            "an incremental export's exportFromTime: its window is [window_start, snapshot_time); NULL for a full export",
        ),
    ]
}

/// The columns of `compactions`.
fn compactions_columns() -> Vec<ColumnSchema> {
    vec![
        col("compaction_id", "string", "the run: its last day, then its start time (later runs sort later)"),
        col("through", "string", "the last day folded, YYYY-MM-DD: every text object of it and before it"),
        col("watermark", "timestamp", "the end of that day, UTC: the state holds every item as of this instant"),
        col("folded_objects", "bigint", "text objects folded into Parquet by this run"),
        col("folded_bytes", "bigint", "their bytes as stored (gzip)"),
        col("state_items", "bigint", "items that exist at the watermark"),
        col("created_at", "timestamp", "when the run started, UTC"),
    ]
}

/// The columns of `attributes` after the common ones.
fn attributes_columns() -> Vec<ColumnSchema> {
    vec![
        col("path", "string", "attribute path, e.g. fieldMappings[3].fieldId"),
        col("type", "string", "DynamoDB type: S N B SS NS BS M L NULL BOOL (M/L only for empty ones)"),
        col("value", "string", "the value as text: numbers exact, binary base64, NULL for NULL and empty M/L"),
        col("changed", "boolean", "differs from the old image (MODIFY); true for INSERT; NULL when unknown"),
    ]
}
