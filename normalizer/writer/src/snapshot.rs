//! A snapshot's items → lake objects: the rows of a backfilled export (`ddb-lake backfill`).
//!
//! A snapshot is the state of every item of the table as of one instant T (an export's
//! `exportTime`). Its items go through the same flattening into the same tables as stream
//! records, as rows with `event_name` = `SNAPSHOT`, no sequence number and T as their time,
//! all in the partition of T's day. Each data file is one unit of work: its rows are cut into
//! parts of a bounded size (always at the same items), each part's objects named after the
//! snapshot, the data file and the part ([`SnapshotPart`]), so writing a data file again
//! overwrites its own objects. After a data file's rows, its row of the `snapshots` table
//! ([`crate::normalizer::Normalizer::snapshot_marker`]) says that the file is in; the views use a snapshot
//! once every data file of it has its row. The rule the views follow is in
//! `docs/snapshots.md`.
//!
//! An incremental export is a snapshot of the changes in its window `[from, T)`: each changed
//! item becomes rows at the time of its last write in the window, with `event_name`
//! `INCREMENTAL` (its new image) or `INCREMENTAL_REMOVE` (that write deleted it; a `changes`
//! row only) and `WriteTimestampMicros` as the sequence number, in the partition of that
//! write's day; the `snapshots` rows name the window's start.

use crate::assembler::{LakeObject, ObjectAssembler, ObjectLayout};
use crate::export::{DataFile, Export, ExportError, ExportLine, FileStats};
use crate::flatten::{Flattener, Scratch};
use crate::quarantine::{quarantine_object, QuarantinedRecord};
use crate::record::{AttributeValue, Item, StreamRecord, LAST_EVENT_MILLIS};
use ddb_lake_core::object_key::{day_of, ObjectKey, SnapshotPart};
use ddb_lake_core::rows::SnapshotsRow;
use ddb_lake_core::schema::BuiltInTable;
use ddb_lake_core::spec::LakeSpec;
use flate2::Compression;

/// Bytes of rows (before gzip) after which a data file's part is finished and handed over:
/// bounds the memory a data file takes, whatever its size.
pub const DEFAULT_PART_BYTES: usize = 64 << 20;

/// One snapshot: what it is and the rule its rows follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Its id (the export id): names its objects.
    pub id: String,
    /// The instant T it shows, in milliseconds since the epoch.
    pub time_millis: i64,
    /// The margin W: stream records later than T − W win over it.
    pub margin_seconds: u32,
    /// Where it came from (the export's ARN).
    pub source: String,
    /// Its number of data files.
    pub data_files: usize,
    /// For an incremental export, the start of its window (`exportFromTime`, inclusive; T is
    /// its end, exclusive), in milliseconds since the epoch; `None` for a full export.
    pub window_start_millis: Option<i64>,
}

impl Snapshot {
    /// The snapshot an export is, with margin `margin_seconds` (the spec's
    /// `backfill.margin_seconds`).
    pub fn of_export(export: &Export, margin_seconds: u32) -> Self {
        Snapshot {
            id: export.export_id.clone(),
            time_millis: export.export_time_millis,
            margin_seconds,
            source: export.export_arn.clone(),
            data_files: export.files.len(),
            window_start_millis: export.window.as_ref().map(|w| w.from_millis),
        }
    }

    /// The day (`dt`) all its rows go to.
    pub fn day(&self) -> String {
        day_of(self.time_millis)
    }
}

/// The objects of one part of a data file.
#[derive(Debug, Clone, Default)]
pub struct SnapshotPartOutput {
    /// Objects to write: rows per table, then the quarantine object if any.
    pub objects: Vec<LakeObject>,
    /// Items in the part.
    pub items: u64,
    /// Items that went to quarantine (their lines and reasons are in the quarantine object).
    pub quarantined: Vec<QuarantinedRecord>,
    /// Rows per table, in the order of [`crate::normalizer::Normalizer::tables`].
    pub rows_per_table: Vec<(String, u64)>,
}

/// Where a backfill is, for its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackfillStep {
    /// Reading every data file through before anything is written.
    Checking,
    /// Writing a data file's rows.
    Writing,
}

/// Why a data file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError<E> {
    /// The data file could not be read.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A part's objects could not be written.
    #[error(transparent)]
    Write(E),
}

