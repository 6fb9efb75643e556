//! `ddb-lake quarantine`: what a local lake's `_quarantine/` holds, and writing those records
//! again with the current spec and writer (`requeue`), through the stream's own path.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::read::MultiGzDecoder;
use lake_core::object_key::QUARANTINE_DIR;
use normalizer::batch::{BatchOptions, Normalizer};
use normalizer::sink::{LakeSink, LocalDirSink};
use serde_json::Value;

use super::{load_spec, redaction_key};

/// `ddb-lake quarantine` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum QuarantineCommand {
    /// List the quarantine objects of a local lake: each record's sequence number and reason.
    List {
        /// The lake folder (it mirrors s3://bucket/prefix/).
        #[arg(long, value_name = "DIR", default_value = "lake")]
        lake: PathBuf,
    },
    /// Normalize the quarantined records of a local lake again, with the current spec and
    /// writer, through the stream's own path; their rows are written under names of their own
    /// (`requeue-<quarantine object>_…`), then each quarantine object keeps only the records that
    /// still fail, or is removed. Run it after a fix (see docs/operations.md); running it
    /// again changes no answer.
    Requeue {
        /// The lake folder (it mirrors s3://bucket/prefix/).
        #[arg(long, value_name = "DIR", default_value = "lake")]
        lake: PathBuf,
        /// Lake spec (TOML), the one the lake is written with now.
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
    },
}

/// Runs a subcommand.
pub fn run(command: QuarantineCommand) -> anyhow::Result<()> {
    match command {
        QuarantineCommand::List { lake } => list(&lake),
        QuarantineCommand::Requeue { lake, spec } => requeue(&lake, spec.as_deref()),
    }
}

/// The quarantine objects of `lake`, sorted, each with its stem and lines.
fn quarantine_objects(lake: &Path) -> anyhow::Result<Vec<(PathBuf, String, Vec<Value>)>> {
    let dir = lake.join(QUARANTINE_DIR);
    if !lake.is_dir() {
        anyhow::bail!("{} is not a lake folder (give the folder normalize, replay or backfill wrote)", lake.display());
    }
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(out) };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let Some(stem) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".jsonl.gz")) else {
            continue;
        };
        let mut text = String::new();
        MultiGzDecoder::new(std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?)
            .read_to_string(&mut text)
            .with_context(|| format!("{} is not a gzip'd quarantine object", path.display()))?;
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<Vec<Value>, _>>()
            .with_context(|| format!("{} holds a line that is not JSON", path.display()))?;
        out.push((path.clone(), stem.to_owned(), lines));
    }
    Ok(out)
}

fn list(lake: &Path) -> anyhow::Result<()> {
    let objects = quarantine_objects(lake)?;
    let mut total = 0;
    for (path, _, lines) in &objects {
        println!("{} ({} records)", path.display(), lines.len());
        for l in lines {
            println!(
                "  {}  {}",
                l["sequenceNumber"].as_str().unwrap_or("(no sequence number)"),
                l["reason"].as_str().unwrap_or("(no reason)")
            );
        }
        total += lines.len();
    }
    println!("{total} quarantined records in {} objects under {}/{QUARANTINE_DIR}/", objects.len(), lake.display());
    Ok(())
}

fn requeue(lake: &Path, spec: Option<&Path>) -> anyhow::Result<()> {
    let spec = load_spec(spec)?;
    let key = redaction_key(&spec);
    let normalizer = Normalizer::new(&spec, key.as_deref())?;
    let sink = LocalDirSink::new(lake);
    let rt = tokio::runtime::Builder::new_current_thread().build().context("cannot start the I/O runtime")?;
    let (mut written, mut still, mut kept, mut objects) = (0usize, 0usize, 0usize, 0usize);
    for (path, stem, lines) in quarantine_objects(lake)? {
        if stem.starts_with("snapshot_") {
            println!("{}: items of a snapshot: run the backfill of that export again instead", path.display());
            kept += lines.len();
            continue;
        }
        // A hashed value is stored as its hash: written again it would be hashed twice.
        let (hashed, records): (Vec<Value>, Vec<Value>) = lines
            .into_iter()
            .partition(|l| l["redacted"].as_array().is_some_and(|r| r.iter().any(|e| e["action"] == "hash")));
        kept += hashed.len();
        if records.is_empty() {
            continue;
        }
        let event =
            serde_json::json!({ "Records": records.iter().map(|l| l["record_json"].clone()).collect::<Vec<_>>() });
        let out = normalizer
            .normalize_event(&event.to_string(), &BatchOptions { source: Some(format!("requeue-{stem}")) })
            .with_context(|| format!("{} does not hold stream records", path.display()))?;
        rt.block_on(async {
            for o in out.objects.iter().filter(|o| o.table.is_some()) {
                sink.put(&o.key, &o.body).await?;
            }
            Ok::<_, normalizer::sink::SinkError>(())
        })?;
        objects += out.objects.iter().filter(|o| o.table.is_some()).count();
        written += records.len() - out.quarantined.len();
        still += out.quarantined.len();
        // Only now that the rows are written: keep what still fails (its lines as the writer
        // quarantines them today) and what could not be requeued, or remove the object.
        let mut rest = Vec::new();
        if let Some(q) = out.objects.iter().find(|o| o.table.is_none()) {
            let mut text = String::new();
            MultiGzDecoder::new(q.body.as_slice()).read_to_string(&mut text)?;
            for l in text.lines() {
                // Keep the record's place in its original batch, so a second run writes the
                // same object.
                let mut line: Value = serde_json::from_str(l)?;
                let at = line["index"].as_u64().unwrap_or_default() as usize;
                line["index"] = records.get(at).map_or(Value::Null, |r| r["index"].clone());
                rest.extend_from_slice(line.to_string().as_bytes());
                rest.push(b'\n');
            }
        }
        for l in &hashed {
            rest.extend_from_slice(l.to_string().as_bytes());
            rest.push(b'\n');
        }
        if rest.is_empty() {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            println!("removed {QUARANTINE_DIR}/{stem}.jsonl.gz (every record written)");
        } else {
            println!("kept {QUARANTINE_DIR}/{stem}.jsonl.gz with the records that still fail");
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(spec.gzip_level));
            gz.write_all(&rest)?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, gz.finish()?).with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))?;
        }
    }
    println!(
        "requeued {written} records into {objects} objects; {still} still fail and stay quarantined; \
         {kept} not requeued (hashed values, or snapshot items)"
    );
    Ok(())
}
