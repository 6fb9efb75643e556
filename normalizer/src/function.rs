//! The Lambda function's logic: configuration, one batch end to end, partial batch
//! failures and metrics.
//!
//! The binary (`src/bin/ddb-lake-normalizer.rs`) reads [`FunctionConfig`] once at cold
//! start, builds the clients and a [`Pipeline`], and calls [`process_event`] for every
//! event; `ddb-lake replay` calls the same function. Nothing here reads the environment:
//! configuration comes in as values.
//!
//! Delivery: every record of a batch ends up in the lake, in quarantine, or at or after
//! the sequence number reported in `batchItemFailures`. Lambda retries from the lowest
//! reported sequence number, so only the first record whose rows were not durably written
//! is reported; records before it are never reported, and records after it are retried
//! with it (their objects have deterministic keys, and views deduplicate by sequence number).

use std::path::PathBuf;

use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde_json::json;

use crate::batch::{BatchOptions, BatchOutput, EventError, Normalizer};
use crate::s3::Encryption;
use crate::sink::{write_all, LakeSink};
use lake_core::spec::{LakeSpec, SpecError};

/// Default number of uploads in flight per batch.
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 8;
/// Default CloudWatch namespace of the EMF metrics.
pub const DEFAULT_METRICS_NAMESPACE: &str = "DdbLake";

/// Where the spec comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecSource {
    /// A file (`DDB_LAKE_SPEC_PATH`).
    Path(PathBuf),
    /// TOML text (`DDB_LAKE_SPEC`).
    Inline(String),
    /// No spec: `changes` and `attributes` only (then `DDB_LAKE_BUCKET` is required).
    Default,
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable has a value it cannot take.
    #[error("{name}={value:?} is not valid: {fix}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        fix: &'static str,
    },
    /// Both ways of giving the spec were used.
    #[error("set DDB_LAKE_SPEC_PATH or DDB_LAKE_SPEC, not both")]
    TwoSpecs,
    /// Without a spec there is no lake location.
    #[error("no lake location: set DDB_LAKE_BUCKET (and DDB_LAKE_PREFIX), or give a spec with [lake] location")]
    NoBucket,
    /// The spec is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// The function's settings, read once at cold start (see the README's table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionConfig {
    /// The lake spec.
    pub spec: SpecSource,
    /// Bucket, overriding the spec's location.
    pub bucket: Option<String>,
    /// Key prefix, overriding the spec's location.
    pub prefix: Option<String>,
    /// Prefix for quarantined records (default `<prefix>/_quarantine`).
    pub quarantine_prefix: Option<String>,
    /// Server-side encryption header on every object.
    pub encryption: Encryption,
    /// Uploads in flight per batch.
    pub max_concurrent_uploads: usize,
    /// Path-style S3 addressing (for local endpoints).
    pub force_path_style: bool,
    /// CloudWatch namespace of the EMF metrics.
    pub metrics_namespace: String,
}

impl FunctionConfig {
    /// Reads the settings through `get` (the environment, in the binary).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let spec =
            match (get("DDB_LAKE_SPEC_PATH").filter(|s| !s.is_empty()), get("DDB_LAKE_SPEC").filter(|s| !s.is_empty()))
            {
                (Some(_), Some(_)) => return Err(ConfigError::TwoSpecs),
                (Some(p), None) => SpecSource::Path(p.into()),
                (None, Some(t)) => SpecSource::Inline(t),
                (None, None) => SpecSource::Default,
            };
        let sse = get("DDB_LAKE_SSE").unwrap_or_default();
        let encryption = Encryption::parse(&sse).ok_or(ConfigError::Invalid {
            name: "DDB_LAKE_SSE",
            value: sse.clone(),
            fix: "use AES256, aws:kms, aws:kms:<key id or ARN>, or leave it empty for the bucket default",
        })?;
        let max_concurrent_uploads = match get("DDB_LAKE_MAX_CONCURRENT_UPLOADS") {
            None => DEFAULT_MAX_CONCURRENT_UPLOADS,
            Some(v) => v.parse().ok().filter(|n| (1..=64).contains(n)).ok_or(ConfigError::Invalid {
                name: "DDB_LAKE_MAX_CONCURRENT_UPLOADS",
                value: v,
                fix: "a whole number from 1 to 64",
            })?,
        };
        let force_path_style = match get("DDB_LAKE_S3_FORCE_PATH_STYLE").as_deref() {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "DDB_LAKE_S3_FORCE_PATH_STYLE",
                    value: v.into(),
                    fix: "true or false",
                })
            }
        };
        Ok(FunctionConfig {
            spec,
            bucket: get("DDB_LAKE_BUCKET").filter(|s| !s.is_empty()),
            prefix: get("DDB_LAKE_PREFIX"),
            quarantine_prefix: get("DDB_LAKE_QUARANTINE_PREFIX").filter(|s| !s.is_empty()),
            encryption,
            max_concurrent_uploads,
            force_path_style,
            metrics_namespace: get("DDB_LAKE_METRICS_NAMESPACE")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.into()),
        })
    }

    /// Loads and validates the spec.
    pub fn load_spec(&self) -> Result<LakeSpec, ConfigError> {
        Ok(match &self.spec {
            SpecSource::Path(p) => LakeSpec::from_file(p)?,
            SpecSource::Inline(t) => LakeSpec::from_toml(t, "DDB_LAKE_SPEC")?,
            SpecSource::Default => {
                if self.bucket.is_none() {
                    return Err(ConfigError::NoBucket);
                }
                LakeSpec::default()
            }
        })
    }

    /// Bucket and prefix: the overrides, else the spec's location.
    pub fn location(&self, spec: &LakeSpec) -> (String, String) {
        (
            self.bucket.clone().unwrap_or_else(|| spec.location.bucket.clone()),
            self.prefix.clone().unwrap_or_else(|| spec.location.prefix.clone()),
        )
    }
}

