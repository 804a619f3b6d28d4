//! `dyntag bench`: benchmarks that print their figures next to anchors measured in the
//! same run (numpy/BLAS and DuckDB via `benches/anchor_scoring.py`, and a chunk at a time for
//! ten million rows via `benches/anchor_compact.py`; Python's ONNX Runtime via
//! `benches/anchor_vision.py`), and the zero-shot accuracy of the image tower.

mod cluster;
mod compact;
mod control_plane;
mod flight;
mod labels;
mod pixels;
mod preview;
pub mod scoring;
mod search;
mod soak;
mod supg;
mod zero_shot;

use std::path::PathBuf;

use super::Global;
use crate::error::Result;

pub use scoring::BENCH_MODEL;

/// Arguments of `dyntag bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: Which,
}

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum Which {
    /// Scoring: dt_score in SQL and a 50-tag group, against numpy and DuckDB.
    Scoring {
        /// Number of embeddings.
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Tags of the group scored in the compute-only measurement.
        #[arg(long, default_value_t = 50)]
        tags: usize,
        /// Working folder (default: a new temporary folder, removed afterwards).
        #[arg(long)]
        work: Option<PathBuf>,
        /// The anchor script.
        #[arg(long, default_value = "benches/anchor_scoring.py")]
        anchor: PathBuf,
        /// The Python that runs the anchor (needs numpy, pyarrow, duckdb).
        #[arg(long, env = "DYNTAG_PYTHON", default_value = "python3")]
        python: String,
    },
    /// Pixels: images/s of the ingest path against Python's ONNX Runtime on the same model
    /// and images, and video ingest speed as multiples of real time.
    Pixels {
        /// Images embedded (the sample library's images, cycled).
        #[arg(long, default_value_t = 1000)]
        images: usize,
        /// The anchor script.
        #[arg(long, default_value = "benches/anchor_vision.py")]
        anchor: PathBuf,
        /// The Python that runs the anchor (needs onnxruntime, numpy, pillow).
        #[arg(long, env = "DYNTAG_PYTHON", default_value = "python3")]
        python: String,
    },
    /// Zero-shot accuracy of a model on the sample library's drawings and on the photograph
    /// set (tag = category name), against chance and the previous default image tower.
    ZeroShot {
        /// The model (default: the default model).
        #[arg(long)]
        model: Option<String>,
    },
    /// Visual labels: F1 of each category tag of the sample library, text only and after
    /// 10, 25 and 50 labels chosen as uncertain assets or at random.
    Labels {
        /// The model (default: the default model).
        #[arg(long)]
        model: Option<String>,
    },
    /// Preview after a prompt edit: server-side time on 100,000 keyframes (target < 150 ms),
    /// against numpy scoring and sampling the same number of vectors.
    Preview {
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// Working folder (default: a new temporary folder, removed afterwards).
        #[arg(long)]
        work: Option<PathBuf>,
        #[arg(long, default_value = "benches/anchor_preview.py")]
        anchor: PathBuf,
        /// The Python that runs the anchor (needs numpy).
        #[arg(long, env = "DYNTAG_PYTHON", default_value = "python3")]
        python: String,
    },
    /// Thresholds with a guarantee (SUPG): how often precision/recall targets hold over
    /// many random evaluation samples of the sample library, and what they cost.
    Supg {
        /// Items per evaluation sample.
        #[arg(long, default_value_t = 100)]
        sample: usize,
        /// Random samples per tag.
        #[arg(long, default_value_t = 200)]
        trials: usize,
        /// δ: the guarantee holds with probability 1 − δ.
        #[arg(long, default_value_t = 0.05)]
        delta: f64,
    },
    /// Flight SQL: a large dt_ result streamed to the ADBC client, against reading the same
    /// rows from a local Arrow IPC file with pyarrow; the server's memory while it streams.
    Flight {
        /// Number of embeddings (the result has rows × tags rows).
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Tags of the published group.
        #[arg(long, default_value_t = 10)]
        tags: usize,
        /// Working folder (cleared at start and kept afterwards; default: a new temporary
        /// folder, removed afterwards).
        #[arg(long)]
        work: Option<PathBuf>,
        /// The client script.
        #[arg(long, default_value = "benches/flight_stream.py")]
        script: PathBuf,
        /// The Python that runs it (needs adbc-driver-flightsql, pyarrow).
        #[arg(long, env = "DYNTAG_PYTHON", default_value = "python3")]
        python: String,
    },
    /// Load and faults together: concurrent clients (Flight SQL queries, HTTP previews, tag
    /// edits, publishes) over the demo dataset while the server is killed (SIGKILL) and
    /// restarted; fails on any lost edit, partial table or client error but the kills'
    /// dropped connections.
    Soak {
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Times the server is killed and restarted, evenly spread.
        #[arg(long, default_value_t = 2)]
        kills: usize,
        #[arg(long, default_value_t = 256)]
        memory_per_query_mb: usize,
        #[arg(long, default_value_t = 16)]
        max_concurrent_queries: usize,
        /// The server's cache of resident embedding tables, MiB.
        #[arg(long, default_value_t = 512)]
        server_cache_mb: usize,
        /// Data folder (with the demo dataset, or where to set it up; default: a new
        /// temporary folder).
        #[arg(long)]
        work: Option<PathBuf>,
        #[arg(long, default_value = "benches/soak.py")]
        script: PathBuf,
        /// The Python that runs the clients (needs adbc-driver-flightsql, pyarrow).
        #[arg(long, env = "DYNTAG_PYTHON", default_value = "python3")]
        python: String,
    },
    /// Control plane: statement latency (ALTER TAG … SET THRESHOLD, SHOW TAGS, SHOW TAG GROUPS, a SELECT on a
    /// dt_ table) on a catalog of 1 group of 1 revision against one of many groups with a long
    /// history, on a local directory and on an S3 endpoint (moto).
    ControlPlane {
        #[arg(long, default_value_t = 1000)]
        groups: usize,
        #[arg(long, default_value_t = 50)]
        revisions: usize,
        /// Timed runs of each statement (the median is printed).
        #[arg(long, default_value_t = 100)]
        repeat: usize,
        /// Skip the S3 measurement.
        #[arg(long)]
        no_s3: bool,
        /// (Used by the S3 measurement.) Measure on `--data` only and print JSON.
        #[arg(long, hide = true)]
        here: bool,
        /// The Python that runs the S3 server (needs moto).
        #[arg(long, env = "DYNTAG_PYTHON", default_value = "python3")]
        python: String,
    },
    /// Compact embeddings: the accuracy of float16 and int8 against float32, and their
    /// dt_score rows/s, 50-tag scores/s, cold first query and peak memory within a cache
    /// budget, against numpy float32 gemv/sgemm and DuckDB on the same Parquet data.
    Compact {
        /// Synthetic embeddings of the speed measurement.
        #[arg(long, default_value_t = 10_000_000)]
        rows: usize,
        /// Tags of the group.
        #[arg(long, default_value_t = 50)]
        tags: usize,
        /// Synthetic embeddings of the accuracy measurement.
        #[arg(long, default_value_t = 100_000)]
        accuracy_rows: usize,
        /// The cache budget of the query process, in MiB.
        #[arg(long, default_value_t = 12_288)]
        budget_mb: usize,
        /// The encodings measured for speed.
        #[arg(long, value_delimiter = ',', default_value = "float32,float16,int8")]
        encodings: Vec<String>,
        /// Working folder (default: a new temporary folder, removed afterwards).
        #[arg(long)]
        work: Option<PathBuf>,
        /// The anchor script.
        #[arg(long, default_value = "benches/anchor_compact.py")]
        anchor: PathBuf,
        /// The Python that runs the anchor (needs numpy, pyarrow, duckdb).
        #[arg(long, env = "DYNTAG_PYTHON", default_value = "python3")]
        python: String,
    },
    /// Semantic search through the search index against the exact scan and FAISS HNSW
    /// (same graph parameters) on clustered synthetic vectors: build speed, top-10
    /// latency and recall@10.
    Search {
        /// Vectors in the library.
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Queries (each also answered by the exact scan, for the truth).
        #[arg(long, default_value_t = 100)]
        queries: usize,
        /// How the dataset stores its embeddings: float32, float16 or int8.
        #[arg(long, default_value = "float16")]
        encoding: String,
        /// A flat library (vectors around centres with noise as large as the centres, the
        /// hard case) instead of keyframes of shots of scenes of topics.
        #[arg(long)]
        flat: bool,
        /// Candidates asked of the index per search (its ef), one measurement each; FAISS is
        /// measured at the same efSearch values.
        #[arg(long, value_delimiter = ',', default_value = "64,128,256,512")]
        candidates: Vec<usize>,
        /// Working folder (default: a new temporary folder, removed afterwards).
        #[arg(long)]
        work: Option<PathBuf>,
        /// The anchor script.
        #[arg(long, default_value = "benches/anchor_search.py")]
        anchor: PathBuf,
        /// The Python that runs the anchor (needs numpy, pyarrow, faiss-cpu).
        #[arg(long, env = "DYNTAG_PYTHON", default_value = "python3")]
        python: String,
    },
    /// (Used by `compact`.) Scores a dataset against a whole group, compute timed alone.
    #[command(hide = true)]
    GroupScan {
        #[arg(long)]
        dataset: String,
        #[arg(long)]
        group: String,
    },
    /// (Used by `scoring`.) Runs one query `repeat` times and prints its timings as JSON.
    Query {
        #[arg(long)]
        dataset: String,
        #[arg(long)]
        sql: String,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Execute on this cluster (`df://HOST:PORT`).
        #[arg(long)]
        cluster: Option<String>,
    },
    /// (Used by `cluster`.) Scores the latest version of a group on a dataset as a scoring
    /// job does, without committing it, and prints its time and output as JSON.
    #[command(hide = true)]
    ScoreJob {
        #[arg(long)]
        dataset: String,
        #[arg(long)]
        group: String,
        /// Score on this cluster (`df://HOST:PORT`).
        #[arg(long)]
        cluster: Option<String>,
    },
    /// One process against a Ballista cluster of 1 and 2 executor processes on this
    /// machine: a dt_score filter and a 50-tag group's scores over synthetic float16
    /// keyframes (the cluster's overhead; on one machine no speed-up is expected).
    Cluster {
        /// Synthetic keyframes.
        #[arg(long, default_value_t = 10_000_000)]
        rows: usize,
        /// Tags of the group.
        #[arg(long, default_value_t = 50)]
        tags: usize,
        /// The cluster sizes measured (executor processes).
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        executors: Vec<usize>,
        /// Working folder (default: a new temporary folder, removed afterwards).
        #[arg(long)]
        work: Option<PathBuf>,
    },
}

