//! The HTTP API (axum): SQL over HTTP, streamed in the format the `Accept` header asks for,
//! asynchronous queries, login, and the OpenAPI document of the routes.
//!
//! | route | what |
//! |---|---|
//! | `GET /`, `GET /assets/{file}` | the web console ([`console`]) |
//! | `GET /api/health` | liveness (no token needed) |
//! | `POST /api/login` | basic credentials → a session token |
//! | `POST /api/sql` | run a statement, answer streamed as JSON, NDJSON, CSV or Arrow IPC |
//! | `POST /api/queries` | submit a statement to run in the background |
//! | `GET /api/queries` | the caller's asynchronous queries |
//! | `GET /api/queries/{id}` | status of one |
//! | `GET /api/queries/{id}/results` | its results (kept for a bounded time) |
//! | `DELETE /api/queries/{id}` | cancel it |
//! | `GET /api/running` | statements running now, of either protocol |
//! | `GET /api/history` | the caller's query history (statements sent with `"history": true`) |
//! | `GET /api/openapi.json` | this API as OpenAPI 3 |
//! | `/api/datasets/…`, `/api/groups/…`, `/api/users`, `/api/scoring-jobs` | the lifecycle API ([`lifecycle`]) |

mod console;
mod format;
mod history;
mod jobs;
pub mod lifecycle;
mod media;
mod openapi;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use tokio::net::TcpListener;

use super::auth::Caller;
use super::errors::ServeError;
use super::{BatchStream, Server};
pub use format::{ARROW_STREAM, Format, PARQUET};
use jobs::{JobStatus, Jobs};

#[derive(Clone)]
struct AppState {
    server: Arc<Server>,
    jobs: Arc<Jobs>,
}

/// Serves the HTTP API on `listener` until `shutdown`.
pub fn serve(
    server: Arc<Server>,
    listener: TcpListener,
    result_ttl: Duration,
    result_memory: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
    let max_body = server.queries().limits().max_body_bytes;
    let state = AppState {
        server,
        jobs: Jobs::new(result_ttl, result_memory),
    };
    let app = router(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(max_body, peer_header));
    async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

/// The request header carrying the client's address inside the server: set from the
/// connection itself, whatever a client sends under that name.
const PEER: HeaderName = HeaderName::from_static("x-dyntag-peer");
/// The request header naming an HTTP session (any client-chosen text up to 128 characters):
/// its `USE` and `SET` last across requests. Without it, the session is the connection.
pub const SESSION_HEADER: &str = "x-dyntag-session";

/// Sets the peer header from the connection, and answers the refusals axum makes itself
/// (an over-large body, a wrong method, a body or query string its extractors reject) as
/// the API's other errors: JSON with a code.
async fn peer_header(State(max_body): State<usize>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.to_string())
        .unwrap_or_default();
    request.headers_mut().remove(&PEER);
    if let Ok(v) = HeaderValue::from_str(&peer) {
        request.headers_mut().insert(PEER, v);
    }
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !status.is_client_error() || json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            super::errors::Code::ResourceExhausted.name(),
            format!(
                "the request body is larger than the server accepts ({} MiB, --max-body-mb)",
                max_body >> 20
            ),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not take that method; see /api/openapi.json".to_string(),
        ),
        StatusCode::NOT_FOUND => (
            super::errors::Code::NotFound.name(),
            "no such route; see /api/openapi.json".to_string(),
        ),
        _ => (
            super::errors::Code::InvalidArgument.name(),
            if text.is_empty() {
                "the request is malformed".to_string()
            } else {
                text
            },
        ),
    };
    let body = serde_json::json!({ "error": message, "code": code });
    (status, Json(body)).into_response()
}

fn peer(headers: &HeaderMap) -> Option<SocketAddr> {
    headers.get(&PEER)?.to_str().ok()?.parse().ok()
}

fn client_ip(headers: &HeaderMap) -> std::net::IpAddr {
    peer(headers).map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip())
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(console::index))
        .route("/assets/{file}", get(console::asset))
        .route("/api/history", get(query_history))
        .route("/api/health", get(health))
        .route("/api/login", post(login))
        .route("/api/sql", post(sql))
        .route("/api/queries", post(submit).get(list))
        .route("/api/queries/{id}", get(status).delete(cancel))
        .route("/api/queries/{id}/results", get(results))
        .route("/api/running", get(running))
        .route("/api/openapi.json", get(openapi::document))
        .merge(lifecycle::router())
        .fallback(not_found)
        .with_state(state)
}

/// Who is calling, in which session: the one the `x-dyntag-session` header names, else the
/// connection.
fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ServeError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let mut caller = state.server.auth().check_from(header, client_ip(headers))?;
    caller.connection = match headers.get(SESSION_HEADER).map(|v| v.to_str()) {
        Some(Ok(s)) if !s.is_empty() && s.len() <= 128 => format!("http-session:{s}"),
        Some(_) => {
            return Err(ServeError::invalid(format!(
                "the {SESSION_HEADER} header must be 1 to 128 visible characters"
            )));
        }
        None => format!(
            "http:{}",
            peer(headers).map_or_else(|| "unknown".into(), |a| a.to_string())
        ),
    };
    Ok(caller)
}

/// A statement in a request body: JSON `{"sql": …, "dataset": …, "history": true}` or the
/// SQL text itself. `history` keeps it in the caller's query history.
#[derive(Debug, Deserialize)]
struct SqlRequest {
    sql: String,
    #[serde(default)]
    dataset: Option<String>,
    #[serde(default)]
    history: bool,
}

