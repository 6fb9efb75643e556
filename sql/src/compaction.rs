//! Compaction of a local lake (`ddb-lake compact --lake DIR`; docs/compaction.md).
//!
//! A run folds every text object of the compacted tables (`changes`, `attributes`, the
//! declared tables) in the days up to `through` into Parquet, with the embedded engine:
//!
//! 1. the history: per table × day, the rows of the text objects, as
//!    `<table>_compacted/dt=<day>/<run>-<part>.parquet` (a day folded again, after late rows
//!    arrived, gains another object: nothing is ever rewritten);
//! 2. the state at the watermark (the end of `through`): the row of `item_versions` of every
//!    item among the rows up to `through` (deleted items keep their tombstone, so a late record
//!    older than the delete still loses), then each table's rows of the items that exist,
//!    as `<table>_state/<run>-<part>.parquet`;
//! 3. the `compactions` row of the run: from then on its objects count (`history_<table>`
//!    reads compacted objects of runs that have one, `live_<table>` the latest run's state);
//! 4. then, and only then, the folded text objects and the previous runs' states are removed.
//!
//! Killed at any point, every answer stays as it was: until step 3 nothing the run wrote is
//! read, and after it the text objects still there are the very rows the Parquet holds,
//! which every reader collapses. A run finds the leftovers of a run that never got its row
//! and removes them first.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use ddb_lake_core::object_key::ObjectKey;
use ddb_lake_core::rows::CompactionsRow;
use ddb_lake_core::schema::{
    is_compacted, BuiltInTable, COMPACTED_SUFFIX, COMPACTION_ID_COLUMN, PARTITION_COLUMN, STATE_SUFFIX,
};
use ddb_lake_core::spec::LakeSpec;
use ddb_lake_glue_schema::definition::{table_definitions, TableDefinition};
use futures_util::StreamExt;

use crate::columns::table_schema;
use crate::compaction_sql::{compaction_sql, render, Step, TOMBSTONES};
use crate::error::LocalError;
use crate::local::{LocalLake, LocalOptions};
use crate::parquet::PARQUET_EXTENSION;
use crate::views::column_list;

/// A Parquet object is closed and the next part begun once this many bytes are written.
pub const PART_BYTES: u64 = 256 << 20;

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Why a run did not finish.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// The engine could not read the lake or run a statement.
    #[error(transparent)]
    Local(#[from] LocalError),
    /// The compaction statements could not be made.
    #[error(transparent)]
    Sql(#[from] crate::files::SqlFileError),
    /// A file could not be written, renamed or removed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A Parquet object could not be encoded.
    #[error("cannot write {path}: {source}")]
    Parquet {
        /// The object.
        path: PathBuf,
        /// Why.
        #[source]
        source: datafusion::parquet::errors::ParquetError,
    },
    /// The run was asked for something it must not do.
    #[error("{0}")]
    Refused(String),
    /// The run stopped where a test asked it to (`stop_after_steps`).
    #[error("stopped after {0} steps, as asked")]
    Stopped(usize),
}

/// How a run goes.
#[derive(Debug, Clone, Default)]
pub struct CompactOptions {
    /// The engine's options.
    pub engine: LocalOptions,
    /// Stop (as if killed) after this many steps: objects written, the `compactions` row,
    /// objects removed. For the tests that interrupt a run.
    pub stop_after_steps: Option<usize>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// The run (`None` when there was nothing to fold).
    pub compaction_id: Option<String>,
    /// The last day folded.
    pub through: String,
    /// The latest run before this one.
    pub previous: Option<String>,
    /// Text objects folded, and their bytes.
    pub folded_objects: u64,
    /// Bytes of the folded text objects as stored.
    pub folded_bytes: u64,
    /// Parquet objects written (history and state), and their bytes.
    pub written_objects: u64,
    /// Bytes of the Parquet objects written.
    pub written_bytes: u64,
    /// Bytes of the state objects written.
    pub state_bytes: u64,
    /// Items that exist at the watermark.
    pub state_items: u64,
    /// Objects removed afterwards (folded text, earlier states, leftovers of unfinished runs).
    pub removed_objects: u64,
}

/// The default `through`: the last day that ended at least a day before `now`.
pub fn default_through(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive() - chrono::Days::new(2)
}

/// The end of day `through` (the watermark), in milliseconds since the epoch.
pub fn watermark_millis(through: NaiveDate) -> i64 {
    (through + chrono::Days::new(1)).and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()).unwrap_or(i64::MAX)
}

/// One text object of a compacted table.
#[derive(Debug, Clone)]
struct TextObject {
    table: String,
    day: String,
    path: PathBuf,
    bytes: u64,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CompactError + 'a {
    move |source| CompactError::Io { action, path: path.to_path_buf(), source }
}