/// Everything a batch needs that is built once.
pub struct Pipeline<'s> {
    /// The writer (spec, redaction key, tables, gzip level).
    pub normalizer: Normalizer<'s>,
    /// Uploads in flight per batch.
    pub max_concurrent_uploads: usize,
}

/// What happened to one batch.
#[derive(Debug)]
pub struct BatchReport {
    /// The answer to Lambda.
    pub response: DynamoDbEventResponse,
    /// What the batch produced (object bodies dropped after writing).
    pub output: BatchOutput,
    /// Objects that could not be written, with the error.
    pub failed_objects: Vec<(String, String)>,
    /// Index of the first record reported as failed (it and every record after it are retried).
    pub first_failed_record: Option<usize>,
    /// Objects written.
    pub objects_written: usize,
    /// Bytes written.
    pub bytes_written: usize,
}

impl BatchReport {
    /// Records Lambda will deliver again.
    pub fn records_failed(&self) -> usize {
        self.first_failed_record.map(|i| self.output.records - i).unwrap_or(0)
    }
}

/// Normalizes one event and writes its objects; reports the first record whose rows were
/// not durably written. An event that is not an event at all is an error (Lambda retries
/// the whole batch, and then sends it to the on-failure destination).
pub async fn process_event<S: LakeSink + Sync>(
    pipeline: &Pipeline<'_>,
    sink: &S,
    event_json: &str,
    options: &BatchOptions,
) -> Result<BatchReport, EventError> {
    let mut output = pipeline.normalizer.normalize_event(event_json, options)?;
    let results = write_all(sink, &output.objects, pipeline.max_concurrent_uploads).await;
    let mut failed_objects = Vec::new();
    let mut first_failed: Option<usize> = None;
    let (mut objects_written, mut bytes_written) = (0, 0);
    for (o, r) in output.objects.iter().zip(results) {
        match r {
            Ok(()) => {
                objects_written += 1;
                bytes_written += o.body.len();
            }
            Err(e) => {
                first_failed = Some(first_failed.map_or(o.first_record, |f: usize| f.min(o.first_record)));
                failed_objects.push((o.key.to_string(), e.to_string()));
            }
        }
    }
    for o in &mut output.objects {
        o.body = Vec::new();
    }
    let batch_item_failures = match first_failed {
        None => Vec::new(),
        Some(i) => {
            // A record without a sequence number cannot be named: an empty identifier makes
            // Lambda retry the whole batch, which loses nothing.
            let mut f = DynamoDbBatchItemFailure::default();
            f.item_identifier = Some(output.sequence_numbers.get(i).cloned().flatten().unwrap_or_default());
            vec![f]
        }
    };
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = batch_item_failures;
    Ok(BatchReport {
        response,
        output,
        failed_objects,
        first_failed_record: first_failed,
        objects_written,
        bytes_written,
    })
}