fn sql_request(headers: &HeaderMap, body: &Bytes) -> Result<SqlRequest, ServeError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if json {
        serde_json::from_slice(body).map_err(|e| {
            ServeError::invalid(format!(
                "the body must be JSON like {{\"sql\": \"SELECT 1\", \"dataset\": \"demo\"}}: {e}"
            ))
        })
    } else {
        let sql = std::str::from_utf8(body)
            .map_err(|_| ServeError::invalid("the SQL text is not UTF-8"))?
            .to_string();
        Ok(SqlRequest {
            sql,
            dataset: None,
            history: false,
        })
    }
}

fn max_json_rows(state: &AppState) -> usize {
    state.server.queries().limits().max_json_rows
}

async fn health() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn not_found() -> ServeError {
    ServeError::not_found("no such route; see /api/openapi.json")
}

async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    #[derive(Deserialize)]
    struct Login {
        user: String,
        password: String,
    }
    let result = if body.is_empty() {
        caller(&state, &headers)
    } else {
        serde_json::from_slice::<Login>(&body)
            .map_err(|_| {
                ServeError::invalid("the body must be JSON {\"user\": …, \"password\": …}")
            })
            .and_then(|l| {
                state
                    .server
                    .auth()
                    .login_from(&l.user, &l.password, client_ip(&headers))
            })
    };
    match result {
        Ok(c) => Json(serde_json::json!({ "user": c.user, "token": c.token })).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn sql(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let started = std::time::Instant::now();
    // The history entry of a statement that asked for one, written when its answer ends.
    let mut kept: Option<history::Recorder> = None;
    let run = async {
        let caller = caller(&state, &headers)?;
        let format = Format::from_headers(&headers)?;
        let req = sql_request(&headers, &body)?;
        if req.history {
            kept = Some(history::Recorder::new(
                state.server.catalog().store().clone(),
                history::Owner::of(&state.server.catalog().snapshot(), &caller.user),
                req.dataset.clone(),
                req.sql.clone(),
                started,
            ));
        }
        let (schema, batches) = state
            .server
            .run(&caller, "http", req.dataset.as_deref(), &req.sql)
            .await?;
        // The first batch decides the status: most failures happen before it. (Fused: a
        // statement with no batches at all must not be polled again after its end.)
        let mut batches = batches.fuse();
        let first = batches.next().await.transpose()?;
        let max_rows = max_json_rows(&state);
        if format == Format::Json
            && let Some(b) = &first
            && b.num_rows() > max_rows
        {
            return Err(ServeError::new(
                super::errors::Code::ResourceExhausted,
                format::too_many_rows(max_rows),
            ));
        }
        let mut rest: BatchStream = Box::pin(futures::stream::iter(first.map(Ok)).chain(batches));
        if let Some(recorder) = kept.take() {
            rest = recorder.watch(rest);
        }
        let body = format::body(format, schema, rest, max_json_rows(&state))?;
        Ok::<_, ServeError>(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
    };
    let answer = run.await;
    if let (Some(recorder), Err(e)) = (kept, &answer) {
        recorder.end(Some(e));
    }
    answer.unwrap_or_else(IntoResponse::into_response)
}

async fn query_history(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let run = async {
        let caller = caller(&state, &headers)?;
        let owner = history::Owner::of(&*state.server.catalog().refresh().await?, &caller.user);
        let entries = history::list(state.server.catalog().store(), &owner).await?;
        Ok::<_, ServeError>(Json(serde_json::json!({ "rows": entries })).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn submit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let run = || {
        let caller = caller(&state, &headers)?;
        let req = sql_request(&headers, &body)?;
        if req.sql.trim().is_empty() {
            return Err(ServeError::invalid("empty statement"));
        }
        let id = state.jobs.submit(
            Arc::clone(&state.server),
            caller.clone(),
            req.sql,
            req.dataset,
        );
        let status = state.jobs.status(&id, &caller)?;
        Ok::<_, ServeError>((StatusCode::ACCEPTED, Json(status)).into_response())
    };
    run().unwrap_or_else(IntoResponse::into_response)
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<JobStatus>>, ServeError> {
    Ok(Json(state.jobs.list(&caller(&state, &headers)?)))
}

async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<JobStatus>, ServeError> {
    Ok(Json(state.jobs.status(&id, &caller(&state, &headers)?)?))
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<JobStatus>, ServeError> {
    Ok(Json(state.jobs.cancel(&id, &caller(&state, &headers)?)?))
}

async fn results(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let run = || {
        let caller = caller(&state, &headers)?;
        let format = Format::from_headers(&headers)?;
        let (schema, batches) = state.jobs.results(&id, &caller)?;
        let stream: BatchStream = Box::pin(futures::stream::iter(batches.into_iter().map(Ok)));
        let body = format::body(format, schema, stream, max_json_rows(&state))?;
        Ok::<_, ServeError>(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
    };
    run().unwrap_or_else(IntoResponse::into_response)
}

async fn running(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match caller(&state, &headers) {
        Ok(c) => {
            let queries = state.server.queries();
            let mine: Vec<_> = queries
                .running()
                .into_iter()
                .filter(|q| q.user == c.user)
                .collect();
            Json(serde_json::json!({
                "running": mine,
                "cancelled_total": queries.cancelled_total(),
            }))
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}
