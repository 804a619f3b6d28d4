//! What a client is told when something fails: one classification of every error, mapped to
//! a gRPC status (Flight SQL) and to an HTTP status with a JSON body (HTTP API). Messages
//! are the ones a user can act on; internal failures are logged in full and reported
//! without file-system paths or backtraces.

use std::fmt;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use datafusion::error::DataFusionError;
use dyntag_core::CatalogError;

use crate::error::AppError;

/// The kind of failure, shared by both protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    /// Someone else changed it first (optimistic concurrency).
    Conflict,
    /// Not allowed in the current state.
    FailedPrecondition,
    ResourceExhausted,
    DeadlineExceeded,
    Cancelled,
    Unauthenticated,
    PermissionDenied,
    Unimplemented,
    /// A service outside dyntag (the LLM endpoint) failed.
    Unavailable,
    Internal,
}

impl Code {
    /// The name clients see in JSON error bodies.
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid_argument",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::Conflict => "conflict",
            Self::FailedPrecondition => "failed_precondition",
            Self::ResourceExhausted => "resource_exhausted",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Cancelled => "cancelled",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission_denied",
            Self::Unimplemented => "unimplemented",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    fn grpc(self) -> tonic::Code {
        match self {
            Self::InvalidArgument => tonic::Code::InvalidArgument,
            Self::NotFound => tonic::Code::NotFound,
            Self::AlreadyExists => tonic::Code::AlreadyExists,
            Self::Conflict => tonic::Code::Aborted,
            Self::FailedPrecondition => tonic::Code::FailedPrecondition,
            Self::ResourceExhausted => tonic::Code::ResourceExhausted,
            Self::DeadlineExceeded => tonic::Code::DeadlineExceeded,
            Self::Cancelled => tonic::Code::Cancelled,
            Self::Unauthenticated => tonic::Code::Unauthenticated,
            Self::PermissionDenied => tonic::Code::PermissionDenied,
            Self::Unimplemented => tonic::Code::Unimplemented,
            Self::Unavailable => tonic::Code::Unavailable,
            Self::Internal => tonic::Code::Internal,
        }
    }

    fn http(self) -> StatusCode {
        match self {
            Self::InvalidArgument => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::AlreadyExists | Self::Conflict | Self::FailedPrecondition => StatusCode::CONFLICT,
            Self::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Self::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            // 499 "client closed request" is not in the standard set; a cancelled query is
            // a conflict with the request's own intent.
            Self::Cancelled => StatusCode::CONFLICT,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Self::Unavailable => StatusCode::BAD_GATEWAY,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A failure as a client sees it.
#[derive(Debug, Clone)]
pub struct ServeError {
    pub code: Code,
    pub message: String,
}

impl ServeError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for ServeError {}

impl From<AppError> for ServeError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Catalog(c) => from_catalog(&c),
            AppError::Query(q) => from_datafusion(&q),
            AppError::Usage(m) | AppError::Input(m) => Self::invalid(m),
            AppError::Incomplete(m) => Self::new(Code::FailedPrecondition, m),
            e @ (AppError::Io { .. } | AppError::Environment(_) | AppError::Internal(_)) => {
                internal(&e)
            }
        }
    }
}

impl From<DataFusionError> for ServeError {
    fn from(e: DataFusionError) -> Self {
        from_datafusion(&e)
    }
}

impl From<datafusion::arrow::error::ArrowError> for ServeError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        internal(&e)
    }
}

impl From<CatalogError> for ServeError {
    fn from(e: CatalogError) -> Self {
        from_catalog(&e)
    }
}

impl From<arrow_flight::error::FlightError> for ServeError {
    fn from(e: arrow_flight::error::FlightError) -> Self {
        internal(&e)
    }
}

