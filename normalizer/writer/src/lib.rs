//! # ddb-lake-writer
//!
//! Turns DynamoDB stream records (and the items of a table's export) into gzip'd,
//! tab-delimited rows that Athena reads, laid out under Hive-style day partitions exactly as
//! they are stored in S3.
//!
//! A [`normalizer::Normalizer`], built once from the spec, turns each batch (a Lambda event)
//! into its objects ([`normalizer::Normalizer::normalize_event`], in [`batch`]) and each data
//! file of an export into snapshot rows ([`snapshot`]): records are decoded without loss
//! ([`record`]), flattened into the `changes`, `attributes` and declared tables
//! ([`flatten`]) with the spec's [`redaction`] applied, and the records that cannot be are
//! kept with their reason ([`quarantine`]). Rows are encoded and named by the lake's
//! definitions in [`ddb_lake_core`] (columns from `ddb_lake_core::schema`, the row format
//! `ddb_lake_core::rowfmt`, deterministic keys `ddb_lake_core::object_key`). A [`sink`]
//! writes them ([`s3`] in AWS), and [`delivery`] answers Lambda with the records to retry.
//!
//! ```
//! use ddb_lake_core::spec::LakeSpec;
//! use ddb_lake_writer::batch::BatchOptions;
//! use ddb_lake_writer::normalizer::Normalizer;
//!
//! let spec = LakeSpec::default();
//! let normalizer = Normalizer::new(&spec, None).unwrap();
//! // A Lambda event: one INSERT of a sync configuration with 16 leaves.
//! let event = include_str!("../../../tests/fixtures/events/insert.json");
//! let out = normalizer.normalize_event(event, &BatchOptions { source: Some("shard-1".into()) }).unwrap();
//! assert_eq!(
//!     out.objects[0].key.as_str(),
//!     "changes/dt=2026-11-05/shard-1_98000000000000000000001_98000000000000000000001.tsv.gz"
//! );
//! assert_eq!(out.rows_per_table[1], ("attributes".to_string(), 16));
//! ```
#![deny(missing_docs)]

pub mod assembler;
pub mod batch;
pub mod chain;
pub mod delivery;
pub mod events_file;
pub mod export;
pub mod flatten;
mod gzip;
pub mod normalizer;
pub mod parallel;
pub mod quarantine;
pub mod record;
pub mod redaction;
pub mod s3;
pub mod sink;
pub mod snapshot;

#[cfg(test)]
mod redaction_property;

/// The stream event fixtures of `tests/fixtures/events/` (Lambda events, one file per case)
/// for this crate's unit tests: a test that needs a variant changes a fixture record as JSON.
#[cfg(test)]
pub(crate) mod test_events {
    /// The first record of the fixture `name` (`insert.json`, ...).
    pub fn record(name: &str) -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/events").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let event: serde_json::Value = serde_json::from_str(&text).unwrap();
        event["Records"][0].clone()
    }

    /// The text of the first record of the fixture `name`, as it is in the file.
    pub fn record_text(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/events").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        crate::record::split_event(&text).unwrap()[0].get().to_owned()
    }

    /// A variant of `record` with sequence number (and event id) `seq`.
    pub fn with_sequence(mut record: serde_json::Value, seq: &str) -> serde_json::Value {
        record["dynamodb"]["SequenceNumber"] = seq.into();
        record["eventID"] = format!("e{seq}").into();
        record
    }

    /// The text of an event holding `records`.
    pub fn event_of(records: Vec<serde_json::Value>) -> String {
        serde_json::json!({ "Records": records }).to_string()
    }
}