fn entries(dir: &Path) -> Result<Vec<PathBuf>, CompactError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io("list", dir))? {
        out.push(e.map_err(io("list", dir))?.path());
    }
    out.sort();
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The day of a `dt=YYYY-MM-DD` folder.
fn day_of(folder: &Path) -> Option<String> {
    let name = file_name(folder);
    let day = name.strip_prefix("dt=")?;
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok().map(|_| day.to_owned())
}

/// The text objects of the compacted tables in the days up to `through`.
fn text_objects(root: &Path, tables: &[&TableDefinition], through: &str) -> Result<Vec<TextObject>, CompactError> {
    let mut out = Vec::new();
    for def in tables {
        for folder in entries(&root.join(&def.name))? {
            let Some(day) = day_of(&folder).filter(|d| d.as_str() <= through) else { continue };
            for path in entries(&folder)? {
                if file_name(&path).ends_with(".gz") {
                    let bytes = path.metadata().map_err(io("read", &path))?.len();
                    out.push(TextObject { table: def.name.clone(), day: day.clone(), path, bytes });
                }
            }
        }
    }
    Ok(out)
}

/// The run that wrote a Parquet object: its name is `<run>-<part>.parquet`.
fn run_of(path: &Path) -> Option<String> {
    let name = file_name(path);
    let stem = name.strip_suffix(PARQUET_EXTENSION)?;
    stem.rsplit_once('-').map(|(run, _)| run.to_owned())
}

/// Counts steps and stops where asked.
struct Steps {
    done: usize,
    stop_after: Option<usize>,
}

impl Steps {
    fn step(&mut self) -> Result<(), CompactError> {
        self.done += 1;
        match self.stop_after {
            Some(n) if self.done >= n => Err(CompactError::Stopped(self.done)),
            _ => Ok(()),
        }
    }
}

/// The statement's rows written as Parquet objects `<folder>/<stem>-<part>.parquet` with
/// `schema` (the columns of the table's Glue definition, by position); returns objects,
/// bytes and rows written. Each object is written under a temporary name and renamed when whole.
async fn write_parquet(
    lake: &LocalLake,
    sql: &str,
    folder: &Path,
    stem: &str,
    schema: SchemaRef,
    steps: &mut Steps,
) -> Result<(u64, u64, u64), CompactError> {
    std::fs::create_dir_all(folder).map_err(io("create", folder))?;
    let mut stream = lake.stream(sql).await?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let (mut objects, mut bytes, mut rows) = (0u64, 0u64, 0u64);
    let mut part: Option<(ArrowWriter<std::fs::File>, PathBuf, PathBuf)> = None;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|source| LocalError::Sql { context: format!("running {stem}"), source })?;
        if batch.num_rows() == 0 {
            continue;
        }
        let batch = conform(&batch, &schema).map_err(|e| CompactError::Refused(format!("{stem}: {e}")))?;
        if part.is_none() {
            let name = format!("{stem}-{objects:05}{PARQUET_EXTENSION}");
            let (path, tmp) = (folder.join(&name), folder.join(format!("{name}.tmp")));
            let file = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
            let writer = ArrowWriter::try_new(file, schema.clone(), Some(props.clone()))
                .map_err(|source| CompactError::Parquet { path: tmp.clone(), source })?;
            part = Some((writer, tmp, path));
        }
        let Some((writer, tmp, _)) = part.as_mut() else { unreachable!("a part was just opened") };
        writer.write(&batch).map_err(|source| CompactError::Parquet { path: tmp.clone(), source })?;
        rows += batch.num_rows() as u64;
        if writer.bytes_written() as u64 >= PART_BYTES {
            let (writer, tmp, path) = part.take().unwrap_or_else(|| unreachable!("the part is open"));
            bytes += finish(writer, &tmp, &path)?;
            objects += 1;
            steps.step()?;
        }
    }
    if let Some((writer, tmp, path)) = part.take() {
        bytes += finish(writer, &tmp, &path)?;
        objects += 1;
        steps.step()?;
    }
    Ok((objects, bytes, rows))
}

fn finish(writer: ArrowWriter<std::fs::File>, tmp: &Path, path: &Path) -> Result<u64, CompactError> {
    let file = writer.into_inner().map_err(|source| CompactError::Parquet { path: tmp.to_path_buf(), source })?;
    file.sync_all().map_err(io("write", tmp))?;
    drop(file);
    std::fs::rename(tmp, path).map_err(io("rename", tmp))?;
    Ok(path.metadata().map_err(io("read", path))?.len())
}

