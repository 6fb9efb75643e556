//! The stream event fixtures in `tests/fixtures/events/`: Lambda DynamoDB events, one file per
//! case, in the exact shape Lambda delivers (`tests/stream_events.rs` checks the shape against
//! `aws_lambda_events`' own examples and what each one writes). Tests that need a variant load
//! a fixture and change it as JSON, so no test writes an event by hand.

use std::path::{Path, PathBuf};

/// The folder of the event fixtures.
pub fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events")
}

/// The path of one event fixture (`insert.json`, ...); fails the test if it does not exist.
pub fn event_path(name: &str) -> PathBuf {
    let path = events_dir().join(name);
    assert!(path.is_file(), "no event fixture {}", path.display());
    path
}

/// One event fixture, as JSON.
pub fn event(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(event_path(name)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

/// The first record of an event fixture, to build variants of.
pub fn record(name: &str) -> serde_json::Value {
    event(name)["Records"][0].clone()
}

/// An event holding `records`.
pub fn event_of(records: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({ "Records": records })
}

/// A variant of `record`: its sequence number (and event id) set to `seq`.
pub fn with_sequence(mut record: serde_json::Value, seq: &str) -> serde_json::Value {
    record["dynamodb"]["SequenceNumber"] = seq.into();
    record["eventID"] = format!("e{seq}").into();
    record
}
