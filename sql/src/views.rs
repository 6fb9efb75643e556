//! Views generated from the spec: `current_<table>` for every declared table.
//!
//! A declared table holds one row (or one row per exploded element) per item version; its
//! current view keeps the rows of each item's current version (by joining `current_items`
//! on the row it names: item key, event name, time and sequence number, which a snapshot's
//! rows do not have) and collapses rows a retried batch wrote twice.
//! Registered by the local engine; the same text is what Athena gets.

use ddb_lake_glue_schema::definition::TableDefinition;

/// The body of `current_<table>`.
pub fn current_table_view(def: &TableDefinition) -> String {
    let columns: Vec<String> = def
        .storage_descriptor
        .columns
        .iter()
        .map(|c| format!("t.{}", c.name))
        .chain(def.partition_keys.iter().map(|c| format!("t.{}", c.name)))
        .collect();
    format!(
        "SELECT DISTINCT {}\nFROM {} t\nJOIN current_items c\n  ON t.item_key = c.item_key AND t.event_name = c.event_name AND t.event_time = c.event_time\n \
         AND coalesce(t.sequence_number, '') = coalesce(c.sequence_number, '')",
        columns.join(", "),
        def.name
    )
}