/// CloudWatch Embedded Metric Format documents (one JSON line each) for a batch: records
/// in, quarantined and failed records, objects and bytes written, stream lag, and rows out
/// per table (dimension `Table`).
pub fn emf_lines(report: &BatchReport, namespace: &str, function_name: &str, now_millis: i64) -> Vec<String> {
    let lag = report.output.event_times.iter().map(|t| now_millis - t).max().unwrap_or(0).max(0);
    let mut lines = vec![json!({
        "_aws": {
            "Timestamp": now_millis,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["FunctionName"]],
                "Metrics": [
                    {"Name": "RecordsIn", "Unit": "Count"},
                    {"Name": "RecordsQuarantined", "Unit": "Count"},
                    {"Name": "RecordsFailed", "Unit": "Count"},
                    {"Name": "ObjectsWritten", "Unit": "Count"},
                    {"Name": "BytesWritten", "Unit": "Bytes"},
                    {"Name": "StreamLagMs", "Unit": "Milliseconds"}
                ]
            }]
        },
        "FunctionName": function_name,
        "RecordsIn": report.output.records,
        "RecordsQuarantined": report.output.quarantined.len(),
        "RecordsFailed": report.records_failed(),
        "ObjectsWritten": report.objects_written,
        "BytesWritten": report.bytes_written,
        "StreamLagMs": lag,
    })
    .to_string()];
    for (table, rows) in &report.output.rows_per_table {
        lines.push(
            json!({
                "_aws": {
                    "Timestamp": now_millis,
                    "CloudWatchMetrics": [{
                        "Namespace": namespace,
                        "Dimensions": [["FunctionName", "Table"]],
                        "Metrics": [{"Name": "RowsOut", "Unit": "Count"}]
                    }]
                },
                "FunctionName": function_name,
                "Table": table,
                "RowsOut": rows,
            })
            .to_string(),
        );
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::SinkError;
    use lake_core::object_key::ObjectKey;
    use std::collections::HashMap;
    use std::sync::Mutex;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn configuration_is_checked() {
        let c = FunctionConfig::from_vars(vars(&[("DDB_LAKE_BUCKET", "b"), ("DDB_LAKE_SSE", "aws:kms:k1")])).unwrap();
        assert_eq!(c.encryption, Encryption::Kms(Some("k1".into())));
        assert_eq!(c.max_concurrent_uploads, DEFAULT_MAX_CONCURRENT_UPLOADS);
        assert_eq!(c.location(&c.load_spec().unwrap()), ("b".into(), "lake".into()));
        let e = FunctionConfig::from_vars(vars(&[("DDB_LAKE_MAX_CONCURRENT_UPLOADS", "0")])).unwrap_err();
        assert!(e.to_string().contains("DDB_LAKE_MAX_CONCURRENT_UPLOADS"));
        let e = FunctionConfig::from_vars(vars(&[])).unwrap().load_spec().unwrap_err();
        assert!(e.to_string().contains("DDB_LAKE_BUCKET"));
        let e = FunctionConfig::from_vars(vars(&[("DDB_LAKE_SPEC", "[lake]\n")])).unwrap().load_spec().unwrap_err();
        assert!(e.to_string().starts_with("DDB_LAKE_SPEC"), "{e}");
    }

    /// A sink that fails the keys it is told to, and remembers what it wrote.
    struct FlakySink {
        fail: Vec<&'static str>,
        written: Mutex<Vec<String>>,
    }

    impl LakeSink for FlakySink {
        async fn put(&self, key: &ObjectKey, _body: &[u8]) -> Result<(), SinkError> {
            if self.fail.iter().any(|f| key.as_str().starts_with(f)) {
                return Err(SinkError { key: key.to_string(), source: "injected".into() });
            }
            self.written.lock().unwrap().push(key.to_string());
            Ok(())
        }
    }

    fn rec(seq: u32, day_secs: u32) -> String {
        format!(
            r#"{{"eventID":"{seq}","eventName":"INSERT","dynamodb":{{"ApproximateCreationDateTime":{day_secs},"Keys":{{"pk":{{"S":"k{seq}"}}}},"NewImage":{{"pk":{{"S":"k{seq}"}}}},"SequenceNumber":"{seq}","SizeBytes":1}}}}"#
        )
    }

    #[tokio::test]
    async fn first_unwritten_record_is_reported() {
        let spec = LakeSpec::default();
        let pipeline = Pipeline {
            normalizer: Normalizer::new(&spec, None).unwrap().with_gzip_level(1),
            max_concurrent_uploads: 2,
        };
        // Records 0-1 on day one, 2-3 on day two; day two's attributes object fails.
        let ev = format!(
            r#"{{"Records":[{},{},{},{}]}}"#,
            rec(10, 1_700_000_000),
            rec(11, 1_700_000_001),
            rec(12, 1_700_100_000),
            rec(13, 1_700_100_001)
        );
        let sink = FlakySink { fail: vec!["attributes/dt=2023-11-16"], written: Mutex::new(Vec::new()) };
        let report = process_event(&pipeline, &sink, &ev, &BatchOptions::default()).await.unwrap();
        assert_eq!(report.first_failed_record, Some(2));
        assert_eq!(report.response.batch_item_failures[0].item_identifier.as_deref(), Some("12"));
        assert_eq!(report.records_failed(), 2);
        assert_eq!(sink.written.lock().unwrap().len(), 3);
        let lines = emf_lines(&report, "DdbLake", "fn", 1_700_100_001_000 + 5_000);
        let doc: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(doc["RecordsFailed"], 2);
        assert_eq!(doc["RecordsIn"], 4);
        assert_eq!(doc["StreamLagMs"], 100_001_000 + 5_000);
        assert_eq!(lines.len(), 3);

        // Everything written: no failures.
        let sink = FlakySink { fail: vec![], written: Mutex::new(Vec::new()) };
        let report = process_event(&pipeline, &sink, &ev, &BatchOptions::default()).await.unwrap();
        assert!(report.response.batch_item_failures.is_empty());
    }
}
