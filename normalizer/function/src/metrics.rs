//! The function's CloudWatch metrics, written as Embedded Metric Format documents (one
//! JSON line each on stdout, which Lambda sends to CloudWatch Logs, where CloudWatch turns
//! them into metrics). Built once at cold start ([`Metrics::new`]) and called by `main`
//! after every batch ([`Metrics::batch_done`]). The documents are typed here, field by
//! field, in the shape of CloudWatch's EMF specification: `_aws` metadata (timestamp, and
//! one directive with the namespace, the dimension set and each metric's name and unit),
//! then the dimension and metric values as top-level members.

use ddb_lake_writer::delivery::BatchReport;
use serde::Serialize;

/// A metric's unit, as CloudWatch names it.
#[derive(Debug, Clone, Copy, Serialize)]
enum Unit {
    Count,
    Bytes,
    Milliseconds,
}

/// A metric that a document carries: its name and unit.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricDefinition {
    name: &'static str,
    unit: Unit,
}

/// The metrics of the per-batch document, in the order of [`BatchDocument`]'s values.
const BATCH_METRICS: &[MetricDefinition] = &[
    MetricDefinition { name: "RecordsIn", unit: Unit::Count },
    MetricDefinition { name: "RecordsQuarantined", unit: Unit::Count },
    MetricDefinition { name: "CellsRejected", unit: Unit::Count },
    MetricDefinition { name: "RecordsFailed", unit: Unit::Count },
    MetricDefinition { name: "ObjectsWritten", unit: Unit::Count },
    MetricDefinition { name: "BytesWritten", unit: Unit::Bytes },
    MetricDefinition { name: "StreamLagMs", unit: Unit::Milliseconds },
];
/// The metric of the per-table document.
const TABLE_METRICS: &[MetricDefinition] = &[MetricDefinition { name: "RowsOut", unit: Unit::Count }];

/// The metrics of the canary document.
const CANARY_METRICS: &[MetricDefinition] = &[
    MetricDefinition { name: "CanaryRecords", unit: Unit::Count },
    MetricDefinition { name: "CanaryLagMs", unit: Unit::Milliseconds },
];

/// The canary's heartbeat records of a batch whose rows were written (dimension
/// `FunctionName`): how many, and the most time one took from the table to the lake.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct CanaryDocument<'a> {
    #[serde(rename = "_aws")]
    aws: Metadata<'a>,
    function_name: &'a str,
    canary_records: usize,
    canary_lag_ms: i64,
}

/// One metric directive: where the metrics go and which members are dimensions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricDirective<'a> {
    namespace: &'a str,
    dimensions: [&'static [&'static str]; 1],
    metrics: &'static [MetricDefinition],
}

/// The `_aws` member of a document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Metadata<'a> {
    timestamp: i64,
    cloud_watch_metrics: [MetricDirective<'a>; 1],
}

/// Per batch: records in, quarantined, cells rejected, records failed, objects and bytes
/// written, stream lag.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchDocument<'a> {
    #[serde(rename = "_aws")]
    aws: Metadata<'a>,
    function_name: &'a str,
    records_in: usize,
    records_quarantined: usize,
    cells_rejected: u64,
    records_failed: usize,
    objects_written: usize,
    bytes_written: usize,
    stream_lag_ms: i64,
}

/// Per table of a batch: rows out (dimensions `FunctionName` and `Table`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct TableDocument<'a> {
    #[serde(rename = "_aws")]
    aws: Metadata<'a>,
    function_name: &'a str,
    table: &'a str,
    rows_out: u64,
}

/// The function's metrics: the namespace and the function's name, fixed at cold start.
#[derive(Debug, Clone)]
pub struct Metrics {
    namespace: String,
    function_name: String,
}

impl Metrics {
    /// Metrics in `namespace` (the configuration's `DDB_LAKE_METRICS_NAMESPACE`) for the
    /// function `function_name` (the `FunctionName` dimension).
    pub fn new(namespace: &str, function_name: &str) -> Self {
        Metrics { namespace: namespace.to_owned(), function_name: function_name.to_owned() }
    }

