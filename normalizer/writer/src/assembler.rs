//! The objects of one unit of work, assembled as its rows arrive.
//!
//! A stream batch ([`crate::batch`]) and a part of a snapshot's data file ([`crate::snapshot`])
//! both hand each record's rows to an `ObjectAssembler`, which keeps one gzip'd body per
//! table × day (the table's header row first), then names and closes them ([`LakeObject`]).
//!
//! Memory does not grow with the number of partitions a unit touches: the first
//! [`MAX_OPEN_ENCODERS`] objects are compressed as their rows arrive; the rows of any
//! further object are kept as text and compressed, one object at a time, when the unit is
//! finished, unless they outgrow what an encoder takes. (An encoder holds a few hundred KB of
//! state: a batch of 1,000 records on 1,000 days would otherwise hold 2,000 of them.) The
//! rows and the keys are the same either way. Nor does memory grow with the rows of one
//! record: the flattener hands them over in pieces ([`crate::flatten::SPILL_BYTES`]).

use std::collections::BTreeMap;

use flate2::Compression;

use crate::flatten::RowSink;
use crate::gzip::{GzipMember, SpareStates};
use ddb_lake_core::object_key::ObjectKey;
use ddb_lake_core::schema::TableSchema;

/// Objects of one unit of work compressed as their rows arrive; further objects are
/// compressed when the unit is finished (see the module's documentation).
pub const MAX_OPEN_ENCODERS: usize = 32;

/// How a spec's objects are laid out: its tables (in file order), the gzip level, and how
/// many objects of a unit are compressed as their rows arrive.
#[derive(Debug)]
pub(crate) struct ObjectLayout {
    pub(crate) tables: Vec<TableSchema>,
    pub(crate) level: Compression,
    pub(crate) max_open_encoders: usize,
    /// Deflate states kept from one object to the next ([`crate::gzip`]).
    pub(crate) spare: SpareStates,
}

/// One object to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeObject {
    /// Key relative to the lake prefix.
    pub key: ObjectKey,
    /// Gzip'd body.
    pub body: Vec<u8>,
    /// The table, or `None` for the quarantine object.
    pub table: Option<String>,
    /// Rows (or quarantined records) in the object.
    pub rows: u64,
    /// Lowest index (in the event) of a record that has rows in this object: if this
    /// object cannot be written, that record and all after it must be retried.
    pub first_record: usize,
}

impl LakeObject {
    /// The object of `table` at `key` holding `rows` (encoded rows, each ending with LF), at
    /// gzip level `level`.
    pub(crate) fn of_rows(table: &TableSchema, key: ObjectKey, rows: &[u8], count: u64, level: Compression) -> Self {
        let mut body = Body::open(table, level, None);
        body.write(rows, level, None);
        LakeObject {
            key,
            body: body.finish(level, None),
            table: Some(table.name.clone()),
            rows: count,
            first_record: 0,
        }
    }
}

/// The objects of one unit of work (a batch, a snapshot part) while its rows arrive: one body
/// per table × day, opened with the table's header row when its first row comes.
pub(crate) struct ObjectAssembler<'n> {
    tables: &'n [TableSchema],
    spare: &'n SpareStates,
    level: Compression,
    max_open_encoders: usize,
    open_encoders: usize,
    /// Per table (in table order), its objects by day.
    objects: Vec<BTreeMap<String, OpenObject<'n>>>,
    totals: Vec<u64>,
    row_bytes: usize,
}

struct OpenObject<'n> {
    body: Body<'n>,
    rows: u64,
    first_record: usize,
}

/// The objects of one record: a [`RowSink`] that appends to its unit's objects of its day.
pub(crate) struct RecordTarget<'a, 'n> {
    assembler: &'a mut ObjectAssembler<'n>,
    index: usize,
    day: &'a str,
}

impl RowSink for RecordTarget<'_, '_> {
    fn take(&mut self, table: usize, rows: &[u8], count: u64) {
        self.assembler.take(self.index, self.day, table, rows, count);
    }
}

/// Rows an object beyond [`MAX_OPEN_ENCODERS`] keeps as text before it is compressed as its
/// rows arrive all the same: past this, the text takes more memory than an encoder would.
const MAX_TEXT_BYTES: usize = 1 << 20;

