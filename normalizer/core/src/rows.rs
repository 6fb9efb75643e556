//! The rows of the built-in tables, typed: each struct has one field per column of its table
//! ([`crate::schema::BuiltInTable::schema`]) and writes them in that order with the row format
//! ([`crate::rowfmt`]), so a table's columns and the bytes of its rows are declared side by side
//! and cannot drift apart (the tests decode every row against its schema).
//!
//! An item's rows all start with the same [`CommonColumns`]; the writer encodes them once per
//! record and hands the bytes to each row's `write`. Declared tables take their columns from
//! the spec, so the writer encodes those cell by cell, after the same common columns.

use crate::rowfmt::{end_row, push_delimiter, push_field, push_null, push_opt, push_timestamp};

/// The columns every item's row starts with ([`crate::schema::COMMON_COLUMNS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommonColumns<'a> {
    /// INSERT, MODIFY, REMOVE, or SNAPSHOT.
    pub event_name: &'a str,
    /// The stream sequence number (decimal text); `None` for a snapshot's item.
    pub sequence_number: Option<&'a str>,
    /// The record's time (or the snapshot's), in milliseconds since the epoch.
    pub event_time_millis: i64,
    /// The customer, by the spec's tenant rule.
    pub tenant: Option<&'a str>,
    /// The item's key attributes as canonical JSON.
    pub item_key: &'a str,
    /// The partition key's value.
    pub pk: Option<&'a str>,
    /// The sort key's value.
    pub sk: Option<&'a str>,
}

impl CommonColumns<'_> {
    /// Appends the common columns (no delimiter after the last; the row's own columns follow).
    pub fn write(&self, out: &mut Vec<u8>) {
        push_field(out, self.event_name);
        push_delimiter(out);
        push_opt(out, self.sequence_number);
        push_delimiter(out);
        push_timestamp(out, self.event_time_millis);
        push_delimiter(out);
        push_opt(out, self.tenant);
        push_delimiter(out);
        push_field(out, self.item_key);
        push_delimiter(out);
        push_opt(out, self.pk);
        push_delimiter(out);
        push_opt(out, self.sk);
    }
}

/// A row of `changes`: one per stream record (and per item of a snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangesRow<'a> {
    /// The record's eventID.
    pub event_id: Option<&'a str>,
    /// The stream's view type.
    pub stream_view_type: Option<&'a str>,
    /// SizeBytes as DynamoDB reports it.
    pub size_bytes: Option<i64>,
    /// Whether a REMOVE came from TTL expiry.
    pub ttl_delete: bool,
    /// userIdentity.principalId.
    pub principal: Option<&'a str>,
    /// The top-level attributes the change touched, already joined and encoded.
    pub changed_attributes: Option<&'a str>,
    /// The item's entity, when the spec declares entities.
    pub entity: EntityColumn<'a>,
}

/// The `entity` column that ends the rows of `changes` and `attributes` when the spec declares
/// `[[entities]]` ([`crate::schema::ENTITY_COLUMN`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EntityColumn<'a> {
    /// The spec declares no entities: the rows have no such column.
    #[default]
    Absent,
    /// The entity's name; `None` (NULL) when no entity takes the item.
    Present(Option<&'a str>),
}

impl EntityColumn<'_> {
    fn write(self, out: &mut Vec<u8>) {
        if let EntityColumn::Present(entity) = self {
            push_delimiter(out);
            push_opt(out, entity);
        }
    }
}

impl ChangesRow<'_> {
    /// Appends the row: `common` (the record's encoded [`CommonColumns`]), then its columns.
    pub fn write(&self, common: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(common);
        push_delimiter(out);
        push_opt(out, self.event_id);
        push_delimiter(out);
        push_opt(out, self.stream_view_type);
        push_delimiter(out);
        push_opt_int(out, self.size_bytes);
        push_delimiter(out);
        push_bool(out, self.ttl_delete);
        push_delimiter(out);
        push_opt(out, self.principal);
        push_delimiter(out);
        push_opt(out, self.changed_attributes);
        self.entity.write(out);
        end_row(out);
    }
}

