//! `ddb-lake demo`: the whole pipeline on a laptop, no AWS account.
//!
//! Generates a realistic history of sync-configuration items; writes the table as of the end
//! of its first day as a DynamoDB export and backfills a local lake folder from it (the
//! example spec); normalizes the stream from an hour before the export on into the same lake
//! (re-delivering a few batches, as Lambda does after a failure, to show that duplicates
//! never change an answer); compacts the days up to two before the history's end into
//! Parquet (saying what a current-state question reads before and after); registers the
//! tables on the embedded engine and prints the answer to every canned question.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use ddb_lake_core::spec::LakeSpec;
use ddb_lake_sql::compaction::{compact_local, CompactOptions};
use ddb_lake_sql::files::{self, Kind};
use ddb_lake_sql::local::LocalLake;
use ddb_lake_sql::render::{render, Format};
use ddb_lake_synth::export::{
    state_at, write_export, write_incremental_export, ExportOptions, ExportView, IncrementalOptions,
};
use ddb_lake_synth::{event_json, generate, SynthOptions};
use ddb_lake_writer::batch::BatchOptions;
use ddb_lake_writer::delivery::{process_event, Pipeline};
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::sink::LocalDirSink;

use super::progress::Progress;

/// The folder (in the demo lake's folder) the demo writes its DynamoDB export to. Athena
/// and the embedded engine read only the tables' folders.
const EXPORT_DIR: &str = "_export";

/// The stream outage the demo heals with incremental exports: from 30 h to 46 h after the
/// full export (longer than nothing, shorter than the two windows of a day that cover it).
pub const OUTAGE_HOURS: (i64, i64) = (30, 46);

/// The incremental windows after the full export, in hours from it, and their views.
const WINDOWS: [(i64, i64, ExportView); 2] = [(0, 24, ExportView::NewAndOldImages), (24, 48, ExportView::NewImage)];

/// The current-state question whose reads the demo shows before and after compaction.
const COMPACTION_PROBE: &str = "popular_field_mappings";

/// The example spec the demo writes with (docs/examples/sync-configurations.toml).
pub const EXAMPLE_SPEC: &str = include_str!("../../docs/examples/sync-configurations.toml");

/// Arguments of `ddb-lake demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder for the demo lake (replaced if it holds an earlier demo).
    #[arg(long, value_name = "DIR", default_value = "demo-lake")]
    out: PathBuf,
    /// Sync-configuration items to create.
    #[arg(long, default_value_t = 3000)]
    items: usize,
    /// Customers owning them (skewed).
    #[arg(long, default_value_t = 60)]
    customers: usize,
    /// Days of history.
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print no progress (the steps and their times, a bar over the batches on a terminal);
    /// the answers still go to stdout.
    #[arg(long, short)]
    quiet: bool,
}

/// A step of the demo on stderr, with the time since it started (nothing with `--quiet`).
fn step(quiet: bool, started: Instant, text: &str) {
    if !quiet {
        eprintln!("[{:>5.1}s] {text}", started.elapsed().as_secs_f64());
    }
}

