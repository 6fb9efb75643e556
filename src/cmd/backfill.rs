//! `ddb-lake backfill`: a DynamoDB export to S3 (in a local folder) → snapshot rows in a
//! lake, a local folder or an S3 prefix, through the same flattening as the stream. `--jobs`
//! data files are read and written at a time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use ddb_lake_core::object_key::ObjectKey;
use ddb_lake_core::spec::LakeLocation;
use ddb_lake_writer::chain::{self, Link, Verdict};
use ddb_lake_writer::export::{s3_export_folder, Export, S3Files, Source};
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::s3::{Encryption, S3Sink};
use ddb_lake_writer::sink::{LakeReader, LakeSink, LocalDirSink, SinkError};
use ddb_lake_writer::snapshot::{BackfillStep, Snapshot, SnapshotError, SnapshotPartOutput, DEFAULT_PART_BYTES};

use super::progress::Progress;
use super::{human_bytes, load_spec, redaction_key};

/// Arguments of `ddb-lake backfill`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The export's folder, AWSDynamoDB/<export id>/, as S3 export wrote it (manifests and
    /// data/): in S3, s3://BUCKET/PREFIX/AWSDynamoDB/<export id>/ (read in place), or a local
    /// copy (`aws s3 sync s3://BUCKET/PREFIX/AWSDynamoDB/<export id>/ DIR`).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX/AWSDynamoDB/ID")]
    export: String,
    /// Where to write the lake: a local folder (it mirrors s3://bucket/prefix/) or an S3
    /// location s3://BUCKET/PREFIX (the spec's lake.location, for the lake the stream writes).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX", default_value = "lake")]
    out: String,
    /// Lake spec (TOML), the same one the stream is normalized with. Its source.partition_key
    /// and sort_key must be the table's key schema (default pk and sk); backfill.margin_seconds
    /// sets the margin W (default 300).
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Data files read and written at a time (default: the machine's cores). Each takes one
    /// core and at most about 64 MB of rows.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    jobs: Option<u16>,
    /// Endpoint URL for S3 when --export or --out is s3://, e.g. http://127.0.0.1:5000 for moto_server
    /// (also sets path-style addressing). Default: AWS_ENDPOINT_URL, else AWS.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// AWS region (default: AWS_REGION / the profile, else us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

/// Where a backfill writes: a local folder, or a bucket and prefix.
pub enum Lake {
    /// A folder laid out like the S3 prefix.
    Local(LocalDirSink),
    /// `s3://bucket/prefix`.
    S3 {
        /// The sink.
        sink: S3Sink,
        /// `s3://bucket/prefix`, for messages.
        url: String,
    },
}

impl Lake {
    /// The lake at `out`: `s3://BUCKET/PREFIX` (written with the client `s3` makes), or a
    /// local folder. Must run inside the runtime the writes will use.
    pub async fn open(out: &str, s3: impl AsyncFnOnce() -> aws_sdk_s3::Client) -> anyhow::Result<Lake> {
        if !out.starts_with("s3://") {
            return Ok(Lake::Local(LocalDirSink::new(out)));
        }
        let Some(location) = LakeLocation::parse(out) else {
            anyhow::bail!(
                "--out {out} is not an S3 location: write s3://BUCKET/PREFIX (a bucket name of 3-63 lowercase \
                 letters, digits, `-` and `.`; prefix folders of letters, digits and `_-.=`), or a local folder"
            );
        };
        let sink = S3Sink::new(s3().await, &location.bucket, &location.prefix, None, Encryption::BucketDefault);
        let url = if location.prefix.is_empty() {
            format!("s3://{}", location.bucket)
        } else {
            format!("s3://{}/{}", location.bucket, location.prefix)
        };
        Ok(Lake::S3 { sink, url })
    }

    /// The folder or `s3://bucket/prefix`, for messages.
    pub fn shown(&self) -> String {
        match self {
            Lake::Local(sink) => sink.root().display().to_string(),
            Lake::S3 { url, .. } => url.clone(),
        }
    }
}

impl LakeSink for Lake {
    async fn put(&self, key: &ObjectKey, body: &[u8]) -> Result<(), SinkError> {
        match self {
            Lake::Local(sink) => sink.put(key, body).await,
            Lake::S3 { sink, .. } => sink.put(key, body).await,
        }
    }
}

impl LakeReader for Lake {
    async fn get(&self, key: &ObjectKey) -> Result<Vec<u8>, SinkError> {
        match self {
            Lake::Local(sink) => sink.get(key).await,
            Lake::S3 { sink, .. } => sink.get(key).await,
        }
    }

    async fn snapshot_markers(&self) -> Result<Vec<ObjectKey>, SinkError> {
        match self {
            Lake::Local(sink) => sink.snapshot_markers().await,
            Lake::S3 { sink, .. } => sink.snapshot_markers().await,
        }
    }

    async fn compacted_through(&self) -> Result<Option<String>, SinkError> {
        match self {
            Lake::Local(sink) => sink.compacted_through().await,
            Lake::S3 { sink, .. } => sink.compacted_through().await,
        }
    }
}

/// What a backfill wrote.
pub struct Backfilled {
    /// The export read.
    pub export: Export,
    /// The snapshot it is.
    pub snapshot: Snapshot,
    /// For an incremental export, how it chains to a full export.
    pub chain: Option<Verdict>,
    /// Items read (and written, or quarantined).
    pub items: u64,
    /// Rows written per table.
    pub rows: Vec<(String, u64)>,
    /// Objects written, `snapshots` rows included.
    pub objects: usize,
    /// Their gzip'd bytes.
    pub out_bytes: usize,
    /// Where each quarantined item went and why, in data file order.
    pub quarantined: Vec<String>,
    /// How long it took.
    pub took: Duration,
}

/// Runs `work(n)` for every `n` in `0..count` on `jobs` threads, in order of `n` as threads
/// come free ([`ddb_lake_writer::parallel::in_order`]). After a failure no new `n` is started
/// (those running finish); the error of the lowest `n` that failed is returned, so the
/// message does not depend on timing.
fn run_jobs(count: usize, jobs: usize, work: impl Fn(usize) -> anyhow::Result<()> + Sync) -> anyhow::Result<()> {
    let numbers: Vec<usize> = (0..count).collect();
    ddb_lake_writer::parallel::in_order(&numbers, jobs, |&n| work(n), |()| Ok(()))
}

/// Totals of the write pass, added to by every job.
#[derive(Default)]
struct Totals {
    rows: Vec<(String, u64)>,
    objects: usize,
    out_bytes: usize,
    /// (data file, line, text), sorted at the end.
    quarantined: Vec<(usize, usize, String)>,
}

/// The bar's label for a step.
fn step_name(step: BackfillStep) -> &'static str {
    match step {
        BackfillStep::Checking => "checking",
        BackfillStep::Writing => "writing",
    }
}

