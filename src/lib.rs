//! The parts of the `ddb-lake` command-line tool that its tests use too.
//!
//! The command itself (argument handling, one module per subcommand) is the binary in
//! `main.rs`; the lake's code lives in the workspace's library crates.
#![deny(missing_docs)]

pub mod allocator;
pub mod stream_reader;
