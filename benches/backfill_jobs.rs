//! Benchmark: the `ddb-lake backfill` command itself, one job against `--jobs 2`.
//!
//! Run with `cargo bench -p ddb-lake --bench backfill_jobs` (release profile; it runs the
//! release `ddb-lake` binary cargo builds with it). It writes a full export (DYNAMODB_JSON,
//! `DDB_LAKE_BENCH_JOBS_FILES` data files, default 8) of generated sync-configuration items,
//! `DDB_LAKE_BENCH_JOBS_EXPORT_MB` MB of item JSON (default 400), into a temporary folder, then
//! backfills it with the example spec into a fresh local lake with `--jobs 1` and with
//! `--jobs 2`, and prints for each the wall time, the MB/s of item JSON (the export
//! uncompressed) and of the export as stored, the peak resident memory of the process (VmHWM,
//! read while it runs), and the speed-up of two jobs over one. The lakes the two runs write
//! must be equal, object for object.
//!
//! `--jobs 1` is one worker on one core: the figure the Distributed Map's children run at
//! (docs/snapshots.md turns it into wall times for large tables).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ddb_lake_synth::export::{sized_items, write_export, ExportOptions};

const BINARY: &str = env!("CARGO_BIN_EXE_ddb-lake");
const EXAMPLE_SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/sync-configurations.toml");

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?}: expected a whole number")),
        Err(_) => default,
    }
}

/// Bytes of item JSON (the data files uncompressed) and as stored (gzip).
fn export_bytes(dir: &Path) -> (u64, u64) {
    let (mut json, mut gzip) = (0, 0);
    for entry in std::fs::read_dir(dir.join("data")).expect("data folder") {
        let path = entry.expect("data file").path();
        gzip += std::fs::metadata(&path).expect("data file").len();
        let mut reader = flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).expect("data file"));
        json += std::io::copy(&mut reader, &mut std::io::sink()).expect("gzip");
    }
    (json, gzip)
}

/// Peak resident memory of process `pid` so far, in kB (0 once it is gone).
fn vm_hwm_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Runs `ddb-lake backfill` with `jobs` into `out`; returns seconds and peak kB.
fn backfill(export: &Path, out: &Path, jobs: usize) -> (f64, u64) {
    let started = Instant::now();
    let mut child = Command::new(BINARY)
        .args(["backfill", "--quiet", "--spec", EXAMPLE_SPEC, "--jobs", &jobs.to_string(), "--export"])
        .arg(export)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ddb-lake");
    let mut peak = 0;
    let status = loop {
        peak = peak.max(vm_hwm_kb(child.id()));
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let secs = started.elapsed().as_secs_f64();
    let mut err = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut err).expect("stderr");
    assert!(status.success(), "ddb-lake backfill --jobs {jobs} failed: {err}");
    (secs, peak)
}

/// Every file under `dir`: path relative to it → bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("lake folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("object");
                files.insert(path.strip_prefix(dir).expect("under the lake").to_path_buf(), bytes);
            }
        }
    }
    files
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let mb = env_number("DDB_LAKE_BENCH_JOBS_EXPORT_MB", 400);
    let data_files = env_number("DDB_LAKE_BENCH_JOBS_FILES", 8);
    let tmp = tempfile::tempdir().expect("temporary folder");
    let opts = ExportOptions {
        export_id: "01793880000000-0000j0b5".into(),
        export_time_millis: 1_793_880_000_000,
        table_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/sync-configurations".into(),
        data_files,
    };
    let t = Instant::now();
    let export = write_export(tmp.path(), &opts, sized_items(mb * 1_000_000)).expect("write export");
    let (json, gzip) = export_bytes(&export);
    println!(
        "export: {:.0} MB of item JSON, {:.0} MB gzip, {data_files} data files (written in {:.1} s); {} cores",
        json as f64 / 1e6,
        gzip as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut results = Vec::new();
    for jobs in [1, 2] {
        let out = tmp.path().join(format!("lake-{jobs}"));
        let (secs, peak_kb) = backfill(&export, &out, jobs);
        println!(
            "backfill --jobs {jobs}: {secs:>6.2} s, {:>6.1} MB/s JSON, {:>5.1} MB/s gzip, peak RSS {:.1} MB",
            json as f64 / 1e6 / secs,
            gzip as f64 / 1e6 / secs,
            peak_kb as f64 / 1024.0
        );
        results.push((secs, out));
    }
    assert!(tree(&results[0].1) == tree(&results[1].1), "--jobs 1 and --jobs 2 must write the same lake");
    println!("--jobs 2 is {:.2}x --jobs 1 (the same objects, byte for byte)", results[0].0 / results[1].0);
}
