//! The writer for one spec, [`Normalizer`], and the objects it makes.
//!
//! Built once ([`Normalizer::new`]) and used for every unit of work: a stream batch (a Lambda
//! event, [`crate::batch`]) or a part of a snapshot's data file ([`crate::snapshot`]). Both
//! flatten their records with the one [`Flattener`] and hand the rows to an
//! [`ObjectAssembler`], which keeps one gzip'd body per table × day (the header row first)
//! and names and closes them at the end. Every caller (the function, `ddb-lake normalize`,
//! `replay`, `demo` and `backfill`, the benchmarks, the tests) goes through the methods here.
//!
//! Memory does not grow with the number of partitions a unit touches: the first
//! [`MAX_OPEN_ENCODERS`] objects are compressed as their rows arrive; the rows of any
//! further object are kept as text and compressed, one object at a time, when the unit is
//! finished. (An encoder holds a few hundred KB of state: a batch of 1,000 records on 1,000
//! days would otherwise hold 2,000 of them.) The rows and the keys are the same either way.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::batch::{self, BatchOptions, BatchOutput, EventError};
use crate::export::{DataFile, Export, FileStats};
use crate::flatten::{Flattener, RecordRows};
use crate::record::Item;
use crate::redaction::RedactionKeyError;
use crate::snapshot::{self, BackfillStep, KeyAttributeMissing, Snapshot, SnapshotError, SnapshotPartOutput};
use ddb_lake_core::object_key::ObjectKey;
use ddb_lake_core::schema::TableSchema;
use ddb_lake_core::spec::LakeSpec;

/// Objects of one unit of work compressed as their rows arrive; further objects are
/// compressed when the unit is finished (see the module's documentation).
pub const MAX_OPEN_ENCODERS: usize = 32;

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
        let mut body = Body::open(table, level);
        body.write(rows);
        LakeObject { key, body: body.finish(level), table: Some(table.name.clone()), rows: count, first_record: 0 }
    }
}

/// The writer for one spec, built once and used for every batch and snapshot: the flattener
/// (the spec and the redaction key), the tables' schemas in file order and the gzip level.
pub struct Normalizer<'s> {
    pub(crate) spec: &'s LakeSpec,
    pub(crate) flattener: Flattener<'s>,
    tables: Vec<TableSchema>,
    pub(crate) level: Compression,
    max_open_encoders: usize,
}

impl<'s> Normalizer<'s> {
    /// The writer for `spec`, at the spec's gzip level. `redaction_key` (at least 16 bytes)
    /// is needed when a rule hashes; without it, or with a shorter one, such a spec is
    /// refused, naming the variable that should hold it (the spec's `redaction.key_env`).
    pub fn new(spec: &'s LakeSpec, redaction_key: Option<&[u8]>) -> Result<Self, RedactionKeyError> {
        let source = format!("the environment variable {}", spec.redaction_key_env);
        Self::with_key_from(spec, redaction_key, &source)
    }

    /// [`Normalizer::new`] with a key that came from `key_source` (e.g. `the secret <ARN>`),
    /// which the errors name.
    pub fn with_key_from(
        spec: &'s LakeSpec,
        redaction_key: Option<&[u8]>,
        key_source: &str,
    ) -> Result<Self, RedactionKeyError> {
        Ok(Normalizer {
            spec,
            flattener: Flattener::new(spec, redaction_key, key_source)?,
            tables: spec.item_table_schemas(),
            level: Compression::new(spec.gzip_level),
            max_open_encoders: MAX_OPEN_ENCODERS,
        })
    }

    /// The same writer at another gzip level (0-9; the benchmark compares levels).
    pub fn with_gzip_level(mut self, level: u32) -> Self {
        self.level = Compression::new(level);
        self
    }

    /// The same writer with another bound on the objects compressed as their rows arrive
    /// ([`MAX_OPEN_ENCODERS`]; the tests show that the bound changes no row).
    pub fn with_max_open_encoders(mut self, n: usize) -> Self {
        self.max_open_encoders = n;
        self
    }

    /// Every table it writes, in the order of [`BatchOutput::rows_per_table`].
    pub fn tables(&self) -> &[TableSchema] {
        &self.tables
    }

    /// Normalizes one Lambda event (`{"Records": [...]}`) into its objects. Records that
    /// cannot be normalized are quarantined; an error only for text that is not an event.
    pub fn normalize_event(&self, event_json: &str, options: &BatchOptions) -> Result<BatchOutput, EventError> {
        batch::normalize_event(self, event_json, options)
    }

