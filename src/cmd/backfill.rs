//! `ddb-lake backfill`: a DynamoDB export to S3 (in a local folder) → snapshot rows in a
//! local lake folder, through the same flattening as the stream.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use ddb_lake_writer::export::Export;
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::sink::{LakeSink, LocalDirSink, SinkError};
use ddb_lake_writer::snapshot::{BackfillStep, Snapshot, SnapshotError, DEFAULT_PART_BYTES};

use super::progress::Progress;
use super::{human_bytes, load_spec, redaction_key};

/// Arguments of `ddb-lake backfill`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The export's folder, AWSDynamoDB/<export id>/, as S3 export wrote it (manifests and
    /// data/), e.g. copied with `aws s3 sync s3://BUCKET/PREFIX/AWSDynamoDB/<export id>/ DIR`.
    #[arg(long, value_name = "DIR")]
    export: PathBuf,
    /// Folder to write the lake into; it mirrors s3://bucket/prefix/.
    #[arg(long, value_name = "DIR", default_value = "lake")]
    out: PathBuf,
    /// Lake spec (TOML), the same one the stream is normalized with. Its source.partition_key
    /// and sort_key must be the table's key schema (default pk and sk); backfill.margin_seconds
    /// sets the margin W (default 300).
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

/// `3/10 data files: 12.0 MB of 40.0 MB (80.0 MB/s)`, at data file `n` (from 0).
fn files_done(n: usize, files: usize, at: u64, total: u64, secs: f64) -> String {
    let rate = human_bytes((at as f64 / secs.max(1e-3)) as usize);
    format!("{}/{files} data files: {} of {} ({rate}/s)", n + 1, human_bytes(at as usize), human_bytes(total as usize))
}

/// What a backfill wrote.
pub struct Backfilled {
    /// The export read.
    pub export: Export,
    /// The snapshot it is.
    pub snapshot: Snapshot,
    /// Items read (and written, or quarantined).
    pub items: u64,
    /// Rows written per table.
    pub rows: Vec<(String, u64)>,
    /// Objects written, `snapshots` rows included.
    pub objects: usize,
    /// Their gzip'd bytes.
    pub out_bytes: usize,
    /// Where each quarantined item went and why.
    pub quarantined: Vec<String>,
    /// How long it took.
    pub took: Duration,
}

