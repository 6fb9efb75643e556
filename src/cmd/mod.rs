//! The subcommands of `ddb-lake`, one module each.

/// `println!` that hands back the write's error instead of panicking: a reader that goes away
/// (`ddb-lake sql run … | head -1`) ends the command through `?`, and `main` exits quietly
/// with status 0 on a broken pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` that hands back the write's error (see [`outln`]).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

pub mod backfill;
pub mod cat;
pub mod compact;
pub mod demo;
pub mod docs;
pub mod generate;
pub mod normalize;
pub mod progress;
pub mod quarantine;
pub mod replay;
pub mod report;
pub mod schema;
pub mod spec;
pub mod sql;

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use ddb_lake_core::spec::LakeSpec;

/// Reads a whole file, or stdin for `-`.
pub fn read_input(path: &Path) -> anyhow::Result<(String, String)> {
    let (bytes, name) = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).context("cannot read events from stdin")?;
        (bytes, "<stdin>".to_owned())
    } else {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read events from {}", path.display()))?;
        (bytes, path.display().to_string())
    };
    Ok((utf8_text(bytes, &name)?, name))
}

/// The text of an input file: UTF-8, without the byte order mark some editors put first (it
/// is not part of the JSON). Anything else is refused naming the line and column.
fn utf8_text(mut bytes: Vec<u8>, name: &str) -> anyhow::Result<String> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        anyhow::bail!(
            "{name}: starts with a UTF-16 byte order mark: events are UTF-8 JSON; convert the file \
             (e.g. iconv -f UTF-16 -t UTF-8)"
        );
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let line_begins = bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        // Columns in characters: the text before the bad byte is valid UTF-8.
        let column = std::str::from_utf8(&bytes[line_begins..at]).map_or(at - line_begins, |t| t.chars().count()) + 1;
        anyhow::anyhow!(
            "{name}: line {line}, column {column}: byte 0x{:02X} is not UTF-8; events are UTF-8 JSON \
             (convert the file, e.g. iconv -f LATIN1 -t UTF-8)",
            bytes[at]
        )
    })
}

/// The spec from `--spec`, or the default (changes + attributes only).
pub fn load_spec(path: Option<&Path>) -> anyhow::Result<LakeSpec> {
    match path {
        Some(p) => Ok(LakeSpec::from_file(p)?),
        None => Ok(LakeSpec::default()),
    }
}

/// Reads the redaction key from the variable the spec names, when the spec hashes values.
pub fn redaction_key(spec: &LakeSpec) -> Option<Vec<u8>> {
    if !spec.needs_redaction_key() {
        return None;
    }
    std::env::var_os(&spec.redaction_key_env).map(std::ffi::OsString::into_encoded_bytes)
}

/// AWS configuration for the commands that call AWS: region from the flag, else the usual
/// sources, else us-east-1; endpoint from the flag, else `AWS_ENDPOINT_URL`, else AWS.
pub async fn aws_config(endpoint_url: Option<&str>, region: Option<&str>) -> aws_config::SdkConfig {
    let region =
        aws_config::meta::region::RegionProviderChain::first_try(region.map(|r| aws_config::Region::new(r.to_owned())))
            .or_default_provider()
            .or_else("us-east-1");
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).region(region);
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// The S3 client of the commands that write or read a lake in S3 (`replay`, `quarantine`):
/// path-style addressing when an endpoint was given (a local S3), and the function's default
/// time bounds on every call.
pub fn s3_client(aws: &aws_config::SdkConfig, local_endpoint: bool) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(aws)
            .force_path_style(local_endpoint)
            .timeout_config(ddb_lake_writer::s3::S3Timeouts::default().config())
            .build(),
    )
}

/// Human-readable byte count.
pub fn human_bytes(n: usize) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
