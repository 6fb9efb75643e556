//! Benchmark: the function's cold start, the time from starting its process to its first
//! `next` request to the Lambda Runtime API (reading the configuration, building the
//! normalizer and the S3 client; no network call on the way with the default spec).
//!
//! Run with `cargo bench -p ddb-lake-function` (release profile). A Runtime API stand-in on
//! 127.0.0.1 takes the request and the process is stopped; 30 starts after 3 to warm the page
//! cache; prints the median, the 90th percentile and the slowest.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const STARTS: usize = 30;
const WARM_UP: usize = 3;
const NEXT: &str = "GET /2018-06-01/runtime/invocation/next ";

/// One start: the time from spawning the process to its `next` request.
fn one_start(listener: &TcpListener) -> Duration {
    let address = listener.local_addr().expect("an address").to_string();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddb-lake-normalizer"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "ddb-lake-normalizer")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("DDB_LAKE_BUCKET", "bench-bucket")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the function binary starts");
    let (stream, _) = listener.accept().expect("the function connects to the Runtime API");
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).expect("a request line");
    let took = started.elapsed();
    assert!(line.starts_with(NEXT), "the first request is `next`, not {line:?}");
    let _ = child.kill();
    let _ = child.wait();
    took
}

fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
    for _ in 0..WARM_UP {
        one_start(&listener);
    }
    let mut times: Vec<Duration> = (0..STARTS).map(|_| one_start(&listener)).collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "cold start to the first `next` request ({STARTS} starts): median {:.1} ms, p90 {:.1} ms, slowest {:.1} ms",
        ms(times[STARTS / 2]),
        ms(times[STARTS * 9 / 10]),
        ms(times[STARTS - 1])
    );
}