/// A snapshot's item lacks one of the spec's key attributes, or holds one that no DynamoDB
/// key can be.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyAttributeMissing {
    /// The attribute is not in the item.
    #[error(
        "the item has no attribute `{name}`, the spec's source.{role}; set [source] partition_key \
         and sort_key to the table's key schema (a table without a sort key: sort_key = \"\")"
    )]
    Missing {
        /// The attribute the spec names.
        name: String,
        /// Which key it is: `partition_key` or `sort_key`.
        role: &'static str,
    },
    /// The attribute is there but is not a key value (S, N or B, strings and binaries not
    /// empty): the spec names another attribute than the table's key, or the export is damaged.
    #[error(
        "the item's `{name}`, the spec's source.{role}, is {found}; a key is a non-empty S or B, or an N: \
         set [source] partition_key and sort_key to the table's key schema"
    )]
    NotAKey {
        /// The attribute the spec names.
        name: String,
        /// Which key it is: `partition_key` or `sort_key`.
        role: &'static str,
        /// What it holds, e.g. `a NULL` or `an empty S`.
        found: String,
    },
}

/// [`crate::normalizer::Normalizer::snapshot_keys`].
pub(crate) fn key_attributes<'a>(spec: &LakeSpec, item: &Item<'a>) -> Result<Item<'a>, KeyAttributeMissing> {
    let mut keys = Vec::with_capacity(2);
    for (role, name) in [("partition_key", Some(&spec.partition_key)), ("sort_key", spec.sort_key.as_ref())] {
        let Some(name) = name else { continue };
        let Some((k, v)) = item.iter().find(|(k, _)| k.as_str() == name.as_str()) else {
            return Err(KeyAttributeMissing::Missing { name: name.clone(), role });
        };
        let found = match v {
            AttributeValue::S(t) | AttributeValue::B(t) if t.as_str().is_empty() => {
                format!("an empty {}", v.type_name())
            }
            AttributeValue::S(_) | AttributeValue::N(_) | AttributeValue::B(_) => String::new(),
            other => format!("a {}", other.type_name()),
        };
        if !found.is_empty() {
            return Err(KeyAttributeMissing::NotAKey { name: name.clone(), role, found });
        }
        keys.push((k.clone(), v.clone()));
    }
    Ok(Item::new(keys))
}

/// The time of a line of a data file of `snapshot` (T for a full export's item, the write's
/// time for an incremental export's change), checked: a change written outside the window,
/// or a line of the other kind of export, is an error naming the problem.
fn line_time(snapshot: &Snapshot, line: &ExportLine<'_>) -> Result<i64, String> {
    match (line, snapshot.window_start_millis) {
        (ExportLine::Item(_), None) => Ok(snapshot.time_millis),
        (ExportLine::Change(change), Some(from)) => {
            let micros = change.write_micros();
            // Microseconds to milliseconds, rounding down: never past the window's end.
            let millis = micros.div_euclid(1000);
            if millis < from || millis >= snapshot.time_millis {
                return Err(format!(
                    "WriteTimestampMicros {micros} ({}) is outside the export's window [{}, {}): the export is \
                     inconsistent; export the window again",
                    time_text(millis),
                    time_text(from),
                    time_text(snapshot.time_millis)
                ));
            }
            Ok(millis)
        }
        (ExportLine::Item(_), Some(_)) | (ExportLine::Change(_), None) => {
            Err("a line of the other kind of export: the data file does not belong to this export".into())
        }
    }
}

/// The key attributes of a line's item ([`key_attributes`]).
fn line_keys<'a>(spec: &LakeSpec, line: &ExportLine<'a>) -> Result<Item<'a>, String> {
    match line {
        ExportLine::Item(item) => key_attributes(spec, item).map_err(|e| e.to_string()),
        ExportLine::Change(change) => key_attributes(spec, &change.keys).map_err(|e| format!("its Keys: {e}")),
    }
}

/// The record a line of a data file of `snapshot` stands for, and the day its rows go to.
fn line_record<'a>(
    spec: &LakeSpec,
    snapshot: &Snapshot,
    line: ExportLine<'a>,
) -> Result<(StreamRecord<'a>, String), String> {
    let millis = line_time(snapshot, &line)?;
    let keys = line_keys(spec, &line)?;
    Ok(match line {
        ExportLine::Item(item) => (StreamRecord::snapshot(keys, item, millis), snapshot.day()),
        ExportLine::Change(c) => {
            (StreamRecord::incremental(keys, c.write_micros, c.new_image, c.old_image, millis), day_of(millis))
        }
    })
}