/// Backfills the local lake `out` from the export in `export_dir`, with the margin
/// `margin_seconds`: reads every data file through first (nothing is written if one fails a
/// check), then writes each data file's rows part by part and its `snapshots` row. Progress
/// on stderr unless `quiet`. Used by the command and by the demo.
pub fn backfill(
    normalizer: &Normalizer<'_>,
    margin_seconds: u32,
    export_dir: &Path,
    out: &Path,
    quiet: bool,
) -> anyhow::Result<Backfilled> {
    let export = Export::open(export_dir)?;
    let snapshot = Snapshot::of_export(&export, margin_seconds);
    let total_bytes = export.size_bytes();
    let files = export.files.len();
    let started = Instant::now();

    let sink = LocalDirSink::new(out);
    let rt = tokio::runtime::Builder::new_current_thread().build().context("cannot start the I/O runtime")?;
    let mut progress = Progress::new(quiet);
    progress.start_bytes(total_bytes, "checking");
    let mut rows: Vec<(String, u64)> = normalizer.tables().iter().map(|t| (t.name.clone(), 0)).collect();
    let (mut objects, mut out_bytes) = (0usize, 0usize);
    let items = std::cell::Cell::new(0u64);
    let mut quarantined: Vec<String> = Vec::new();
    let mut step = BackfillStep::Checking;
    let read = normalizer
        .backfill(
            &snapshot,
            &export,
            DEFAULT_PART_BYTES,
            |now, n, read| {
                if now != step {
                    progress.start_bytes(total_bytes, "writing");
                    step = now;
                }
                // Gzip'd bytes of the data files before this one, and of this one so far.
                let at = export.files[..n].iter().map(|f| f.size_bytes).sum::<u64>() + read;
                if now == BackfillStep::Writing {
                    progress.set_message(format!("writing data file {}/{files}, {} items", n + 1, items.get()));
                }
                progress.set(at, |secs| {
                    let done = files_done(n, files, at, total_bytes, secs);
                    match now {
                        BackfillStep::Checking => format!("checking {done}"),
                        BackfillStep::Writing => format!("writing {done}, {} items", items.get()),
                    }
                })
            },
            |part| {
                rt.block_on(async {
                    for o in &part.objects {
                        sink.put(&o.key, &o.body).await?;
                    }
                    Ok::<_, SinkError>(())
                })?;
                for (acc, (_, r)) in rows.iter_mut().zip(&part.rows_per_table) {
                    acc.1 += r;
                }
                objects += part.objects.len();
                out_bytes += part.objects.iter().map(|o| o.body.len()).sum::<usize>();
                items.set(items.get() + part.items);
                let qkey = part.objects.iter().find(|o| o.table.is_none()).map(|o| o.key.to_string());
                for q in &part.quarantined {
                    quarantined.push(format!(
                        "{}/{} (line {}): {}",
                        out.display(),
                        qkey.as_deref().unwrap_or_default(),
                        q.index,
                        q.reason
                    ));
                }
                Ok(())
            },
        )
        .map_err(|e: SnapshotError<SinkError>| match e {
            SnapshotError::Export(e) => anyhow::Error::new(e),
            SnapshotError::Write(e) => anyhow::Error::new(e).context(format!(
                "not every object was written; run the same backfill again once {} is writable",
                out.display()
            )),
        })?;
    progress.finish();
    let items = items.get();
    debug_assert_eq!(items, read.items);
    Ok(Backfilled { export, snapshot, items, rows, objects, out_bytes, quarantined, took: started.elapsed() })
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = load_spec(args.spec.as_deref())?;
    let key = redaction_key(&spec);
    let normalizer = Normalizer::new(&spec, key.as_deref())?;
    let b = backfill(&normalizer, spec.snapshot_margin_seconds, &args.export, &args.out, args.quiet)?;
    if !args.quiet {
        print_summary(&b, &args.out)?;
    }
    Ok(())
}

/// Prints what a backfill wrote, like `normalize` does.
pub fn print_summary(b: &Backfilled, out: &Path) -> std::io::Result<()> {
    outln!(
        "read {} items in {} data files of export {} ({} gzip), a snapshot as of {}",
        b.items,
        b.export.files.len(),
        b.export.export_id,
        human_bytes(b.export.size_bytes() as usize),
        b.export.export_time
    )?;
    outln!("rows written:")?;
    for (t, n) in &b.rows {
        outln!("  {t:<20} {n:>10}")?;
    }
    outln!(
        "wrote {} objects ({} gzip) under {}/<table>/dt={}/ in {:.2}s",
        b.objects,
        human_bytes(b.out_bytes),
        out.display(),
        b.snapshot.day(),
        b.took.as_secs_f64()
    )?;
    outln!(
        "stream records after {} (exportTime minus the {} s margin) win over this snapshot; older ones lose to it",
        chrono::DateTime::from_timestamp_millis(b.snapshot.time_millis - i64::from(b.snapshot.margin_seconds) * 1000)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default(),
        b.snapshot.margin_seconds
    )?;
    if b.quarantined.is_empty() {
        outln!("quarantined 0 items")?;
    } else {
        outln!("quarantined {} items (the rest was written):", b.quarantined.len())?;
        for q in b.quarantined.iter().take(10) {
            outln!("  {q}")?;
        }
        if b.quarantined.len() > 10 {
            outln!("  ... and {} more under {}/_quarantine/", b.quarantined.len() - 10, out.display())?;
        }
    }
    Ok(())
}