/// `batch` with `schema`'s fields (the columns by position, names checked).
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    let got: Vec<&str> = batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
    let want: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if got != want {
        return Err(format!("the statement gives columns {got:?}, the table has {want:?}"));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

/// The schema of a Parquet table's objects: its columns without the partition keys.
fn object_schema(def: &TableDefinition) -> SchemaRef {
    let all = table_schema(def);
    let stored = def.storage_descriptor.columns.len();
    Arc::new(Schema::new(all.fields().iter().take(stored).cloned().collect::<Vec<_>>()))
}

fn value(name: &str, v: &str) -> (String, String) {
    (name.to_owned(), v.to_owned())
}

/// The runs that have their `compactions` row, oldest first, with their `through`.
async fn whole_runs(lake: &LocalLake) -> Result<Vec<(String, String)>, CompactError> {
    let answer = lake
        .query(&format!(
            "SELECT DISTINCT compaction_id, through FROM {} ORDER BY compaction_id",
            BuiltInTable::Compactions.name()
        ))
        .await?;
    Ok(answer.rows.into_iter().filter_map(|r| Some((r.first()?.clone()?, r.get(1)?.clone()?))).collect())
}

/// Compacts the local lake at `root` through day `through` (docs/compaction.md); `now` is
/// the run's start. `progress` hears what each step does.
pub async fn compact_local(
    root: &Path,
    spec: &LakeSpec,
    through: NaiveDate,
    now: DateTime<Utc>,
    options: &CompactOptions,
    progress: &mut dyn FnMut(String),
) -> Result<CompactReport, CompactError> {
    let through_text = through.format("%Y-%m-%d").to_string();
    let defs = table_definitions(spec);
    let text: Vec<&TableDefinition> = defs.iter().filter(|d| !d.is_parquet() && is_compacted(&d.name)).collect();
    let parquet: BTreeMap<&str, &TableDefinition> =
        defs.iter().filter(|d| d.is_parquet()).map(|d| (d.name.as_str(), d)).collect();
    let statements = compaction_sql(spec)?;
    let statement = |step: Step, table: &str| {
        statements
            .select(step, table)
            .ok_or_else(|| CompactError::Refused(format!("no {step:?} statement for {table}")))
    };
    let mut report = CompactReport { through: through_text.clone(), ..CompactReport::default() };
    let mut steps = Steps { done: 0, stop_after: options.stop_after_steps };

    if !root.is_dir() {
        return Err(CompactError::Refused(format!(
            "{} is not a lake folder (run `ddb-lake demo`, `normalize` or `backfill` into it first)",
            root.display()
        )));
    }
    // The Parquet folders exist before the engine opens, so it reads what this run writes.
    for def in parquet.values() {
        let folder = root.join(&def.name);
        std::fs::create_dir_all(&folder).map_err(io("create", &folder))?;
    }
    let objects = text_objects(root, &text, &through_text)?;
    let lake = LocalLake::open_with(root, spec, &options.engine).await?;
    let runs = whole_runs(&lake).await?;
    report.previous = runs.last().map(|(id, _)| id.clone());
    if let Some((id, last)) = runs.iter().max_by(|a, b| a.1.cmp(&b.1)) {
        if last.as_str() > through_text.as_str() {
            return Err(CompactError::Refused(format!(
                "the lake is already compacted through {last} (run {id}); a run folds the days up to a later \
                 --through, or the same day again to fold late records"
            )));
        }
    }

    // Leftovers of runs that never got their row: not read by any view, removed first.
    let whole: BTreeSet<&str> = runs.iter().map(|(id, _)| id.as_str()).collect();
    for def in parquet.values() {
        let folder = root.join(&def.name);
        let mut files = entries(&folder)?;
        for day in entries(&folder)?.iter().filter(|p| p.is_dir()) {
            files.extend(entries(day)?);
        }
        for path in files.iter().filter(|p| p.is_file()) {
            let stray = file_name(path).ends_with(".tmp") || run_of(path).is_some_and(|r| !whole.contains(r.as_str()));
            if stray {
                std::fs::remove_file(path).map_err(io("remove", path))?;
                report.removed_objects += 1;
            }
        }
    }

    if objects.is_empty() {
        progress(format!("nothing to compact through {through_text}: no text objects of those days"));
        return Ok(report);
    }
    report.folded_objects = objects.len() as u64;
    report.folded_bytes = objects.iter().map(|o| o.bytes).sum();
    let id = format!("{through_text}_{}", now.format("%Y%m%dT%H%M%S%3fZ"));
    progress(format!(
        "run {id}: folding {} text objects ({} bytes) through {through_text}",
        report.folded_objects, report.folded_bytes
    ));

    // 1. History, per table × day.
    let days: BTreeSet<(&str, &str)> = objects.iter().map(|o| (o.table.as_str(), o.day.as_str())).collect();
    for (table, day) in &days {
        let (Some(def), Some(history)) =
            (text.iter().find(|d| d.name == *table), parquet.get(format!("{table}{COMPACTED_SUFFIX}").as_str()))
        else {
            continue;
        };
        let folder = root.join(&history.name).join(format!("{PARTITION_COLUMN}={day}"));
        // The batch of one day; the objects of a day folder hold no partition column.
        let values = [value("compaction_id", &id), value("first_day", day), value("last_day", day)];
        let select = render(statement(Step::History, &history.name)?, &values)?;
        let sql = format!("SELECT {}, {COMPACTION_ID_COLUMN} FROM (\n{select}\n) h", column_list(def, false));
        let (n, b, _) = write_parquet(&lake, &sql, &folder, &id, object_schema(history), &mut steps).await?;
        report.written_objects += n;
        report.written_bytes += b;
    }
    progress(format!("history: {} Parquet objects ({} bytes)", report.written_objects, report.written_bytes));

    // 2. State at the watermark: changes first, the other tables join it.
    for def in &text {
        let Some(state) = parquet.get(format!("{}{STATE_SUFFIX}", def.name).as_str()) else { continue };
        let sql = render(
            statement(Step::State, &state.name)?,
            &[value("compaction_id", &id), value("through", &through_text)],
        )?;
        let (n, b, _) =
            write_parquet(&lake, &sql, &root.join(&state.name), &id, object_schema(state), &mut steps).await?;
        report.written_objects += n;
        report.written_bytes += b;
        report.state_bytes += b;
    }
    let items = lake
        .query(&format!(
            "SELECT count(*) FROM changes{STATE_SUFFIX} WHERE compaction_id = '{id}' AND event_name NOT IN {TOMBSTONES}"
        ))
        .await?;
    report.state_items =
        items.rows.first().and_then(|r| r.first().cloned().flatten()).and_then(|n| n.parse().ok()).unwrap_or(0);
    progress(format!(
        "state at the end of {through_text}: {} items ({} bytes)",
        report.state_items, report.state_bytes
    ));

    // 3. The run's row: from here on what it wrote counts.
    let marker = ObjectKey::compaction_marker(&through_text, &id);
    let marker_path = root.join(marker.as_str());
    let mut text_bytes = BuiltInTable::Compactions.schema().header_row();
    CompactionsRow {
        compaction_id: &id,
        through: &through_text,
        watermark_millis: watermark_millis(through),
        folded_objects: report.folded_objects,
        folded_bytes: report.folded_bytes,
        state_items: report.state_items,
        created_at_millis: now.timestamp_millis(),
    }
    .write(&mut text_bytes);
    write_gzip(&marker_path, &text_bytes)?;
    steps.step()?;
    report.compaction_id = Some(id.clone());

    // 4. What the run made redundant: the folded text, the earlier states.
    for o in &objects {
        std::fs::remove_file(&o.path).map_err(io("remove", &o.path))?;
        report.removed_objects += 1;
        steps.step()?;
        if let Some(folder) = o.path.parent() {
            // Only an empty folder goes; one that gained an object stays.
            let _ = std::fs::remove_dir(folder);
        }
    }
    for def in parquet.values().filter(|d| d.name.ends_with(STATE_SUFFIX)) {
        for path in entries(&root.join(&def.name))? {
            if run_of(&path).is_some_and(|r| r != id) {
                std::fs::remove_file(&path).map_err(io("remove", &path))?;
                report.removed_objects += 1;
                steps.step()?;
            }
        }
    }
    progress(format!("removed {} objects the run made redundant", report.removed_objects));
    Ok(report)
}

/// `bytes` gzip'd into `path`, under a temporary name renamed when whole.
fn write_gzip(path: &Path, bytes: &[u8]) -> Result<(), CompactError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(io("create", folder))?;
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    gz.write_all(bytes).map_err(io("write", &tmp))?;
    let file = gz.finish().map_err(io("write", &tmp))?;
    file.sync_all().map_err(io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("rename", &tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_watermarks() {
        let now = DateTime::parse_from_rfc3339("2026-12-05T23:39:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(default_through(now).to_string(), "2026-12-03");
        let through = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert_eq!(
            watermark_millis(through),
            DateTime::parse_from_rfc3339("2026-12-04T00:00:00Z").unwrap().timestamp_millis()
        );
        assert_eq!(
            run_of(Path::new("x/2026-12-03_20261205T233900000Z-00001.parquet")).as_deref(),
            Some("2026-12-03_20261205T233900000Z")
        );
        assert_eq!(run_of(Path::new("x/y.tsv.gz")), None);
    }
}
