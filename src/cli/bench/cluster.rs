//! `dyntag bench cluster`: what executing on a Ballista cluster costs against one process,
//! on N synthetic 512-d keyframes stored as float16 (ten million by default) with a 50-tag
//! group: scoring the group (the job publishing runs: every keyframe × tag written as a
//! score row), a `dt_score` filter and the scores of every tag of the group, in one process
//! (queries from its resident cache, warm) and on a scheduler with 1 and with 2 executor
//! processes on this machine (each query reads the stored files: executors keep no cache).
//! On one machine no speed-up is expected; the figure is the cluster's overhead.

use std::path::PathBuf;
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dyntag_core::model::dataset::encoding::Encoding;

use super::scoring::{QUERY, child, synthetic_dataset_in_chunks};
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
    // Written and imported a million rows at a time: the float32 source of ten million is
    // 20 GB beside the dataset's 10 otherwise.
    let bench = synthetic_dataset_in_chunks(
        global,
        args.work.clone(),
        args.rows,
        Some(Encoding::Float16),
        Some(1 << 20),
    )
    .await?;
    let (g, catalog) = (bench.global.clone(), Arc::clone(&bench.catalog));
    let mut names = vec!["t".to_string()];
    names.extend((1..args.tags).map(|i| format!("tag {i}")));
    super::create_reviewed_group(&catalog, "g", "bench", &names).await?;
    // Published (version 1, its job queued); the children below score it without
    // committing.
    dyntag_core::service::tags::TagService::new(
        Arc::clone(&catalog),
        dyntag_core::model::access::Principal::LocalAdmin,
    )
    .publish("g", None)
    .await?;
    drop(catalog);
    println!(
        "dataset rows={} tags={} encoding=float16 import_seconds={:.1}",
        args.rows, args.tags, bench.import_secs
    );

    let score = |cluster: Option<&str>| -> Result<serde_json::Value> {
        let mut a = vec!["bench", "score-job", "--dataset", "bench", "--group", "g"];
        if let Some(url) = cluster {
            a.extend(["--cluster", url]);
        }
        child(&g, None, &a)
    };
    let one = score(None)?;
    let one_secs = one["seconds"].as_f64().unwrap_or(f64::NAN);
    let score_rows = one["score_rows"].as_u64().unwrap_or(0) as f64;
    println!(
        "one_process {:<16} seconds={one_secs:.2} keyframes_per_s={:.3e} score_rows_per_s={:.3e} score_rows={score_rows} parts={}",
        "scoring_job",
        args.rows as f64 / one_secs,
        score_rows / one_secs,
        one["parts"],
    );

    let scores = names
        .iter()
        .map(|n| format!("dt_score(embedding, 'g', '{n}')"))
        .collect::<Vec<_>>()
        .join(", ");
    let group_query =
        format!("SELECT count(*) FROM coactive_table_adv WHERE greatest({scores}) > 0.5");
    // (name, statement, scores per row)
    let queries = [
        ("dt_score_filter", QUERY.to_string(), 1.0),
        ("group_scores", group_query, args.tags as f64),
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
    for (name, sql, per_row) in &queries {
        let (first, best, answer) = measure(None, sql)?;
        println!(
            "one_process {name:<16} first_seconds={first:.2} best_seconds={best:.2} rows_per_s={:.3e} scores_per_s={:.3e} answer={answer}",
            rows / best,
            rows * per_row / best
        );
        single.push((first, best, answer));
    }
    for &n in &args.executors {
        let (url, _cluster) = start_cluster(&g.data, n)?;
        let there = score(Some(&url))?;
        let secs = there["seconds"].as_f64().unwrap_or(f64::NAN);
        for key in ["score_rows", "shot_rows", "video_rows"] {
            if there[key] != one[key] {
                return Err(AppError::Incomplete(format!(
                    "scoring on the cluster wrote {key}={}, one process {}",
                    there[key], one[key]
                )));
            }
        }
        let (a, b) = (
            one["score_sum"].as_f64().unwrap_or(f64::NAN),
            there["score_sum"].as_f64().unwrap_or(f64::NAN),
        );
        if (a - b).abs() > 1e-9 * a.abs().max(1.0) {
            return Err(AppError::Incomplete(format!(
                "scoring on the cluster: scores summing to {b}, one process {a}"
            )));
        }
        println!(
            "cluster_{n}_executors {:<16} seconds={secs:.2} keyframes_per_s={:.3e} score_rows_per_s={:.3e} score_rows={score_rows} parts={} overhead_vs_one_process={:.2}",
            "scoring_job",
            args.rows as f64 / secs,
            score_rows / secs,
            there["parts"],
            secs / one_secs
        );
        for ((name, sql, per_row), (one_first, one_best, one_answer)) in queries.iter().zip(&single)
        {
            let (first, best, answer) = measure(Some(&url), sql)?;
            if &answer != one_answer {
                return Err(AppError::Incomplete(format!(
                    "{name}: the cluster answered {answer}, one process {one_answer}"
                )));
            }
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
        "(scoring_job: the group's scores written as a publish writes them, not committed; the cluster's score rows, shot and video rows and score sum checked equal to one process's; overhead_vs_one_process = its time / one process's)"
    );
    println!(
        "(overhead_vs_one_process_warm = the cluster's best time / one process's best, from its warm resident cache; vs_one_process_first = the cluster's best time / one process's first run, which reads the stored files as executors always do; same machine, same answer)"
    );
    Ok(())
}

/// `bench score-job`: scores the latest version of `group` on `dataset` as the scoring job
/// does — here, or on the cluster `cluster` — without committing it; prints the seconds,
/// the rows written, the sum of the keyframe scores (to compare runs) as JSON, and removes
/// the files.
pub(super) async fn score_job(
    global: &Global,
    dataset: &str,
    group: &str,
    cluster: Option<&str>,
) -> Result<()> {
    use dyntag_core::model::applications::ScoreTable;
    use dyntag_core::model::snapshot::Definition;
    use dyntag_core::scoring::materialize::{LocalParts, score_dataset};
    use dyntag_core::store::progress::NoProgress;

    let catalog = global.open().await?;
    let snapshot = catalog.refresh().await?;
    let (version, frozen) = snapshot
        .versions
        .iter()
        .filter(|((g, _), _)| g == group)
        .map(|((_, v), f)| (*v, Arc::clone(f)))
        .max_by_key(|(v, _)| *v)
        .ok_or_else(|| AppError::Usage(format!("tag group '{group}' has no version")))?;
    let definition = Definition {
        group: group.to_string(),
        version: Some(version),
        revision: 0,
        tags: frozen.tags.clone(),
    };
    let remote = match cluster {
        Some(url) => Some(crate::cluster::scoring::ClusterScoring::connect(
            url, &catalog,
        )?),
        None => None,
    };
    let here = LocalParts::new(Arc::clone(&catalog));
    let started = Instant::now();
    let run = score_dataset(
        &catalog,
        &snapshot,
        dataset,
        &definition,
        &frozen.options,
        match &remote {
            Some(cluster) => cluster.as_ref(),
            None => &here,
        },
        &NoProgress,
    )
    .await?;
    let seconds = started.elapsed().as_secs_f64();

    let rows = |t: ScoreTable| -> u64 {
        run.tables
            .get(&t)
            .map_or(0, |f| f.iter().map(|f| f.rows).sum())
    };
    // The parts the keyframes were scored in (their files are named by part).
    let parts = run
        .tables
        .get(&ScoreTable::Visual)
        .into_iter()
        .flatten()
        .filter_map(|f| f.path.rsplit('/').next()?.split('-').next())
        .filter(|name| name.starts_with("part"))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        .max(1);
    // The sum of every keyframe score, read back from the files written.
    let ctx = datafusion::prelude::SessionContext::new();
    let root = std::path::Path::new(&global.data);
    let mut sum = 0.0;
    for f in run.tables.get(&ScoreTable::Visual).into_iter().flatten() {
        let path = root.join(&f.path);
        let frame = ctx
            .read_parquet(
                path.to_string_lossy().as_ref(),
                datafusion::prelude::ParquetReadOptions::default(),
            )
            .await?
            .aggregate(
                vec![],
                vec![datafusion::functions_aggregate::expr_fn::sum(
                    datafusion::prelude::col("score"),
                )],
            )?;
        for b in frame.collect().await? {
            use datafusion::arrow::array::{Array, AsArray};
            let c = b
                .column(0)
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            if c.is_valid(0) {
                sum += c.value(0);
            }
        }
    }
    let dir = dyntag_core::model::applications::run_dir(dataset, group, version, &run.id);
    let _ = std::fs::remove_dir_all(root.join(dir.as_ref()));
    println!(
        "{}",
        serde_json::json!({
            "seconds": seconds,
            "parts": parts,
            "score_rows": rows(ScoreTable::Visual),
            "shot_rows": rows(ScoreTable::Shot),
            "video_rows": rows(ScoreTable::Video),
            "score_sum": sum,
        })
    );
    Ok(())
}
