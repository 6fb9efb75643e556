//! Shared by the integration tests: a real `moto_server` on 127.0.0.1 (S3, Glue, DynamoDB
//! Streams, … over HTTP), started per test process on a free port and stopped on drop.
//!
//! Variables: `DDB_LAKE_MOTO_SERVER` names the moto_server executable (default: the one on
//! PATH; `./scripts/test` installs it with pip when it is missing). A missing server is a
//! loud failure that says how to install it, never a skipped test.
#![allow(dead_code)]

pub mod fault_proxy;
pub mod fixtures;
pub mod http;
pub mod lambda_api;
pub mod stub_streams;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment for a child process that talks to a local stand-in for AWS: test
/// credentials, a region, and neither instance metadata nor the user's profile files.
pub const LOCAL_AWS_ENV: [(&str, &str); 6] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/dev/null"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
];

/// Every file under `dir` (a local lake, an export folder): its path relative to `dir`, with
/// `/` between folders → its bytes.
pub fn tree(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Runs the `ddb-lake` binary built for these tests with `args` and returns what it did.
pub fn ddb_lake(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ddb-lake")).args(args).output().expect("the ddb-lake binary runs")
}

/// Runs `ddb-lake` with `args`, fails the test (with both outputs) unless it succeeds, and
/// returns its stdout.
pub fn ddb_lake_ok(args: &[&str]) -> String {
    let out = ddb_lake(args);
    assert!(
        out.status.success(),
        "ddb-lake {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("ddb-lake writes UTF-8")
}

/// A running moto_server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts moto_server on a free loopback port and waits until it answers.
    pub fn start() -> Moto {
        let exe = std::env::var("DDB_LAKE_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `{exe}` ({e}). The AWS tests need moto's server: install it with \
                     `python3 -m pip install 'moto[server]>=5,<6'` (./scripts/test does this), \
                     or point DDB_LAKE_MOTO_SERVER at the executable"
                )
            });
        let mut moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}") };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited at start-up with {status}");
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return moto;
            }
            assert!(Instant::now() < deadline, "moto_server did not listen on {addr} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// POSTs JSON to moto's own API (`/moto-api/...`); panics unless it answers 2xx.
    pub fn post_api(&self, path: &str, body: &str) {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("connect to moto");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send to moto");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read moto's answer");
        let status: u16 = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        assert!((200..300).contains(&status), "moto answered {path} with: {response}");
    }

    /// Environment for a `ddb-lake` child process that talks to this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        LOCAL_AWS_ENV.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    }

    /// A Glue client for this server.
    pub fn glue(&self) -> aws_sdk_glue::Client {
        let conf = aws_sdk_glue::Config::builder()
            .behavior_version(aws_sdk_glue::config::BehaviorVersion::latest())
            .region(aws_sdk_glue::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_glue::config::Credentials::new("testing", "testing", None, None, "tests"))
            .build();
        aws_sdk_glue::Client::from_conf(conf)
    }
}

/// Builds an SDK config for a local endpoint with test credentials.
macro_rules! local_client {
    ($krate:ident, $endpoint:expr) => {{
        let conf = $krate::Config::builder()
            .behavior_version($krate::config::BehaviorVersion::latest())
            .region($krate::config::Region::new("us-east-1"))
            .endpoint_url($endpoint)
            .credentials_provider($krate::config::Credentials::new("testing", "testing", None, None, "tests"));
        conf
    }};
}

impl Moto {
    /// An S3 client (path-style) for `endpoint` (this server, or a proxy in front of it).
    pub fn s3_at(endpoint: &str) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(local_client!(aws_sdk_s3, endpoint).force_path_style(true).build())
    }

    /// An S3 client for this server.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        Self::s3_at(&self.endpoint)
    }

    /// A DynamoDB client for this server.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(local_client!(aws_sdk_dynamodb, &self.endpoint).build())
    }

    /// A Secrets Manager client for this server.
    pub fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(local_client!(aws_sdk_secretsmanager, &self.endpoint).build())
    }

    /// A DynamoDB Streams client for this server.
    pub fn streams(&self) -> aws_sdk_dynamodbstreams::Client {
        aws_sdk_dynamodbstreams::Client::from_conf(local_client!(aws_sdk_dynamodbstreams, &self.endpoint).build())
    }
}

/// The Lambda function binary, built next to the test executables
/// (`./scripts/test` builds it first: `cargo build --workspace --all-targets`).
///
/// `cargo test --test lambda` does not build it (it belongs to another package), so after
/// an edit the one in the target folder may be the code as it was: the binary must be newer
/// than every source it is built from ([`FUNCTION_SOURCES`]), or the test fails saying so.
pub fn normalizer_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>/deps/..");
    let bin = dir.join("ddb-lake-normalizer");
    let build = "build it with `cargo build --workspace --all-targets` (./scripts/test does this)";
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {build}", bin.display()));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources: Vec<std::path::PathBuf> = FUNCTION_SOURCES.iter().map(|s| root.join(s)).collect();
    if let Some(newer) = source_newer_than(built, &sources) {
        panic!(
            "{} is older than {}: it would test the code as it was before that change; {build}",
            bin.display(),
            newer.display()
        );
    }
    bin
}

/// What the function binary is built from: its crate, the crates it links, the lock file.
pub const FUNCTION_SOURCES: [&str; 8] = [
    "normalizer/function/src",
    "normalizer/function/Cargo.toml",
    "normalizer/writer/src",
    "normalizer/writer/Cargo.toml",
    "normalizer/core/src",
    "normalizer/core/Cargo.toml",
    "Cargo.toml",
    "Cargo.lock",
];

/// A file among `sources` changed after `built`, if there is one: the files named, and the
/// `.rs` files in the folders named (other files there, a README, do not make cargo build
/// again, so they do not count).
pub fn source_newer_than(built: std::time::SystemTime, sources: &[std::path::PathBuf]) -> Option<std::path::PathBuf> {
    let mut stack: Vec<std::path::PathBuf> = sources.to_vec();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_dir() {
            let entries = std::fs::read_dir(&path).into_iter().flatten().flatten().map(|e| e.path());
            stack.extend(entries.filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "rs")));
        } else if meta.modified().is_ok_and(|m| m > built) {
            return Some(path);
        }
    }
    None
}

/// Peak resident memory (VmHWM, kB) of a running process.
pub fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmHWM value")
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
