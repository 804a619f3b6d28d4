//! dyntag on an Apache DataFusion Ballista cluster: queries planned by the session that
//! received them (its caller's catalog view, its access rules) and executed by a
//! Ballista scheduler and its executors, which rebuild dyntag's tables, scans and
//! functions from the plan's bytes over the same store (`codec.rs`).
//!
//! ```text
//! codec.rs     Ballista's codecs with dyntag's nodes and functions in front
//! scoring.rs   scoring jobs run as a cluster's tasks, one part of the job each
//! ```
//!
//! A cluster is named by its scheduler's URL (`df://host:port`); [`start_in_process`]
//! starts one inside this process (Ballista's standalone mode) for tests and one-machine
//! runs.

pub mod codec;
pub mod scoring;

use std::sync::Arc;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::common::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::{SendableRecordBatchStream, SessionState};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{AppError, Result};
use codec::{LogicalCodec, PhysicalCodec, Rebuild};
use dyntag_core::store::Store;
use dyntag_core::{Catalog, CatalogError};

/// The scheduler's port when a cluster URL names none (Ballista's default).
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// `config` with the codecs of dyntag's plans over `catalog`, and Ballista's static
/// planner: its adaptive one (the default) does not finish a job that lost an executor
/// (Ballista 55.0.0: the stage it rolls back refuses the re-run tasks' results, "Can't
/// find active stage to update stage outputs", and the job waits forever).
pub fn with_codecs(config: SessionConfig, catalog: &Arc<Catalog>) -> SessionConfig {
    let rebuild = Rebuild::new(Arc::clone(catalog));
    let mut config = config
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::new(rebuild.clone())))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::new(rebuild)));
    config
        .options_mut()
        .set(ADAPTIVE_PLANNER, "false")
        .expect("Ballista's configuration is registered by the upgrade");
    config
}

/// Ballista's switch of its adaptive planner.
const ADAPTIVE_PLANNER: &str = "ballista.planner.adaptive.enabled";

/// The session of a cluster's own processes (scheduler, executors): no catalog — the
/// plans they receive name their tables' files — dyntag's codecs, and the store.
pub fn process_state(catalog: &Arc<Catalog>) -> Result<SessionState> {
    let runtime = RuntimeEnvBuilder::new().build_arc()?;
    runtime.register_object_store(Store::url().as_ref(), catalog.store().object_store());
    Ok(SessionStateBuilder::new()
        .with_default_features()
        .with_config(with_codecs(SessionConfig::new_with_ballista(), catalog))
        .with_runtime_env(runtime)
        .build())
}

/// `ctx`'s session made to execute its queries on the cluster whose scheduler is
/// `scheduler` (`df://host:port` or `http://host:port`): planning stays with `ctx`'s
/// catalog; dyntag's functions are registered again after Ballista's upgrade, which
/// replaces the scalar functions.
pub fn upgrade(
    ctx: &SessionContext,
    scheduler: &str,
    catalog: &Arc<Catalog>,
) -> Result<SessionContext> {
    let state = ctx.state();
    let functions: Vec<_> = state.scalar_functions().values().cloned().collect();
    let config = with_codecs(state.config().clone(), catalog);
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build()
        .upgrade_for_ballista(scheduler_url(scheduler)?)?;
    let remote = SessionContext::new_with_state(state);
    for f in functions {
        if dyntag_udfs::is_dyntag_function(&f) {
            remote.register_udf(f.as_ref().clone());
        }
    }
    Ok(remote)
}

/// `stream` of a query executed on a cluster, with the cluster's own failures typed: an
/// executor lost, a stage or job failed, a scheduler or executor not reached are the
/// cluster's (`unavailable`, not an internal error of this server); a plan the cluster
/// cannot be sent is `unimplemented`. Other errors (a query's own, raised on an executor)
/// pass as they are.
pub fn failures_named(stream: SendableRecordBatchStream) -> SendableRecordBatchStream {
    use futures::StreamExt;

    let schema = stream.schema();
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        stream.map(|r| r.map_err(cluster_failure)),
    ))
}

fn cluster_failure(e: DataFusionError) -> DataFusionError {
    let text = e.to_string();
    if text.contains("failed to serialize logical plan") {
        return DataFusionError::NotImplemented(format!(
            "this query cannot be sent to the cluster (run it without --cluster): {}",
            text.lines().next().unwrap_or_default()
        ));
    }
    let the_cluster = [
        "Job failed",
        "has failed",
        "Error connecting to Ballista",
        "executor",
    ]
    .iter()
    .any(|w| text.contains(w));
    if the_cluster {
        return DataFusionError::External(Box::new(CatalogError::Upstream(format!(
            "the cluster failed to execute the query: {}",
            text.lines().next().unwrap_or_default()
        ))));
    }
    e
}