/// Gzip'd bytes read so far of each data file, and the bar over all of them.
struct Reading<'a> {
    export: &'a Export,
    read: Vec<AtomicU64>,
    files_done: AtomicUsize,
    items: AtomicU64,
    progress: Mutex<Progress>,
    step: BackfillStep,
}

impl<'a> Reading<'a> {
    fn new(export: &'a Export, progress: Progress, step: BackfillStep) -> Self {
        let mut r = Reading {
            export,
            read: export.files.iter().map(|_| AtomicU64::new(0)).collect(),
            files_done: AtomicUsize::new(0),
            items: AtomicU64::new(0),
            progress: Mutex::new(progress),
            step,
        };
        r.progress
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .start_bytes(export.size_bytes(), step_name(step));
        r
    }

    /// Data file `n` has been read up to `bytes` (gzip'd).
    fn at(&self, n: usize, bytes: u64) {
        self.read[n].store(bytes, Ordering::Relaxed);
        let at: u64 = self.read.iter().map(|r| r.load(Ordering::Relaxed)).sum();
        let (files, done, items) =
            (self.export.files.len(), self.files_done.load(Ordering::Relaxed), self.items.load(Ordering::Relaxed));
        let total = self.export.size_bytes();
        let mut progress = self.progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.step == BackfillStep::Writing {
            progress.set_message(format!("writing: {done}/{files} data files done, {items} items"));
        }
        progress.set(at, |secs| {
            let rate = human_bytes((at as f64 / secs.max(1e-3)) as usize);
            let what = format!(
                "{done}/{files} data files done, {} of {} ({rate}/s)",
                human_bytes(at as usize),
                human_bytes(total as usize)
            );
            match self.step {
                BackfillStep::Writing => format!("writing: {what}, {items} items"),
                BackfillStep::Checking => format!("checking: {what}"),
            }
        });
    }

    /// Data file `n` is done.
    fn done(&self, n: usize) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
        self.at(n, self.export.files[n].size_bytes);
    }

    fn finish(self) -> Progress {
        let mut progress = self.progress.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        progress.finish();
        progress
    }
}

/// Where a backfill writes, and the runtime its writes run on.
pub struct Destination<'a, S> {
    /// The lake.
    pub lake: &'a S,
    /// The folder or `s3://bucket/prefix`, for messages.
    pub shown: &'a str,
    /// The runtime the writes run on (from every job's thread, with `Handle::block_on`).
    pub runtime: &'a tokio::runtime::Handle,
}

