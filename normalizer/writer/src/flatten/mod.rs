//! Flattening: one decoded stream record → encoded rows for every table.
//!
//! Called by the [`crate::normalizer::Normalizer`]'s assembler once per record (a stream
//! record of a batch or an item of a snapshot). Rows are encoded straight into per-table
//! buffers (no intermediate row structs); the caller appends them to the table's object only
//! when the whole record succeeded, so a record that fails half-way leaves nothing behind.
//! The columns written are exactly those of [`ddb_lake_core::spec::LakeSpec::item_table_schemas`]:
//! the common columns and the `changes` row here, the `attributes` walk in `attributes.rs`,
//! declared tables and their `_rejects` in `declared.rs` (values as text and JSON: [`crate::record`]).
//! What is dropped or hashed on the way is the [`Redactor`]'s to say.

mod attributes;
mod declared;
#[cfg(test)]
mod tests;

use crate::record::{item_key_json, value_str, EventName, StreamRecord, Text};
use crate::redaction::{RedactionKeyError, Redactor};
use ddb_lake_core::path::Segment;
use ddb_lake_core::rows::{ChangesRow, CommonColumns, EntityColumn};
use ddb_lake_core::schema::BuiltInTable;
use ddb_lake_core::spec::{LakeSpec, RedactAction, TenantRule};

use attributes::{AttributeRows, OldMap, TopLevel};
use declared::Rejects;

/// Position of the `changes` table among a spec's item tables.
const CHANGES: usize = BuiltInTable::Changes.index();
/// Position of the `attributes` table among a spec's item tables.
const ATTRIBUTES: usize = BuiltInTable::Attributes.index();

/// Why a record cannot be flattened under the spec (the record goes to quarantine).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlattenError {
    /// A value does not fit the type its declared column asks for.
    #[error(transparent)]
    TypeConflict(Box<TypeConflict>),
    /// The explode path holds something other than a list or set.
    #[error("table `{table}` explodes `{path}`, but the item has a {found} there, not a list or set")]
    NotAList {
        /// Table name.
        table: String,
        /// Explode path.
        path: String,
        /// DynamoDB type found.
        found: &'static str,
    },
    /// The record's day is before the first day the partition projection reads.
    #[error(
        "event time {time} is before partitioning.projection_start {start}, the first day Athena's \
         partition projection reads, so no query would see its rows (set projection_start earlier to keep it)"
    )]
    BeforeProjectionStart {
        /// The record's time (`YYYY-MM-DD HH:MM:SS.mmm`).
        time: String,
        /// The spec's `partitioning.projection_start`.
        start: String,
    },
}

impl FlattenError {
    /// What kind of error it is, in words that hold no value of the record.
    pub fn kind(&self) -> &'static str {
        match self {
            FlattenError::TypeConflict(_) => "value does not fit its column",
            FlattenError::NotAList { .. } => "explode path is not a list",
            FlattenError::BeforeProjectionStart { .. } => "before projection_start",
        }
    }
}

/// A value that does not fit its declared column.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("table `{table}` column `{column}`: value at `{path}` is {found}, which {reason} for type {expected}")]
pub struct TypeConflict {
    /// Table name.
    pub table: String,
    /// Column name.
    pub column: String,
    /// Path of the value.
    pub path: String,
    /// Declared type.
    pub expected: String,
    /// DynamoDB type found.
    pub found: &'static str,
    /// Why it does not fit.
    pub reason: String,
}

/// Bytes of one table's rows a record holds before handing them on ([`RowSink::take`]): one
/// record's rows are never all in memory, however many leaves its item has (a 400 KB item
/// can have 100,000, each row repeating keys of up to 3 KB).
pub const SPILL_BYTES: usize = 256 * 1024;

/// Where a record's rows go as they are encoded: whole rows, in order, per table.
pub trait RowSink {
    /// Takes `count` encoded rows of table `table` (index in `LakeSpec::item_table_schemas`),
    /// each ending with LF.
    fn take(&mut self, table: usize, rows: &[u8], count: u64);
}

/// A sink that keeps every row, per table (the tests read a record's rows from it).
#[derive(Debug, Default)]
pub struct RecordRows {
    /// Encoded rows (each ends with LF), per table.
    pub bufs: Vec<Vec<u8>>,
    /// Row count, per table.
    pub rows: Vec<u64>,
}

