//! The lake core: the lake's definitions that the writer, the catalog, the SQL crate and the
//! `ddb-lake` command all read. The crate documentation below is `normalizer/core/README.md`,
//! so its example runs as a doc test.
//!
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod number;
pub mod object_key;
pub mod path;
pub mod rowfmt;
pub mod rows;
pub mod schema;
pub mod secret_names;
pub mod spec;