/// Refuses a snapshot whose rows (or whose margin) reach into the days a compaction folded.
fn refuse_compacted(snapshot: &Snapshot, through: &str, shown: &str) -> anyhow::Result<()> {
    let watermark = chrono::NaiveDate::parse_from_str(through, "%Y-%m-%d")
        .map_or(i64::MAX, ddb_lake_sql::compaction::watermark_millis);
    let stream_wins_after = snapshot.time_millis - i64::from(snapshot.margin_seconds) * 1000;
    let reaches = snapshot.window_start_millis.unwrap_or(snapshot.time_millis).min(stream_wins_after);
    if reaches < watermark {
        let at = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map_or(ms.to_string(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        };
        anyhow::bail!(
            "{shown} is compacted through {through}: the states of items up to {} are folded, and export {}              (rows from {}) would change them; backfill an export whose time minus the margin (and window              start) is after {}, i.e. a full export taken later; nothing was written to {shown}",
            at(watermark),
            snapshot.id,
            at(reaches),
            at(watermark)
        );
    }
    Ok(())
}

/// Backfills `to.lake` from the export in `export_dir` (in `source`), with the margin `margin_seconds`, `jobs`
/// data files at a time: reads every data file through first (nothing is written if one fails
/// a check), then writes each data file's rows part by part and, after them, its `snapshots`
/// row. Progress on stderr unless `quiet`. Used by the command and
/// by the demo.
pub fn backfill<S: LakeReader + Sync>(
    normalizer: &Normalizer<'_>,
    margin_seconds: u32,
    export_dir: &Path,
    source: Source,
    to: Destination<'_, S>,
    jobs: usize,
    quiet: bool,
) -> anyhow::Result<Backfilled> {
    let Destination { lake, shown, runtime } = to;
    let export = Export::open_from(export_dir, source.clone())?;
    let snapshot = Snapshot::of_export(&export, margin_seconds);
    normalizer.check_snapshot_time(&snapshot, &export)?;
    // Rows at or before a compaction's watermark would change states already folded.
    let compacted = runtime.block_on(lake.compacted_through()).map_err(|e| {
        anyhow::anyhow!(
            "cannot list {shown}/compactions/ (whether the lake is compacted): {}; check that the lake exists \
             and these credentials may list it; nothing was written to {shown}",
            e.source
        )
    })?;
    if let Some(through) = compacted {
        refuse_compacted(&snapshot, &through, shown)?;
    }
    // An incremental export must chain to a full one: what the lake has, or what is beside it.
    let chain = match &export.window {
        None => None,
        Some(_) => {
            let mut known = runtime
                .block_on(chain::read_lake(lake))
                .with_context(|| format!("cannot read which exports {shown} has (its snapshots table)"))?;
            known.extend(export.siblings(&source)?.iter().map(|e| Link::of_export(e, false)));
            let verdict = chain::check(&Link::of_export(&export, false), &known);
            if let Some(why) = verdict.refusal(&export) {
                anyhow::bail!("{why}; nothing was written to {shown}");
            }
            Some(verdict)
        }
    };
    let started = Instant::now();
    let files = &export.files;

    // First every data file read through: MD5, gzip, items, key attributes.
    let reading = Reading::new(&export, Progress::new(quiet), BackfillStep::Checking);
    let items_checked = AtomicU64::new(0);
    run_jobs(files.len(), jobs, |n| {
        let stats = normalizer.check_snapshot_file(&snapshot, &files[n], |bytes| reading.at(n, bytes))?;
        items_checked.fetch_add(stats.items, Ordering::Relaxed);
        reading.done(n);
        Ok(())
    })?;
    let progress = reading.finish();

    // Then each data file's rows, and its `snapshots` row after them.
    let totals = Mutex::new(Totals {
        rows: normalizer.tables().iter().map(|t| (t.name.clone(), 0)).collect(),
        ..Totals::default()
    });
    let lock = || totals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let writing = Reading::new(&export, progress, BackfillStep::Writing);
    let resume = |name: &str, e: anyhow::Error| {
        e.context(format!(
            "data file {name}: not every object was written, and the snapshot does not count until it is; \
             run the same backfill again once {shown} is writable (it rewrites the same objects)"
        ))
    };
    run_jobs(files.len(), jobs, |n| {
        let file = &files[n];
        let emit = |part: SnapshotPartOutput| {
            runtime.block_on(async {
                for o in &part.objects {
                    lake.put(&o.key, &o.body).await?;
                }
                Ok::<_, SinkError>(())
            })?;
            let mut t = lock();
            for (acc, (_, r)) in t.rows.iter_mut().zip(&part.rows_per_table) {
                acc.1 += r;
            }
            t.objects += part.objects.len();
            t.out_bytes += part.objects.iter().map(|o| o.body.len()).sum::<usize>();
            let qkey = part.objects.iter().find(|o| o.table.is_none()).map(|o| o.key.to_string());
            for q in &part.quarantined {
                let text = format!("{shown}/{} (line {}): {}", qkey.as_deref().unwrap_or_default(), q.index, q.reason);
                t.quarantined.push((n, q.index, text));
            }
            drop(t);
            writing.items.fetch_add(part.items, Ordering::Relaxed);
            Ok(())
        };
        // Its rows, then its `snapshots` row (a part of its own, counted as the others).
        normalizer
            .write_snapshot_file(&snapshot, file, DEFAULT_PART_BYTES, |bytes| writing.at(n, bytes), emit)
            .map_err(|e: SnapshotError<SinkError>| match e {
                SnapshotError::Export(e) => anyhow::Error::new(e),
                SnapshotError::Write(e) => resume(&file.name, anyhow::Error::new(e)),
            })?;
        writing.done(n);
        Ok(())
    })?;
    writing.finish();
    let items = items_checked.into_inner();
    let mut t = totals.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    t.quarantined.sort_by_key(|(n, line, _)| (*n, *line));
    Ok(Backfilled {
        export,
        snapshot,
        chain,
        items,
        rows: t.rows,
        objects: t.objects,
        out_bytes: t.out_bytes,
        quarantined: t.quarantined.into_iter().map(|(_, _, text)| text).collect(),
        took: started.elapsed(),
    })
}

/// The machine's cores (the default of `--jobs`).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = load_spec(args.spec.as_deref())?;
    let key = redaction_key(&spec);
    let normalizer = Normalizer::new(&spec, key.as_deref())?;
    let jobs = args.jobs.map_or_else(default_jobs, usize::from);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the I/O runtime")?;
    let s3 = async || {
        let aws = super::aws_config(args.endpoint_url.as_deref(), args.region.as_deref()).await;
        let local_endpoint = args.endpoint_url.is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some();
        super::s3_client(&aws, local_endpoint)
    };
    let lake = rt.block_on(Lake::open(&args.out, s3))?;
    let (export_dir, source) = if !args.export.starts_with("s3://") {
        (PathBuf::from(&args.export), Source::Local)
    } else {
        let Some((bucket, prefix)) = s3_export_folder(&args.export) else {
            anyhow::bail!(
                "--export {} does not name an export: write s3://BUCKET/PREFIX/AWSDynamoDB/<export id>/, \
                 the folder holding manifest-summary.json",
                args.export
            );
        };
        let files = S3Files::new(rt.block_on(s3()), bucket, rt.handle().clone());
        (PathBuf::from(format!("s3://{bucket}/{prefix}")), Source::S3(std::sync::Arc::new(files)))
    };
    let shown = lake.shown();
    let to = Destination { lake: &lake, shown: &shown, runtime: rt.handle() };
    let b = backfill(&normalizer, spec.snapshot_margin_seconds, &export_dir, source, to, jobs, args.quiet)?;
    if !args.quiet {
        print_summary(&b, &shown)?;
    }
    Ok(())
}

