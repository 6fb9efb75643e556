//! Views generated from the spec: `current_<table>` for every declared table.
//!
//! A declared table holds one row (or one row per exploded element) per item version; its
//! current view keeps the rows of each item's latest version (by joining `current_items`
//! on item key and sequence number) and collapses rows a retried batch wrote twice.
//! Registered by the local engine; the same text is what Athena gets.

use glue_schema::definition::TableDefinition;

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
        "SELECT DISTINCT {}\nFROM {} t\nJOIN current_items c\n  ON t.item_key = c.item_key AND t.sequence_number = c.sequence_number",
        columns.join(", "),
        def.name
    )
}
