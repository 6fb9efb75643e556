//! The error of the embedded engine ([`crate::local`] and the tables it reads,
//! [`crate::scan`]): a lake folder or object that cannot be read, a statement the engine
//! refuses, a malformed SQL file.

use std::path::PathBuf;

use crate::files;

/// A local engine problem.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The lake folder cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An object does not follow the row format.
    #[error("{path} does not follow the row format: {message}")]
    Format {
        /// The object.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The SQL engine refused or failed a statement.
    #[error("{context}: {source}")]
    Sql {
        /// What was being run.
        context: String,
        /// The engine's error.
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A SQL file is malformed.
    #[error(transparent)]
    File(#[from] files::SqlFileError),
}
