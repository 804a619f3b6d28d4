//! The binary's error type: what went wrong, in words a user can act on.

use datafusion::error::DataFusionError;
use dyntag_catalog::CatalogError;

/// Errors of the command line and the engine.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Catalog(#[from] CatalogError),
    #[error("{}", clean(.0))]
    Query(#[from] DataFusionError),
    #[error("{0}")]
    Usage(String),
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
