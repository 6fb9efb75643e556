//! The Lambda function: DynamoDB stream batches → the lake in S3.
//!
//! Cold start: read the configuration from the environment once (README, "The function"),
//! load the spec, read the redaction key from Secrets Manager when the spec hashes, build the
//! S3 client, then serve events through the Lambda Runtime API.
//! Each event goes through `ddb_lake_writer::delivery::process_event`, the same code path as
//! `ddb-lake replay`; an event of the backfill state machine (plan, one data file of an
//! export, finish) goes to `backfill.rs`, the same library calls as `ddb-lake backfill`. A bad configuration fails the init (Lambda reports it) with a message
//! that names the variable and the fix.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use ddb_lake_writer::batch::BatchOptions;
use ddb_lake_writer::delivery::{process_event_until, Pipeline};
use ddb_lake_writer::normalizer::Normalizer;
use ddb_lake_writer::s3::S3Sink;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;

mod backfill;
mod canary;
mod config;
mod metrics;
mod xray;

use config::FunctionConfig;
use metrics::Metrics;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What every invocation uses, built once at cold start (it borrows the spec, which `main`
/// owns for the life of the process).
struct State<'s> {
    pipeline: Pipeline<'s>,
    sink: S3Sink,
    /// The S3 client (the backfill worker reads exports with it).
    s3: aws_sdk_s3::Client,
    /// The spec's `backfill.margin_seconds`.
    margin_seconds: u32,
    metrics: Metrics,
    tracer: xray::Tracer,
    config: FunctionConfig,
}

fn epoch_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

async fn handle(state: &State<'_>, event: LambdaEvent<Box<RawValue>>) -> Result<serde_json::Value, Error> {
    // A step of the backfill state machine (plan, one data file of an export, finish).
    if let Some(job) = backfill::BackfillEvent::of(event.payload.get()) {
        let backfill = backfill::Backfill {
            normalizer: &state.pipeline.normalizer,
            margin_seconds: state.margin_seconds,
            s3: &state.s3,
            sink: &state.sink,
            export_location: state.config.export_location.as_ref(),
        };
        return backfill.run(&job?);
    }
    // Writes still running at the invocation's deadline less the margin are abandoned and
    // reported, so that Lambda gets an answer (and retries from the right record) rather
    // than a timeout of the whole batch.
    let left = Duration::from_millis(event.context.deadline.saturating_sub(epoch_millis()));
    let deadline = Instant::now() + state.config.write_time(left);
    // Sampled by X-Ray: every S3 write is a subsegment (and the cold start's secret read
    // goes with the first such invocation).
    let trace = event.context.xray_trace_id.as_deref().and_then(xray::TraceContext::of_header);
    let options = BatchOptions::default();
    let report = match &trace {
        Some(context) => {
            state.tracer.flush_pending(context);
            let traced = xray::TracedSink { inner: &state.sink, tracer: &state.tracer, context };
            process_event_until(&state.pipeline, &traced, event.payload.get(), &options, Some(deadline)).await?
        }
        None => {
            process_event_until(&state.pipeline, &state.sink, event.payload.get(), &options, Some(deadline)).await?
        }
    };
    let now = epoch_millis() as i64;
    for line in state.metrics.batch_done(&report, now) {
        println!("{line}");
    }
    if let Some(key) = &state.config.canary_key {
        let written = report.first_failed_record.unwrap_or(usize::MAX);
        let quarantined: Vec<usize> = report.output.quarantined.iter().map(|q| q.index).collect();
        let heartbeats: Vec<i64> = canary::heartbeats(event.payload.get(), key)
            .into_iter()
            .filter(|(index, _)| *index < written && !quarantined.contains(index))
            .map(|(_, millis)| millis)
            .collect();
        if let Some(oldest) = heartbeats.iter().min() {
            println!("{}", state.metrics.canary_done(heartbeats.len(), now - oldest, now));
        }
    }
    let out = &report.output;
    for q in &out.quarantined {
        // The reason can quote a value: it goes to the quarantine object, not to the log;
        // its kind holds none.
        tracing::warn!(
            record = q.index,
            reason = q.kind,
            sequence_number = q.sequence_number.as_deref(),
            event_id = q.event_id.as_deref(),
            "record quarantined"
        );
    }
    for failed in &report.failed_objects {
        tracing::error!(key = failed.key.as_str(), error = %failed.source, "object not written; its records will be retried");
    }
    // Objects written per table (the Logs Insights query "objects written per table").
    let mut per_table: std::collections::BTreeMap<&str, usize> = Default::default();
    for o in out.objects.iter().filter(|o| !report.failed_objects.iter().any(|f| f.key.ends_with(o.key.as_str()))) {
        *per_table.entry(o.table.as_deref().unwrap_or("_quarantine")).or_default() += 1;
    }
    for (table, objects) in per_table {
        tracing::info!(table, objects, "objects written");
    }
    tracing::info!(
        records = out.records,
        quarantined = out.quarantined.len(),
        objects = report.objects_written,
        bytes = report.bytes_written,
        retry_from = report.response.batch_item_failures.first().and_then(|f| f.item_identifier.as_deref()),
        "batch done"
    );
    Ok(serde_json::to_value(&report.response)?)
}

