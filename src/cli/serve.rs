//! `dyntag serve`: Flight SQL and the HTTP API over the data root. With no datasets yet, it
//! first sets up the demo dataset from the embedded sample library.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dyntag_core::Catalog;

use super::Global;
use crate::error::Result;
use crate::server::queries::Limits;
use crate::server::{self, Config, Endpoints};

/// Arguments of `dyntag serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address of the Flight SQL endpoint (port 0: any free port).
    #[arg(long, env = "DYNTAG_FLIGHT_ADDR", default_value = "127.0.0.1:50051")]
    pub flight_addr: SocketAddr,
    /// Address of the HTTP API (port 0: any free port).
    #[arg(long, env = "DYNTAG_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// The access token (at least 16 characters). Default: a new random one, printed.
    #[arg(long, env = "DYNTAG_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The dataset statements run in unless they say otherwise (default: the first).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Memory one query may hold, in MiB (sorts and joins spill to disk beyond it).
    #[arg(long, default_value_t = 1024)]
    pub memory_per_query_mb: usize,
    /// Queries running at once; more wait for a slot.
    #[arg(long, default_value_t = 16)]
    pub max_concurrent_queries: usize,
    /// Seconds a query may run before it is stopped.
    #[arg(long, default_value_t = 300)]
    pub query_timeout: u64,
    /// Seconds a query may wait for a slot before it is refused.
    #[arg(long, default_value_t = 60)]
    pub queue_timeout: u64,
    /// PEM certificate for TLS on the Flight SQL endpoint (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS on the Flight SQL endpoint (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds the results of asynchronous HTTP queries are kept.
    #[arg(long, default_value_t = 900)]
    pub result_ttl: u64,
    /// MiB all kept asynchronous results may hold.
    #[arg(long, default_value_t = 512)]
    pub result_memory_mb: usize,
    /// Seconds in-flight queries may finish after SIGINT/SIGTERM before they are cancelled.
    #[arg(long, default_value_t = 10)]
    pub grace: u64,
    /// Execute queries on this Ballista cluster (its scheduler, `df://HOST:PORT`, run by
    /// `dyntag scheduler`): planning, access rules and tag statements stay here.
    #[arg(long, env = "DYNTAG_CLUSTER")]
    pub cluster: Option<String>,
    /// Background workers that score published and applied tag groups.
    #[arg(long, default_value_t = 1)]
    pub scoring_workers: usize,
    /// The longest statement accepted, in KiB.
    #[arg(long, default_value_t = 1024)]
    pub max_statement_kb: usize,
    /// The largest HTTP request body accepted (uploaded labels files), in MiB.
    #[arg(long, default_value_t = 64)]
    pub max_body_mb: usize,
    /// Rows a JSON answer of POST /api/sql may hold; larger results need NDJSON, CSV or Arrow.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_json_rows: usize,
    /// Failed sign-ins a client address may make per minute before it is refused (429) for
    /// the rest of the minute.
    #[arg(long, default_value_t = crate::server::auth::DEFAULT_LOGIN_ATTEMPTS_PER_MINUTE)]
    pub login_attempts_per_minute: u32,
    /// The key that signs session tokens (64 hex digits; made, readable by you only, if
    /// missing). Keep it out of the data root; give every server of one data root the same.
    /// Default: $DYNTAG_HOME/session.key, else ~/.local/share/dyntag/session.key.
    #[arg(long, env = "DYNTAG_SESSION_KEY_FILE")]
    pub session_key_file: Option<PathBuf>,
}

impl ServeArgs {
    fn config(&self) -> Config {
        Config {
            flight_addr: self.flight_addr,
            http_addr: self.http_addr,
            tls: self.tls_cert.clone().zip(self.tls_key.clone()),
            limits: Limits {
                memory_per_query: self.memory_per_query_mb << 20,
                max_concurrent: self.max_concurrent_queries.max(1),
                queue_timeout: Duration::from_secs(self.queue_timeout),
                query_timeout: Duration::from_secs(self.query_timeout),
                max_statement_bytes: self.max_statement_kb.clamp(1, 1 << 30).saturating_mul(1024),
                max_body_bytes: self.max_body_mb.clamp(1, 1 << 20).saturating_mul(1 << 20),
                max_json_rows: self.max_json_rows.max(1),
                login_attempts_per_minute: self.login_attempts_per_minute.max(1),
            },
            token: self.token.clone(),
            default_dataset: self.dataset.clone(),
            result_ttl: Duration::from_secs(self.result_ttl),
            result_memory: self.result_memory_mb << 20,
            grace: Duration::from_secs(self.grace),
            scoring_workers: self.scoring_workers,
            session_key_file: self
                .session_key_file
                .clone()
                .unwrap_or_else(server::default_session_key_file),
            cluster: self.cluster.clone(),
        }
    }
}

/// Runs `dyntag serve`.
pub async fn run(global: &Global, args: ServeArgs) -> Result<()> {
    let catalog = global.open().await?;
    let catalog = if catalog.snapshot().datasets.is_empty() && args.dataset.is_none() {
        eprintln!(
            "no datasets in {}: setting up the demo dataset first",
            global.data
        );
        super::demo::prepare(global, None).await?
    } else {
        catalog
    };
    serve(catalog, &args, |_| {}).await
}

/// Serves `catalog` until SIGINT/SIGTERM, printing where to connect; `extra` prints more
/// once the server is ready.
pub async fn serve(
    catalog: Arc<Catalog>,
    args: &ServeArgs,
    extra: impl FnOnce(&Endpoints),
) -> Result<()> {
    server::serve(catalog, args.config(), server::shutdown_signal(), |e| {
        print_endpoints(e);
        extra(e);
    })
    .await
}

fn print_endpoints(e: &Endpoints) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\ndyntag is serving (Ctrl-C to stop)\n  Flight SQL  {}\n  HTTP        {}\n  token       {}\n  console     {}/ (in a browser; sign in with the token)\n\n\
         Flight SQL clients: user 'admin' with the token as password, or the token as a bearer token.\n\
         HTTP: curl -H 'Authorization: Bearer {}' -d 'SHOW TAG GROUPS' {}/api/sql",
        e.flight_url, e.http_url, e.token, e.http_url, e.token, e.http_url
    );
    let _ = out.flush();
}
