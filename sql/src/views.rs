//! Views generated from the spec.
//!
//! For every compacted table (`changes`, `attributes`, the declared tables; docs/compaction.md):
//! - `history_<table>` ([`history_view`]): every row ever written, the text objects and the
//!   Parquet history of the runs of `ddb-lake compact` that count (those with a
//!   `compactions` row); a row can be in both until its text object is removed, so readers
//!   collapse duplicates as they always have;
//! - `live_<table>` ([`live_view`]): the rows an item's current state is decided from, the
//!   latest run's state and the text objects.
//!
//! For every declared table, `current_<table>`: a declared table holds one row (or one row
//! per exploded element) per item version; its current view keeps the rows of each item's
//! current version (by joining `current_items` on the row it names: item key, event name,
//! time and sequence number, which a snapshot's rows do not have) and collapses rows a
//! retried batch wrote twice (a grouping by item and element: [`current_table_view`]).
//! Registered by the local engine; the same text is what Athena gets.

use ddb_lake_core::schema::{
    BuiltInTable, COMPACTED_SUFFIX, COMPACTION_ID_COLUMN, ELEMENT_INDEX_COLUMN, ENTITY_COLUMN, STATE_SUFFIX,
};
use ddb_lake_glue_schema::definition::TableDefinition;

/// `source` of what is generated from the spec (the views here, the compaction statements).
pub const GENERATED_SOURCE: &str = "generated from the lake spec";

/// The names of `def`'s stored columns, then of its partition keys when `with_partitions`,
/// as a SQL select list.
pub(crate) fn column_list(def: &TableDefinition, with_partitions: bool) -> String {
    column_names(def, with_partitions).collect::<Vec<_>>().join(", ")
}

/// [`column_list`] with every name qualified by the table alias `alias` (`t.event_name, …`).
pub(crate) fn qualified_column_list(def: &TableDefinition, alias: &str, with_partitions: bool) -> String {
    column_names(def, with_partitions).map(|name| format!("{alias}.{name}")).collect::<Vec<_>>().join(", ")
}

fn column_names(def: &TableDefinition, with_partitions: bool) -> impl Iterator<Item = &str> {
    let partitions = def.partition_keys.iter().filter(move |_| with_partitions);
    def.storage_descriptor.columns.iter().chain(partitions).map(|c| c.name.as_str())
}

/// The select list of `history_<table>` and `live_<table>`: every column of `def` with its
/// partitions; for `changes` and `attributes` of a spec without `[[entities]]`, a NULL
/// `entity` after them, so that the questions can always ask for one entity.
///
/// That NULL is `nullif(event_name, event_name)` (NULL whatever the row: equal values give
/// NULL, and so does a NULL event_name), not a NULL literal: the embedded engine takes a
/// literal column as sorted, and then ran `current_attributes`' DISTINCT (now its grouping,
/// whose keys include `entity`) in its partially sorted mode, which cannot skip a partial step that
/// removes nothing: popular_settings on the 1 GB generated lake took 19.9-21.0 s with the
/// literal and 18.2-18.7 s with this (docs/performance.md).
fn view_columns(def: &TableDefinition) -> String {
    let mut columns = column_list(def, true);
    let item_table = BuiltInTable::ITEM_TABLES.iter().any(|t| t.name() == def.name);
    if item_table && !def.storage_descriptor.columns.iter().any(|c| c.name == ENTITY_COLUMN) {
        columns.push_str(&format!(", {NULL_ENTITY} AS {ENTITY_COLUMN}"));
    }
    columns
}

/// The `entity` of a row of a spec without `[[entities]]` (see [`view_columns`]).
const NULL_ENTITY: &str = "nullif(event_name, event_name)";

/// The body of `history_<table>` for the text table `def`.
pub fn history_view(def: &TableDefinition) -> String {
    let columns = view_columns(def);
    format!(
        "SELECT {columns}\nFROM {name}\nUNION ALL\nSELECT {columns}\nFROM {name}{COMPACTED_SUFFIX}\n\
         WHERE {COMPACTION_ID_COLUMN} IN (SELECT {COMPACTION_ID_COLUMN} FROM {compactions})",
        name = def.name,
        compactions = BuiltInTable::Compactions.name(),
    )
}

/// The body of `live_<table>` for the text table `def`.
pub fn live_view(def: &TableDefinition) -> String {
    let columns = view_columns(def);
    format!(
        "SELECT {columns}\nFROM {name}\nUNION ALL\nSELECT {columns}\nFROM {name}{STATE_SUFFIX}\n\
         WHERE {COMPACTION_ID_COLUMN} = (SELECT max({COMPACTION_ID_COLUMN}) FROM {compactions})",
        name = def.name,
        compactions = BuiltInTable::Compactions.name(),
    )
}

/// The columns that tell a declared table's rows of one item version apart: the item, and
/// for an exploded table the element.
const CURRENT_ROW_KEYS: [&str; 2] = ["item_key", ELEMENT_INDEX_COLUMN];

/// The body of `current_<table>`.
///
/// The join keeps one version per item, so among the joined rows a row is told apart by its
/// item and element ([`CURRENT_ROW_KEYS`]); copies of it (a retried batch, a compaction's
/// overlap) are the same row. The view groups by those and takes every other column by `min`
/// (in Athena's dialect and DataFusion's alike, whichever copy comes first), so a question
/// that reads two columns has the others pruned, where a DISTINCT over every column decoded
/// and hashed them all (popular_field_mappings on the 1 GB generated lake: 8.3-10.3 s → 5.5 s,
/// docs/performance.md).
pub fn current_table_view(def: &TableDefinition) -> String {
    let is_key = |name: &&str| CURRENT_ROW_KEYS.contains(name);
    let select: Vec<String> = column_names(def, true)
        .map(|name| if is_key(&name) { format!("t.{name}") } else { format!("min(t.{name}) AS {name}") })
        .collect();
    let keys: Vec<String> = column_names(def, true).filter(is_key).map(|name| format!("t.{name}")).collect();
    format!(
        "SELECT {}\nFROM live_{} t\nJOIN current_items c\n  ON t.item_key = c.item_key AND t.event_name = c.event_name AND t.event_time = c.event_time\n \
         AND coalesce(t.sequence_number, '') = coalesce(c.sequence_number, '')\nGROUP BY {}",
        select.join(", "),
        def.name,
        keys.join(", ")
    )
}