/// The redaction key, read once at cold start from the Secrets Manager secret `secret` (name
/// or ARN): its string, or its binary value. The key is never logged.
async fn redaction_key(aws: &aws_config::SdkConfig, secret: &str) -> Result<Vec<u8>, Error> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let out = client.get_secret_value().secret_id(secret).send().await.map_err(|e| {
        format!(
            "cannot read the redaction key from the secret {secret}: {} (the function's role needs \
             secretsmanager:GetSecretValue on it)",
            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
        )
    })?;
    match (out.secret_string(), out.secret_binary()) {
        (Some(s), _) => Ok(s.as_bytes().to_vec()),
        (None, Some(b)) => Ok(b.as_ref().to_vec()),
        (None, None) => Err(format!("the secret {secret} holds no value").into()),
    }
}

// Two threads: the backfill worker blocks one (block_in_place) while the other drives I/O.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    lambda_runtime::tracing::init_default_subscriber();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message names the variable or the secret and the fix: print it as such
            // (Lambda logs stderr), not as the error's Debug form.
            tracing::error!(error = %e, "cold start failed");
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let config = FunctionConfig::from_env()?;
    let spec = config.load_spec()?;
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let tracer = xray::Tracer::from_env();
    let normalizer = if spec.needs_redaction_key() {
        let secret = config.redaction_key_secret.as_deref().ok_or(config::ConfigError::NoRedactionKeySecret)?;
        let span = xray::Span::start();
        let key = redaction_key(&aws, secret).await;
        tracer.secret_read(span.end(), key.is_ok());
        let key = key?;
        Normalizer::with_key_from(&spec, Some(&key), &format!("the secret {secret}"))?
    } else {
        Normalizer::new(&spec, None)?
    };
    let (bucket, prefix) = config.location(&spec);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws)
            .force_path_style(config.force_path_style)
            .timeout_config(config.s3_timeouts.config())
            .build(),
    );
    let state = State {
        pipeline: Pipeline::new(normalizer).with_max_concurrent_uploads(config.max_concurrent_uploads),
        s3: s3.clone(),
        margin_seconds: spec.snapshot_margin_seconds,
        sink: S3Sink::new(s3, &bucket, &prefix, config.quarantine_prefix.as_deref(), config.encryption.clone()),
        metrics: Metrics::new(&config.metrics_namespace, &config.function_name),
        tracer,
        config,
    };
    tracing::info!(
        bucket = bucket.as_str(),
        prefix = prefix.as_str(),
        tables = state.pipeline.normalizer.tables().len(),
        "ready"
    );
    let state = &state;
    lambda_runtime::run(service_fn(move |event| handle(state, event))).await
}
