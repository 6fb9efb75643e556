//! The function's CloudWatch metrics, written as Embedded Metric Format documents (one
//! JSON line each on stdout, which Lambda sends to CloudWatch Logs). Called by `main` after
//! every batch.

use normalizer::function::BatchReport;
use serde_json::json;

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
    use normalizer::batch::BatchOutput;
    use serde_json::Value;

    /// Four records over two days, the last two to be retried, 3 objects (1234 bytes) written.
    fn report() -> BatchReport {
        BatchReport {
            response: Default::default(),
            output: BatchOutput {
                records: 4,
                event_times: vec![1_700_000_000_000, 1_700_000_001_000, 1_700_100_000_000, 1_700_100_001_000],
                rows_per_table: vec![("changes".into(), 4), ("attributes".into(), 9)],
                ..BatchOutput::default()
            },
            failed_objects: vec![("attributes/dt=2023-11-16/x.tsv.gz".into(), "injected".into())],
            first_failed_record: Some(2),
            objects_written: 3,
            bytes_written: 1234,
        }
    }

    #[test]
    fn one_document_per_batch_and_one_per_table() {
        let now = 1_700_100_001_000 + 5_000;
        let lines = emf_lines(&report(), "DdbLake", "fn", now);
        assert_eq!(lines.len(), 3);
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
