//! The catalog's one error type. Variants carry the names a user needs to act.

use datafusion::error::DataFusionError;

/// Errors of the catalog: storage, datasets, imports, tag groups, scoring.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The object store failed (I/O, permissions, network).
    #[error("storage error at {path}: {source}")]
    Storage {
        path: String,
        #[source]
        source: object_store::Error,
    },

    /// A storage location could not be understood.
    #[error("invalid data location '{location}': {message}")]
    Location { location: String, message: String },

    /// A stored document is not what this version of dyntag wrote.
    #[error("corrupt document {path}: {message}")]
    CorruptDocument { path: String, message: String },

    /// Someone else committed first; nothing was written.
    #[error(
        "{what} was changed concurrently (now at revision {current}); nothing was written, retry on the current revision"
    )]
    Conflict { what: String, current: u64 },

    /// A named thing does not exist (or is not visible to the caller).
    #[error("{kind} '{name}' not found{hint}")]
    NotFound {
        kind: &'static str,
        name: String,
        hint: String,
    },

    /// A named thing exists already.
    #[error("{kind} '{name}' already exists")]
    AlreadyExists { kind: &'static str, name: String },

    /// A user-supplied name or value breaks a rule; the message says which.
    #[error("{0}")]
    Invalid(String),

    /// An input file was rejected; the message names the file, row and column.
    #[error("{file}: {message}")]
    Import { file: String, message: String },

    /// The caller may see the thing but not do this to it; the message says which role
    /// it needs.
    #[error("{0}")]
    Denied(String),

    /// An operation is not allowed in the current state (e.g. publishing an empty group).
    #[error("{0}")]
    State(String),

    /// A service outside dyntag (the LLM endpoint) failed, timed out or answered something
    /// other than what was asked; nothing was changed.
    #[error("{0}")]
    Upstream(String),

    /// A broken invariant of dyntag itself (a bug, not the caller's doing): logged with its
    /// detail, answered to remote callers without it.
    #[error("internal error: {0}")]
    Internal(String),

    /// A model failed to load or run.
    #[error(transparent)]
    Model(#[from] dyntag_models::ModelError),

    /// Arrow, Parquet or DataFusion failed.
    #[error("{context}: {source}")]
    Engine {
        context: String,
        #[source]
        source: Box<DataFusionError>,
    },
}

impl CatalogError {
    /// Wraps an engine error with what was being done.
    pub fn engine(context: impl Into<String>, source: impl Into<DataFusionError>) -> Self {
        Self::Engine {
            context: context.into(),
            source: Box::new(source.into()),
        }
    }

    /// A not-found error without a hint.
    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            name: name.into(),
            hint: String::new(),
        }
    }

    pub(crate) fn storage(path: impl ToString, source: object_store::Error) -> Self {
        Self::Storage {
            path: path.to_string(),
            source,
        }
    }
}

impl From<CatalogError> for DataFusionError {
    /// The error travels inside DataFusion as itself (`External`), so that whoever answers
    /// the client (the server's one classification) sees its kind, whether it came from a
    /// table provider, a SQL function or a service; a planning error wrapped with context
    /// goes back to being one.
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Engine { source, .. } if matches!(*source, DataFusionError::Plan(_)) => {
                *source
            }
            e => DataFusionError::External(Box::new(e)),
        }
    }
}

impl From<DataFusionError> for CatalogError {
    fn from(e: DataFusionError) -> Self {
        match e {
            DataFusionError::External(inner) => match inner.downcast::<CatalogError>() {
                Ok(c) => *c,
                Err(other) => Self::engine("query", DataFusionError::External(other)),
            },
            DataFusionError::Plan(m) => Self::Invalid(m),
            other => Self::engine("query", other),
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;