/// Runs the demo.
pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    prepare_folder(&args.out)?;
    let spec = LakeSpec::from_toml(EXAMPLE_SPEC, "docs/examples/sync-configurations.toml")?;
    let key = b"demo-redaction-key-not-secret".to_vec();

    step(
        args.quiet,
        started,
        &format!(
            "generating {} sync-configuration items of {} customers over {} days…",
            args.items, args.customers, args.days
        ),
    );
    let opts = SynthOptions {
        items: args.items,
        customers: args.customers,
        days: args.days,
        seed: args.seed,
        ..SynthOptions::default()
    };
    let history = generate(&opts)?;
    let pipeline = Pipeline::new(Normalizer::new(&spec, Some(&key))?);

    // The table existed before the lake: export it as of the end of the first day and
    // backfill the lake from the export, then stream from an hour before the export on.
    let export_time = opts.start.timestamp_millis() + 86_400_000;
    let stream_from = export_time - 3_600_000;
    let items = state_at(&history, export_time);
    let export_root = args.out.join(EXPORT_DIR);
    let export_id = format!("{:014}-0de0de00", export_time);
    let time_text = |millis: i64| {
        chrono::DateTime::from_timestamp_millis(millis)
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    };
    step(
        args.quiet,
        started,
        &format!(
            "exporting the table as of {} UTC ({} items) to {}/, as a DynamoDB export to S3 writes it…",
            time_text(export_time),
            items.len(),
            export_root.display()
        ),
    );
    let export_opts = ExportOptions {
        export_id,
        export_time_millis: export_time,
        table_arn: format!("arn:aws:dynamodb:us-east-1:123456789012:table/{}", opts.table_name),
        data_files: 4,
    };
    let export_dir = write_export(&export_root, &export_opts, items.values())?;
    step(args.quiet, started, &format!("backfilling {}/ from the export…", args.out.display()));
    // The writes of the backfill's jobs run on a runtime of their own (Handle::block_on).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .context("cannot start the I/O runtime")?;
    let lake = ddb_lake_writer::sink::LocalDirSink::new(&args.out);
    let shown = args.out.display().to_string();
    let jobs = super::backfill::default_jobs();
    let b = super::backfill::backfill(
        &pipeline.normalizer,
        spec.snapshot_margin_seconds,
        &export_dir,
        ddb_lake_writer::export::Source::Local,
        super::backfill::Destination { lake: &lake, shown: &shown, runtime: rt.handle() },
        jobs,
        true,
    )?;
    step(
        args.quiet,
        started,
        &format!(
            "wrote {} snapshot rows in {} objects; stream records after {} UTC win over them",
            b.rows.iter().map(|(_, n)| n).sum::<u64>(),
            b.objects,
            time_text(export_time - i64::from(b.snapshot.margin_seconds) * 1000)
        ),
    );

    // The stream is down for a while (longer than Lambda retries, here): the lake misses
    // those records, and incremental exports of the windows after the full export heal it.
    const HOUR: i64 = 3_600_000;
    let outage = (export_time + OUTAGE_HOURS.0 * HOUR)..(export_time + OUTAGE_HOURS.1 * HOUR);
    let missed = history
        .iter()
        .flat_map(|e| e.records.iter())
        .filter(|r| outage.contains(&r.change.approximate_creation_date_time.timestamp_millis()))
        .count();
    step(
        args.quiet,
        started,
        &format!(
            "the stream is down from {} to {} UTC ({missed} records the lake misses); exporting the changes of \
             {} incremental windows from the full export on…",
            time_text(outage.start),
            time_text(outage.end),
            WINDOWS.len()
        ),
    );
    let mut incremental_rows = 0;
    for (n, (from, to, view)) in WINDOWS.into_iter().enumerate() {
        let to_millis = export_time + to * HOUR;
        let opts = IncrementalOptions {
            export_id: format!("{to_millis:014}-1dc0de{n:02}"),
            from_millis: export_time + from * HOUR,
            to_millis,
            view,
            table_arn: export_opts.table_arn.clone(),
            data_files: 2,
        };
        let dir = write_incremental_export(&export_root, &opts, &history)?;
        let b = super::backfill::backfill(
            &pipeline.normalizer,
            spec.snapshot_margin_seconds,
            &dir,
            ddb_lake_writer::export::Source::Local,
            super::backfill::Destination { lake: &lake, shown: &shown, runtime: rt.handle() },
            jobs,
            true,
        )?;
        incremental_rows += b.rows.iter().map(|(_, n)| n).sum::<u64>();
    }
    step(
        args.quiet,
        started,
        &format!(
            "wrote {incremental_rows} rows of changed items; the chain of exports ends at {} UTC, and stream \
             records after it minus the margin win",
            time_text(export_time + WINDOWS[WINDOWS.len() - 1].1 * HOUR)
        ),
    );

    let mut records = 0;
    let mut events: Vec<String> = Vec::new();
    for mut event in history {
        event.records.retain(|r| {
            let t = r.change.approximate_creation_date_time.timestamp_millis();
            t >= stream_from && !outage.contains(&t)
        });
        if !event.records.is_empty() {
            records += event.records.len();
            events.push(event_json(&event));
        }
    }
    step(
        args.quiet,
        started,
        &format!(
            "normalizing the {records} stream records from {} UTC on, in {} batches, into {}/…",
            time_text(stream_from),
            events.len(),
            args.out.display()
        ),
    );
    let sink = LocalDirSink::new(&args.out);
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the I/O runtime")?;
    let (mut objects, mut bytes, mut rows) = (0usize, 0usize, 0u64);
    let mut progress = Progress::new(args.quiet);
    progress.start_count(events.len() as u64, "batches", "normalizing");
    for (i, ev) in events.iter().enumerate() {
        let report =
            rt.block_on(process_event(&pipeline, &sink, ev, &BatchOptions { source: Some("shardId-demo".into()) }))?;
        if let Some(e) = report.failed_objects.first() {
            anyhow::bail!("{e}");
        }
        objects += report.objects_written;
        bytes += report.bytes_written;
        rows += report.output.rows_per_table.iter().map(|(_, n)| n).sum::<u64>();
        progress.set(i as u64 + 1, |_| {
            format!("[{:>5.1}s]   {}/{} batches", started.elapsed().as_secs_f64(), i + 1, events.len())
        });
    }
    progress.finish();
    // Lambda re-delivers a batch after a failure: do it for every tenth batch, from its middle
    // record on, which writes those records a second time under new object names.
    let mut redelivered = 0;
    for ev in events.iter().step_by(10) {
        let mut v: serde_json::Value = serde_json::from_str(ev)?;
        if let Some(list) = v["Records"].as_array_mut() {
            let half = list.len() / 2;
            list.drain(..half);
        }
        let report = rt.block_on(process_event(
            &pipeline,
            &sink,
            &v.to_string(),
            &BatchOptions { source: Some("shardId-demo".into()) },
        ))?;
        redelivered += report.output.records;
    }
    step(
        args.quiet,
        started,
        &format!(
            "wrote {rows} rows in {objects} objects ({:.1} MB gzip); re-delivered {redelivered} records as duplicates",
            bytes as f64 / 1e6
        ),
    );

    // Compaction, as a deployed lake gets it every day: the days up to two before the
    // history's end become Parquet history and a state; the answers stay the same, and the
    // current-state questions read far less.
    let last_day =
        chrono::DateTime::from_timestamp_millis(opts.start.timestamp_millis() + i64::from(opts.days) * 24 * HOUR)
            .map_or(opts.start.date_naive(), |t| t.date_naive());
    let through = last_day - chrono::Days::new(2);
    step(args.quiet, started, &format!("compacting the days up to {through} into Parquet (ddb-lake compact)…"));
    let probe = files::all()?.into_iter().find(|f| f.name == COMPACTION_PROBE).context("the probe question")?;
    let probe_sql = probe.render(&[])?;
    let read_by_probe = |rt: &tokio::runtime::Runtime| -> anyhow::Result<(u64, u64)> {
        let lake = rt.block_on(LocalLake::open(&args.out, &spec))?;
        rt.block_on(lake.query(&probe_sql))?;
        Ok(lake.read())
    };
    let before = read_by_probe(&rt)?;
    let report = rt.block_on(compact_local(
        &args.out,
        &spec,
        through,
        chrono::Utc::now(),
        &CompactOptions::default(),
        &mut |_| {},
    ))?;
    let after = read_by_probe(&rt)?;
    step(
        args.quiet,
        started,
        &format!(
            "folded {} text objects ({:.1} MB) into {} Parquet objects ({:.1} MB; the state: {} items); \
             {COMPACTION_PROBE} now reads {} objects, {:.1} MB instead of {} objects, {:.1} MB",
            report.folded_objects,
            report.folded_bytes as f64 / 1e6,
            report.written_objects,
            report.written_bytes as f64 / 1e6,
            report.state_items,
            after.0,
            after.1 as f64 / 1e6,
            before.0,
            before.1 as f64 / 1e6
        ),
    );

    step(args.quiet, started, "registering the tables on the embedded SQL engine…");
    let lake = rt.block_on(LocalLake::open(&args.out, &spec))?;
    let questions: Vec<_> = files::all()?.into_iter().filter(|f| f.kind == Kind::Question).collect();
    step(args.quiet, started, &format!("answering {} canned questions:", questions.len()));
    for q in &questions {
        let sql = q.render(&[])?;
        let answer = rt.block_on(lake.query(&sql)).with_context(|| format!("question {}", q.name))?;
        outln!("\n== {} (v{})\n   {}\n", q.name, q.version, q.question)?;
        out!("{}", render(&answer, Format::Table, q.chart.as_deref()))?;
    }
    outln!(
        "\ndone in {:.1}s. The lake is in {}/ (laid out like s3://{}/{}/).",
        started.elapsed().as_secs_f64(),
        args.out.display(),
        spec.location.bucket,
        spec.location.prefix
    )?;
    outln!("next:")?;
    outln!("  ddb-lake sql list")?;
    outln!(
        "  ddb-lake sql run popular_settings --local {} --spec docs/examples/sync-configurations.toml --param top=5",
        args.out.display()
    )?;
    outln!("  ddb-lake sql query 'SELECT * FROM current_field_mappings LIMIT 5' --local {} --spec docs/examples/sync-configurations.toml", args.out.display())?;
    outln!(
        "  ddb-lake report --local {} --spec docs/examples/sync-configurations.toml --out report.html   (every answer as charts, one page)",
        args.out.display()
    )?;
    outln!("  ddb-lake schema ddl --spec docs/examples/sync-configurations.toml   (the same tables for Athena)")?;
    Ok(())
}

/// Makes sure `dir` is empty or an earlier demo lake (never deletes anything else).
fn prepare_folder(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let entries: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    let tables = ["changes", "attributes", "sync_configs", "field_mappings"];
    let ours = |e: &str| {
        ["snapshots", "compactions", "_quarantine", EXPORT_DIR].contains(&e)
            || tables.iter().any(|t| [*t, &format!("{t}_compacted"), &format!("{t}_state")].contains(&e))
    };
    if entries.iter().any(|e| !ours(e)) {
        anyhow::bail!("{} holds files that are not a demo lake; choose another folder with --out", dir.display());
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear the earlier demo lake in {}", dir.display()))
}
