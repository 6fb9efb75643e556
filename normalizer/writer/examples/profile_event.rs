//! Normalizes one generated 6 MB Lambda event again and again, for a profiler.
//!
//! ```text
//! cargo build --profile bench -p ddb-lake-writer --example profile_event
//! valgrind --tool=callgrind $CARGO_TARGET_DIR/release/examples/profile_event example 3
//! ```
//!
//! Arguments: `none` or `example` (the documented example spec), the number of runs (default
//! 20), and the gzip level (default 1). Prints the event's size and the median time per run,
//! so that a change can be weighed by instructions (callgrind) and by time.

use std::hint::black_box;
use std::time::Instant;

use ddb_lake_core::spec::LakeSpec;
use ddb_lake_writer::batch::BatchOptions;
use ddb_lake_writer::normalizer::Normalizer;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXAMPLE_SPEC: &str = include_str!("../../../docs/examples/sync-configurations.toml");

fn main() {
    let mut args = std::env::args().skip(1);
    let spec = match args.next().as_deref() {
        None | Some("example") => LakeSpec::from_toml(EXAMPLE_SPEC, "example").expect("example spec"),
        Some("none") => LakeSpec::default(),
        Some(other) => panic!("unknown spec `{other}`: use `none` or `example`"),
    };
    let runs: usize = args.next().map_or(20, |n| n.parse().expect("runs: a number"));
    let level: u32 = args.next().map_or(1, |n| n.parse().expect("gzip level: 0-9"));
    let event = ddb_lake_synth::event_of_size(6_000_000, 1);
    let normalizer = Normalizer::new(&spec, Some(b"bench-redaction-key")).expect("normalizer").with_gzip_level(level);
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        black_box(normalizer.normalize_event(&event, &BatchOptions::default()).expect("normalize"));
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "{:.2} MB event, {runs} runs, median {:.2} ms ({:.1} MB/s)",
        event.len() as f64 / 1e6,
        median.as_secs_f64() * 1e3,
        event.len() as f64 / 1e6 / median.as_secs_f64()
    );
}