/// `http://host:port` of a scheduler named `df://host:port` (or already `http://`).
fn scheduler_url(url: &str) -> Result<String> {
    let parsed =
        url::Url::parse(url).map_err(|e| AppError::Usage(format!("cluster URL '{url}': {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| AppError::Usage(format!("cluster URL '{url}' names no host")))?;
    let port = parsed.port().unwrap_or(DEFAULT_SCHEDULER_PORT);
    Ok(format!("http://{host}:{port}"))
}

/// Starts a scheduler and an executor of `vcores` task slots in this process, over
/// `catalog`'s store (Ballista's standalone mode, for tests and one-machine runs: its
/// scheduler keeps Ballista's default retries); returns the scheduler's URL.
pub async fn start_in_process(catalog: &Arc<Catalog>, vcores: usize) -> Result<String> {
    let state = process_state(catalog)?;
    let addr = ballista_scheduler::standalone::new_standalone_scheduler_from_state(&state)
        .await
        .map_err(cluster_error)?;
    let url = format!("http://localhost:{}", addr.port());
    let scheduler = loop {
        match SchedulerGrpcClient::connect(url.clone()).await {
            Ok(s) => break s,
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
    ballista_executor::new_standalone_executor_from_state(scheduler, vcores, &state)
        .await
        .map_err(cluster_error)?;
    Ok(url)
}

fn cluster_error(e: ballista_core::error::BallistaError) -> AppError {
    AppError::Environment(format!("cluster: {e}"))
}

/// A scheduler of dyntag's cluster listening on `addr`, over `catalog`'s store; runs until
/// the process is stopped.
pub async fn run_scheduler(catalog: &Arc<Catalog>, addr: std::net::SocketAddr) -> Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;

    let state = process_state(catalog)?;
    let config = state.config().clone();
    let session = state.clone();
    let scheduler = SchedulerConfig {
        bind_host: addr.ip().to_string(),
        bind_port: addr.port(),
        // A job's session: ours, with the settings the client sent (Ballista lays them over
        // the configuration below, which carries the codecs).
        override_session_builder: Some(Arc::new(move |config| {
            Ok(SessionStateBuilder::new_from_existing(session.clone())
                .with_config(config)
                .build())
        })),
        override_config_producer: Some(Arc::new(move || config.clone())),
        override_logical_codec: Some(state.config().ballista_logical_extension_codec()),
        override_physical_codec: Some(state.config().ballista_physical_extension_codec()),
        // Executors beat every 5 s (see `run_executor`): one silent for 20 s is dropped,
        // and the queries it was running fail (below).
        executor_timeout_seconds: 20,
        expire_dead_executor_interval_seconds: 5,
        no_executors_grace_period_seconds: 20,
        // A query that loses an executor fails, naming it, rather than being retried:
        // Ballista 55.0.0's retries (a stage re-run after a shuffle fetch failed) were seen
        // to return rows twice (a count of 986,830,208 for 779,076,480). The caller may
        // run it again.
        task_max_failures: 1,
        stage_max_failures: 1,
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&scheduler)
        .await
        .map_err(cluster_error)?;
    ballista_scheduler::scheduler_process::start_server(cluster, addr, Arc::new(scheduler))
        .await
        .map_err(cluster_error)
}

/// Where an executor listens and whom it serves.
#[derive(Debug, Clone)]
pub struct ExecutorPlace {
    /// The scheduler (`df://host:port`).
    pub scheduler: String,
    /// The host it listens on, as the scheduler and the other executors reach it.
    pub host: String,
    /// Its Flight port (shuffle data) and its gRPC port (tasks).
    pub port: u16,
    pub grpc_port: u16,
    /// Task slots.
    pub vcores: usize,
    /// Where shuffle files are written (a temporary directory if `None`).
    pub work_dir: Option<String>,
    /// Memory its tasks may hold together (Ballista's default if `None`: 70 % of the
    /// machine's).
    pub memory_bytes: Option<u64>,
}

/// An executor of dyntag's cluster over `catalog`'s store; runs until the process is
/// stopped (or its scheduler tells it to stop).
pub async fn run_executor(catalog: &Arc<Catalog>, place: ExecutorPlace) -> Result<()> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};

    let url = url::Url::parse(&scheduler_url(&place.scheduler)?)
        .map_err(|e| AppError::Usage(format!("cluster URL '{}': {e}", place.scheduler)))?;
    let state = process_state(catalog)?;
    let config = state.config().clone();
    let runtime = Arc::clone(state.runtime_env());
    let executor = ExecutorProcessConfig {
        bind_host: place.host.clone(),
        external_host: Some(place.host),
        port: place.port,
        grpc_port: place.grpc_port,
        scheduler_host: url.host_str().unwrap_or("localhost").to_string(),
        scheduler_port: url.port().unwrap_or(DEFAULT_SCHEDULER_PORT),
        scheduler_connect_timeout_seconds: 30,
        vcores: place.vcores,
        work_dir: place.work_dir,
        executor_heartbeat_interval_seconds: 5,
        memory_pool_size: place.memory_bytes,
        override_function_registry: Some(Arc::new((&state).into())),
        override_runtime_producer: Some(Arc::new(move |_| Ok(Arc::clone(&runtime)))),
        override_config_producer: Some(Arc::new(move || config.clone())),
        override_logical_codec: Some(state.config().ballista_logical_extension_codec()),
        override_physical_codec: Some(state.config().ballista_physical_extension_codec()),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(executor))
        .await
        .map_err(cluster_error)
}
