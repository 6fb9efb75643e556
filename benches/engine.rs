//! Benchmark: every canned question on the embedded engine, on generated lakes of two sizes.
//!
//! Run with `cargo bench -p ddb-lake --bench engine` (release profile). For each size (MB of
//! gzip'd objects; `DDB_LAKE_BENCH_LAKE_MB`, default `37,1024`) it builds a lake of a busy
//! table over 90 days with the example spec (generated histories of 10,000 items each,
//! normalized through the function's code path until the lake holds at least that many MB),
//! then runs each canned question with its defaults, and `changes_by_kind` for one day, each
//! in a fresh process, and prints the time, the objects and bytes read, and the process's
//! peak resident memory (VmHWM). A built lake is kept under the system's temporary folder
//! (`ddb-lake-engine-bench/lake-<MB>`) and reused by the next run.
//!
//! Then compaction (issue 40): a copy of the lake is compacted through the day before its last
//! two (`ddb-lake compact`'s default on a live lake), in a fresh process, with its time and
//! peak memory, and every question runs again on the compacted copy; the lake's size before
//! and after is printed. `DDB_LAKE_BENCH_COMPACT=0` skips this part.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ddb_lake_core::spec::LakeSpec;
use ddb_lake_sql::files::{self, Kind};
use ddb_lake_sql::local::LocalLake;
use ddb_lake_writer::batch::BatchOptions;
use ddb_lake_writer::delivery::{process_event, Pipeline};
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::sink::LocalDirSink;

/// The allocator the `ddb-lake` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLE_SPEC: &str = include_str!("../docs/examples/sync-configurations.toml");
const CHILD_ENV: &str = "DDB_LAKE_BENCH_ENGINE_QUERY";
const COMPACT_CHILD_ENV: &str = "DDB_LAKE_BENCH_ENGINE_COMPACT";
const COMPACT_ENV: &str = "DDB_LAKE_BENCH_COMPACT";
const SIZES_ENV: &str = "DDB_LAKE_BENCH_LAKE_MB";
const ITEMS_PER_HISTORY: usize = 10_000;
const DAYS: u32 = 90;

fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn spec() -> LakeSpec {
    LakeSpec::from_toml(EXAMPLE_SPEC, "example").expect("example spec")
}

/// Bytes of every object under `dir`.
fn lake_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                total += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}

