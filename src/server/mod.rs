//! `dyntag serve`: the one server analysts, BI tools and notebooks connect to — Arrow Flight
//! SQL ([`flight`]) and the HTTP API ([`http`]) over one [`Server`] state: the catalog, who
//! may call ([`auth`]), and the running queries with their limits ([`queries`]).
//!
//! ```text
//! server/mod.rs      Server: sessions, statements run for a caller; serve(): listeners, shutdown
//! server/auth.rs     bearer tokens, basic credentials → session tokens
//! server/queries.rs  concurrency, timeouts, cancellation of running queries
//! server/workers.rs  background scoring workers
//! server/errors.rs   one error classification → gRPC status / HTTP status + JSON
//! server/flight/     Flight SQL service (statements, prepared statements, metadata)
//! server/http/       axum routes: /api/sql (streamed JSON, CSV, Arrow), /api/queries (async)
//! ```

pub mod auth;
pub mod errors;
pub mod flight;
pub mod http;
pub mod queries;
pub mod workers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use dyntag_catalog::statements::{Door, TagStatement};
use dyntag_core::Catalog;
use dyntag_core::service::import::NoProgress;
use futures::Stream;
use tokio::net::TcpListener;

use crate::engine::{Answer, Engine, EngineOptions, Statement, current_dataset};
use crate::error::{AppError, Result};
use auth::{Auth, Caller};
use errors::ServeError;
use queries::{Limits, Queries};
use workers::Workers;

/// Locks a mutex of the server's bookkeeping. A thread that panicked while holding it left
/// whole entries behind (every critical section is a single insert, read or remove), so the
/// server goes on rather than failing every later call.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The current dataset of a session whose user sees none.
const NO_DATASET: &str = crate::engine::NO_DATASET;

/// Batches of a result as they are produced.
pub type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch, ServeError>> + Send>>;

/// What a session keeps between its statements: `USE` and `SET`.
#[derive(Debug, Clone)]
struct Session {
    dataset: Option<String>,
    settings: Vec<(String, String)>,
    last_used: Instant,
}

/// Sessions idle this long are forgotten (their connection is surely gone).
const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// Sessions one principal may hold; beyond it their least recently used one goes.
const SESSIONS_PER_PRINCIPAL: usize = 64;

/// A session: whose (the principal, read-only or not) and which connection.
type SessionKey = (String, String);

fn session_key(caller: &Caller) -> SessionKey {
    let who = match &caller.principal {
        p if p.is_read_only() => format!("{}#read-only", p.name()),
        p => p.name().to_string(),
    };
    (who, caller.connection.clone())
}

/// The state both protocols share.
pub struct Server {
    catalog: Arc<Catalog>,
    auth: Auth,
    queries: Arc<Queries>,
    workers: Arc<Workers>,
    default_dataset: String,
    /// Each session's `USE` and `SET`, by principal and connection.
    sessions: Mutex<HashMap<SessionKey, Session>>,
    /// Sessions kept since the last sweep of idle ones.
    kept: std::sync::atomic::AtomicUsize,
    /// The longest statement accepted, in bytes.
    max_statement_bytes: usize,
    /// The Ballista cluster that executes queries (its scheduler's URL), if any.
    cluster: Option<String>,
}

/// The longest statement the server accepts by default (1 MiB).
pub const DEFAULT_MAX_STATEMENT_BYTES: usize = 1 << 20;