impl RecordRows {
    /// No rows yet of `tables` tables.
    pub fn for_tables(tables: usize) -> Self {
        RecordRows { bufs: vec![Vec::new(); tables], rows: vec![0; tables] }
    }
}

impl RowSink for RecordRows {
    fn take(&mut self, table: usize, rows: &[u8], count: u64) {
        if self.bufs.len() <= table {
            self.bufs.resize_with(table + 1, Vec::new);
            self.rows.resize(table + 1, 0);
        }
        self.bufs[table].extend_from_slice(rows);
        self.rows[table] += count;
    }
}

/// One table's rows of the record being flattened, handed to the sink every
/// [`SPILL_BYTES`] and when the record is done.
pub(super) struct TableRows<'k> {
    table: usize,
    buf: &'k mut Vec<u8>,
    rows: u64,
}

impl<'k> TableRows<'k> {
    fn new(table: usize, buf: &'k mut Vec<u8>) -> Self {
        buf.clear();
        TableRows { table, buf, rows: 0 }
    }

    /// The buffer to encode the next row into; call [`TableRows::row_done`] after it.
    pub(super) fn buf(&mut self) -> &mut Vec<u8> {
        self.buf
    }

    /// One more row is in the buffer; hands the buffer on when it is full.
    pub(super) fn row_done(&mut self, sink: &mut dyn RowSink) {
        self.rows += 1;
        if self.buf.len() >= SPILL_BYTES {
            self.flush(sink);
        }
    }

    /// Hands the rows in the buffer on.
    pub(super) fn flush(&mut self, sink: &mut dyn RowSink) {
        if self.rows > 0 {
            sink.take(self.table, self.buf, self.rows);
        }
        self.buf.clear();
        self.rows = 0;
    }
}

/// The flattener's reusable buffers (one per kind of table; kept between records so that
/// their memory is allocated once).
#[derive(Debug, Default)]
pub struct Scratch {
    prefix: Vec<u8>,
    bufs: [Vec<u8>; 3],
}

/// Turns records into rows under one spec. Built once, used for every record.
pub struct Flattener<'s> {
    spec: &'s LakeSpec,
    redactor: Redactor<'s>,
    table_count: usize,
    /// What the redaction rules do to the tenant attribute (`[tenant] attribute`).
    tenant_action: Option<RedactAction>,
    /// Per declared table, per column: whether redaction can reach the column's path at all
    /// ([`Redactor::reaches`]). The others skip the per-row walk of their path.
    redacted_columns: Vec<Vec<bool>>,
    /// [`LakeSpec::projection_start_millis`].
    first_millis: i64,
}

impl<'s> Flattener<'s> {
    /// Prepares a flattener. `redaction_key` is required when the spec hashes values.
    /// Outside this crate, build a [`crate::normalizer::Normalizer`], which holds one.
    pub(crate) fn new(
        spec: &'s LakeSpec,
        redaction_key: Option<&[u8]>,
        key_source: &str,
    ) -> Result<Self, RedactionKeyError> {
        let redactor = Redactor::new(spec, redaction_key, key_source)?;
        let redacted_columns =
            spec.tables.iter().map(|t| t.columns.iter().map(|c| redactor.reaches(&c.path)).collect()).collect();
        let tenant_action = match &spec.tenant {
            Some(TenantRule::Attribute(name)) => redactor.along(&[Segment::Name(name.clone())], None).1,
            _ => None,
        };
        Ok(Flattener {
            spec,
            redactor,
            // The item tables, the declared ones, then `_rejects`.
            table_count: BuiltInTable::ITEM_TABLES.len() + spec.tables.len() + 1,
            tenant_action,
            redacted_columns,
            first_millis: spec.projection_start_millis(),
        })
    }