/// `millis` as ISO 8601 UTC, for messages.
fn time_text(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| millis.to_string())
}

/// Builds the objects of one part.
struct PartAssembler<'n, 's> {
    flattener: &'n Flattener<'s>,
    objects: ObjectAssembler<'n>,
    quarantine: Vec<(QuarantinedRecord, String)>,
    items: u64,
}

impl<'n, 's> PartAssembler<'n, 's> {
    fn new(flattener: &'n Flattener<'s>, layout: &'n ObjectLayout) -> Self {
        PartAssembler { flattener, objects: ObjectAssembler::new(layout), quarantine: Vec::new(), items: 0 }
    }

    fn add(&mut self, line_number: u64, day: &str, rec: &StreamRecord<'_>, line: &str, scratch: &mut Scratch) {
        self.items += 1;
        let mut target = self.objects.record(line_number as usize, day);
        if let Err(e) = self.flattener.flatten(rec, scratch, &mut target) {
            let q = QuarantinedRecord {
                index: line_number as usize,
                event_id: None,
                sequence_number: None,
                reason: e.to_string(),
                kind: e.kind(),
            };
            self.quarantine.push((q, line.to_owned()));
        }
    }

    fn finish(self, part: &SnapshotPart) -> SnapshotPartOutput {
        let level = self.objects.level();
        let (mut objects, rows_per_table) =
            self.objects.finish(|table, day| ObjectKey::snapshot_rows(table, day, part));
        if !self.quarantine.is_empty() {
            objects.push(quarantine_object(
                self.flattener.redactor(),
                ObjectKey::snapshot_quarantine(part),
                level,
                self.quarantine.iter().map(|(q, line)| (q, line.as_str())),
            ));
        }
        let quarantined = self.quarantine.into_iter().map(|(q, _)| q).collect();
        SnapshotPartOutput { objects, items: self.items, quarantined, rows_per_table }
    }
}

/// [`crate::normalizer::Normalizer::normalize_snapshot_file`]: the items of `file`, whose key
/// attributes `spec` names, flattened by `flattener` into objects laid out as `layout` says.
#[allow(clippy::too_many_arguments)]
pub(crate) fn normalize_file<E>(
    spec: &LakeSpec,
    flattener: &Flattener<'_>,
    layout: &ObjectLayout,
    snapshot: &Snapshot,
    file: &DataFile,
    part_bytes: usize,
    progress: impl FnMut(u64),
    mut emit: impl FnMut(SnapshotPartOutput) -> Result<(), E>,
) -> Result<FileStats, SnapshotError<E>> {
    let part_id = |part| SnapshotPart { snapshot_id: snapshot.id.clone(), data_file: file.name.clone(), part };
    let mut part = 0u32;
    let mut assembler = PartAssembler::new(flattener, layout);
    let mut scratch = Scratch::default();
    let mut line_number = 0u64;
    let mut failed: Option<E> = None;
    let read = file.for_each_item(progress, |parsed, line| {
        line_number += 1;
        let (rec, day) = line_record(spec, snapshot, parsed)?;
        assembler.add(line_number, &day, &rec, line, &mut scratch);
        if assembler.objects.row_bytes() >= part_bytes {
            let done = std::mem::replace(&mut assembler, PartAssembler::new(flattener, layout));
            if let Err(e) = emit(done.finish(&part_id(part))) {
                failed = Some(e);
                return Err("stopped: a part could not be written".into());
            }
            part += 1;
        }
        Ok(())
    });
    if let Some(e) = failed {
        return Err(SnapshotError::Write(e));
    }
    let stats = read?;
    if assembler.items > 0 {
        emit(assembler.finish(&part_id(part))).map_err(SnapshotError::Write)?;
    }
    Ok(stats)
}

/// [`crate::normalizer::Normalizer::check_snapshot_time`].
pub(crate) fn check_time(spec: &LakeSpec, snapshot: &Snapshot, export: &Export) -> Result<(), ExportError> {
    let first = snapshot.window_start_millis.unwrap_or(snapshot.time_millis);
    if first < spec.projection_start_millis() || snapshot.time_millis > LAST_EVENT_MILLIS {
        return Err(ExportError::Manifest {
            path: export.dir.join("manifest-summary.json"),
            message: format!(
                "{} is outside the days the lake's partitions are read, from \
                 partitioning.projection_start {} through 9999-12-31; set projection_start to {} or earlier",
                match &export.window {
                    None => format!("exportTime {}", export.export_time),
                    Some(w) =>
                        format!("the window from exportFromTime {} to exportToTime {}", w.from, export.export_time),
                },
                spec.projection_start,
                day_of(first)
            ),
        });
    }
    Ok(())
}