/// An object's body while its unit is assembled.
enum Body<'n> {
    /// Compressed as rows arrive.
    Gzip(Box<GzipMember<'n>>),
    /// Rows as text (header included), compressed when the unit is finished or when it
    /// outgrows [`MAX_TEXT_BYTES`].
    Text(Vec<u8>),
}

impl<'n> Body<'n> {
    /// A body compressed as rows arrive, holding `table`'s header row.
    fn open(table: &TableSchema, level: Compression, spare: Option<&'n SpareStates>) -> Self {
        Self::gzip(&table.header_row(), level, spare)
    }

    /// A body compressed as rows arrive, starting with `text`.
    fn gzip(text: &[u8], level: Compression, spare: Option<&'n SpareStates>) -> Self {
        let mut gz = GzipMember::new(level, 64 * 1024, spare);
        gz.write(text);
        Body::Gzip(Box::new(gz))
    }

    fn write(&mut self, bytes: &[u8], level: Compression, spare: Option<&'n SpareStates>) {
        match self {
            Body::Gzip(gz) => gz.write(bytes),
            Body::Text(text) => {
                text.extend_from_slice(bytes);
                if text.len() > MAX_TEXT_BYTES {
                    *self = Self::gzip(text, level, spare);
                }
            }
        }
    }

    fn finish(self, level: Compression, spare: Option<&'n SpareStates>) -> Vec<u8> {
        match self {
            Body::Gzip(gz) => gz.finish(),
            Body::Text(text) => {
                let mut gz = GzipMember::new(level, text.len() / 4 + 64, spare);
                gz.write(&text);
                drop(text);
                gz.finish()
            }
        }
    }
}

impl<'n> ObjectAssembler<'n> {
    pub(crate) fn new(layout: &'n ObjectLayout) -> Self {
        ObjectAssembler {
            tables: &layout.tables,
            spare: &layout.spare,
            level: layout.level,
            max_open_encoders: layout.max_open_encoders,
            open_encoders: 0,
            objects: layout.tables.iter().map(|_| BTreeMap::new()).collect(),
            totals: vec![0; layout.tables.len()],
            row_bytes: 0,
        }
    }

    /// Where the rows of record `index` (its position in the unit), on `day`, go: its day's
    /// objects, each row appended as the flattener hands it over.
    pub(crate) fn record<'a>(&'a mut self, index: usize, day: &'a str) -> RecordTarget<'a, 'n> {
        RecordTarget { assembler: self, index, day }
    }

    fn take(&mut self, index: usize, day: &str, t: usize, rows: &[u8], count: u64) {
        // Looked up by the borrowed day: the day's text is copied only for a new object.
        if let Some(o) = self.objects[t].get_mut(day) {
            o.body.write(rows, self.level, Some(self.spare));
            o.rows += count;
        } else {
            let mut body = if self.open_encoders < self.max_open_encoders {
                self.open_encoders += 1;
                Body::open(&self.tables[t], self.level, Some(self.spare))
            } else {
                Body::Text(self.tables[t].header_row())
            };
            body.write(rows, self.level, Some(self.spare));
            self.objects[t].insert(day.to_owned(), OpenObject { body, rows: count, first_record: index });
        }
        self.totals[t] += count;
        self.row_bytes += rows.len();
    }

    /// The gzip level of its objects (a unit's quarantine object is written at the same).
    pub(crate) fn level(&self) -> Compression {
        self.level
    }

    /// Bytes of rows added so far (before gzip).
    pub(crate) fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// Closes the objects, in table order and then by day, each named by `key(table, day)`;
    /// and the rows written per table, in table order.
    pub(crate) fn finish(self, key: impl Fn(&str, &str) -> ObjectKey) -> (Vec<LakeObject>, Vec<(String, u64)>) {
        let mut objects = Vec::with_capacity(self.objects.iter().map(BTreeMap::len).sum());
        for (t, days) in self.objects.into_iter().enumerate() {
            let table = &self.tables[t];
            for (day, o) in days {
                objects.push(LakeObject {
                    key: key(&table.name, &day),
                    body: o.body.finish(self.level, Some(self.spare)),
                    table: Some(table.name.clone()),
                    rows: o.rows,
                    first_record: o.first_record,
                });
            }
        }
        let rows_per_table = self.tables.iter().zip(self.totals).map(|(t, n)| (t.name.clone(), n)).collect();
        (objects, rows_per_table)
    }
}
