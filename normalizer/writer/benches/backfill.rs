//! Benchmark: `ddb-lake backfill`'s library path on generated DynamoDB exports of two sizes.
//!
//! Run with `cargo bench -p ddb-lake-writer --bench backfill` (release profile). For each size it
//! writes a full export (DYNAMODB_JSON, 8 data files) of generated sync-configuration items
//! into a temporary folder, then in a fresh process reads it as `backfill` does (manifests,
//! then every data file through: MD5, gzip, items, keys; then every data file again,
//! normalized with the example spec into a local lake folder, part by part, and its
//! `snapshots` row) and prints the time, the throughput in MB/s of item JSON (the export
//! uncompressed) and of the export as stored (gzip), and the process's peak resident memory
//! (VmHWM). The peak must not grow with the export's size. `DDB_LAKE_BENCH_EXPORT_MB`
//! (default `100,600`) sets the sizes, in MB of item JSON.

use std::path::Path;
use std::time::Instant;

use ddb_lake_core::spec::LakeSpec;
use ddb_lake_synth::export::{sized_items, write_export, ExportOptions};
use ddb_lake_writer::export::Export;
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::sink::{LakeSink, LocalDirSink};
use ddb_lake_writer::snapshot::{Snapshot, DEFAULT_PART_BYTES};
use serde_dynamo::Item;

/// The allocator the `ddb-lake` binary and the Lambda function use.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLE_SPEC: &str = include_str!("../../../docs/examples/sync-configurations.toml");
const CHILD_ENV: &str = "DDB_LAKE_BENCH_BACKFILL_EXPORT";
const SIZES_ENV: &str = "DDB_LAKE_BENCH_EXPORT_MB";

fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Child mode: backfill the export in `export_dir` into a fresh lake folder beside it and
/// print `seconds items json_bytes gzip_bytes peak_kb`.
fn child(export_dir: &Path) {
    let spec = LakeSpec::from_toml(EXAMPLE_SPEC, "example").expect("example spec");
    let normalizer = Normalizer::new(&spec, Some(b"bench-redaction-key")).expect("normalizer");
    let lake = export_dir.parent().expect("export folder").join("lake");
    let sink = LocalDirSink::new(&lake);
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let write = |objects: &[ddb_lake_writer::assembler::LakeObject]| {
        rt.block_on(async {
            for o in objects {
                sink.put(&o.key, &o.body).await?;
            }
            Ok::<_, ddb_lake_writer::sink::SinkError>(())
        })
    };
    let started = Instant::now();
    let export = Export::open(export_dir).expect("export");
    let snapshot = Snapshot::of_export(&export, spec.snapshot_margin_seconds);
    let read = normalizer
        .backfill(&snapshot, &export, DEFAULT_PART_BYTES, |_, _, _| {}, |part| write(&part.objects))
        .expect("backfill");
    let (items, json_bytes) = (read.items, read.json_bytes);
    let secs = started.elapsed().as_secs_f64();
    println!("{secs} {items} {json_bytes} {} {}", export.size_bytes(), vm_hwm_kb());
}

/// Backfills the export `write_export` makes in a fresh process and returns the child's
/// `seconds items json_bytes gzip_bytes peak_kb`.
fn run_child(dir: &Path) -> [f64; 5] {
    let out = std::process::Command::new(std::env::current_exe().expect("bench binary"))
        .env(CHILD_ENV, dir)
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<f64> = text.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    f[..].try_into().unwrap_or_else(|_| panic!("child failed: {text}{}", String::from_utf8_lossy(&out.stderr)))
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    // Eight of the widest items DynamoDB can hold, one per data file: memory must not grow
    // with one item's rows (2 KB + 1 KB keys on each of 130,002 rows).
    {
        let tmp = tempfile::tempdir().expect("temporary folder");
        let opts = ExportOptions {
            export_id: "01793880000000-0000wide".into(),
            export_time_millis: 1_793_880_000_000,
            table_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/sync-configurations".into(),
            data_files: 8,
        };
        let items = (0..8).map(|i| {
            let json = ddb_lake_synth::widest_legal_item(&format!("SYNC#{i}#"), ddb_lake_synth::WIDEST_LEGAL_LIST);
            serde_json::from_value::<Item>(json).expect("an item")
        });
        let dir = write_export(tmp.path(), &opts, items).expect("write export");
        let [secs, items, json, _, peak_kb] = run_child(&dir);
        println!(
            "backfill of {items:.0} widest legal items ({:.1} MB of item JSON, {:.0} rows each): {secs:.2} s, \
             peak RSS {:.1} MB",
            json / 1e6,
            ddb_lake_synth::WIDEST_LEGAL_LIST as f64 + 2.0,
            peak_kb / 1024.0
        );
    }
    let sizes: Vec<usize> = std::env::var(SIZES_ENV)
        .unwrap_or_else(|_| "100,600".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for mb in sizes {
        let tmp = tempfile::tempdir().expect("temporary folder");
        let opts = ExportOptions {
            export_id: "01793880000000-00bec4ed".into(),
            export_time_millis: 1_793_880_000_000,
            table_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/sync-configurations".into(),
            data_files: 8,
        };
        let t = Instant::now();
        let dir = write_export(tmp.path(), &opts, sized_items(mb * 1_000_000)).expect("write export");
        let wrote = t.elapsed().as_secs_f64();
        let [secs, items, json, gzip, peak_kb] = run_child(&dir);
        println!(
            "backfill {:>6.0} MB of item JSON ({:>7.0} items, {:>5.0} MB gzip, written in {wrote:.1} s): {secs:>6.2} s, \
             {:>6.1} MB/s JSON, {:>5.1} MB/s gzip, peak RSS {:.1} MB",
            json / 1e6,
            items,
            gzip / 1e6,
            json / 1e6 / secs,
            gzip / 1e6 / secs,
            peak_kb / 1024.0
        );
    }
}