/// [`crate::normalizer::Normalizer::backfill`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn backfill<E>(
    spec: &LakeSpec,
    flattener: &Flattener<'_>,
    layout: &ObjectLayout,
    snapshot: &Snapshot,
    export: &Export,
    part_bytes: usize,
    mut progress: impl FnMut(BackfillStep, usize, u64),
    mut write: impl FnMut(SnapshotPartOutput) -> Result<(), E>,
) -> Result<FileStats, SnapshotError<E>> {
    check_time(spec, snapshot, export)?;
    let mut read = FileStats::default();
    for (n, file) in export.files.iter().enumerate() {
        let stats = check_file(spec, snapshot, file, |bytes| progress(BackfillStep::Checking, n, bytes))?;
        read.items += stats.items;
        read.json_bytes += stats.json_bytes;
    }
    for (n, file) in export.files.iter().enumerate() {
        let progress = |bytes| progress(BackfillStep::Writing, n, bytes);
        write_file(spec, flattener, layout, snapshot, file, part_bytes, progress, &mut write)?;
    }
    Ok(read)
}

/// [`crate::normalizer::Normalizer::check_snapshot_file`].
pub(crate) fn check_file(
    spec: &LakeSpec,
    snapshot: &Snapshot,
    file: &DataFile,
    progress: impl FnMut(u64),
) -> Result<FileStats, ExportError> {
    file.verify(progress, |line| {
        line_time(snapshot, line)?;
        line_keys(spec, line).map(|_| ())
    })
}

/// [`crate::normalizer::Normalizer::write_snapshot_file`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_file<E>(
    spec: &LakeSpec,
    flattener: &Flattener<'_>,
    layout: &ObjectLayout,
    snapshot: &Snapshot,
    file: &DataFile,
    part_bytes: usize,
    progress: impl FnMut(u64),
    mut write: impl FnMut(SnapshotPartOutput) -> Result<(), E>,
) -> Result<FileStats, SnapshotError<E>> {
    let stats = normalize_file(spec, flattener, layout, snapshot, file, part_bytes, progress, &mut write)?;
    // Last: the views use a snapshot only when every data file has its row.
    let marker = marker(snapshot, file, stats.items, layout.level);
    write(SnapshotPartOutput { objects: vec![marker], ..SnapshotPartOutput::default() })
        .map_err(SnapshotError::Write)?;
    Ok(stats)
}