    /// The EMF documents (one JSON line each) for a batch that finished at `now_millis`:
    /// one for the batch, then one per table with its rows out. The stream lag is the age of
    /// the batch's oldest record.
    pub fn batch_done(&self, report: &BatchReport, now_millis: i64) -> Vec<String> {
        let metadata = |dimensions: &'static [&'static str], metrics: &'static [MetricDefinition]| Metadata {
            timestamp: now_millis,
            cloud_watch_metrics: [MetricDirective { namespace: &self.namespace, dimensions: [dimensions], metrics }],
        };
        let lag = report.output.event_times.iter().map(|t| now_millis - t).max().unwrap_or(0).max(0);
        let batch = BatchDocument {
            aws: metadata(&["FunctionName"], BATCH_METRICS),
            function_name: &self.function_name,
            records_in: report.output.records,
            records_quarantined: report.output.quarantined.len(),
            cells_rejected: report.output.cells_rejected(),
            records_failed: report.records_failed(),
            objects_written: report.objects_written,
            bytes_written: report.bytes_written,
            stream_lag_ms: lag,
        };
        let mut lines = vec![to_line(&batch)];
        for (table, rows) in &report.output.rows_per_table {
            lines.push(to_line(&TableDocument {
                aws: metadata(&["FunctionName", "Table"], TABLE_METRICS),
                function_name: &self.function_name,
                table,
                rows_out: *rows,
            }));
        }
        lines
    }
}

impl Metrics {
    /// The canary's document: `records` heartbeat records written, written `lag_ms` at most
    /// after they were (their ApproximateCreationDateTime).
    pub fn canary_done(&self, records: usize, lag_ms: i64, now_millis: i64) -> String {
        to_line(&CanaryDocument {
            aws: Metadata {
                timestamp: now_millis,
                cloud_watch_metrics: [MetricDirective {
                    namespace: &self.namespace,
                    dimensions: [&["FunctionName"]],
                    metrics: CANARY_METRICS,
                }],
            },
            function_name: &self.function_name,
            canary_records: records,
            canary_lag_ms: lag_ms.max(0),
        })
    }
}

/// One document as one line. These types hold only strings and numbers, which always
/// serialize.
fn to_line(document: &impl Serialize) -> String {
    serde_json::to_string(document).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddb_lake_writer::batch::BatchOutput;
    use ddb_lake_writer::sink::SinkError;
    use serde_json::Value;

    /// Four records over two days, the last two to be retried, 3 objects (1234 bytes) written.
    fn report() -> BatchReport {
        BatchReport {
            response: Default::default(),
            output: BatchOutput {
                records: 4,
                event_times: vec![1_700_000_000_000, 1_700_000_001_000, 1_700_100_000_000, 1_700_100_001_000],
                rows_per_table: vec![("changes".into(), 4), ("attributes".into(), 9), ("_rejects".into(), 2)],
                ..BatchOutput::default()
            },
            failed_objects: vec![SinkError {
                key: "attributes/dt=2023-11-16/x.tsv.gz".into(),
                source: "injected".into(),
            }],
            first_failed_record: Some(2),
            objects_written: 3,
            bytes_written: 1234,
        }
    }

    #[test]
    fn one_document_per_batch_and_one_per_table() {
        let now = 1_700_100_001_000 + 5_000;
        let lines = Metrics::new("DdbLake", "fn").batch_done(&report(), now);
        assert_eq!(lines.len(), 4, "the batch, then changes, attributes and _rejects");
        let batch: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(batch["RecordsFailed"], 2);
        assert_eq!(batch["RecordsIn"], 4);
        // The oldest record's age: now − 1_700_000_000_000.
        assert_eq!(batch["StreamLagMs"], 100_001_000 + 5_000);
        assert_eq!(
            batch,
            serde_json::json!({
                "_aws": {
                    "Timestamp": 1_700_100_006_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "DdbLake",
                        "Dimensions": [["FunctionName"]],
                        "Metrics": [
                            {"Name": "RecordsIn", "Unit": "Count"},
                            {"Name": "RecordsQuarantined", "Unit": "Count"},
                            {"Name": "CellsRejected", "Unit": "Count"},
                            {"Name": "RecordsFailed", "Unit": "Count"},
                            {"Name": "ObjectsWritten", "Unit": "Count"},
                            {"Name": "BytesWritten", "Unit": "Bytes"},
                            {"Name": "StreamLagMs", "Unit": "Milliseconds"}
                        ]
                    }]
                },
                "FunctionName": "fn",
                "RecordsIn": 4,
                "RecordsQuarantined": 0,
                "CellsRejected": 2,
                "RecordsFailed": 2,
                "ObjectsWritten": 3,
                "BytesWritten": 1234,
                "StreamLagMs": 100_006_000
            })
        );
        let attributes: Value = serde_json::from_str(&lines[2]).unwrap();
        assert_eq!(
            attributes,
            serde_json::json!({
                "_aws": {
                    "Timestamp": 1_700_100_006_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "DdbLake",
                        "Dimensions": [["FunctionName", "Table"]],
                        "Metrics": [{"Name": "RowsOut", "Unit": "Count"}]
                    }]
                },
                "FunctionName": "fn",
                "Table": "attributes",
                "RowsOut": 9
            })
        );
    }
}