/// A lake of at least `mb` MB of objects: histories of [`ITEMS_PER_HISTORY`] items over
/// [`DAYS`] days, one seed each, normalized as the function would (each history its own
/// shard, so object names never collide). Returns the folder and the records written.
fn build_lake(mb: u64) -> (PathBuf, u64) {
    let dir = std::env::temp_dir().join("ddb-lake-engine-bench").join(format!("lake-{mb}"));
    let done = dir.join("BUILT");
    if let Some(records) = std::fs::read_to_string(&done).ok().and_then(|t| t.trim().parse().ok()) {
        return (dir.join("lake"), records);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let lake = dir.join("lake");
    let spec = spec();
    let pipeline = Pipeline::new(Normalizer::new(&spec, Some(b"bench-redaction-key")).expect("normalizer"));
    let sink = LocalDirSink::new(&lake);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let started = Instant::now();
    let (mut records, mut seed) = (0u64, 0u64);
    while lake_bytes(&lake) < mb * 1_000_000 {
        let options = ddb_lake_synth::SynthOptions {
            items: ITEMS_PER_HISTORY,
            customers: 500,
            days: DAYS,
            seed,
            records_per_event: 1000,
            ..Default::default()
        };
        let events = ddb_lake_synth::generate(&options).expect("generate");
        let batch = BatchOptions { source: Some(format!("shardId-bench-{seed:04}")) };
        for event in &events {
            let json = ddb_lake_synth::event_json(event);
            let report = rt.block_on(process_event(&pipeline, &sink, &json, &batch)).expect("normalize");
            assert!(report.failed_objects.is_empty(), "{:?}", report.failed_objects);
            records += report.output.records as u64;
        }
        seed += 1;
        eprintln!(
            "  building the {mb} MB lake: {:.0} MB, {records} records, {:.0} s",
            lake_bytes(&lake) as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
    }
    std::fs::write(&done, records.to_string()).expect("marker");
    (lake, records)
}

/// Child mode: run one question on the lake and print `seconds rows objects bytes peak_kb`.
fn child(arg: &str) {
    let mut parts = arg.splitn(3, '\t');
    let (lake, name, params) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let params: Vec<(String, String)> =
        params.split(',').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let question = files::all().expect("sql files").into_iter().find(|f| f.name == name).expect("question");
    let sql = question.render(&params).expect("render");
    let spec = spec();
    // As `ddb-lake sql` runs it: a worker thread per core.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let started = Instant::now();
    let local = rt.block_on(LocalLake::open(Path::new(lake), &spec)).expect("open");
    let answer = rt.block_on(local.query(&sql)).expect("query");
    let secs = started.elapsed().as_secs_f64();
    let (objects, bytes) = local.read();
    println!("{secs} {} {objects} {bytes} {}", answer.rows.len(), vm_hwm_kb());
}

/// Child mode: compact the lake through the day given and print `seconds folded written peak_kb`.
fn compact_child(arg: &str) {
    let (lake, through) = arg.split_once('\t').expect("lake and day");
    let through = chrono::NaiveDate::parse_from_str(through, "%Y-%m-%d").expect("day");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let started = Instant::now();
    let report = rt
        .block_on(ddb_lake_sql::compaction::compact_local(
            Path::new(lake),
            &spec(),
            through,
            chrono::Utc::now(),
            &ddb_lake_sql::compaction::CompactOptions::default(),
            &mut |line| eprintln!("  compact: {line}"),
        ))
        .expect("compact");
    println!(
        "{} {} {} {} {}",
        started.elapsed().as_secs_f64(),
        report.folded_objects,
        report.written_objects,
        report.state_bytes,
        vm_hwm_kb()
    );
}

/// Copies the folder `from` to `to` (replacing it).
fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let status = std::process::Command::new("cp").arg("-r").arg(from).arg(to).status().expect("cp runs");
    assert!(status.success(), "cp -r {} {}", from.display(), to.display());
}

/// Runs a question in a fresh process: (seconds, rows, objects, bytes, peak kB).
fn measure(lake: &Path, name: &str, params: &str) -> (f64, u64, u64, u64, u64) {
    let arg = format!("{}\t{name}\t{params}", lake.display());
    let out = std::process::Command::new(std::env::current_exe().expect("bench executable"))
        .env(CHILD_ENV, arg)
        .output()
        .expect("child runs");
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    assert_eq!(v.len(), 5, "{name}: {text}");
    (v[0], v[1] as u64, v[2] as u64, v[3] as u64, v[4] as u64)
}

fn main() {
    // The children run the engine as `ddb-lake sql` and `ddb-lake compact` do.
    if let Ok(arg) = std::env::var(CHILD_ENV) {
        ddb_lake::allocator::for_the_embedded_engine();
        child(&arg);
        return;
    }
    if let Ok(arg) = std::env::var(COMPACT_CHILD_ENV) {
        ddb_lake::allocator::for_the_embedded_engine();
        compact_child(&arg);
        return;
    }
    let compact = std::env::var(COMPACT_ENV).map_or(true, |v| v != "0");
    let sizes: Vec<u64> = std::env::var(SIZES_ENV)
        .unwrap_or_else(|_| "37,1024".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let questions: Vec<_> = files::all().expect("sql files").into_iter().filter(|f| f.kind == Kind::Question).collect();
    for mb in sizes {
        let (lake, records) = build_lake(mb);
        let mut days: Vec<String> = std::fs::read_dir(lake.join("changes"))
            .expect("changes folder")
            .flatten()
            .filter_map(|e| e.file_name().to_string_lossy().strip_prefix("dt=").map(str::to_owned))
            .collect();
        days.sort();
        let day = days[days.len() / 2].clone();
        println!(
            "lake: {:.1} MB of objects, {records} records, {} days ({})",
            lake_bytes(&lake) as f64 / 1e6,
            days.len(),
            lake.display()
        );
        println!("{:<44} {:>9} {:>7} {:>9} {:>11} {:>10}", "question", "time", "rows", "objects", "read", "peak RSS");
        let one_day = format!("from={day},to={day}");
        let mut runs: Vec<(String, &str, String)> =
            questions.iter().map(|q| (q.name.clone(), q.name.as_str(), String::new())).collect();
        runs.push((format!("changes_by_kind, one day ({day})"), "changes_by_kind", one_day));
        let run_all = |lake: &Path| -> Vec<u64> {
            let mut rows_seen = Vec::new();
            for (label, name, params) in &runs {
                let (secs, rows, objects, bytes, peak_kb) = measure(lake, name, params);
                println!(
                    "{label:<44} {:>7.2} s {rows:>7} {objects:>9} {:>8.1} MB {:>7.1} MB",
                    secs,
                    bytes as f64 / 1e6,
                    peak_kb as f64 / 1024.0
                );
                rows_seen.push(rows);
            }
            rows_seen
        };
        let before = run_all(&lake);
        if !compact {
            continue;
        }
        // The day before the last two: what the command's default leaves as text on a live lake.
        let through = days[days.len().saturating_sub(3)].clone();
        let compacted = lake.with_file_name(format!("{}-compacted", lake.file_name().unwrap().to_string_lossy()));
        copy_dir(&lake, &compacted);
        let out = std::process::Command::new(std::env::current_exe().expect("bench executable"))
            .env(COMPACT_CHILD_ENV, format!("{}\t{through}", compacted.display()))
            .output()
            .expect("child runs");
        assert!(out.status.success(), "compact: {}", String::from_utf8_lossy(&out.stderr));
        let v: Vec<f64> =
            String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|n| n.parse().ok()).collect();
        println!(
            "compacted through {through}: {:.1} s, {} text objects folded into {} Parquet objects (state {:.1} MB), \
             peak RSS {:.1} MB; lake {:.1} MB -> {:.1} MB",
            v[0],
            v[1],
            v[2],
            v[3] / 1e6,
            v[4] / 1024.0,
            lake_bytes(&lake) as f64 / 1e6,
            lake_bytes(&compacted) as f64 / 1e6
        );
        println!(
            "{:<44} {:>9} {:>7} {:>9} {:>11} {:>10}",
            "after compaction", "time", "rows", "objects", "read", "peak RSS"
        );
        let after = run_all(&compacted);
        assert_eq!(before, after, "every question gives as many rows after compaction");
    }
}