fn from_catalog(e: &CatalogError) -> ServeError {
    let code = match e {
        CatalogError::Location { .. } | CatalogError::Invalid(_) | CatalogError::Import { .. } => {
            Code::InvalidArgument
        }
        CatalogError::NotFound { .. } => Code::NotFound,
        CatalogError::Denied(_) => Code::PermissionDenied,
        CatalogError::AlreadyExists { .. } => Code::AlreadyExists,
        CatalogError::Conflict { .. } => Code::Conflict,
        CatalogError::State(_) => Code::FailedPrecondition,
        // What the caller asked of a model it lacks; anything else is the server's set-up
        // (missing files, ONNX Runtime), whose message names server paths.
        CatalogError::Model(
            dyntag_models::ModelError::UnknownModel { .. }
            | dyntag_models::ModelError::NoTower { .. },
        ) => Code::FailedPrecondition,
        CatalogError::Model(_) => return internal(e),
        CatalogError::Engine { source, .. } => {
            let inner = from_datafusion(source);
            if inner.code != Code::Internal {
                return inner;
            }
            return internal(e);
        }
        CatalogError::Upstream(_) => Code::Unavailable,
        CatalogError::Storage { .. }
        | CatalogError::CorruptDocument { .. }
        | CatalogError::Internal(_) => {
            return internal(e);
        }
    };
    ServeError::new(code, e.to_string())
}