/// Prints what a backfill wrote, like `normalize` does.
pub fn print_summary(b: &Backfilled, out: &str) -> std::io::Result<()> {
    match &b.export.window {
        None => outln!(
            "read {} items in {} data files of export {} ({} gzip), a snapshot as of {}",
            b.items,
            b.export.files.len(),
            b.export.export_id,
            human_bytes(b.export.size_bytes() as usize),
            b.export.export_time
        )?,
        Some(w) => outln!(
            "read {} changed items in {} data files of incremental export {} ({} gzip, {}), the changes from {} to {}",
            b.items,
            b.export.files.len(),
            b.export.export_id,
            human_bytes(b.export.size_bytes() as usize),
            w.view,
            w.from,
            b.export.export_time
        )?,
    }
    outln!("rows written:")?;
    for (t, n) in &b.rows {
        outln!("  {t:<20} {n:>10}")?;
    }
    outln!(
        "wrote {} objects ({} gzip) under {}/<table>/dt={}/ in {:.2}s",
        b.objects,
        human_bytes(b.out_bytes),
        out,
        b.snapshot.day(),
        b.took.as_secs_f64()
    )?;
    match &b.chain {
        Some(Verdict::Chains { base, through }) if through.is_empty() => outln!(
            "it extends the chain of full export {} with the lake's incremental exports; the views use it",
            base.id
        )?,
        Some(Verdict::Chains { base, through }) => outln!(
            "it extends the chain of full export {}; the views use it once {} {} backfilled too",
            base.id,
            through.join(", "),
            if through.len() == 1 { "is" } else { "are" }
        )?,
        _ => {}
    }
    let what = if b.export.window.is_some() { "exportToTime" } else { "exportTime" };
    outln!(
        "stream records after {} ({what} minus the {} s margin) win over this snapshot; older ones lose to it",
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
            outln!("  ... and {} more under {out}/_quarantine/", b.quarantined.len() - 10)?;
        }
    }
    Ok(())
}
