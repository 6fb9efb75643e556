//! # ddb-lake-sql
//!
//! The lake's versioned SQL and the engines that run it.
//!
//! - [`files`]: the views and canned questions under `sql/`, their headers, typed
//!   parameters and the version manifest;
//! - [`views`]: `current_<table>` views for the spec's declared tables;
//! - [`named_queries`]: every view and question exactly as Athena gets it, in creation
//!   order (for `ddb-lake sql export` and `sql create-views`);
//! - [`local`]: the embedded engine (DataFusion) reading a local lake through the same
//!   table definitions glue-schema gives Glue;
//! - [`scan`]: a lake table as a DataFusion table that streams its objects and prunes days;
//! - [`parquet`]: the Parquet tables of compaction as DataFusion tables;
//! - [`columns`]: lake columns as Arrow types and arrays; [`error`]: the engine's error;
//! - [`compaction`]: folding a local lake's text into Parquet history and a state;
//! - [`compaction_sql`]: the statements of a compaction run, for Athena and the embedded engine;
//! - [`athena`]: running a question in Athena;
//! - [`render`]: answers as aligned tables with bar charts, CSV or JSON;
//! - [`report`]: answers as one self-contained HTML page with a chart per question.
#![deny(missing_docs)]

pub mod athena;
pub mod columns;
pub mod compaction;
pub mod compaction_sql;
pub mod error;
pub mod files;
pub mod local;
pub mod named_queries;
pub mod parquet;
mod prefilter;
pub mod render;
pub mod report;
pub mod scan;
pub mod views;