/// A row of `attributes`: one leaf value of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeRow<'a> {
    /// The attribute path (`fieldMappings[3].fieldId`).
    pub path: &'a str,
    /// The DynamoDB type (`S`, `N`, `SS`, `M` …).
    pub type_name: &'a str,
    /// The value as text; `None` for NULL and for an empty map or list.
    pub value: Option<&'a str>,
    /// Whether it differs from the old image; `None` when that is not known.
    pub changed: Option<bool>,
    /// The item's entity, when the spec declares entities.
    pub entity: EntityColumn<'a>,
}

impl AttributeRow<'_> {
    /// Appends the row: `common` (the record's encoded [`CommonColumns`]), then its columns.
    pub fn write(&self, common: &[u8], out: &mut Vec<u8>) {
        // Room for the whole row when nothing needs an escape: one growth check, not one per
        // field.
        out.reserve(common.len() + self.path.len() + self.value.map_or(0, str::len) + 32);
        out.extend_from_slice(common);
        push_delimiter(out);
        push_field(out, self.path);
        push_delimiter(out);
        // A DynamoDB type descriptor (capital letters) needs no escape.
        if self.type_name.bytes().all(|b| b.is_ascii_uppercase()) {
            out.extend_from_slice(self.type_name.as_bytes());
        } else {
            push_field(out, self.type_name);
        }
        push_delimiter(out);
        push_opt(out, self.value);
        push_delimiter(out);
        match self.changed {
            Some(changed) => push_bool(out, changed),
            None => push_null(out),
        }
        self.entity.write(out);
        end_row(out);
    }
}

/// A row of `_rejects`: one cell of a declared table whose value does not fit its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejectRow<'a> {
    /// The declared table.
    pub table_name: &'a str,
    /// The column whose cell is NULL (`None` when the explode path is not a list).
    pub column_name: Option<&'a str>,
    /// The attribute path the column reads.
    pub path: &'a str,
    /// The element of an exploded table.
    pub element_index: Option<usize>,
    /// Why the value does not fit (never the value).
    pub reason: &'a str,
}

impl RejectRow<'_> {
    /// Appends the row: `common` (the record's encoded [`CommonColumns`]), then its columns.
    pub fn write(&self, common: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(common);
        push_delimiter(out);
        push_field(out, self.table_name);
        push_delimiter(out);
        push_opt(out, self.column_name);
        push_delimiter(out);
        push_field(out, self.path);
        push_delimiter(out);
        push_opt_int(out, self.element_index.map(|i| i as i64));
        push_delimiter(out);
        push_field(out, self.reason);
        end_row(out);
    }
}

/// A row of `compactions`: one run of `ddb-lake compact`, written after everything it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionsRow<'a> {
    /// The run.
    pub compaction_id: &'a str,
    /// The last day folded, `YYYY-MM-DD`.
    pub through: &'a str,
    /// The end of that day, in milliseconds since the epoch.
    pub watermark_millis: i64,
    /// Text objects folded.
    pub folded_objects: u64,
    /// Their bytes as stored.
    pub folded_bytes: u64,
    /// Items that exist at the watermark.
    pub state_items: u64,
    /// When the run started, in milliseconds since the epoch.
    pub created_at_millis: i64,
}

impl CompactionsRow<'_> {
    /// Appends the row (this table has no common columns).
    pub fn write(&self, out: &mut Vec<u8>) {
        push_field(out, self.compaction_id);
        push_delimiter(out);
        push_field(out, self.through);
        push_delimiter(out);
        push_timestamp(out, self.watermark_millis);
        for n in [self.folded_objects, self.folded_bytes, self.state_items] {
            push_delimiter(out);
            push_field(out, &n.to_string());
        }
        push_delimiter(out);
        push_timestamp(out, self.created_at_millis);
        end_row(out);
    }
}

/// A row of `snapshots`: one data file of a snapshot, written after the file's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotsRow<'a> {
    /// The snapshot (the export id).
    pub snapshot_id: &'a str,
    /// The instant T it shows, in milliseconds since the epoch.
    pub snapshot_time_millis: i64,
    /// The margin W, in seconds: stream records later than T − W win over the snapshot.
    pub margin_seconds: u32,
    /// Where it came from (the export's ARN).
    pub source: &'a str,
    /// The data file this row stands for.
    pub data_file: &'a str,
    /// Data files in the snapshot.
    pub data_files: usize,
    /// Items in this data file.
    pub items: u64,
    /// An incremental export's window start (its end is `snapshot_time`); `None` for a full
    /// export.
    pub window_start_millis: Option<i64>,
}