    /// What drops and hashes values (the quarantine's images are redacted by it too).
    pub fn redactor(&self) -> &Redactor<'s> {
        &self.redactor
    }

    /// Number of tables (built-in and declared).
    pub fn table_count(&self) -> usize {
        self.table_count
    }

    /// Flattens one record, handing its rows to `sink` as they are encoded (see
    /// [`SPILL_BYTES`]); `scratch` holds the buffers between records. A record before the
    /// spec's `projection_start` is refused (its rows would sit where no query reads) before
    /// any row is handed over; after that, flattening cannot fail.
    pub fn flatten(
        &self,
        rec: &StreamRecord<'_>,
        scratch: &mut Scratch,
        sink: &mut dyn RowSink,
    ) -> Result<(), FlattenError> {
        if rec.event_time_millis < self.first_millis {
            let mut time = Vec::new();
            ddb_lake_core::rowfmt::push_timestamp(&mut time, rec.event_time_millis);
            return Err(FlattenError::BeforeProjectionStart {
                time: String::from_utf8_lossy(&time).into_owned(),
                start: self.spec.projection_start.clone(),
            });
        }
        let Scratch { prefix, bufs: [main, leaves, rejected] } = scratch;
        prefix.clear();
        self.common_prefix(rec, prefix);

        let entity = match self.spec.entities.is_empty() {
            true => EntityColumn::Absent,
            false => {
                let (pk, sk) = self.string_keys(rec);
                EntityColumn::Present(self.spec.entity_of(pk, sk, |name| image_string(rec, name)))
            }
        };

        // changes
        let tops = top_level(rec);
        let changed = changed_attributes(rec, tops.as_deref(), |name| self.redactor.is_dropped_attribute(name));
        let mut changes = TableRows::new(CHANGES, main);
        ChangesRow {
            event_id: rec.event_id.as_ref().map(Text::as_str),
            stream_view_type: rec.stream_view_type.as_ref().map(Text::as_str),
            size_bytes: rec.size_bytes,
            ttl_delete: rec.ttl_delete,
            principal: rec.principal.as_ref().map(Text::as_str),
            changed_attributes: changed.as_deref(),
            entity,
        }
        .write(prefix, changes.buf());
        changes.row_done(sink);
        changes.flush(sink);

        let Some(image) = rec.new_image.as_ref() else {
            return Ok(());
        };

        // attributes
        {
            let old = match rec.event_name {
                EventName::Modify => rec.old_image.as_ref(),
                _ => None,
            };
            let changed_known = rec.event_name == EventName::Insert || old.is_some();
            let mut walk = AttributeRows {
                prefix,
                rows: TableRows::new(ATTRIBUTES, leaves),
                sink: &mut *sink,
                path: String::with_capacity(64),
                changed_known,
                unchanged: false,
                entity,
            };
            let old = match (&tops, old) {
                (Some(tops), _) => OldMap::Top(tops),
                (None, Some(old)) => OldMap::Map(old),
                (None, None) => OldMap::Absent,
            };
            self.walk_map(image, old, 0, self.redactor.all_rules(), &mut walk);
            walk.rows.flush(walk.sink);
        }

        // declared tables, and the cells they reject
        let mut rejects = Rejects { prefix, rows: TableRows::new(self.table_count - 1, rejected), sink };
        for (k, table) in self.spec.tables.iter().enumerate() {
            if table.when.as_ref().is_some_and(|rule| !self.takes(rule, rec)) {
                continue;
            }
            let mut rows = TableRows::new(BuiltInTable::ITEM_TABLES.len() + k, main);
            self.declared_rows(table, &self.redacted_columns[k], image, prefix, &mut rows, &mut rejects);
            rows.flush(rejects.sink);
        }
        rejects.rows.flush(rejects.sink);
        Ok(())
    }

    /// Whether a declared table's `[tables.when]` takes this record's item: a key prefix on
    /// its string keys, or a top-level string attribute of its image.
    fn takes(&self, rule: &ddb_lake_core::spec::EntityRule, rec: &StreamRecord<'_>) -> bool {
        let (pk, sk) = self.string_keys(rec);
        rule.matches(pk, sk, |name| image_string(rec, name))
    }

    /// The record's partition and sort key, when they are strings (what key rules read).
    fn string_keys<'r>(&self, rec: &'r StreamRecord<'_>) -> (Option<&'r str>, Option<&'r str>) {
        let pk = string_value(rec.keys.get(&self.spec.partition_key));
        let sk = self.spec.sort_key.as_deref().and_then(|k| string_value(rec.keys.get(k)));
        (pk, sk)
    }

    /// The record's common columns, encoded: every row of it starts with them.
    fn common_prefix(&self, rec: &StreamRecord<'_>, b: &mut Vec<u8>) {
        let tenant = self.tenant(rec);
        let item_key = item_key_json(&rec.keys);
        let pk = rec.keys.get(&self.spec.partition_key).map(value_str);
        let sk = self.spec.sort_key.as_deref().and_then(|k| rec.keys.get(k)).map(value_str);
        CommonColumns {
            event_name: rec.event_name.as_str(),
            sequence_number: (rec.event_name != EventName::Snapshot).then(|| rec.sequence_number.as_str()),
            event_time_millis: rec.event_time_millis,
            tenant: tenant.as_deref(),
            item_key: &item_key,
            pk: pk.as_deref(),
            sk: sk.as_deref(),
        }
        .write(b);
    }

    fn tenant(&self, rec: &StreamRecord<'_>) -> Option<String> {
        match self.spec.tenant.as_ref()? {
            TenantRule::Attribute(name) => {
                let v = rec
                    .new_image
                    .as_ref()
                    .and_then(|i| i.get(name))
                    .or_else(|| rec.old_image.as_ref().and_then(|i| i.get(name)))
                    .or_else(|| rec.keys.get(name))?;
                let text = v.scalar_text()?;
                match self.tenant_action {
                    None => Some(text.to_owned()),
                    Some(RedactAction::Hash) => Some(self.redactor.hash(text)),
                    // The spec refuses a dropped tenant attribute; never write it all the same.
                    Some(RedactAction::Drop) => None,
                }
            }
            TenantRule::KeyPrefix { prefix, separator } => {
                let pk = rec.keys.get(&self.spec.partition_key)?.scalar_text()?;
                let rest = pk.strip_prefix(prefix.as_str())?;
                let end =
                    if separator.is_empty() { rest.len() } else { rest.find(separator.as_str()).unwrap_or(rest.len()) };
                Some(rest[..end].to_owned())
            }
        }
    }
}