fn from_datafusion(e: &DataFusionError) -> ServeError {
    match e {
        DataFusionError::External(inner) => {
            if let Some(c) = inner.downcast_ref::<CatalogError>() {
                return from_catalog(c);
            }
            if let Some(s) = inner.downcast_ref::<ServeError>() {
                return s.clone();
            }
            internal(e)
        }
        DataFusionError::Shared(inner) => from_datafusion(inner),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            let mut out = from_datafusion(inner);
            if out.code != Code::Internal
                && let DataFusionError::Context(ctx, _) = e
            {
                out.message = format!("{ctx}: {}", out.message);
            }
            out
        }
        DataFusionError::Collection(errors) => {
            // Planning reports every mistake it found: the kind of the first, all messages.
            let all: Vec<ServeError> = errors.iter().map(from_datafusion).collect();
            match all.first() {
                Some(first) if first.code != Code::Internal => ServeError::new(
                    first.code,
                    all.iter()
                        .map(|e| e.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                _ => internal(e),
            }
        }
        DataFusionError::SQL(p, _) => {
            use datafusion::sql::sqlparser::parser::ParserError;
            let text = match p.as_ref() {
                ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.clone(),
                other => other.to_string(),
            };
            ServeError::invalid(format!("SQL syntax error: {text}"))
        }
        DataFusionError::Plan(m) => ServeError::invalid(m.clone()),
        DataFusionError::SchemaError(..) => ServeError::invalid(e.to_string()),
        DataFusionError::NotImplemented(m) => ServeError::new(Code::Unimplemented, m.clone()),
        DataFusionError::ResourcesExhausted(m) => {
            let first = m.lines().next().unwrap_or_default().trim_end_matches(':');
            let pool = m
                .rsplit_once("pool_size: ")
                .map(|(_, size)| size.trim_end_matches(')').to_string());
            let limit = pool.map_or_else(String::new, |p| format!(" of {p}"));
            ServeError::new(
                Code::ResourceExhausted,
                format!(
                    "the query needs more memory than its limit{limit} allows ({first}); \
                     narrow it (filters, LIMIT, fewer columns) or ask for a larger --memory-per-query-mb"
                ),
            )
        }
        _ => internal(e),
    }
}

/// An internal failure: logged whole, reported with its first line and no paths.
fn internal(e: &dyn fmt::Display) -> ServeError {
    let full = e.to_string();
    tracing::error!(error = %full, "internal error");
    let first = full.lines().next().unwrap_or("").to_string();
    ServeError::internal(format!(
        "the server failed to run the statement: {}",
        redact_paths(&first)
    ))
}

/// Replaces absolute file-system paths with `<path>`.
pub fn redact_paths(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let w = word.trim_start_matches(['\'', '"', '(', '[']);
            if w.starts_with('/') && w.len() > 1 {
                let prefix = &word[..word.len() - w.len()];
                let tail: String = w
                    .chars()
                    .rev()
                    .take_while(|c| matches!(c, '\'' | '"' | ')' | ']' | ',' | ':' | '.'))
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                format!("{prefix}<path>{tail}")
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl From<ServeError> for tonic::Status {
    fn from(e: ServeError) -> Self {
        tonic::Status::new(e.code.grpc(), e.message)
    }
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message, "code": self.code.name() });
        (self.code.http(), axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_redacted() {
        assert_eq!(
            redact_paths("cannot open '/home/x/data/file.parquet': denied"),
            "cannot open '<path>': denied"
        );
        assert_eq!(redact_paths("a/b is relative"), "a/b is relative");
    }

    #[test]
    fn planning_errors_are_invalid_arguments_and_memory_is_exhaustion() {
        let e = ServeError::from(DataFusionError::Plan("table 'x' not found".into()));
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(e.message.contains("table 'x' not found"), "{}", e.message);
        let e = ServeError::from(DataFusionError::Collection(vec![
            DataFusionError::SchemaError(
                Box::new(datafusion::common::SchemaError::FieldNotFound {
                    field: Box::new(datafusion::common::Column::from_name("c")),
                    valid_fields: vec![],
                }),
                Box::new(None),
            ),
            DataFusionError::Plan("Invalid function 'unt'".into()),
        ]));
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(
            e.message.contains("No field named c") && e.message.contains("'unt'"),
            "{}",
            e.message
        );
        let e = ServeError::from(DataFusionError::ResourcesExhausted("pool".into()));
        assert_eq!(e.code, Code::ResourceExhausted);
        let e = ServeError::from(AppError::Catalog(CatalogError::Conflict {
            what: "tag".into(),
            current: 3,
        }));
        assert_eq!(e.code, Code::Conflict);
        assert!(e.message.contains("revision 3"));
    }

    /// One error of each kind of the catalog, with the status each protocol must give it.
    fn catalog_kinds() -> Vec<(CatalogError, Code, tonic::Code, StatusCode)> {
        use datafusion::object_store::Error as StoreError;
        let path = "/srv/dyntag/data/groups/topics/_log/00000000000000000003.json".to_string();
        vec![
            (
                CatalogError::Storage {
                    path: path.clone(),
                    source: StoreError::Generic {
                        store: "local",
                        source: format!("cannot read {path}").into(),
                    },
                },
                Code::Internal,
                tonic::Code::Internal,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                CatalogError::Location {
                    location: "ftp://x".into(),
                    message: "unsupported scheme".into(),
                },
                Code::InvalidArgument,
                tonic::Code::InvalidArgument,
                StatusCode::BAD_REQUEST,
            ),
            (
                CatalogError::CorruptDocument {
                    path: path.clone(),
                    message: "expected value".into(),
                },
                Code::Internal,
                tonic::Code::Internal,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                CatalogError::Conflict {
                    what: "tag group 'topics'".into(),
                    current: 4,
                },
                Code::Conflict,
                tonic::Code::Aborted,
                StatusCode::CONFLICT,
            ),
            (
                CatalogError::not_found("tag group", "nosuch"),
                Code::NotFound,
                tonic::Code::NotFound,
                StatusCode::NOT_FOUND,
            ),
            (
                CatalogError::AlreadyExists {
                    kind: "tag group",
                    name: "topics".into(),
                },
                Code::AlreadyExists,
                tonic::Code::AlreadyExists,
                StatusCode::CONFLICT,
            ),
            (
                CatalogError::Invalid("threshold must be in [0, 1]".into()),
                Code::InvalidArgument,
                tonic::Code::InvalidArgument,
                StatusCode::BAD_REQUEST,
            ),
            (
                CatalogError::Import {
                    file: "keyframes.csv".into(),
                    message: "row 3: empty id".into(),
                },
                Code::InvalidArgument,
                tonic::Code::InvalidArgument,
                StatusCode::BAD_REQUEST,
            ),
            (
                CatalogError::Denied("permission denied: editing needs editor".into()),
                Code::PermissionDenied,
                tonic::Code::PermissionDenied,
                StatusCode::FORBIDDEN,
            ),
            (
                CatalogError::State("tag group 'topics' has no published version".into()),
                Code::FailedPrecondition,
                tonic::Code::FailedPrecondition,
                StatusCode::CONFLICT,
            ),
            (
                CatalogError::Upstream("the LLM endpoint http://llm failed".into()),
                Code::Unavailable,
                tonic::Code::Unavailable,
                StatusCode::BAD_GATEWAY,
            ),
            (
                CatalogError::Internal(format!("version 3 of {path} is missing")),
                Code::Internal,
                tonic::Code::Internal,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                CatalogError::Model(dyntag_models::ModelError::NoTower {
                    model: "clip".into(),
                    modality: "text".into(),
                }),
                Code::FailedPrecondition,
                tonic::Code::FailedPrecondition,
                StatusCode::CONFLICT,
            ),
            (
                CatalogError::Model(dyntag_models::ModelError::MissingFile {
                    model: "clip".into(),
                    path: "/srv/models/clip/visual.onnx".into(),
                }),
                Code::Internal,
                tonic::Code::Internal,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                CatalogError::engine("reading", DataFusionError::Plan("no column c".into())),
                Code::InvalidArgument,
                tonic::Code::InvalidArgument,
                StatusCode::BAD_REQUEST,
            ),
            (
                CatalogError::engine(
                    "reading",
                    DataFusionError::Execution(format!("io at {path}")),
                ),
                Code::Internal,
                tonic::Code::Internal,
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ]
    }

    #[test]
    fn each_catalog_error_kind_has_one_status_in_each_protocol_however_it_travels() {
        // Each error travels as itself inside the binary's error (from the engine), and
        // inside a DataFusion error (from a table provider or a SQL function).
        for ((error, code, grpc, http), (again, ..)) in
            catalog_kinds().into_iter().zip(catalog_kinds())
        {
            let text = error.to_string();
            let via_engine = ServeError::from(AppError::Catalog(error));
            let via_datafusion = ServeError::from(DataFusionError::Context(
                "planning".into(),
                Box::new(DataFusionError::External(Box::new(again))),
            ));
            for got in [via_engine, via_datafusion] {
                assert_eq!(got.code, code, "{text}");
                assert_eq!(tonic::Status::from(got.clone()).code(), grpc, "{text}");
                assert_eq!(got.clone().into_response().status(), http, "{text}");
                assert!(
                    !got.message.contains("/srv/"),
                    "{text}: a server path reached the client: {}",
                    got.message
                );
            }
        }
    }

    #[test]
    fn each_kind_of_the_binarys_error_has_its_status_and_exit_code() {
        let cases = [
            (
                AppError::Usage("--keyframes needs --model".into()),
                Code::InvalidArgument,
                2,
            ),
            (
                AppError::Input("cannot decode /srv/a.jpg".into()),
                Code::InvalidArgument,
                1,
            ),
            (
                AppError::Incomplete("2 of 3 files failed".into()),
                Code::FailedPrecondition,
                1,
            ),
            (
                AppError::Environment("ffmpeg not found".into()),
                Code::Internal,
                1,
            ),
            (
                AppError::Internal("a worker panicked".into()),
                Code::Internal,
                1,
            ),
            (
                AppError::io("reading /srv/x", std::io::Error::other("denied")),
                Code::Internal,
                1,
            ),
        ];
        for (error, code, exit) in cases {
            assert_eq!(error.exit_code(), exit, "{error}");
            let text = error.to_string();
            let got = ServeError::from(error);
            assert_eq!(got.code, code, "{text}");
            if code == Code::Internal {
                assert!(!got.message.contains("/srv/"), "{}", got.message);
            }
        }
    }
}
