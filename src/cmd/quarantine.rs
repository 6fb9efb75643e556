//! `ddb-lake quarantine`: what a lake's quarantine holds (a local folder or S3), and writing
//! those records again with the current spec and writer (`requeue`), through the stream's own
//! path and the same sinks.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use ddb_lake_core::object_key::ObjectKey;
use ddb_lake_core::spec::LakeSpec;
use ddb_lake_writer::batch::BatchOptions;
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::s3::{Encryption, S3Sink};
use ddb_lake_writer::sink::{LocalDirSink, QuarantineStore};
use flate2::read::MultiGzDecoder;
use serde_json::Value;

use super::{load_spec, redaction_key};

/// Where the lake is: a local folder, or `s3://bucket/prefix`.
#[derive(clap::Args, Debug)]
pub struct LakeArgs {
    /// The lake: a local folder (it mirrors s3://bucket/prefix/), or s3://BUCKET/PREFIX.
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX", default_value = "lake")]
    lake: String,
    /// Quarantine prefix in S3 when it is not PREFIX/_quarantine (the stack's QuarantinePrefix).
    #[arg(long, value_name = "PREFIX")]
    quarantine_prefix: Option<String>,
    /// Endpoint URL for S3, e.g. http://127.0.0.1:5000 for moto_server (also sets path-style
    /// addressing). Default: AWS_ENDPOINT_URL, else AWS.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// AWS region (default: AWS_REGION / the profile, else us-east-1).
    #[arg(long)]
    region: Option<String>,
}

/// `ddb-lake quarantine` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum QuarantineCommand {
    /// List the quarantine objects of a lake (local or in S3): each record's sequence number
    /// and reason.
    List {
        #[command(flatten)]
        lake: LakeArgs,
    },
    /// Normalize the quarantined records of a lake (local or in S3) again, with the current
    /// spec and writer, through the stream's own path and the same sinks; their rows are
    /// written under names of their own (`requeue-<quarantine object>_…`), then each
    /// quarantine object keeps only the records that still fail, or is removed. Run it after a
    /// fix (see docs/operations.md); running it again changes no answer.
    Requeue {
        #[command(flatten)]
        lake: LakeArgs,
        /// Lake spec (TOML), the one the lake is written with now.
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
    },
}

/// Runs a subcommand.
pub fn run(command: QuarantineCommand) -> anyhow::Result<()> {
    let (lake, spec) = match command {
        QuarantineCommand::List { lake } => (lake, None),
        QuarantineCommand::Requeue { lake, spec } => (lake, Some(load_spec(spec.as_deref())?)),
    };
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the I/O runtime")?;
    rt.block_on(async {
        match lake.lake.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    anyhow::bail!("--lake {} names no bucket: write s3://BUCKET/PREFIX", lake.lake);
                }
                let aws = super::aws_config(lake.endpoint_url.as_deref(), lake.region.as_deref()).await;
                let s3 = super::s3_client(&aws, lake.endpoint_url.is_some());
                let store = S3Sink::new(s3, bucket, prefix, lake.quarantine_prefix.as_deref(), Encryption::BucketDefault);
                go(&store, &lake.lake, spec.as_ref()).await
            }
            None => {
                let dir = Path::new(&lake.lake);
                if !dir.is_dir() {
                    anyhow::bail!("{} is not a lake folder (give the folder normalize, replay or backfill wrote, or s3://BUCKET/PREFIX)", dir.display());
                }
                go(&LocalDirSink::new(dir), &lake.lake, spec.as_ref()).await
            }
        }
    })
}

async fn go<S: QuarantineStore + Sync>(store: &S, lake: &str, spec: Option<&LakeSpec>) -> anyhow::Result<()> {
    match spec {
        None => list(store, lake).await,
        Some(spec) => requeue(store, spec).await,
    }
}

/// The quarantine objects of the lake, sorted, each with its key, stem and lines.
async fn quarantine_objects<S: QuarantineStore + Sync>(
    store: &S,
) -> anyhow::Result<Vec<(ObjectKey, String, Vec<Value>)>> {
    let mut out = Vec::new();
    for key in store.quarantine_objects().await? {
        let body = store.get(&key).await?;
        let mut text = String::new();
        MultiGzDecoder::new(body.as_slice())
            .read_to_string(&mut text)
            .with_context(|| format!("{key} is not a gzip'd quarantine object"))?;
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<Vec<Value>, _>>()
            .with_context(|| format!("{key} holds a line that is not JSON"))?;
        let stem = key.as_str().rsplit('/').next().unwrap_or_default().trim_end_matches(".jsonl.gz").to_owned();
        out.push((key, stem, lines));
    }
    Ok(out)
}

async fn list<S: QuarantineStore + Sync>(store: &S, lake: &str) -> anyhow::Result<()> {
    let objects = quarantine_objects(store).await?;
    let mut total = 0;
    for (key, _, lines) in &objects {
        outln!("{key} ({} records)", lines.len())?;
        for l in lines {
            outln!(
                "  {}  {}",
                l["sequenceNumber"].as_str().unwrap_or("(no sequence number)"),
                l["reason"].as_str().unwrap_or("(no reason)")
            )?;
        }
        total += lines.len();
    }
    outln!("{total} quarantined records in {} objects in {lake}", objects.len())?;
    Ok(())
}

async fn requeue<S: QuarantineStore + Sync>(store: &S, spec: &LakeSpec) -> anyhow::Result<()> {
    let key = redaction_key(spec);
    let normalizer = Normalizer::new(spec, key.as_deref())?;
    let (mut written, mut still, mut kept, mut objects) = (0usize, 0usize, 0usize, 0usize);
    for (qkey, stem, lines) in quarantine_objects(store).await? {
        if stem.starts_with("snapshot_") {
            outln!("{qkey}: items of a snapshot: run the backfill of that export again instead")?;
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
            .with_context(|| format!("{qkey} does not hold stream records"))?;
        for o in out.objects.iter().filter(|o| o.table.is_some()) {
            store.put(&o.key, &o.body).await?;
        }
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
            store.delete(&qkey).await?;
            outln!("removed {qkey} (every record written)")?;
        } else {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(spec.gzip_level));
            gz.write_all(&rest)?;
            store.put(&qkey, &gz.finish()?).await?;
            outln!("kept {qkey} with the records that still fail")?;
        }
    }
    outln!(
        "requeued {written} records into {objects} objects; {still} still fail and stay quarantined; \
         {kept} not requeued (hashed values, or snapshot items)"
    )?;
    Ok(())
}