/// A string value's text; `None` for any other type.
fn string_value<'v>(v: Option<&'v crate::record::AttributeValue<'_>>) -> Option<&'v str> {
    match v {
        Some(crate::record::AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// The top-level string attribute `name` of the record's item as an entity rule reads it: from
/// its new image (a REMOVE's old image, which a REMOVE of a KEYS_ONLY stream lacks), else its
/// keys.
fn image_string<'r>(rec: &'r StreamRecord<'_>, name: &str) -> Option<&'r str> {
    match rec.new_image.as_ref().or(rec.old_image.as_ref()) {
        Some(image) => string_value(image.get(name)),
        None => string_value(rec.keys.get(name)),
    }
}

fn encode_name(name: &str, out: &mut String) {
    for c in name.chars() {
        match c {
            ',' => out.push_str("%2C"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
}

/// A MODIFY's top-level attributes (both images known): for each of the new image, by
/// position, its value in the old image and whether the two are the same. Looked up once for
/// the `changes` row and the `attributes` walk.
fn top_level<'r, 'a>(rec: &'r StreamRecord<'a>) -> Option<Vec<TopLevel<'r, 'a>>> {
    match (rec.event_name, &rec.new_image, &rec.old_image) {
        (EventName::Modify, Some(new), Some(old)) => {
            let old_by_name = old.by_name();
            let tops = new.iter().enumerate().map(|(at, (k, v))| {
                let old = old_by_name.get_at(at, k.as_str());
                TopLevel { old, same: old == Some(v) }
            });
            Some(tops.collect())
        }
        _ => None,
    }
}

/// Sorted, comma-separated top-level attribute names that the change touched, leaving out
/// those `dropped` says are never written (a dropped attribute's name is not shown either).
/// `tops` is [`top_level`] of the record.
fn changed_attributes(
    rec: &StreamRecord<'_>,
    tops: Option<&[TopLevel<'_, '_>]>,
    dropped: impl Fn(&str) -> bool,
) -> Option<String> {
    let mut names: Vec<&str> = match (rec.event_name, &rec.new_image, &rec.old_image, tops) {
        (EventName::Insert, Some(new), _, _) => new.iter().map(|(k, _)| k.as_str()).collect(),
        (EventName::Remove, _, Some(old), _) => old.iter().map(|(k, _)| k.as_str()).collect(),
        (EventName::Modify, Some(new), Some(old), Some(tops)) => {
            let new_by_name = new.by_name();
            let in_new = new.iter().zip(tops);
            let mut n: Vec<&str> = in_new.filter(|(_, top)| !top.same).map(|((k, _), _)| k.as_str()).collect();
            let in_old = old.iter().enumerate();
            n.extend(
                in_old
                    .filter(|(at, (k, _))| new_by_name.get_at(*at, k.as_str()).is_none())
                    .map(|(_, (k, _))| k.as_str()),
            );
            n
        }
        _ => return None,
    };
    names.retain(|n| !dropped(n));
    names.sort_unstable();
    names.dedup();
    let mut s = String::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        encode_name(n, &mut s);
    }
    Some(s)
}