impl Server {
    pub fn new(
        catalog: Arc<Catalog>,
        auth: Auth,
        limits: Limits,
        default_dataset: Option<String>,
        cluster: Option<String>,
    ) -> Result<Arc<Self>> {
        let default_dataset = current_dataset(&catalog, default_dataset.as_deref())?;
        Ok(Arc::new(Self {
            catalog,
            auth,
            queries: Queries::new(limits),
            workers: Workers::new(),
            default_dataset,
            sessions: Mutex::new(HashMap::new()),
            kept: std::sync::atomic::AtomicUsize::new(0),
            max_statement_bytes: limits.max_statement_bytes,
            cluster,
        }))
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    pub fn queries(&self) -> &Arc<Queries> {
        &self.queries
    }

    pub fn workers(&self) -> &Arc<Workers> {
        &self.workers
    }

    fn session(&self, caller: &Caller) -> Option<Session> {
        let mut sessions = lock(&self.sessions);
        let s = sessions.get_mut(&session_key(caller))?;
        s.last_used = Instant::now();
        Some(s.clone())
    }

    /// Keeps what a statement changed in its session: the dataset of a `USE`, and the
    /// settings it set or reset (applied to what the session holds now, so that two
    /// statements of one session running at once both count).
    fn keep_session(&self, caller: &Caller, engine: &Engine, used: bool) {
        let key = session_key(caller);
        let mut sessions = lock(&self.sessions);
        if !sessions.contains_key(&key) {
            let theirs: Vec<&SessionKey> =
                sessions.keys().filter(|(who, _)| *who == key.0).collect();
            if theirs.len() >= SESSIONS_PER_PRINCIPAL
                && let Some(oldest) = theirs
                    .into_iter()
                    .min_by_key(|k| sessions[*k].last_used)
                    .cloned()
            {
                sessions.remove(&oldest);
            }
        }
        let entry = sessions.entry(key).or_insert_with(|| Session {
            dataset: None,
            settings: Vec::new(),
            last_used: Instant::now(),
        });
        if used {
            entry.dataset = Some(engine.dataset());
        }
        for (name, value) in engine.setting_changes() {
            crate::engine::apply_setting(&mut entry.settings, &name, value);
        }
        entry.last_used = Instant::now();
        // Now and then, forget the sessions of connections long gone.
        if self
            .kept
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .is_multiple_of(1024)
        {
            sessions.retain(|_, s| s.last_used.elapsed() < SESSION_IDLE);
        }
    }

    /// The dataset statements of this caller's session run in unless they name another.
    pub fn session_dataset(&self, caller: &Caller) -> String {
        let snapshot = self.catalog.snapshot();
        let view = dyntag_core::model::access::View::new(&snapshot, &caller.principal);
        // A dataset the session switched to, unless the caller lost it since.
        if let Some(d) = self.session(caller).and_then(|s| s.dataset)
            && view.sees_dataset(&d)
        {
            return d;
        }
        if view.sees_dataset(&self.default_dataset) {
            return self.default_dataset.clone();
        }
        crate::engine::current_dataset_for(&self.catalog, &caller.principal, None)
            .unwrap_or_else(|_| self.default_dataset.clone())
    }

    /// An engine for one statement of `caller` over `protocol`, with the per-query memory
    /// limit and their session's settings; scoring jobs it queues go to the background
    /// workers.
    pub fn engine(
        &self,
        caller: &Caller,
        protocol: &'static str,
        dataset: &str,
    ) -> Result<Engine, ServeError> {
        let options = EngineOptions {
            memory_limit: Some(self.queries.limits().memory_per_query),
            principal: caller.principal.clone(),
            jobs: Some(Arc::clone(self.workers.wake())),
            door: Door::Remote,
            origin: protocol,
            settings: self.session(caller).map(|s| s.settings).unwrap_or_default(),
            cluster: self.cluster.clone(),
        };
        // A caller who sees no dataset works in none (the placeholder name is not theirs to
        // be refused).
        let snapshot = self.catalog.snapshot();
        let sees_none = dyntag_core::model::access::View::new(&snapshot, &caller.principal)
            .datasets()
            .is_empty();
        let dataset = (!(sees_none && dataset == NO_DATASET)).then_some(dataset);
        Ok(Engine::with_options(
            Arc::clone(&self.catalog),
            dataset,
            options,
        )?)
    }

    /// Parses and plans a statement in a new session (a query is not run; a tag statement
    /// is not run yet).
    pub async fn plan(
        &self,
        caller: &Caller,
        protocol: &'static str,
        dataset: &str,
        sql: &str,
    ) -> Result<(Engine, Statement), ServeError> {
        if sql.trim().is_empty() {
            return Err(ServeError::invalid("empty statement"));
        }
        if sql.len() > self.max_statement_bytes {
            return Err(ServeError::new(
                errors::Code::ResourceExhausted,
                format!(
                    "the statement is {} bytes long; the server accepts at most {} (--max-statement-kb)",
                    sql.len(),
                    self.max_statement_bytes
                ),
            ));
        }
        let engine = self.engine(caller, protocol, dataset)?;
        let stmt = engine.prepare(sql).await?;
        Ok((engine, stmt))
    }

    /// Runs `work` for a caller inside a query slot, as a statement would run: within the
    /// server's concurrency limit and query timeout, cancellable, listed among the running
    /// queries as `what` (the SQL it stands for), whose size the statement limit bounds.
    /// For the HTTP routes that call a service directly (search, uncertain assets, metrics).
    pub async fn limited<T>(
        &self,
        caller: &Caller,
        what: &str,
        work: impl Future<Output = Result<T, ServeError>>,
    ) -> Result<T, ServeError> {
        if what.len() > self.max_statement_bytes {
            return Err(ServeError::new(
                errors::Code::ResourceExhausted,
                format!(
                    "the request is {} bytes long; the server accepts at most {} (--max-statement-kb)",
                    what.len(),
                    self.max_statement_bytes
                ),
            ));
        }
        let mut slot = self.queries.start(&caller.user, "http", what).await?;
        let started = Instant::now();
        let out = slot.run(work).await;
        tracing::info!(
            user = %caller.user,
            origin = "http",
            outcome = if out.is_ok() { "ok" } else { "failed" },
            duration_ms = started.elapsed().as_millis() as u64,
            sql = what,
            "service call"
        );
        out
    }

    /// Runs a tag statement for a caller (inside a query slot: it may publish).
    pub async fn run_tag(
        &self,
        caller: &Caller,
        protocol: &'static str,
        engine: &Engine,
        sql: &str,
        stmt: &TagStatement,
    ) -> Result<Answer, ServeError> {
        let mut slot = self.queries.start(&caller.user, protocol, sql).await?;
        let answer = slot
            .run(async { Ok(engine.run_tag(stmt, sql, &NoProgress).await?) })
            .await?;
        if matches!(stmt, TagStatement::Use { .. }) {
            self.keep_session(caller, engine, true);
        }
        Ok(answer)
    }

    /// Runs a tag statement built by a front end (the HTTP lifecycle routes) for a caller,
    /// in `dataset` or the caller's session dataset.
    pub async fn statement(
        &self,
        caller: &Caller,
        dataset: Option<&str>,
        stmt: TagStatement,
    ) -> Result<Answer, ServeError> {
        let dataset = dataset.map_or_else(|| self.session_dataset(caller), str::to_string);
        let engine = self.engine(caller, "http", &dataset)?;
        let what = stmt.to_string();
        self.run_tag(caller, "http", &engine, &what, &stmt).await
    }

    /// Runs a planned query for a caller, streaming its batches.
    pub async fn run_query(
        &self,
        caller: &Caller,
        protocol: &'static str,
        engine: &Engine,
        sql: &str,
        plan: LogicalPlan,
        params: Option<ParamValues>,
    ) -> Result<(SchemaRef, BatchStream), ServeError> {
        let mut slot = self.queries.start(&caller.user, protocol, sql).await?;
        let is_setting = matches!(plan, LogicalPlan::Statement(_));
        let stream = slot
            .run(async { Ok(engine.stream_query(plan, params, sql).await?) })
            .await?;
        if is_setting {
            self.keep_session(caller, engine, false);
        }
        let schema = stream.schema();
        tracing::debug!(user = %caller.user, protocol, query = slot.id(), "query started");
        Ok((schema, Box::pin(slot.guard(stream))))
    }

    /// Runs any statement for a caller: the answer's schema and its batches.
    pub async fn run(
        &self,
        caller: &Caller,
        protocol: &'static str,
        dataset: Option<&str>,
        sql: &str,
    ) -> Result<(SchemaRef, BatchStream), ServeError> {
        let dataset = dataset.map_or_else(|| self.session_dataset(caller), str::to_string);
        match self.plan(caller, protocol, &dataset, sql).await? {
            (engine, Statement::Tag(stmt)) => {
                let answer = self.run_tag(caller, protocol, &engine, sql, &stmt).await?;
                Ok(answer_stream(answer))
            }
            (engine, Statement::Query(plan)) => {
                self.run_query(caller, protocol, &engine, sql, plan, None)
                    .await
            }
        }
    }
}

/// An answer held in memory as a stream.
pub fn answer_stream(answer: Answer) -> (SchemaRef, BatchStream) {
    let schema = answer.schema.clone();
    let batches: Vec<Result<RecordBatch, ServeError>> =
        answer.batches.into_iter().map(Ok).collect();
    (schema, Box::pin(futures::stream::iter(batches)))
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct Config {
    pub flight_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// Certificate and key (PEM) for TLS on the Flight SQL endpoint.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub limits: Limits,
    pub token: Option<String>,
    pub default_dataset: Option<String>,
    /// How long results of asynchronous queries are kept.
    pub result_ttl: Duration,
    /// Memory all kept asynchronous results may hold.
    pub result_memory: usize,
    /// How long in-flight queries may finish after a shutdown signal before they are
    /// cancelled.
    pub grace: Duration,
    /// Background scoring workers.
    pub scoring_workers: usize,
    /// The key that signs session tokens (made on first use).
    pub session_key_file: PathBuf,
    /// The Ballista cluster (`df://host:port`) that executes queries; `None`: this process.
    pub cluster: Option<String>,
}

/// Where the session key is kept unless `--session-key-file` says otherwise:
/// `$DYNTAG_HOME/session.key`, default `~/.local/share/dyntag/session.key`.
pub fn default_session_key_file() -> PathBuf {
    if let Some(home) = std::env::var_os("DYNTAG_HOME") {
        return PathBuf::from(home).join("session.key");
    }
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("dyntag/session.key")
}

/// Where a started server listens.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub flight_url: String,
    pub http_url: String,
    pub token: String,
}

/// Binds both listeners, prints where they are, and serves until `shutdown` resolves; then
/// stops accepting, lets in-flight queries finish for the grace period and cancels the rest.
pub async fn serve(
    catalog: Arc<Catalog>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&Endpoints),
) -> Result<()> {
    let auth = Auth::with_users(config.token.clone(), Arc::clone(&catalog))
        .map_err(setup_error)?
        .with_attempts_per_minute(config.limits.login_attempts_per_minute)
        .with_session_key_file(&config.session_key_file)
        .map_err(setup_error)?;
    let server = Server::new(
        Arc::clone(&catalog),
        auth,
        config.limits,
        config.default_dataset.clone(),
        config.cluster.clone(),
    )?;
    let flight_listener = bind(config.flight_addr, "Flight SQL").await?;
    let http_listener = bind(config.http_addr, "HTTP").await?;
    let flight_addr = flight_listener
        .local_addr()
        .map_err(|e| AppError::io("reading the Flight SQL address", e))?;
    let http_addr = http_listener
        .local_addr()
        .map_err(|e| AppError::io("reading the HTTP address", e))?;
    let scheme = if config.tls.is_some() {
        "grpc+tls"
    } else {
        "grpc"
    };
    let endpoints = Endpoints {
        flight_url: format!("{scheme}://{flight_addr}"),
        http_url: format!("http://{http_addr}"),
        token: server.auth().admin_token().to_string(),
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let flight = flight::serve(
        Arc::clone(&server),
        flight_listener,
        config.tls.clone(),
        stopped(stop_rx.clone()),
    )
    .await?;
    let http = http::serve(
        Arc::clone(&server),
        http_listener,
        config.result_ttl,
        config.result_memory,
        stopped(stop_rx.clone()),
    );
    let remote = match &config.cluster {
        Some(url) => Some(crate::cluster::scoring::ClusterScoring::connect(
            url, &catalog,
        )?),
        None => None,
    };
    server
        .workers()
        .spawn(catalog, config.scoring_workers, remote, stop_rx.clone());
    on_ready(&endpoints);
    tracing::info!(flight = %endpoints.flight_url, http = %endpoints.http_url, "serving");

    let flight_task = tokio::spawn(flight);
    let http_task = tokio::spawn(http);
    shutdown.await;
    tracing::info!("shutting down: no new connections; in-flight queries may finish");
    let _ = stop_tx.send(true);
    let grace = config.grace;
    let queries = Arc::clone(server.queries());
    let both = async {
        let f = flight_task.await;
        let h = http_task.await;
        (f, h)
    };
    tokio::pin!(both);
    let (f, h) = tokio::select! {
        r = &mut both => r,
        _ = tokio::time::sleep(grace) => {
            let n = queries.running().len();
            tracing::warn!(running = n, "grace period over: cancelling the queries still running");
            queries.cancel_all();
            both.await
        }
    };
    let outcomes = [
        ("Flight SQL", f.map(|r| r.map_err(|e| e.to_string()))),
        ("HTTP", h.map(|r| r.map_err(|e| e.to_string()))),
    ];
    for (name, r) in outcomes {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(AppError::Environment(format!("{name} server failed: {e}"))),
            Err(e) => return Err(AppError::Internal(format!("{name} server panicked: {e}"))),
        }
    }
    tracing::info!("stopped");
    Ok(())
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| AppError::io(format!("listening for {what} on {addr}"), e))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// A failure of the server's own set-up (its token, its session key file), by kind: a
/// bad option is the command's usage, anything else the machine's.
fn setup_error(e: ServeError) -> AppError {
    match e.code {
        errors::Code::InvalidArgument => AppError::Usage(e.message),
        _ => AppError::Environment(e.message),
    }
}
