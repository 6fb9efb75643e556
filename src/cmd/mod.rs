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

/// The bytes of an input: a file mapped into memory, or what was read (stdin, or a file that
/// cannot be mapped).
pub enum InputBytes {
    /// The file's pages as the page cache holds them.
    Mapped(memmap2::Mmap),
    /// Read into memory.
    Read(Vec<u8>),
}

impl InputBytes {
    fn bytes(&self) -> &[u8] {
        match self {
            InputBytes::Mapped(map) => map,
            InputBytes::Read(bytes) => bytes,
        }
    }

    /// The text: UTF-8, without the byte order mark some editors put first (it is not part
    /// of the JSON). Anything else is refused naming the line and column.
    pub fn text(&self, name: &str) -> anyhow::Result<&str> {
        utf8_text(self.bytes(), name)
    }
}

/// Reads a whole file, or stdin for `-`; the second value names it in messages.
///
/// A file is mapped, not read: a 100 MB events file read into fresh memory cost a fifth of
/// `ddb-lake normalize`'s time on a one-job run (the kernel zeroing the new pages before the
/// copy), where a mapping hands over the pages the page cache already holds, as each thread
/// reaches them.
pub fn read_input(path: &Path) -> anyhow::Result<(InputBytes, String)> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).context("cannot read events from stdin")?;
        return Ok((InputBytes::Read(bytes), "<stdin>".to_owned()));
    }
    let name = path.display().to_string();
    let cannot = || format!("cannot read events from {name}");
    let file = std::fs::File::open(path).with_context(cannot)?;
    let is_file = file.metadata().with_context(cannot)?.is_file();
    // SAFETY: the map is only read, and the events file is assumed not to change while the
    // command runs (as ripgrep and other readers of large files assume of theirs): a program
    // that truncated it meanwhile would stop this one with SIGBUS, and one that rewrote its
    // bytes after the UTF-8 check (`InputBytes::text`) could hand the parsers text that is
    // not UTF-8. A file being written should be normalized once it is complete.
    match is_file.then(|| unsafe { memmap2::Mmap::map(&file) }) {
        Some(Ok(map)) => Ok((InputBytes::Mapped(map), name)),
        // A FIFO or another special file, an empty file on some systems, or no mmap at all.
        _ => {
            let mut bytes = Vec::new();
            (&file).read_to_end(&mut bytes).with_context(cannot)?;
            Ok((InputBytes::Read(bytes), name))
        }
    }
}

/// The text of an input file: UTF-8, without the byte order mark some editors put first (it
/// is not part of the JSON). Anything else is refused naming the line and column.
fn utf8_text<'b>(bytes: &'b [u8], name: &str) -> anyhow::Result<&'b str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        anyhow::bail!(
            "{name}: starts with a UTF-16 byte order mark: events are UTF-8 JSON; convert the file \
             (e.g. iconv -f UTF-16 -t UTF-8)"
        );
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
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
