//! The writer for one spec, [`Normalizer`]: every way into the lake starts here.
//!
//! Built once ([`Normalizer::new`]) and used for every unit of work: a stream batch (a Lambda
//! event, [`crate::batch`]) or a snapshot's data file ([`crate::snapshot`]), both flattened
//! by the one [`Flattener`] and assembled into objects by [`crate::assembler`]. Every caller
//! (the function, `ddb-lake normalize`, `replay`, `demo` and `backfill`, the benchmarks, the
//! tests) goes through the methods here.

use flate2::Compression;

use crate::assembler::{LakeObject, ObjectLayout, MAX_OPEN_ENCODERS};
use crate::batch::{self, BatchOptions, BatchOutput, EventError};
use crate::export::{DataFile, Export, ExportError, FileStats};
use crate::flatten::Flattener;
use crate::gzip::SpareStates;
use crate::record::Item;
use crate::redaction::RedactionKeyError;
use crate::snapshot::{self, BackfillStep, KeyAttributeMissing, Snapshot, SnapshotError, SnapshotPartOutput};
use ddb_lake_core::schema::TableSchema;
use ddb_lake_core::spec::LakeSpec;

/// The writer for one spec, built once and used for every batch and snapshot: the flattener
/// (the spec and the redaction key), the tables' schemas in file order and the gzip level.
pub struct Normalizer<'s> {
    spec: &'s LakeSpec,
    flattener: Flattener<'s>,
    layout: ObjectLayout,
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
            layout: ObjectLayout {
                tables: spec.item_table_schemas(),
                level: Compression::new(spec.gzip_level),
                max_open_encoders: MAX_OPEN_ENCODERS,
                spare: SpareStates::new(MAX_OPEN_ENCODERS),
            },
        })
    }

    /// The same writer at another gzip level (0-9; the benchmark compares levels).
    pub fn with_gzip_level(mut self, level: u32) -> Self {
        self.layout.level = Compression::new(level);
        self
    }

    /// The same writer with another bound on the objects compressed as their rows arrive
    /// ([`crate::assembler::MAX_OPEN_ENCODERS`]; the tests show that the bound changes no row).
    pub fn with_max_open_encoders(mut self, n: usize) -> Self {
        self.layout.max_open_encoders = n;
        self
    }

    /// Every table it writes, in the order of [`BatchOutput::rows_per_table`].
    pub fn tables(&self) -> &[TableSchema] {
        &self.layout.tables
    }

    /// Normalizes one Lambda event (`{"Records": [...]}`) into its objects. Records that
    /// cannot be normalized are quarantined; an error only for text that is not an event.
    pub fn normalize_event(&self, event_json: &str, options: &BatchOptions) -> Result<BatchOutput, EventError> {
        batch::normalize_event(&self.flattener, &self.layout, event_json, options)
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
        snapshot::normalize_file(self.spec, &self.flattener, &self.layout, snapshot, file, part_bytes, progress, emit)
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
        snapshot::backfill(self.spec, &self.flattener, &self.layout, snapshot, export, part_bytes, progress, write)
    }

    /// Refuses a snapshot whose rows would sit where no query reads: a time before the spec's
    /// `partitioning.projection_start` or after 9999-12-31. [`Normalizer::backfill`] checks
    /// it first; a caller that runs the data files itself must too.
    pub fn check_snapshot_time(&self, snapshot: &Snapshot, export: &Export) -> Result<(), ExportError> {
        snapshot::check_time(self.spec, snapshot, export)
    }

    /// Reads one data file of a snapshot through, as [`Normalizer::backfill`] does before it
    /// writes anything: its MD5, gzip, items, item count and every item's key attributes
    /// ([`Normalizer::snapshot_keys`]); an incremental export's changes, also that each was
    /// written inside the window. `progress` hears the gzip'd bytes read so far.
    pub fn check_snapshot_file(
        &self,
        snapshot: &Snapshot,
        file: &DataFile,
        progress: impl FnMut(u64),
    ) -> Result<FileStats, ExportError> {
        snapshot::check_file(self.spec, snapshot, file, progress)
    }

    /// Writes one data file of `snapshot` as [`Normalizer::backfill`] does: its rows part by
    /// part ([`Normalizer::normalize_snapshot_file`]), then its `snapshots` row, handed to
    /// `write` last as a part holding that one object (the views use a snapshot only when
    /// every data file has its row). Check the file first ([`Normalizer::check_snapshot_file`]).
    pub fn write_snapshot_file<E>(
        &self,
        snapshot: &Snapshot,
        file: &DataFile,
        part_bytes: usize,
        progress: impl FnMut(u64),
        write: impl FnMut(SnapshotPartOutput) -> Result<(), E>,
    ) -> Result<FileStats, SnapshotError<E>> {
        snapshot::write_file(self.spec, &self.flattener, &self.layout, snapshot, file, part_bytes, progress, write)
    }

    /// The `snapshots` row of one data file of `snapshot` holding `items` items: write it
    /// after the file's rows.
    pub fn snapshot_marker(&self, snapshot: &Snapshot, file: &DataFile, items: u64) -> LakeObject {
        snapshot::marker(snapshot, file, items, self.layout.level)
    }
}
