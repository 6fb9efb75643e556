//! One batch end to end: normalize it, write its objects, and answer Lambda with the
//! partial batch failures.
//!
//! The function (`normalizer/function`, binary `ddb-lake-normalizer`) builds a [`Pipeline`]
//! once at cold start and calls [`process_event`] for every event; `ddb-lake replay` and
//! `ddb-lake demo` call the same function. Nothing here reads the environment:
//! configuration comes in as values.
//!
//! Delivery: every record of a batch ends up in the lake, in quarantine, or at or after
//! the sequence number reported in `batchItemFailures`. Lambda retries from the lowest
//! reported sequence number, so only the first record whose rows were not durably written
//! is reported; records before it are never reported, and records after it are retried
//! with it (their objects have deterministic keys, and views deduplicate by sequence number).

use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use crate::batch::{BatchOptions, BatchOutput, EventError};
use crate::normalizer::Normalizer;
use crate::sink::{write_all, LakeSink, SinkError};

/// Default number of uploads in flight per batch.
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 8;
/// Everything a batch needs that is built once.
pub struct Pipeline<'s> {
    /// The writer (spec, redaction key, tables, gzip level).
    pub normalizer: Normalizer<'s>,
    /// Uploads in flight per batch.
    pub max_concurrent_uploads: usize,
}

impl<'s> Pipeline<'s> {
    /// The pipeline around `normalizer`, with [`DEFAULT_MAX_CONCURRENT_UPLOADS`].
    pub fn new(normalizer: Normalizer<'s>) -> Self {
        Pipeline { normalizer, max_concurrent_uploads: DEFAULT_MAX_CONCURRENT_UPLOADS }
    }

    /// The same pipeline with at most `n` uploads in flight per batch (at least one).
    pub fn with_max_concurrent_uploads(mut self, n: usize) -> Self {
        self.max_concurrent_uploads = n.max(1);
        self
    }
}

/// What happened to one batch.
#[derive(Debug)]
pub struct BatchReport {
    /// The answer to Lambda.
    pub response: DynamoDbEventResponse,
    /// What the batch produced (object bodies dropped after writing).
    pub output: BatchOutput,
    /// Objects that could not be written: each one's key and why.
    pub failed_objects: Vec<SinkError>,
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
    process_event_until(pipeline, sink, event_json, options, None).await
}

/// [`process_event`] with a deadline (the function's: the invocation's deadline less a
/// margin for answering): a write not finished by then is abandoned and counts as not
/// written, so the answer names its first record and reaches Lambda before it times out.
pub async fn process_event_until<S: LakeSink + Sync>(
    pipeline: &Pipeline<'_>,
    sink: &S,
    event_json: &str,
    options: &BatchOptions,
    deadline: Option<std::time::Instant>,
) -> Result<BatchReport, EventError> {
    let mut output = pipeline.normalizer.normalize_event(event_json, options)?;
    let results = write_all(sink, &output.objects, pipeline.max_concurrent_uploads, deadline).await;
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
                failed_objects.push(e);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::SinkError;
    use ddb_lake_core::object_key::ObjectKey;
    use ddb_lake_core::spec::LakeSpec;
    use std::sync::Mutex;

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

    /// The insert fixture's record with sequence number `seq`, at `day_secs`.
    fn rec(seq: u32, day_secs: u32) -> serde_json::Value {
        let mut r = crate::test_events::with_sequence(crate::test_events::record("insert.json"), &seq.to_string());
        r["dynamodb"]["ApproximateCreationDateTime"] = day_secs.into();
        r
    }

    #[tokio::test]
    async fn first_unwritten_record_is_reported() {
        let spec = LakeSpec::default();
        let pipeline =
            Pipeline::new(Normalizer::new(&spec, None).unwrap().with_gzip_level(1)).with_max_concurrent_uploads(2);
        // Records 0-1 on day one, 2-3 on day two; day two's attributes object fails.
        let ev = crate::test_events::event_of(vec![
            rec(10, 1_700_000_000),
            rec(11, 1_700_000_001),
            rec(12, 1_700_100_000),
            rec(13, 1_700_100_001),
        ]);
        let sink = FlakySink { fail: vec!["attributes/dt=2023-11-16"], written: Mutex::new(Vec::new()) };
        let report = process_event(&pipeline, &sink, &ev, &BatchOptions::default()).await.unwrap();
        assert_eq!(report.first_failed_record, Some(2));
        assert_eq!(report.response.batch_item_failures[0].item_identifier.as_deref(), Some("12"));
        assert_eq!(report.records_failed(), 2);
        assert_eq!(sink.written.lock().unwrap().len(), 3);
        assert_eq!(report.output.records, 4);
        assert_eq!(report.output.event_times.iter().max(), Some(&1_700_100_001_000));

        // Everything written: no failures.
        let sink = FlakySink { fail: vec![], written: Mutex::new(Vec::new()) };
        let report = process_event(&pipeline, &sink, &ev, &BatchOptions::default()).await.unwrap();
        assert!(report.response.batch_item_failures.is_empty());
    }

    /// A sink whose writes of keys starting with `stall` never finish.
    struct StallingSink {
        stall: &'static str,
        written: Mutex<Vec<String>>,
    }

    impl LakeSink for StallingSink {
        async fn put(&self, key: &ObjectKey, _body: &[u8]) -> Result<(), SinkError> {
            if key.as_str().starts_with(self.stall) {
                std::future::pending::<()>().await;
            }
            self.written.lock().unwrap().push(key.to_string());
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_write_unfinished_at_the_deadline_is_reported_as_not_written() {
        let spec = LakeSpec::default();
        let pipeline = Pipeline::new(Normalizer::new(&spec, None).unwrap());
        let ev =
            crate::test_events::event_of(vec![rec(10, 1_700_000_000), rec(11, 1_700_100_000), rec(12, 1_700_200_000)]);
        let shard = BatchOptions { source: Some("shard-1".into()) };
        // Day two's changes object stalls; the five others are written.
        let sink = StallingSink { stall: "changes/dt=2023-11-16", written: Mutex::new(Vec::new()) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(300);
        let report = process_event_until(&pipeline, &sink, &ev, &shard, Some(deadline)).await.unwrap();
        assert!(std::time::Instant::now() >= deadline);
        assert_eq!(report.first_failed_record, Some(1));
        assert_eq!(report.response.batch_item_failures[0].item_identifier.as_deref(), Some("11"));
        assert_eq!(sink.written.lock().unwrap().len(), 5);
        let failed: Vec<(&str, String)> =
            report.failed_objects.iter().map(|e| (e.key.as_str(), e.to_string())).collect();
        assert_eq!(
            failed,
            [(
                "changes/dt=2023-11-16/shard-1_10_12.tsv.gz",
                "cannot write changes/dt=2023-11-16/shard-1_10_12.tsv.gz: the batch's deadline passed before the write finished"
                    .to_string()
            )]
        );
        assert!(report.failed_objects[0].source.is::<crate::sink::DeadlinePassed>());

        // A deadline already passed: nothing is started, the whole batch is retried.
        let sink = StallingSink { stall: "none", written: Mutex::new(Vec::new()) };
        let past = std::time::Instant::now();
        let report = process_event_until(&pipeline, &sink, &ev, &BatchOptions::default(), Some(past)).await.unwrap();
        assert!(sink.written.lock().unwrap().is_empty());
        assert_eq!(report.first_failed_record, Some(0));
        assert_eq!(report.response.batch_item_failures[0].item_identifier.as_deref(), Some("10"));
    }
}
