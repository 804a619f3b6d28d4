//! `dyntag scheduler` and `dyntag executor`: the processes of a Ballista cluster that runs
//! dyntag's queries (see `crate::cluster`). Both read the data root given by `--data`.

use std::net::SocketAddr;

use super::Global;
use crate::cluster::{self, ExecutorPlace};
use crate::error::Result;

/// Arguments of `dyntag scheduler`.
#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// Address to listen on (servers and executors reach it as df://HOST:PORT).
    #[arg(long, default_value = "127.0.0.1:50050")]
    pub listen: SocketAddr,
}

/// Runs `dyntag scheduler`.
pub async fn run_scheduler(global: &Global, args: SchedulerArgs) -> Result<()> {
    let catalog = global.open().await?;
    eprintln!(
        "dyntag scheduler on df://{} over {}",
        args.listen, global.data
    );
    cluster::run_scheduler(&catalog, args.listen).await
}

/// Arguments of `dyntag executor`.
#[derive(Debug, clap::Args)]
pub struct ExecutorArgs {
    /// The scheduler to serve.
    #[arg(long, default_value = "df://127.0.0.1:50050")]
    pub scheduler: String,
    /// The host to listen on, as the scheduler and other executors reach it.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The port of its Flight service (other executors fetch shuffle data from it).
    #[arg(long, default_value_t = 50061)]
    pub port: u16,
    /// The port of its task service.
    #[arg(long, default_value_t = 50062)]
    pub grpc_port: u16,
    /// Task slots (default: the machine's cores).
    #[arg(long)]
    pub vcores: Option<usize>,
    /// Where shuffle files are written (default: a temporary directory).
    #[arg(long)]
    pub work_dir: Option<String>,
    /// Memory its tasks may hold together, in MiB, shared by its task slots (sorts and
    /// joins spill to `--work-dir` beyond it). Default: 70 % of the machine's memory.
    #[arg(long)]
    pub memory_mb: Option<u64>,
}

/// Runs `dyntag executor`.
pub async fn run_executor(global: &Global, args: ExecutorArgs) -> Result<()> {
    let catalog = global.open().await?;
    let vcores = args
        .vcores
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    eprintln!(
        "dyntag executor on {}:{} ({vcores} task slots) for {} over {}",
        args.host, args.port, args.scheduler, global.data
    );
    cluster::run_executor(
        &catalog,
        ExecutorPlace {
            scheduler: args.scheduler,
            host: args.host,
            port: args.port,
            grpc_port: args.grpc_port,
            vcores,
            work_dir: args.work_dir,
            memory_bytes: args.memory_mb.map(|mb| mb << 20),
        },
    )
    .await
}
