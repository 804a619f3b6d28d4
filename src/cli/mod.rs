//! The `dyntag` command line.

pub mod bench;
pub mod cluster;
pub mod dataset;
pub mod demo;
pub mod evaluate;
pub mod export;
pub mod ingest;
pub mod progress;
pub mod serve;
pub mod sql;
pub mod users;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use dyntag_core::{
    Catalog, CatalogConfig, DEFAULT_KEEP_REPLACED_SECS, default_cache_bytes, default_models_dir,
};

use crate::error::Result;

/// Natural-language tags as SQL tables and functions over an image and video library.
#[derive(Debug, Parser)]
#[command(name = "dyntag", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Data root: a directory (created if missing) or an s3://, gs://, az:// URL.
    #[arg(
        long,
        global = true,
        env = "DYNTAG_DATA",
        default_value = "dyntag-data"
    )]
    pub data: String,
    /// Model directories, or folders of model directories (repeat, or separate with ':').
    /// Default: the embedded sample-data/models.
    #[arg(
        long = "models",
        global = true,
        env = "DYNTAG_MODELS",
        value_delimiter = ':'
    )]
    pub models: Vec<PathBuf>,
    /// Memory for resident embedding and score tables, in MiB. Default: half of physical
    /// memory.
    #[arg(long, global = true, env = "DYNTAG_CACHE_MB")]
    pub cache_mb: Option<usize>,
    /// How long files a dataset stopped naming (data files a conversion rewrote, search
    /// index segments a merge replaced) stay for readers of earlier revisions, in seconds:
    /// the first commit after that removes them.
    #[arg(
        long,
        global = true,
        env = "DYNTAG_KEEP_REPLACED_SECS",
        default_value_t = DEFAULT_KEEP_REPLACED_SECS
    )]
    pub keep_replaced_secs: u64,
}

impl Global {
    /// The catalog configuration these options describe.
    pub fn catalog_config(&self) -> CatalogConfig {
        let mut models = self.models.clone();
        if !models.iter().any(|m| m == &default_models_dir()) {
            models.push(default_models_dir());
        }
        CatalogConfig {
            data: self.data.clone(),
            models,
            cache_bytes: self
                .cache_mb
                .map_or_else(default_cache_bytes, |mb| mb << 20),
            keep_replaced_secs: self.keep_replaced_secs,
        }
    }

    /// Opens the catalog.
    pub async fn open(&self) -> Result<Arc<Catalog>> {
        Ok(Catalog::open(self.catalog_config()).await?)
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run SQL: one-shot with -e/-f, interactive otherwise.
    Sql(sql::SqlArgs),
    /// Import embeddings, shots, transcripts and metadata into a dataset.
    Ingest(ingest::IngestArgs),
    /// Set up the demo dataset (the sample media library) and serve it.
    Demo(demo::DemoArgs),
    /// Serve Flight SQL and the HTTP API (the demo dataset when there is no dataset yet).
    Serve(serve::ServeArgs),
    /// Benchmarks that print their ratio against anchors measured in the same run.
    Bench(bench::BenchArgs),
    /// Users and roles (the admin command): create, grant, revoke, drop, list.
    Users(users::UsersArgs),
    /// The Tag Evaluator: sample, label from a file, metrics by threshold, chart, save.
    Evaluate(evaluate::EvaluateArgs),
    /// What a dataset stores: show it, or store its embeddings in another encoding.
    Dataset(dataset::DatasetArgs),
    /// Write a dataset's tables for other engines: Delta Lake tables (Spark, Databricks,
    /// Trino, DuckDB) with one commit per version of each tag group.
    Export(export::ExportArgs),
    /// Run a Ballista scheduler for dyntag's queries (servers use it with --cluster).
    Scheduler(cluster::SchedulerArgs),
    /// Run a Ballista executor of dyntag's queries for a scheduler.
    Executor(cluster::ExecutorArgs),
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Sql(args) => sql::run(&cli.global, args).await,
        Command::Ingest(args) => ingest::run(&cli.global, args).await,
        Command::Demo(args) => demo::run(&cli.global, args).await,
        Command::Serve(args) => serve::run(&cli.global, args).await,
        Command::Bench(args) => bench::run(&cli.global, args).await,
        Command::Users(args) => users::run(&cli.global, args).await,
        Command::Evaluate(args) => evaluate::run(&cli.global, args).await,
        Command::Dataset(args) => dataset::run(&cli.global, args).await,
        Command::Export(args) => export::run(&cli.global, args).await,
        Command::Scheduler(args) => cluster::run_scheduler(&cli.global, args).await,
        Command::Executor(args) => cluster::run_executor(&cli.global, args).await,
    }
}