/// Runs `dyntag bench`.
pub async fn run(global: &Global, args: BenchArgs) -> Result<()> {
    match args.which {
        Which::Scoring {
            rows,
            tags,
            work,
            anchor,
            python,
        } => scoring::scoring(global, rows, tags, work, &anchor, &python).await,
        Which::Pixels {
            images,
            anchor,
            python,
        } => pixels::run(global, images, &anchor, &python).await,
        Which::Flight {
            rows,
            tags,
            work,
            script,
            python,
        } => flight::run(global, rows, tags, work, &script, &python).await,
        Which::ZeroShot { model } => zero_shot::run(global, model).await,
        Which::Labels { model } => labels::run(global, model).await,
        Which::Preview {
            rows,
            work,
            anchor,
            python,
        } => preview::run(global, rows, work, &anchor, &python).await,
        Which::Supg {
            sample,
            trials,
            delta,
        } => supg::run(global, sample, trials, delta).await,
        Which::Soak {
            seconds,
            clients,
            kills,
            memory_per_query_mb,
            max_concurrent_queries,
            server_cache_mb,
            work,
            script,
            python,
        } => {
            soak::run(
                global,
                soak::Soak {
                    seconds,
                    clients,
                    kills,
                    memory_per_query_mb,
                    max_concurrent: max_concurrent_queries,
                    cache_mb: server_cache_mb,
                    work,
                    script: &script,
                    python: &python,
                },
            )
            .await
        }
        Which::ControlPlane {
            groups,
            revisions,
            repeat,
            no_s3,
            here,
            python,
        } => {
            let args = control_plane::Args {
                groups,
                revisions,
                repeat,
                s3: !no_s3,
                python: &python,
            };
            if here {
                control_plane::here(global, args).await
            } else {
                control_plane::run(global, args).await
            }
        }
        Which::Query {
            dataset,
            sql,
            repeat,
            cluster,
        } => scoring::query(global, &dataset, &sql, repeat, cluster).await,
        Which::ScoreJob {
            dataset,
            group,
            cluster,
        } => cluster::score_job(global, &dataset, &group, cluster.as_deref()).await,
        Which::Cluster {
            rows,
            tags,
            executors,
            work,
        } => {
            cluster::run(
                global,
                cluster::Args {
                    rows,
                    tags,
                    executors,
                    work,
                },
            )
            .await
        }
        Which::Search {
            rows,
            queries,
            encoding,
            flat,
            candidates,
            work,
            anchor,
            python,
        } => {
            let encoding = dyntag_core::model::dataset::encoding::Encoding::parse(&encoding)?;
            search::run(
                global,
                search::Args {
                    rows,
                    queries,
                    encoding,
                    flat,
                    candidates,
                    work,
                    anchor: &anchor,
                    python: &python,
                },
            )
            .await
        }
        Which::Compact {
            rows,
            tags,
            accuracy_rows,
            budget_mb,
            encodings,
            work,
            anchor,
            python,
        } => {
            compact::run(
                global,
                compact::Args {
                    rows,
                    tags,
                    accuracy_rows,
                    budget_mb,
                    encodings: encodings
                        .iter()
                        .map(|e| dyntag_core::model::dataset::encoding::Encoding::parse(e))
                        .collect::<std::result::Result<_, _>>()?,
                    work,
                    anchor: &anchor,
                    python: &python,
                },
            )
            .await
        }
        Which::GroupScan { dataset, group } => compact::group_scan(global, &dataset, &group).await,
    }
}