impl SnapshotsRow<'_> {
    /// Appends the row (this table has no common columns).
    pub fn write(&self, out: &mut Vec<u8>) {
        push_field(out, self.snapshot_id);
        push_delimiter(out);
        push_timestamp(out, self.snapshot_time_millis);
        push_delimiter(out);
        push_timestamp(out, self.snapshot_time_millis - i64::from(self.margin_seconds) * 1000);
        push_delimiter(out);
        push_field(out, &self.margin_seconds.to_string());
        push_delimiter(out);
        push_field(out, self.source);
        push_delimiter(out);
        push_field(out, self.data_file);
        push_delimiter(out);
        push_field(out, &self.data_files.to_string());
        push_delimiter(out);
        push_field(out, &self.items.to_string());
        push_delimiter(out);
        match self.window_start_millis {
            Some(millis) => push_timestamp(out, millis),
            None => push_null(out),
        }
        end_row(out);
    }
}

fn push_bool(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

fn push_opt_int(out: &mut Vec<u8>, value: Option<i64>) {
    match value {
        Some(n) => push_field(out, &n.to_string()),
        None => push_null(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rowfmt::decode_line;
    use crate::schema::BuiltInTable;

    /// The cells of one written row, decoded, by column name of `table`.
    fn cells(table: BuiltInTable, row: &[u8]) -> Vec<(String, Option<String>)> {
        cells_with(table, false, row)
    }

    fn cells_with(table: BuiltInTable, with_entity: bool, row: &[u8]) -> Vec<(String, Option<String>)> {
        assert_eq!(row.last(), Some(&b'\n'), "a row ends with LF");
        let values = decode_line(&row[..row.len() - 1]).unwrap();
        let columns = table.item_schema(with_entity).columns;
        assert_eq!(values.len(), columns.len(), "{table:?}: one field per column of its schema");
        columns.into_iter().map(|c| c.name).zip(values).collect()
    }

    fn common() -> Vec<u8> {
        let mut out = Vec::new();
        CommonColumns {
            event_name: "MODIFY",
            sequence_number: Some("12345678901234567890123456789012345678901"),
            event_time_millis: 1_793_613_600_250,
            tenant: None,
            item_key: "{\"pk\":\"CUSTOMER#a\\tb\",\"sk\":\"SYNC#1\"}",
            pk: Some("CUSTOMER#a\tb"),
            sk: Some("SYNC#1"),
        }
        .write(&mut out);
        out
    }

    fn get<'c>(cells: &'c [(String, Option<String>)], name: &str) -> Option<&'c str> {
        cells.iter().find(|(c, _)| c == name).unwrap_or_else(|| panic!("no column {name}")).1.as_deref()
    }

    #[test]
    fn every_row_has_its_schemas_columns_in_order() {
        let common = common();
        let mut row = Vec::new();
        ChangesRow {
            event_id: Some("e1"),
            stream_view_type: None,
            size_bytes: Some(-7),
            ttl_delete: true,
            principal: Some("dynamodb.amazonaws.com"),
            changed_attributes: Some("a%2Cb,name"),
            entity: EntityColumn::Absent,
        }
        .write(&common, &mut row);
        let c = cells(BuiltInTable::Changes, &row);
        assert_eq!(get(&c, "sequence_number"), Some("12345678901234567890123456789012345678901"));
        assert_eq!(get(&c, "event_time"), Some("2026-11-02 10:00:00.250"));
        assert_eq!(get(&c, "tenant"), None);
        assert_eq!(get(&c, "pk"), Some("CUSTOMER#a\tb"));
        assert_eq!(get(&c, "stream_view_type"), None);
        assert_eq!(get(&c, "size_bytes"), Some("-7"));
        assert_eq!(get(&c, "ttl_delete"), Some("true"));
        assert_eq!(get(&c, "changed_attributes"), Some("a%2Cb,name"));

        row.clear();
        AttributeRow {
            path: "labels[1]",
            type_name: "SS",
            value: Some("line\none"),
            changed: None,
            entity: EntityColumn::Absent,
        }
        .write(&common, &mut row);
        let c = cells(BuiltInTable::Attributes, &row);
        assert_eq!(
            c[7..],
            [
                ("path".into(), Some("labels[1]".into())),
                ("type".into(), Some("SS".into())),
                ("value".into(), Some("line\none".into())),
                ("changed".into(), None)
            ]
        );

        row.clear();
        RejectRow { table_name: "x", column_name: None, path: "tags", element_index: Some(3), reason: "why" }
            .write(&common, &mut row);
        let c = cells(BuiltInTable::Rejects, &row);
        assert_eq!(
            (get(&c, "column_name"), get(&c, "element_index"), get(&c, "reason")),
            (None, Some("3"), Some("why"))
        );

        row.clear();
        SnapshotsRow {
            snapshot_id: "01793880000000-5a1c0e42",
            snapshot_time_millis: 1_793_880_000_000,
            margin_seconds: 300,
            source: "arn:x",
            data_file: "k7q3",
            data_files: 3,
            items: 2,
            window_start_millis: None,
        }
        .write(&mut row);
        let c = cells(BuiltInTable::Snapshots, &row);
        assert_eq!(get(&c, "snapshot_time"), Some("2026-11-05 12:00:00.000"));
        assert_eq!(get(&c, "stream_wins_after"), Some("2026-11-05 11:55:00.000"));
        assert_eq!((get(&c, "data_files"), get(&c, "items")), (Some("3"), Some("2")));
        assert_eq!(get(&c, "window_start"), None);

        row.clear();
        SnapshotsRow {
            snapshot_id: "01793884500000-0c0c0c0c",
            snapshot_time_millis: 1_793_884_500_000,
            margin_seconds: 300,
            source: "arn:x",
            data_file: "k7q3",
            data_files: 1,
            items: 0,
            window_start_millis: Some(1_793_880_000_000),
        }
        .write(&mut row);
        let c = cells(BuiltInTable::Snapshots, &row);
        assert_eq!(get(&c, "snapshot_time"), Some("2026-11-05 13:15:00.000"));
        assert_eq!(get(&c, "window_start"), Some("2026-11-05 12:00:00.000"));
    }

    #[test]
    fn the_entity_column_ends_changes_and_attributes_only_when_entities_are_declared() {
        let common = common();
        let changes = |entity| {
            let mut row = Vec::new();
            ChangesRow {
                event_id: Some("e1"),
                stream_view_type: None,
                size_bytes: None,
                ttl_delete: false,
                principal: None,
                changed_attributes: None,
                entity,
            }
            .write(&common, &mut row);
            row
        };
        let without = changes(EntityColumn::Absent);
        let with = changes(EntityColumn::Present(Some("user\tprofile")));
        assert_eq!(cells_with(BuiltInTable::Changes, true, &with).last().unwrap().1.as_deref(), Some("user\tprofile"));
        // The same row, one field longer: nothing before it moves.
        assert!(with.starts_with(&without[..without.len() - 1]));
        let null = changes(EntityColumn::Present(None));
        let c = cells_with(BuiltInTable::Changes, true, &null);
        assert_eq!(c.last().unwrap(), &("entity".to_owned(), None));

        let mut row = Vec::new();
        AttributeRow {
            path: "a",
            type_name: "S",
            value: Some("v"),
            changed: None,
            entity: EntityColumn::Present(Some("audit")),
        }
        .write(&common, &mut row);
        let c = cells_with(BuiltInTable::Attributes, true, &row);
        assert_eq!((get(&c, "value"), get(&c, "entity")), (Some("v"), Some("audit")));
        assert_eq!(get(&c, "type"), Some("S"));
        // A type that is not a descriptor (no row holds one) is still a field like any other.
        for type_name in ["SS", "x\ty", "back\\slash", ""] {
            let mut row = Vec::new();
            AttributeRow { path: "a", type_name, value: None, changed: Some(true), entity: EntityColumn::Absent }
                .write(&common, &mut row);
            let c = cells_with(BuiltInTable::Attributes, false, &row);
            assert_eq!((get(&c, "type"), get(&c, "changed")), (Some(type_name), Some("true")));
        }
        assert_eq!(BuiltInTable::Rejects.item_schema(true), BuiltInTable::Rejects.schema());
    }
}
