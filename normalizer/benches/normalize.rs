//! Benchmark: one 6 MB Lambda event (the payload limit, ~2,000 sync-configuration records)
//! through the normalizer, single-threaded.
//!
//! Run with `cargo bench -p normalizer` (release profile). Prints, for each stage, the
//! median time over repeated runs and the throughput in MB/s of event JSON and records/s:
//! - parse-only with `aws_lambda_events` (owned serde_dynamo maps): the reference;
//! - parse-only with the normalizer's borrowing decoder;
//! - end to end (decode, flatten into all tables, encode, gzip) with no spec and with the
//!   documented example spec, at gzip levels 1 and 6.
//!
//! It also reports the peak resident memory (VmHWM) of a fresh process that reads the event
//! and normalizes it once, as the Lambda function would.

use std::hint::black_box;
use std::time::{Duration, Instant};

use lake_core::spec::LakeSpec;
use normalizer::batch::{BatchOptions, Normalizer};
use normalizer::record::{decode_record, for_each_record, split_event};

/// The allocator the `ddb-lake` binary and the Lambda function use.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENT_BYTES: usize = 6_000_000;
const EXAMPLE_SPEC: &str = include_str!("../../docs/examples/sync-configurations.toml");
const MEMORY_ENV: &str = "DDB_LAKE_BENCH_MEMORY_EVENT";
const MIN_RUNS: usize = 5;
const MIN_TIME: Duration = Duration::from_secs(3);

fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn median_time(mut f: impl FnMut()) -> Duration {
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < MIN_RUNS || start.elapsed() < MIN_TIME {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

fn report(name: &str, bytes: usize, records: usize, t: Duration) {
    let s = t.as_secs_f64();
    println!(
        "{name:<44} {:>8.2} ms {:>9.1} MB/s {:>11.0} records/s",
        s * 1e3,
        bytes as f64 / 1e6 / s,
        records as f64 / s
    );
}

/// Child mode: normalize the event in the file once and print the peak RSS before and after.
fn memory_child(path: &str) {
    let event = std::fs::read_to_string(path).expect("event file");
    let spec = LakeSpec::from_toml(EXAMPLE_SPEC, "example").expect("example spec");
    let before = vm_hwm_kb().unwrap_or(0);
    let normalizer = Normalizer::new(&spec, Some(b"bench-redaction-key")).expect("normalizer").with_gzip_level(1);
    let out = normalizer.normalize_event(&event, &BatchOptions::default()).expect("normalize");
    black_box(&out);
    let after = vm_hwm_kb().unwrap_or(0);
    println!("{before} {after}");
}

/// Peak RSS (kB) of a fresh process that reads the event and normalizes it once.
fn measure_memory(event: &str) -> Option<(u64, u64)> {
    let dir = std::env::temp_dir().join(format!("ddb-lake-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("event.json");
    std::fs::write(&path, event).ok()?;
    let out = std::process::Command::new(std::env::current_exe().ok()?).env(MEMORY_ENV, &path).output().ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8(out.stdout).ok()?;
    let mut it = text.split_whitespace().map(|n| n.parse::<u64>().ok());
    Some((it.next()??, it.next()??))
}

fn main() {
    if let Ok(path) = std::env::var(MEMORY_ENV) {
        memory_child(&path);
        return;
    }
    let event = lake_synth::event_of_size(EVENT_BYTES, 1);
    let records = split_event(&event).expect("the generated event is an event").len();
    let example = LakeSpec::from_toml(EXAMPLE_SPEC, "example").expect("example spec");
    let default_spec = LakeSpec::default();

    println!("event: {:.2} MB, {records} records", event.len() as f64 / 1e6);
    match measure_memory(&event) {
        Some((before, after)) => println!(
            "peak RSS of a fresh process: {:.1} MB with the event read, {:.1} MB after normalizing it (example spec, gzip 1)",
            before as f64 / 1024.0,
            after as f64 / 1024.0
        ),
        None => println!("peak RSS: could not be measured (no /proc/self/status?)"),
    }
    let t = median_time(|| {
        let e: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(&event).expect("parse");
        black_box(e);
    });
    report("parse only: aws_lambda_events Event", event.len(), records, t);

    let t = median_time(|| {
        let n = for_each_record(&event, |_, rec| {
            black_box(rec);
        });
        black_box(n.expect("decode"));
    });
    report("parse only: normalizer decoder (one pass)", event.len(), records, t);

    let t = median_time(|| {
        for raw in split_event(&event).expect("split") {
            black_box(decode_record(raw.get()).expect("decode"));
        }
    });
    report("parse only: record by record (poison path)", event.len(), records, t);

    for (label, spec) in [("no spec", &default_spec), ("example spec", &example)] {
        for level in [0u32, 1, 6] {
            let normalizer =
                Normalizer::new(spec, Some(b"bench-redaction-key")).expect("normalizer").with_gzip_level(level);
            let mut out_bytes = 0;
            let t = median_time(|| {
                let out = normalizer.normalize_event(&event, &BatchOptions::default()).expect("normalize");
                out_bytes = out.output_bytes();
                black_box(out);
            });
            report(
                &format!("end to end: {label}, gzip {level} ({:.2} MB out)", out_bytes as f64 / 1e6),
                event.len(),
                records,
                t,
            );
        }
    }
}