/// Resident memory of a process (Linux `/proc`), 0 when unknown.
pub fn rss_bytes(pid: u32) -> u64 {
    status_bytes(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// This process's peak resident memory (Linux `VmHWM`), 0 when unknown.
pub fn peak_rss_of_self() -> u64 {
    status_bytes("/proc/self/status", "VmHWM:")
}

/// A `kB` line of a `/proc/…/status` file, in bytes (0 when unknown).
fn status_bytes(path: &str, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Creates a tag group for a benchmark with every tag already out of `needs_review` (a
/// benchmark stands in for a user who opened each preview).
pub async fn create_reviewed_group(
    catalog: &std::sync::Arc<dyntag_core::Catalog>,
    name: &str,
    dataset: &str,
    tags: &[String],
) -> Result<()> {
    use dyntag_core::model::access::Principal;
    use dyntag_core::service::tags::{GroupEdit, TagService};
    let service = TagService::new(std::sync::Arc::clone(catalog), Principal::LocalAdmin);
    let group = service.create_group(name, dataset, tags, &[]).await?;
    for t in &group.tags {
        service
            .edit(
                &group.slug,
                &GroupEdit::Reviewed {
                    tag: t.name.clone(),
                },
                None,
            )
            .await?;
    }
    Ok(())
}
