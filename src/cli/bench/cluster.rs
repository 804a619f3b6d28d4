//! `dyntag bench cluster`: what executing on a Ballista cluster costs against one process,
//! on N synthetic 512-d keyframes stored as float16 (ten million by default) with a 50-tag
//! group: a `dt_score` filter and the scores of every tag of the group, in one process
//! (its resident cache, warm) and on a scheduler with 1 and with 2 executor processes on
//! this machine (each query reads the stored files: executors keep no cache). On one
//! machine no speed-up is expected; the figure is the cluster's overhead.

use std::path::PathBuf;
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dyntag_core::model::dataset::encoding::Encoding;

use super::scoring::{QUERY, child, synthetic_dataset};
use crate::cli::Global;
use crate::error::{AppError, Result};

/// The benchmark's settings.
pub(super) struct Args {
    pub rows: usize,
    pub tags: usize,
    pub executors: Vec<usize>,
    pub work: Option<PathBuf>,
}

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| AppError::io("finding a free port", e))?
        .port())
}

fn wait_for(port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(AppError::Environment(format!(
                "a cluster process did not listen on port {port}"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn spawn(data: &str, args: &[&str]) -> Result<Running> {
    let exe = std::env::current_exe().map_err(|e| AppError::io("locating dyntag", e))?;
    Process::new(exe)
        .args(["--data", data])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .map_err(|e| AppError::io("starting a cluster process", e))
}

/// A scheduler and `executors` executors over `data`, sharing this machine's cores.
fn start_cluster(data: &str, executors: usize) -> Result<(String, Vec<Running>)> {
    let port = free_port()?;
    let mut running = vec![spawn(
        data,
        &["scheduler", "--listen", &format!("127.0.0.1:{port}")],
    )?];
    wait_for(port)?;
    let url = format!("df://127.0.0.1:{port}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let vcores = (cores / executors).max(1).to_string();
    for _ in 0..executors {
        let (flight, grpc) = (free_port()?, free_port()?);
        running.push(spawn(
            data,
            &[
                "executor",
                "--scheduler",
                &url,
                "--port",
                &flight.to_string(),
                "--grpc-port",
                &grpc.to_string(),
                "--vcores",
                &vcores,
            ],
        )?);
        wait_for(flight)?;
    }
    // Registration with the scheduler follows the listening port by a moment.
    std::thread::sleep(Duration::from_secs(2));
    Ok((url, running))
}

pub(super) async fn run(global: &Global, args: Args) -> Result<()> {
    let bench = synthetic_dataset(
        global,
        args.work.clone(),
        args.rows,
        Some(Encoding::Float16),
    )
    .await?;
    // Room on the disk: the dataset holds them now.
    let _ = std::fs::remove_file(&bench.parquet);
    let (g, catalog) = (bench.global.clone(), Arc::clone(&bench.catalog));
    let mut names = vec!["t".to_string()];
    names.extend((1..args.tags).map(|i| format!("tag {i}")));
    super::create_reviewed_group(&catalog, "g", "bench", &names).await?;
    drop(catalog);

    let scores = names
        .iter()
        .map(|n| format!("dt_score(embedding, 'g', '{n}')"))
        .collect::<Vec<_>>()
        .join(", ");
    let group_query =
        format!("SELECT count(*) FROM coactive_table_adv WHERE greatest({scores}) > 0.5");
    let queries = [
        ("dt_score_filter", QUERY.to_string()),
        ("group_scores", group_query),
    ];

    let measure = |cluster: Option<&str>, sql: &str| -> Result<(f64, f64, String)> {
        let mut a = vec![
            "bench",
            "query",
            "--dataset",
            "bench",
            "--repeat",
            "3",
            "--sql",
            sql,
        ];
        if let Some(url) = cluster {
            a.extend(["--cluster", url]);
        }
        let out = child(&g, None, &a)?;
        Ok((
            out["first_seconds"].as_f64().unwrap_or(f64::NAN),
            out["best_seconds"].as_f64().unwrap_or(f64::NAN),
            out["answer"].as_str().unwrap_or_default().to_string(),
        ))
    };
    let rows = args.rows as f64;
    let mut single = Vec::new();
    for (name, sql) in &queries {
        let (first, best, answer) = measure(None, sql)?;
        let per_row = if *name == "group_scores" {
            args.tags as f64
        } else {
            1.0
        };
        println!(
            "one_process {name:<16} first_seconds={first:.2} best_seconds={best:.2} rows_per_s={:.3e} scores_per_s={:.3e} answer={answer}",
            rows / best,
            rows * per_row / best
        );
        single.push((first, best, answer));
    }
    for &n in &args.executors {
        let (url, _cluster) = start_cluster(&g.data, n)?;
        for ((name, sql), (one_first, one_best, one_answer)) in queries.iter().zip(&single) {
            let (first, best, answer) = measure(Some(&url), sql)?;
            if &answer != one_answer {
                return Err(AppError::Incomplete(format!(
                    "{name}: the cluster answered {answer}, one process {one_answer}"
                )));
            }
            let per_row = if *name == "group_scores" {
                args.tags as f64
            } else {
                1.0
            };
            println!(
                "cluster_{n}_executors {name:<16} first_seconds={first:.2} best_seconds={best:.2} rows_per_s={:.3e} scores_per_s={:.3e} answer={answer} overhead_vs_one_process_warm={:.2} vs_one_process_first={:.2}",
                rows / best,
                rows * per_row / best,
                best / one_best,
                best / one_first
            );
        }
    }
    println!(
        "(overhead_vs_one_process_warm = the cluster's best time / one process's best, from its warm resident cache; vs_one_process_first = the cluster's best time / one process's first run, which reads the stored files as executors always do; same machine, same answer)"
    );
    Ok(())
}
