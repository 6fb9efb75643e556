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
//! It also reports the peak resident memory of one end-to-end run (VmHWM), measured first,
//! before the timing loops grow the heap.

use std::hint::black_box;
use std::time::{Duration, Instant};

use normalizer::batch::{normalize_event, BatchOptions};
use normalizer::flatten::Flattener;
use normalizer::record::{decode_event_fast, decode_record, split_event};
use normalizer::schema::table_schemas;
use normalizer::spec::LakeSpec;

const EVENT_BYTES: usize = 6_000_000;
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

fn main() {
    let event = normalizer::synth::event_of_size(EVENT_BYTES, 1);
    let records = split_event(&event).expect("the generated event is an event").len();
    let example = LakeSpec::from_toml(include_str!("../../docs/examples/sync-configurations.toml"), "example")
        .expect("example spec");
    let default_spec = LakeSpec::default();

    // Peak memory of one end-to-end run, before anything else allocates.
    let before = vm_hwm_kb();
    {
        let f = Flattener::new(&example, Some(b"bench-redaction-key")).expect("flattener");
        let out =
            normalize_event(&f, &table_schemas(&example), 1, &event, &BatchOptions::default()).expect("normalize");
        black_box(out);
    }
    let after = vm_hwm_kb();

    println!("event: {:.2} MB, {records} records", event.len() as f64 / 1e6);
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "peak RSS: {:.1} MB after generating the event, {:.1} MB after one end-to-end run (example spec, gzip 1)",
            b as f64 / 1024.0,
            a as f64 / 1024.0
        );
    }

    let t = median_time(|| {
        let e: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(&event).expect("parse");
        black_box(e);
    });
    report("parse only: aws_lambda_events Event", event.len(), records, t);

    let t = median_time(|| {
        black_box(decode_event_fast(&event).expect("decode"));
    });
    report("parse only: normalizer decoder (one pass)", event.len(), records, t);

    let t = median_time(|| {
        for raw in split_event(&event).expect("split") {
            black_box(decode_record(raw.get()).expect("decode"));
        }
    });
    report("parse only: record by record (poison path)", event.len(), records, t);

    for (label, spec) in [("no spec", &default_spec), ("example spec", &example)] {
        let f = Flattener::new(spec, Some(b"bench-redaction-key")).expect("flattener");
        let tables = table_schemas(spec);
        for level in [0u32, 1, 6] {
            let mut out_bytes = 0;
            let t = median_time(|| {
                let out = normalize_event(&f, &tables, level, &event, &BatchOptions::default()).expect("normalize");
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