    /// The key attributes of a snapshot's item: the spec's partition key and sort key (which
    /// must be the table's key schema, so that the item's rows and its stream records share
    /// `item_key`). The error names the missing attribute and the fix.
    pub fn snapshot_keys<'a>(&self, item: &Item<'a>) -> Result<Item<'a>, KeyAttributeMissing> {
        snapshot::key_attributes(self.spec, item)
    }

    /// Normalizes one data file of `snapshot`, handing each finished part (at most about
    /// `part_bytes` of rows) to `emit`, which writes it. Items whose rows cannot be made under
    /// the spec go to the part's quarantine object, as stream records do; a line that is not
    /// an item, or an item without its key attributes, stops the file with an error naming
    /// the line (run [`DataFile::verify`] with [`Normalizer::snapshot_keys`] first to learn of
    /// that before anything is written).
    pub fn normalize_snapshot_file<E>(
        &self,
        snapshot: &Snapshot,
        file: &DataFile,
        part_bytes: usize,
        progress: impl FnMut(u64),
        emit: impl FnMut(SnapshotPartOutput) -> Result<(), E>,
    ) -> Result<FileStats, SnapshotError<E>> {
        snapshot::normalize_file(self, snapshot, file, part_bytes, progress, emit)
    }

    /// A whole backfill of `export` as `snapshot`: every data file read through first (its
    /// MD5, gzip, items and key attributes; nothing is handed to `write` if one fails), then
    /// each data file normalized part by part and, after its rows, its `snapshots` row (a part
    /// with that one object). `progress` hears the step, the data file's position and the
    /// gzip'd bytes read of it so far. Returns what the check pass read.
    pub fn backfill<E>(
        &self,
        snapshot: &Snapshot,
        export: &Export,
        part_bytes: usize,
        progress: impl FnMut(BackfillStep, usize, u64),
        write: impl FnMut(SnapshotPartOutput) -> Result<(), E>,
    ) -> Result<FileStats, SnapshotError<E>> {
        snapshot::backfill(self, snapshot, export, part_bytes, progress, write)
    }

    /// The `snapshots` row of one data file of `snapshot` holding `items` items: write it
    /// after the file's rows.
    pub fn snapshot_marker(&self, snapshot: &Snapshot, file: &DataFile, items: u64) -> LakeObject {
        snapshot::marker(snapshot, file, items, self.level)
    }
}

/// The objects of one unit of work (a batch, a snapshot part) while its rows arrive: one body
/// per table × day, opened with the table's header row when its first row comes.
pub(crate) struct ObjectAssembler<'n> {
    tables: &'n [TableSchema],
    level: Compression,
    max_open_encoders: usize,
    open_encoders: usize,
    objects: BTreeMap<(usize, String), OpenObject>,
    totals: Vec<u64>,
    row_bytes: usize,
}

struct OpenObject {
    body: Body,
    rows: u64,
    first_record: usize,
}

/// An object's body while its unit is assembled.
enum Body {
    /// Compressed as rows arrive.
    Gzip(Box<GzEncoder<Vec<u8>>>),
    /// Rows as text (header included), compressed when the unit is finished.
    Text(Vec<u8>),
}

impl Body {
    /// A body compressed as rows arrive, holding `table`'s header row.
    fn open(table: &TableSchema, level: Compression) -> Self {
        let mut body = Body::Gzip(Box::new(GzEncoder::new(Vec::with_capacity(64 * 1024), level)));
        body.write(&table.header_row());
        body
    }

    fn write(&mut self, bytes: &[u8]) {
        // Writing to a Vec cannot fail.
        let _ = match self {
            Body::Gzip(gz) => gz.write_all(bytes),
            Body::Text(text) => {
                text.extend_from_slice(bytes);
                Ok(())
            }
        };
    }

    fn finish(self, level: Compression) -> Vec<u8> {
        match self {
            Body::Gzip(gz) => (*gz).finish().unwrap_or_default(),
            Body::Text(text) => {
                let mut gz = GzEncoder::new(Vec::with_capacity(text.len() / 4 + 64), level);
                let _ = gz.write_all(&text);
                drop(text);
                gz.finish().unwrap_or_default()
            }
        }
    }
}

impl<'n> ObjectAssembler<'n> {
    pub(crate) fn new(normalizer: &'n Normalizer<'_>) -> Self {
        ObjectAssembler {
            tables: &normalizer.tables,
            level: normalizer.level,
            max_open_encoders: normalizer.max_open_encoders,
            open_encoders: 0,
            objects: BTreeMap::new(),
            totals: vec![0; normalizer.tables.len()],
            row_bytes: 0,
        }
    }

    /// Appends the rows of record `index` (its position in the unit) to its day's objects.
    pub(crate) fn add(&mut self, index: usize, day: &str, rows: &RecordRows) {
        for (t, buf) in rows.bufs.iter().enumerate() {
            if buf.is_empty() {
                continue;
            }
            let o = match self.objects.entry((t, day.to_owned())) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let body = if self.open_encoders < self.max_open_encoders {
                        self.open_encoders += 1;
                        Body::open(&self.tables[t], self.level)
                    } else {
                        Body::Text(self.tables[t].header_row())
                    };
                    e.insert(OpenObject { body, rows: 0, first_record: index })
                }
            };
            o.body.write(buf);
            o.rows += rows.rows[t];
            self.totals[t] += rows.rows[t];
            self.row_bytes += buf.len();
        }
    }

    /// Bytes of rows added so far (before gzip).
    pub(crate) fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// Closes the objects, in table order and then by day, each named by `key(table, day)`;
    /// and the rows written per table, in table order.
    pub(crate) fn finish(self, key: impl Fn(&str, &str) -> ObjectKey) -> (Vec<LakeObject>, Vec<(String, u64)>) {
        let mut objects = Vec::with_capacity(self.objects.len());
        for ((t, day), o) in self.objects {
            let table = &self.tables[t];
            objects.push(LakeObject {
                key: key(&table.name, &day),
                body: o.body.finish(self.level),
                table: Some(table.name.clone()),
                rows: o.rows,
                first_record: o.first_record,
            });
        }
        let rows_per_table = self.tables.iter().zip(self.totals).map(|(t, n)| (t.name.clone(), n)).collect();
        (objects, rows_per_table)
    }
}
