//! Benchmark: one 6 MB Lambda event (the payload limit, ~2,000 sync-configuration records)
//! through the normalizer, single-threaded.
//!
//! Run with `cargo bench -p ddb-lake-writer` (release profile). Prints, for each stage, the
//! median time over repeated runs and the throughput in MB/s of event JSON and records/s:
//! - parse-only with `aws_lambda_events` (owned serde_dynamo maps): the reference;
//! - parse-only with the normalizer's borrowing decoder;
//! - end to end (decode, flatten into all tables, encode, gzip) with no spec and with the
//!   documented example spec, at gzip levels 1 and 6.
//!
//! It also reports the peak resident memory (VmHWM) of a fresh process that reads an event
//! and normalizes it once, as the Lambda function would: the 6 MB event, and 1,000 small
//! records on 1,000 different days (every record its own table × day objects), and the widest
//! item DynamoDB can hold (2 KB + 1 KB keys repeated on each of its 130,002 rows); and the time
//! one MODIFY of an item with 40,000 top-level attributes takes (half of them changed).
//!
//! Last, every core: a 100 MB events file (17 events of 6 MB) normalized with the example
//! spec and its objects written to a temporary folder, as `ddb-lake normalize --jobs N` does
//! ([`ddb_lake_writer::parallel::in_order`]), with 1 job and with every core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ddb_lake_core::spec::LakeSpec;
use ddb_lake_writer::batch::BatchOptions;
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::record::{decode_record, for_each_record, split_event};
use ddb_lake_writer::sink::{LakeSink, LocalDirSink};

/// The allocator the `ddb-lake` binary and the Lambda function use.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENT_BYTES: usize = 6_000_000;
const EXAMPLE_SPEC: &str = include_str!("../../../docs/examples/sync-configurations.toml");
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

/// A record of the example spec's table: an INSERT of a small sync configuration.
fn record(i: u64, event_secs: u64) -> serde_json::Value {
    let s = |v: String| serde_json::json!({ "S": v });
    serde_json::json!({
        "eventID": format!("e{i}"),
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/sync/stream/x",
        "dynamodb": {
            "ApproximateCreationDateTime": event_secs,
            "Keys": { "pk": s(format!("CLIENT#{i}")), "sk": s("SYNC#1".into()) },
            "NewImage": {
                "pk": s(format!("CLIENT#{i}")),
                "sk": s("SYNC#1".into()),
                "interval": { "N": "15" },
            },
            "SequenceNumber": format!("{}", 1_000_000 + i),
            "SizeBytes": 60,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        }
    })
}

/// 1,000 records, each on its own day (from 2024-01-01, the example spec's projection start).
fn thousand_days_event() -> String {
    let records: Vec<_> = (0..1000u64).map(|i| record(i, 1_704_067_200 + i * 86_400)).collect();
    serde_json::json!({ "Records": records }).to_string()
}

/// One MODIFY of an item with `n` top-level attributes, every other one changed.
fn wide_modify_event(n: usize) -> String {
    let image = |changed: bool| {
        let mut m = serde_json::Map::new();
        m.insert("pk".into(), serde_json::json!({ "S": "CLIENT#1" }));
        m.insert("sk".into(), serde_json::json!({ "S": "SYNC#1" }));
        for a in 0..n {
            let v = if changed && a % 2 == 0 { a + 1 } else { a };
            m.insert(format!("a{a}"), serde_json::json!({ "N": v.to_string() }));
        }
        serde_json::Value::Object(m)
    };
    let mut rec = record(1, 1_793_887_200);
    rec["eventName"] = "MODIFY".into();
    rec["dynamodb"]["NewImage"] = image(true);
    rec["dynamodb"]["OldImage"] = image(false);
    serde_json::json!({ "Records": [rec] }).to_string()
}

/// One INSERT of [`ddb_lake_synth::widest_legal_item`] with a list of `numbers` numbers.
fn widest_item_event(numbers: usize) -> String {
    let item = ddb_lake_synth::widest_legal_item("SYNC#1#", numbers);
    let mut rec = record(1, 1_793_887_200);
    rec["dynamodb"]["Keys"] = serde_json::json!({ "pk": item["pk"].clone(), "sk": item["sk"].clone() });
    rec["dynamodb"]["NewImage"] = item;
    serde_json::json!({ "Records": [rec] }).to_string()
}