/// [`crate::normalizer::Normalizer::snapshot_marker`].
pub(crate) fn marker(snapshot: &Snapshot, file: &DataFile, items: u64, level: Compression) -> LakeObject {
    let table = BuiltInTable::Snapshots.schema();
    let mut row = Vec::with_capacity(256);
    SnapshotsRow {
        snapshot_id: &snapshot.id,
        snapshot_time_millis: snapshot.time_millis,
        margin_seconds: snapshot.margin_seconds,
        source: &snapshot.source,
        data_file: &file.name,
        data_files: snapshot.data_files,
        items,
        window_start_millis: snapshot.window_start_millis,
    }
    .write(&mut row);
    let key = ObjectKey::snapshot_marker(&snapshot.day(), &snapshot.id, &file.name);
    LakeObject::of_rows(&table, key, &row, 1, level)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalizer::Normalizer;
    use ddb_lake_core::spec::LakeSpec;
    use std::path::Path;

    const EXPORT_ID: &str = "01793880000000-5a1c0e42";

    fn export() -> Export {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/exports/sync-configurations/AWSDynamoDB")
            .join(EXPORT_ID);
        Export::open(&dir).unwrap()
    }

    fn gunzip(body: &[u8]) -> String {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(body), &mut text).unwrap();
        text
    }

    fn parts(
        normalizer: &Normalizer<'_>,
        snapshot: &Snapshot,
        file: &DataFile,
        part_bytes: usize,
    ) -> Vec<SnapshotPartOutput> {
        let mut parts = Vec::new();
        normalizer
            .normalize_snapshot_file(
                snapshot,
                file,
                part_bytes,
                |_| {},
                |p| {
                    parts.push(p);
                    Ok::<_, ()>(())
                },
            )
            .unwrap();
        parts
    }

    #[test]
    fn items_become_snapshot_rows_at_the_export_time() {
        let spec = LakeSpec::default();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let export = export();
        let snapshot = Snapshot::of_export(&export, 300);
        let out = parts(&normalizer, &snapshot, &export.files[0], DEFAULT_PART_BYTES);
        assert_eq!(out.len(), 1);
        let keys: Vec<&str> = out[0].objects.iter().map(|o| o.key.as_str()).collect();
        let stem = format!("snapshot_{EXPORT_ID}_k7q3mlx2vbd4ne5oyfc6hzta2u_0000");
        assert_eq!(
            keys,
            [format!("changes/dt=2026-11-05/{stem}.tsv.gz"), format!("attributes/dt=2026-11-05/{stem}.tsv.gz")]
        );
        let changes = gunzip(&out[0].objects[0].body);
        let header = ddb_lake_core::schema::BuiltInTable::Changes
            .schema()
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
            .join("\t");
        let common = |sk: &str| {
            format!("SNAPSHOT\t\\N\t2026-11-05 12:00:00.000\t\\N\t{{\"pk\":\"CUSTOMER#acme\",\"sk\":\"{sk}\"}}\tCUSTOMER#acme\t{sk}")
        };
        assert_eq!(
            changes,
            format!(
                "{header}\n{}\t\\N\t\\N\t\\N\tfalse\t\\N\t\\N\n{}\t\\N\t\\N\t\\N\tfalse\t\\N\t\\N\n",
                common("SYNC#0001"),
                common("SYNC#0002")
            )
        );
        let attributes = gunzip(&out[0].objects[1].body);
        let lines: Vec<&str> = attributes.lines().collect();
        for expected in [
            format!("{}\tcounters.runs\tN\t12345678901234567890123456789012345678\t\\N", common("SYNC#0001")),
            format!("{}\tlabels[1]\tSS\ttab\\\there\t\\N", common("SYNC#0001")),
            format!("{}\tchecksum\tB\tAP8KDQ==\t\\N", common("SYNC#0001")),
            format!("{}\tnote\tS\t\t\\N", common("SYNC#0001")),
            format!("{}\tlastError\tNULL\t\\N\t\\N", common("SYNC#0001")),
            format!("{}\tlastError.message\tS\ttoken expired 🔑\t\\N", common("SYNC#0002")),
        ] {
            assert!(lines.contains(&expected.as_str()), "missing {expected:?} in\n{attributes}");
        }
        // Every row is a snapshot row of this export's time.
        assert!(lines[1..].iter().all(|l| l.starts_with("SNAPSHOT\t\\N\t2026-11-05 12:00:00.000\t")));
        assert_eq!(out[0].rows_per_table[0], ("changes".to_string(), 2));
        assert_eq!(out[0].items, 2);
    }

    #[test]
    fn parts_cut_at_the_same_items_and_hold_the_same_rows() {
        let spec = LakeSpec::default();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let export = export();
        let snapshot = Snapshot::of_export(&export, 300);
        let whole = parts(&normalizer, &snapshot, &export.files[0], DEFAULT_PART_BYTES);
        let cut = parts(&normalizer, &snapshot, &export.files[0], 1);
        assert_eq!(cut.len(), 2);
        assert!(cut[1].objects[0].key.as_str().ends_with("_k7q3mlx2vbd4ne5oyfc6hzta2u_0001.tsv.gz"));
        let rows = |outs: &[SnapshotPartOutput], t: usize| -> Vec<String> {
            outs.iter()
                .flat_map(|p| gunzip(&p.objects[t].body).lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
                .collect()
        };
        assert_eq!(rows(&whole, 0), rows(&cut, 0));
        assert_eq!(rows(&whole, 1), rows(&cut, 1));
        // The same input gives the same bytes.
        let again = parts(&normalizer, &snapshot, &export.files[0], 1);
        assert!(cut.iter().zip(&again).all(|(a, b)| a.objects == b.objects));
        // An empty data file has no rows.
        assert!(parts(&normalizer, &snapshot, &export.files[1], DEFAULT_PART_BYTES).is_empty());
    }

    #[test]
    fn an_item_without_the_key_attributes_names_the_setting() {
        let text = "[source]\ntable = \"t\"\nsort_key = \"syncId\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n";
        let spec = LakeSpec::from_toml(text, "t.toml").unwrap();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let export = export();
        let e = export.files[0]
            .verify(
                |_| {},
                |line| normalizer.snapshot_keys(line.image().unwrap()).map(|_| ()).map_err(|e| e.to_string()),
            )
            .unwrap_err();
        assert!(matches!(e, ExportError::Data { line: 1, .. }), "{e}");
        assert!(e.to_string().contains("no attribute `syncId`, the spec's source.sort_key"), "{e}");
    }

    /// Hostile input 6, for exports: a key attribute that no DynamoDB key can be stops the
    /// check pass, naming the line, as a missing one does.
    #[test]
    fn a_key_attribute_of_another_type_is_refused() {
        let spec = LakeSpec::default();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        for (value, found) in [
            (r#"{"NULL":true}"#, "is a NULL"),
            (r#"{"M":{}}"#, "is a M"),
            (r#"{"S":""}"#, "is an empty S"),
            (r#"{"SS":["a"]}"#, "is a SS"),
        ] {
            let line = format!(r#"{{"Item":{{"pk":{value},"sk":{{"S":"x"}}}}}}"#);
            let item = serde_json::from_str::<LineOfItem<'_>>(&line).unwrap().item;
            let e = normalizer.snapshot_keys(&item).unwrap_err().to_string();
            assert!(e.contains(&format!("the item's `pk`, the spec's source.partition_key, {found}")), "{e}");
        }
        let ok: Item<'_> =
            serde_json::from_str::<LineOfItem<'_>>(r#"{"Item":{"pk":{"N":"7"},"sk":{"B":"AA=="}}}"#).unwrap().item;
        assert_eq!(normalizer.snapshot_keys(&ok).unwrap().len(), 2);
    }

    #[derive(serde::Deserialize)]
    struct LineOfItem<'a> {
        #[serde(rename = "Item", borrow)]
        item: Item<'a>,
    }

    #[test]
    fn a_value_that_does_not_fit_its_column_is_rejected_with_the_item_key() {
        let text = "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n[[tables]]\nname = \"x\"\n[[tables.columns]]\nname = \"enabled\"\npath = \"name\"\ntype = \"boolean\"\n";
        let spec = LakeSpec::from_toml(text, "t.toml").unwrap();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let export = export();
        let snapshot = Snapshot::of_export(&export, 300);
        let out = parts(&normalizer, &snapshot, &export.files[2], DEFAULT_PART_BYTES);
        assert!(out[0].quarantined.is_empty());
        let r = out[0].objects.iter().find(|o| o.table.as_deref() == Some("_rejects")).unwrap();
        assert_eq!(
            r.key.as_str(),
            format!("_rejects/dt=2026-11-05/snapshot_{EXPORT_ID}_c5vjy4e6u7hwstqlmbaz23xrfo_0000.tsv.gz")
        );
        let text = gunzip(&r.body);
        let row = text.lines().nth(1).unwrap();
        assert!(
            row.starts_with(
                "SNAPSHOT\t\\N\t2026-11-05 12:00:00.000\t\\N\t{\"pk\":\"CUSTOMER#globex\",\"sk\":\"SYNC#0001\"}"
            ),
            "{row}"
        );
        assert!(row.contains("\tx\tenabled\tname\t\\N\t"), "{row}");
        assert!(!row.contains("中文"), "never the value: {row}");
    }

    /// Hostile input 1, for snapshots: an export from before the projection's first day is
    /// refused before anything is written, saying which setting keeps it.
    #[test]
    fn an_export_before_the_projection_start_is_refused() {
        let text = "[source]\ntable = \"t\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n\
                    [partitioning]\nprojection_start = \"2026-11-06\"\n";
        let spec = LakeSpec::from_toml(text, "t.toml").unwrap();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let export = export();
        let mut written = 0;
        let e = normalizer
            .backfill(
                &Snapshot::of_export(&export, 300),
                &export,
                DEFAULT_PART_BYTES,
                |_, _, _| {},
                |_| {
                    written += 1;
                    Ok::<_, std::io::Error>(())
                },
            )
            .unwrap_err()
            .to_string();
        assert_eq!(written, 0);
        assert!(e.contains("manifest-summary.json: exportTime 2026-11-05T12:00:00"), "{e}");
        assert!(e.contains("set projection_start to 2026-11-05 or earlier"), "{e}");
    }

    #[test]
    fn the_marker_row_states_the_rule() {
        let spec = LakeSpec::default();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let export = export();
        let marker = normalizer.snapshot_marker(&Snapshot::of_export(&export, 300), &export.files[2], 1);
        assert_eq!(
            marker.key.as_str(),
            format!("snapshots/dt=2026-11-05/snapshot_{EXPORT_ID}_c5vjy4e6u7hwstqlmbaz23xrfo.tsv.gz")
        );
        let header =
            BuiltInTable::Snapshots.schema().columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>().join("\t");
        assert_eq!(
            gunzip(&marker.body),
            format!(
                "{header}\n{EXPORT_ID}\t2026-11-05 12:00:00.000\t2026-11-05 11:55:00.000\t300\t\
                 arn:aws:dynamodb:us-east-1:123456789012:table/sync-configurations/export/{EXPORT_ID}\t\
                 c5vjy4e6u7hwstqlmbaz23xrfo\t3\t1\t\\N\n"
            )
        );
    }

    fn incremental(export_id: &str) -> Export {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/exports/sync-configurations-incremental/AWSDynamoDB")
            .join(export_id);
        Export::open(&dir).unwrap()
    }

    /// Rows of `table` in `out`, without the header.
    fn rows_of(out: &[SnapshotPartOutput], table: &str) -> Vec<String> {
        out.iter()
            .flat_map(|p| p.objects.iter())
            .filter(|o| o.table.as_deref() == Some(table))
            .flat_map(|o| gunzip(&o.body).lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn an_incremental_exports_changes_become_rows_at_their_write_time() {
        let spec = LakeSpec::default();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let export = incremental("01793883600000-1c1c1c1c");
        let snapshot = Snapshot::of_export(&export, 300);
        assert_eq!((snapshot.time_millis, snapshot.window_start_millis), (1_793_883_600_000, Some(1_793_880_000_000)));
        let out = parts(&normalizer, &snapshot, &export.files[0], DEFAULT_PART_BYTES);
        let stem = "snapshot_01793883600000-1c1c1c1c_bq4x7k2mdl5pzs3ovrwyc6hnta_0000";
        let keys: Vec<&str> = out[0].objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            [format!("changes/dt=2026-11-05/{stem}.tsv.gz"), format!("attributes/dt=2026-11-05/{stem}.tsv.gz")]
        );
        let key = |sk: &str| format!("{{\"pk\":\"CUSTOMER#acme\",\"sk\":\"{sk}\"}}\tCUSTOMER#acme\t{sk}");
        // The write's time (to the millisecond) and its microseconds as the sequence number;
        // no stream fields, no changed attributes (the export does not say which changed).
        assert_eq!(
            rows_of(&out, "changes"),
            [
                format!("INCREMENTAL\t1793880600123456\t2026-11-05 12:10:00.123\t\\N\t{}\t\\N\t\\N\t\\N\tfalse\t\\N\t\\N", key("SYNC#0001")),
                format!(
                    "INCREMENTAL_REMOVE\t1793881200000001\t2026-11-05 12:20:00.000\t\\N\t{}\t\\N\t\\N\t\\N\tfalse\t\\N\t\\N",
                    key("SYNC#0002")
                ),
            ]
        );
        // The new image's leaves; a delete has none.
        let attributes = rows_of(&out, "attributes");
        assert!(attributes.iter().all(|r| r.starts_with(&format!(
            "INCREMENTAL\t1793880600123456\t2026-11-05 12:10:00.123\t\\N\t{}\t",
            key("SYNC#0001")
        ))));
        assert!(attributes.iter().any(|r| r.ends_with("\tintervalMinutes\tN\t30\t\\N")), "{attributes:?}");
        assert!(!attributes.iter().any(|r| r.contains("\tfieldMappings[2]")), "the mapping it dropped: {attributes:?}");
        // The marker names the window.
        let marker = normalizer.snapshot_marker(&snapshot, &export.files[0], 2);
        assert_eq!(
            marker.key.as_str(),
            "snapshots/dt=2026-11-05/snapshot_01793883600000-1c1c1c1c_bq4x7k2mdl5pzs3ovrwyc6hnta.tsv.gz"
        );
        let row = gunzip(&marker.body).lines().nth(1).unwrap().to_owned();
        assert!(
            row.starts_with("01793883600000-1c1c1c1c\t2026-11-05 13:00:00.000\t2026-11-05 12:55:00.000\t300\t"),
            "{row}"
        );
        assert!(row.ends_with("\tbq4x7k2mdl5pzs3ovrwyc6hnta\t3\t2\t2026-11-05 12:00:00.000"), "{row}");
    }

    /// Numbers, binary, sets, NULL, empty strings and unicode come out of an incremental
    /// line exactly as out of a stream record with the same image.
    #[test]
    fn an_incremental_line_flattens_as_a_stream_record_does() {
        let spec = LakeSpec::default();
        let normalizer = Normalizer::new(&spec, None).unwrap();
        let export = incremental("01793883600000-1c1c1c1c");
        let file = &export.files[1];
        let out = parts(&normalizer, &Snapshot::of_export(&export, 300), file, DEFAULT_PART_BYTES);
        // The stream record: the line's keys and new image in a fixture INSERT.
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::read(&file.path).unwrap().as_slice()),
            &mut text,
        )
        .unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let mut record = crate::test_events::record("insert.json");
        record["dynamodb"]["Keys"] = line["Keys"].clone();
        record["dynamodb"]["NewImage"] = line["NewImage"].clone();
        let batch = normalizer
            .normalize_event(&crate::test_events::event_of(vec![record]), &crate::batch::BatchOptions::default())
            .unwrap();
        assert!(batch.quarantined.is_empty());
        let leaves = |rows: Vec<String>| -> Vec<String> {
            let mut v: Vec<String> = rows
                .iter()
                .map(|r| {
                    r.split('\t')
                        .skip(ddb_lake_core::schema::COMMON_COLUMNS.len())
                        .take(3)
                        .collect::<Vec<_>>()
                        .join("\t")
                })
                .collect();
            v.sort();
            v
        };
        let from_stream = leaves(
            batch
                .objects
                .iter()
                .filter(|o| o.table.as_deref() == Some("attributes"))
                .flat_map(|o| gunzip(&o.body).lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
                .collect(),
        );
        let from_export = leaves(rows_of(&out, "attributes").into_iter().filter(|r| r.contains("SYNC#0001")).collect());
        assert_eq!(from_export, from_stream);
        for expected in [
            "counters.runs\tN\t-99999999999999999999999999999999999999",
            "counters.tiny\tN\t1E-130",
            "blob\tB\tAAH+/w==",
            "lastError\tNULL\t\\N",
            "note\tS\t",
            "labels[1]\tSS\tb,c",
            "emptyMap\tM\t\\N",
        ] {
            assert!(from_export.iter().any(|l| l == expected), "{expected:?} in {from_export:?}");
        }
    }

    #[test]
    fn a_change_outside_the_window_or_of_the_other_kind_is_refused() {
        let spec = LakeSpec::default();
        let export = incremental("01793883600000-1c1c1c1c");
        let snapshot = Snapshot::of_export(&export, 300);
        let change = |micros: &str| {
            ExportLine::Change(crate::export::Change {
                write_micros: crate::record::Text(std::borrow::Cow::Owned(micros.to_owned())),
                keys: serde_json::from_str(r#"{"sk":{"S":"b"},"pk":{"S":"a"}}"#).unwrap(),
                new_image: None,
                old_image: None,
            })
        };
        assert!(line_time(&snapshot, &change("1793880000000000")).is_ok());
        let e = line_time(&snapshot, &change("1793883600000000")).unwrap_err();
        assert!(e.contains("(2026-11-05T13:00:00.000Z) is outside the export's window [2026-11-05T12:00:00.000Z, 2026-11-05T13:00:00.000Z)"), "{e}");
        assert!(line_time(&snapshot, &change("1793879999999999")).is_err());
        let full = Snapshot { window_start_millis: None, ..snapshot.clone() };
        assert!(line_time(&full, &change("1793880000000000")).unwrap_err().contains("the other kind of export"));
        // The key attributes come from Keys, in the spec's order; without them, the line is refused.
        let keys = line_keys(&spec, &change("1793880000000000")).unwrap();
        assert_eq!(crate::record::item_key_json(&keys), r#"{"pk":"a","sk":"b"}"#);
        let other = LakeSpec::from_toml(
            "[source]\ntable = \"t\"\nsort_key = \"syncId\"\n[lake]\nlocation = \"s3://bucket-a/p\"\n",
            "t.toml",
        )
        .unwrap();
        let e = line_keys(&other, &change("1793880000000000")).map(|_| ()).unwrap_err();
        assert!(e.starts_with("its Keys: the item has no attribute `syncId`"), "{e}");
    }
}
