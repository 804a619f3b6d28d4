//! The binary's error type: what went wrong, in words a user can act on.

use datafusion::error::DataFusionError;
use dyntag_core::CatalogError;

/// Errors of the command line and the engine.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Catalog(#[from] CatalogError),
    #[error("{}", clean(.0))]
    Query(#[from] DataFusionError),
    /// The command's arguments ask for something that cannot be done (a missing option,
    /// nothing to import, an evaluation without labels).
    #[error("{0}")]
    Usage(String),
    /// A file or value the user gave could not be read or decoded (an image, a TLS key).
    #[error("{0}")]
    Input(String),
    /// Something dyntag needs from the machine, or a program outside it, is missing or
    /// failed (ffmpeg, a benchmark's anchor script, a port, the terminal).
    #[error("{0}")]
    Environment(String),
    /// A broken invariant of dyntag itself (a worker panicked): a bug.
    #[error("internal error: {0}")]
    Internal(String),
    /// Part of the work was done; the rest is reported and left undone.
    #[error("{0}")]
    Incomplete(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// The user-facing text of a DataFusion error: our own errors come back whole, and
/// DataFusion's context wrappers ("Error during planning: ...") are kept short.
fn clean(e: &DataFusionError) -> String {
    match e {
        DataFusionError::External(inner) => inner.to_string(),
        DataFusionError::Context(ctx, inner) => format!("{ctx}: {}", clean(inner)),
        DataFusionError::Diagnostic(_, inner) => clean(inner),
        DataFusionError::Shared(inner) => clean(inner),
        other => other.to_string(),
    }
}

impl AppError {
    /// The process exit status for this error: 2 for a command used wrongly (as clap does
    /// for bad arguments), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            _ => 1,
        }
    }

    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result type of the binary.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl From<datafusion::arrow::error::ArrowError> for AppError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Self::Query(e.into())
    }
}

impl From<datafusion::parquet::errors::ParquetError> for AppError {
    fn from(e: datafusion::parquet::errors::ParquetError) -> Self {
        Self::Query(e.into())
    }
}
