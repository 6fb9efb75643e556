//! `ddb-lake replay`: read a DynamoDB stream directly and push its records through the
//! function's code path, to S3 or a local folder.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;

use anyhow::Context;
use ddb_lake::stream_reader::{continue_after, read_stream, CatchUp, StartAt};
use ddb_lake_writer::batch::BatchOptions;
use ddb_lake_writer::delivery::{process_event, Pipeline};
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::s3::{Encryption, S3Sink};
use ddb_lake_writer::sink::{LakeSink, LocalDirSink};

use super::progress::Progress;
use super::{load_spec, redaction_key};

/// Arguments of `ddb-lake replay`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("destination").args(["out", "bucket", "spec"]).required(true).multiple(true)))]
pub struct Args {
    /// ARN of the table's stream (DescribeTable's LatestStreamArn).
    #[arg(long, value_name = "ARN")]
    stream_arn: String,
    /// Lake spec (TOML); its [lake] location is the destination unless --out or --bucket
    /// names another. One of --out, --bucket and --spec is required: replay never writes to
    /// a default place.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Start after this sequence number instead of at the oldest record (TRIM_HORIZON).
    #[arg(long, value_name = "SEQUENCE_NUMBER")]
    after: Option<String>,
    /// Write to this local folder instead of S3.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["bucket", "prefix"])]
    out: Option<PathBuf>,
    /// Bucket to write to (default: the spec's lake location).
    #[arg(long)]
    bucket: Option<String>,
    /// Key prefix (default: the spec's lake location).
    #[arg(long)]
    prefix: Option<String>,
    /// Records per batch (GetRecords limit), like the event source mapping's batch size.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i32).range(1..=1000))]
    batch_size: i32,
    /// An open shard whose last record is not from the last minute is read until this many
    /// empty pages in a row (GetRecords may answer empty pages before records further in the
    /// shard; a closed shard is always read to its end, and an open one stops 3 empty pages
    /// after a record from the last minute).
    #[arg(long, default_value_t = CatchUp::default().max_empty_pages, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_empty_pages: u32,
    /// Endpoint URL for DynamoDB Streams and S3, e.g. http://127.0.0.1:5000 for moto_server
    /// (also sets path-style S3 addressing). Default: AWS_ENDPOINT_URL, else AWS.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// AWS region (default: AWS_REGION / the profile, else us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// Shards read at a time. Their GetRecords calls wait on the network together, and each
    /// holds one page in memory; the objects are the same whatever the number (a page's are
    /// named after its shard and records).
    #[arg(long, default_value_t = DEFAULT_JOBS, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Print no progress (a counter with the rate on a terminal, a line per batch and per
    /// shard otherwise); the summary still goes to stdout.
    #[arg(long, short)]
    quiet: bool,
}

/// Shards read at a time by default: a stream of a busy table has a few open shards and their
/// closed parents; reading is network-bound (DynamoDB Streams serves a shard 5 GetRecords
/// calls a second), so more shards than cores are read at once.
const DEFAULT_JOBS: u16 = 4;

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = load_spec(args.spec.as_deref())?;
    let key = redaction_key(&spec);
    let pipeline = Pipeline::new(Normalizer::new(&spec, key.as_deref())?);
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the I/O runtime")?;
    rt.block_on(async {
        let aws = super::aws_config(args.endpoint_url.as_deref(), args.region.as_deref()).await;
        let streams = aws_sdk_dynamodbstreams::Client::new(&aws);
        let start = match &args.after {
            Some(s) => StartAt::After(s.clone()),
            None => StartAt::TrimHorizon,
        };
        match &args.out {
            Some(dir) => {
                let sink = LocalDirSink::new(dir);
                replay(&streams, &args, &start, &pipeline, &sink, &dir.display().to_string()).await
            }
            None => {
                let s3 = super::s3_client(&aws, args.endpoint_url.is_some());
                let bucket = args.bucket.clone().unwrap_or_else(|| spec.location.bucket.clone());
                let prefix = args.prefix.clone().unwrap_or_else(|| spec.location.prefix.clone());
                if !args.quiet {
                    eprintln!("replaying into s3://{bucket}/{prefix}");
                }
                let sink = S3Sink::new(s3, &bucket, &prefix, None, Encryption::BucketDefault);
                replay(&streams, &args, &start, &pipeline, &sink, &format!("s3://{bucket}/{prefix}")).await
            }
        }
    })
}

async fn replay<S: LakeSink + Sync>(
    streams: &aws_sdk_dynamodbstreams::Client,
    args: &Args,
    start: &StartAt,
    pipeline: &Pipeline<'_>,
    sink: &S,
    destination: &str,
) -> anyhow::Result<()> {
    // Shared by the page futures (polled on this one thread, one at a time).
    let (batches, objects, quarantined) = (Cell::new(0usize), Cell::new(0usize), Cell::new(0usize));
    let progress = RefCell::new(Progress::new(args.quiet));
    progress.borrow_mut().start_open("records", &format!("replaying into {destination}"));
    let catch_up = CatchUp { max_empty_pages: args.max_empty_pages, ..CatchUp::default() };
    let jobs = usize::from(args.jobs);
    let read = read_stream(streams, &args.stream_arn, start, args.batch_size, catch_up, jobs, |page| {
        let options = BatchOptions { source: Some(page.shard_id.clone()) };
        let (batches, objects, quarantined, progress) = (&batches, &objects, &quarantined, &progress);
        async move {
            let report = process_event(pipeline, sink, &page.event_json, &options).await?;
            if let Some(failed) = report.failed_objects.first() {
                let resume = report.response.batch_item_failures[0].item_identifier.clone().unwrap_or_default();
                anyhow::bail!(
                    "{failed}\nrecords from sequence number {resume} of shard {} on were not written",
                    page.shard_id
                );
            }
            batches.set(batches.get() + 1);
            objects.set(objects.get() + report.objects_written);
            quarantined.set(quarantined.get() + report.output.quarantined.len());
            let progress = progress.borrow();
            progress.inc(page.records as u64);
            progress.line(&format!(
                "shard {}: {} records → {} objects",
                page.shard_id, page.records, report.objects_written
            ));
            Ok(())
        }
    })
    .await;
    // Every shard's line, whether the stream was read through or stopped at an error.
    let mut progress = progress.into_inner();
    progress.finish();
    for shard in match &read {
        Ok(shards) => shards,
        Err(failure) => &failure.shards,
    } {
        progress.println(&shard.to_string());
    }
    let shards = match read {
        Ok(shards) => shards,
        Err(failure) => {
            let after = match failure.resume_after(start) {
                Some(seq) => format!(" with --after {seq}"),
                None => match start {
                    StartAt::After(seq) => format!(" with --after {seq} (where this run started)"),
                    StartAt::TrimHorizon => " from the oldest record, as this run did".to_owned(),
                },
            };
            return Err(failure.error.context(format!(
                "replay stopped: run again{after} once the cause below is fixed (every record up to \
                 there is in the lake; records after it that were written are written again, which \
                 the views' de-duplication absorbs)"
            )));
        }
    };
    let records: usize = shards.iter().map(|s| s.records).sum();
    let (batches, objects, quarantined) = (batches.get(), objects.get(), quarantined.get());
    let last_seq = continue_after(&shards);
    outln!("replayed {records} records in {batches} batches into {destination}: {objects} objects, {quarantined} quarantined")?;
    if let Some(seq) = last_seq {
        outln!("to continue later: ddb-lake replay --stream-arn {} --after {seq} ...", args.stream_arn)?;
    }
    Ok(())
}