fn report_memory(label: &str, event: &str) {
    match measure_memory(event) {
        Some((before, after)) => println!(
            "peak RSS of a fresh process, {label} ({:.2} MB): {:.1} MB with the event read, {:.1} MB after \
             normalizing it (example spec, gzip 1)",
            event.len() as f64 / 1e6,
            before as f64 / 1024.0,
            after as f64 / 1024.0
        ),
        None => println!("peak RSS: could not be measured (no /proc/self/status?)"),
    }
}

fn main() {
    if let Ok(path) = std::env::var(MEMORY_ENV) {
        memory_child(&path);
        return;
    }
    let event = ddb_lake_synth::event_of_size(EVENT_BYTES, 1);
    let records = split_event(&event).expect("the generated event is an event").len();
    let example = LakeSpec::from_toml(EXAMPLE_SPEC, "example").expect("example spec");
    let default_spec = LakeSpec::default();

    println!("event: {:.2} MB, {records} records", event.len() as f64 / 1e6);
    report_memory("the 6 MB event", &event);
    report_memory("1,000 records on 1,000 days", &thousand_days_event());
    let widest = widest_item_event(ddb_lake_synth::WIDEST_LEGAL_LIST);
    report_memory("the widest legal item (2 KB + 1 KB keys, 130,000 numbers)", &widest);
    let normalizer = Normalizer::new(&example, Some(b"bench-redaction-key")).expect("normalizer").with_gzip_level(1);
    let mut rows = 0;
    let t = median_time(|| {
        let out = normalizer.normalize_event(&widest, &BatchOptions::default()).expect("normalize");
        rows = out.rows_per_table.iter().map(|(_, n)| n).sum::<u64>();
        black_box(out);
    });
    println!("the widest legal item ({rows} rows, 130,002 of them 6 KB): {:.0} ms", t.as_secs_f64() * 1e3);

    let wide = wide_modify_event(40_000);
    let normalizer = Normalizer::new(&example, Some(b"bench-redaction-key")).expect("normalizer").with_gzip_level(1);
    let mut rows = 0;
    let t = median_time(|| {
        let out = normalizer.normalize_event(&wide, &BatchOptions::default()).expect("normalize");
        rows = out.rows_per_table.iter().map(|(_, n)| n).sum::<u64>();
        black_box(out);
    });
    assert!(rows > 40_000, "the MODIFY is written, not quarantined");
    println!(
        "one MODIFY of 40,000 top-level attributes ({:.2} MB, {rows} rows): {:.1} ms",
        wide.len() as f64 / 1e6,
        t.as_secs_f64() * 1e3
    );

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

    every_core(&example);
}

/// `ddb-lake normalize` of a 100 MB events file into a folder, with 1 job and with every core:
/// its time (median), throughput and the speed-up.
fn every_core(spec: &LakeSpec) {
    let events: Vec<String> = (0..17).map(|seed| ddb_lake_synth::event_of_size(EVENT_BYTES, 100 + seed)).collect();
    let bytes: usize = events.iter().map(String::len).sum();
    let records: usize = events.iter().map(|e| split_event(e).expect("an event").len()).sum();
    let normalizer = Normalizer::new(spec, Some(b"bench-redaction-key")).expect("normalizer").with_gzip_level(1);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let mut times = Vec::new();
    for jobs in [1, cores] {
        let sink = LocalDirSink::new(dir.path().join(format!("jobs-{jobs}")));
        let t = median_time(|| {
            ddb_lake_writer::parallel::in_order(
                &events,
                jobs,
                |e| normalizer.normalize_event(e, &BatchOptions::default()),
                |out| {
                    rt.block_on(async {
                        for o in &out.objects {
                            sink.put(&o.key, &o.body).await.expect("write");
                        }
                    });
                    Ok(())
                },
            )
            .expect("normalize");
        });
        report(
            &format!("every core: {:.0} MB file, example spec, {jobs} job(s)", bytes as f64 / 1e6),
            bytes,
            records,
            t,
        );
        times.push(t);
    }
    println!("every core: {:.2}x with {cores} jobs", times[0].as_secs_f64() / times[1].as_secs_f64());
}
