//! # normalizer
//!
//! Turns DynamoDB stream records into gzip'd, tab-delimited rows that Athena reads, laid out
//! under Hive-style day partitions exactly as they are stored in S3.
//!
//! A [`batch::Normalizer`], built once from the spec, turns each batch (a Lambda event) into
//! its objects ([`batch::Normalizer::normalize_event`]): its records are
//! decoded without loss ([`record`]), flattened into the `changes`, `attributes` and
//! declared tables ([`flatten`]), encoded and named by the lake's definitions in
//! [`lake_core`] (columns from `lake_core::schema`, the row format `lake_core::rowfmt`,
//! deterministic keys `lake_core::object_key`). A [`sink`] writes them. The spec
//! (`lake_core::spec`) drives it all.
//!
//! ```
//! use lake_core::spec::LakeSpec;
//! use normalizer::batch::{BatchOptions, Normalizer};
//!
//! let spec = LakeSpec::default();
//! let normalizer = Normalizer::new(&spec, None).unwrap();
//! let event = r#"{"Records":[{"eventID":"1","eventName":"INSERT","dynamodb":{
//!   "ApproximateCreationDateTime":1700000000,"Keys":{"pk":{"S":"a"}},
//!   "NewImage":{"pk":{"S":"a"},"n":{"N":"12345678901234567890123456789012345678"}},
//!   "SequenceNumber":"100","SizeBytes":20,"StreamViewType":"NEW_AND_OLD_IMAGES"}}]}"#;
//! let out = normalizer.normalize_event(event, &BatchOptions::default()).unwrap();
//! assert_eq!(out.objects[0].key.as_str(), "changes/dt=2023-11-14/local_100_100.tsv.gz");
//! assert_eq!(out.rows_per_table[1], ("attributes".to_string(), 2));
//! ```
#![deny(missing_docs)]

pub mod batch;
pub mod delivery;
pub mod events_file;
pub mod export;
pub mod flatten;
pub mod record;
pub mod s3;
pub mod sink;
pub mod snapshot;

#[cfg(test)]
mod redaction_property;
