//! dyntag on a Ballista cluster started in this process (its standalone mode: a scheduler
//! and an executor over the same store): every tour query, `dt_score` filters and joins of
//! `dt_` tables with `coactive_table` give the rows the single-process engine gives.

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use dyntag::engine::{Answer, Engine, EngineOptions, Statement};
use dyntag_catalog::statements;
use dyntag_core::Catalog;
use dyntag_core::model::access::Principal;

use super::serve::{Served, demo_data};
use super::util::{copy_dir, dyntag, run, run_err};
use crate::common::config;

/// The answer's rows as text lines, sorted (a cluster may return ties and partitions in
/// another order).
fn rows(a: &Answer) -> Vec<String> {
    let text = pretty_format_batches(&a.batches).unwrap().to_string();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(1) // the header
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// Statements beyond the tour: `dt_score` and `threshold_decision` in filters, and joins
/// of `dt_` tables with the asset tables.
const MORE: &[&str] = &[
    "SELECT coactive_image_id, round(dt_score(embedding, 'subjects', 'birds'), 4) AS s FROM coactive_table_adv WHERE dt_score(embedding, 'subjects', 'birds') > 0.3",
    "SELECT count(*) AS n FROM coactive_table_adv WHERE threshold_decision(dt_score(embedding, 'subjects', 'fish'), 'subjects', 'fish')",
    "SELECT d.tag_name, count(*) AS n, round(max(d.score), 4) AS best FROM dt_subjects_visual d JOIN coactive_table t USING (coactive_image_id) WHERE d.threshold_decision AND t.coactive_video_id IS NULL GROUP BY 1",
    "SELECT t.\"Title\", d.tag_name FROM dt_subjects_visual d JOIN coactive_table t USING (coactive_image_id) WHERE d.score > 0.5 AND t.\"Category\" = 'clocks'",
    "SELECT v.coactive_video_id, count(DISTINCT s.shot_id) AS shots FROM dt_subjects_shot s JOIN coactive_videos v USING (coactive_video_id) GROUP BY 1",
    "SELECT coactive_image_id, round(cosine_similarity(embedding, embed_text('a wall clock')), 4) AS s FROM coactive_table_adv WHERE cosine_similarity(embedding, embed_text('a wall clock')) > 0.2",
    "SELECT d.tag_name, count(*) AS n FROM dt_version('subjects', 'visual', 1) d WHERE d.threshold_decision GROUP BY 1",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tour_and_score_queries_give_the_single_process_rows_on_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    dyntag(&data, &["demo", "--setup-only"]);
    let catalog: Arc<Catalog> = Catalog::open(config(&data)).await.unwrap();

    let scheduler = dyntag::cluster::start_in_process(&catalog, 2)
        .await
        .unwrap();
    let local = Engine::new(Arc::clone(&catalog), Some("demo")).unwrap();
    let clustered = Engine::with_options(
        Arc::clone(&catalog),
        Some("demo"),
        EngineOptions {
            cluster: Some(scheduler.replace("http://", "df://")),
            ..EngineOptions::default()
        },
    )
    .unwrap();

    let mut queries = 0;
    let script = dyntag::cli::demo::TOUR.iter().map(|(_, sql)| *sql);
    for sql in script
        .flat_map(statements::split_statements)
        .chain(MORE.iter().map(|s| s.to_string()))
    {
        if statements::parse(&sql).unwrap().is_some() {
            // Tag statements run in the session that receives them, cluster or not; the
            // queries after them see their change both ways.
            run(&clustered, &sql).await;
            continue;
        }
        let Statement::Query(plan) = clustered.prepare(&sql).await.unwrap() else {
            panic!("{sql} is a query");
        };
        assert!(
            clustered.executes_on_cluster(&plan),
            "{sql}\n  is not sent to the cluster"
        );
        let here = run(&local, &sql).await;
        let there = run(&clustered, &sql).await;
        assert!(
            here.rows() > 0,
            "{sql}\n  returns no rows: the comparison would be empty"
        );
        assert_eq!(rows(&there), rows(&here), "{sql}");
        queries += 1;
    }
    assert_eq!(
        queries,
        5 + MORE.len(),
        "every SELECT of the tour and the others ran"
    );

    // What a cluster cannot read (system tables, made from the catalog in memory; table
    // functions' results, generate_series) runs in this process, with the same answer.
    for sql in [
        "SELECT dataset, shots FROM system.datasets",
        "SELECT count(*) AS n FROM dt_subjects_visual v JOIN system.tags t ON v.tag_name = t.tag_name",
        "SELECT value FROM generate_series(1, 3)",
        "SELECT count(*) AS n FROM semantic_search('a wall clock', 5)",
    ] {
        let Statement::Query(plan) = clustered.prepare(sql).await.unwrap() else {
            panic!("{sql} is a query");
        };
        assert!(
            !clustered.executes_on_cluster(&plan),
            "{sql}\n  was sent to the cluster"
        );
        assert_eq!(
            rows(&run(&clustered, sql).await),
            rows(&run(&local, sql).await),
            "{sql}"
        );
    }

    // The caller's access rules hold: plans are made with their view of the catalog, so a
    // user with no role on the dataset cannot name its tables, cluster or not.
    run(&local, "CREATE USER eve").await;
    let eve = Engine::with_options(
        Arc::clone(&catalog),
        None,
        EngineOptions {
            principal: Principal::User("eve".into()),
            cluster: Some(scheduler.replace("http://", "df://")),
            ..EngineOptions::default()
        },
    )
    .unwrap();
    let eve_here = Engine::with_options(
        Arc::clone(&catalog),
        None,
        EngineOptions {
            principal: Principal::User("eve".into()),
            ..EngineOptions::default()
        },
    )
    .unwrap();
    let sql = "SELECT count(*) FROM demo.dt_subjects_visual";
    let err = run_err(&eve, sql).await;
    assert!(err.contains("demo"), "{err}");
    assert_eq!(err, run_err(&eve_here, sql).await);
}

#[tokio::test]
async fn a_cluster_that_cannot_be_reached_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(config(&dir.path().join("data")))
        .await
        .unwrap();
    let bad = Engine::with_options(
        Arc::clone(&catalog),
        None,
        EngineOptions {
            cluster: Some("df://".into()),
            ..EngineOptions::default()
        },
    );
    let err = bad.err().expect("an URL with no host").to_string();
    assert!(err.contains("cluster URL 'df://'"), "{err}");

    // Nothing listens on port 9 (discard): the query fails, naming the scheduler.
    let engine = Engine::with_options(
        catalog,
        None,
        EngineOptions {
            cluster: Some("df://127.0.0.1:9".into()),
            ..EngineOptions::default()
        },
    )
    .unwrap();
    let err = run_err(&engine, "SELECT 1 + 1").await;
    assert!(err.contains("127.0.0.1:9"), "{err}");
}

/// A free TCP port on loopback (free when asked; the process given it binds it soon after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something listens on `port`.
fn wait_for_port(port: u16, what: &str, log: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not listen on {port}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A `dyntag scheduler` or `dyntag executor` process, killed when dropped.
struct Process {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Process {
    /// `dyntag --data DATA ARGS` with `env`, its standard error in `log`.
    fn start_with(
        data: &str,
        env: &[(&str, String)],
        args: &[&str],
        log: std::path::PathBuf,
    ) -> Self {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_dyntag"))
            .args(["--data", data])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { child, log }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn adbc_reads_through_a_server_on_a_scheduler_and_two_executors_that_lose_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(demo_data(), &data);
    let (url, processes) = start_cluster(data.to_str().unwrap(), &[], dir.path());

    // The long query's joins hold several GB in one process.
    let memory = ["--memory-per-query-mb", "8192"];
    // A job Ballista stalls after the loss of an executor ends at the server's query limit.
    let clustered = Served::start(
        &data,
        &[&memory[..], &["--cluster", &url, "--query-timeout", "30"]].concat(),
    );
    let single = Served::start(&data, &memory);
    let out = clustered.run_client(
        "cluster_client.py",
        &[&single.flight, &processes[1].child.id().to_string()],
    );
    if !out.status.success() {
        for p in &processes {
            eprintln!(
                "--- {}\n{}",
                p.log.display(),
                std::fs::read_to_string(&p.log).unwrap_or_default()
            );
        }
    }
    let out = clustered.passed("cluster_client.py", out);
    assert!(out.contains("cluster: all checks passed"));
}

/// A scheduler and two executors over `data` (with `env`); the scheduler's URL. The logs
/// go to `logs`.
fn start_cluster(
    data: &str,
    env: &[(&str, String)],
    logs: &std::path::Path,
) -> (String, Vec<Process>) {
    let port = free_port();
    let scheduler = Process::start_with(
        data,
        env,
        &["scheduler", "--listen", &format!("127.0.0.1:{port}")],
        logs.join("scheduler.log"),
    );
    wait_for_port(port, "the scheduler", &scheduler.log);
    let url = format!("df://127.0.0.1:{port}");
    let mut processes = vec![scheduler];
    for i in 0..2 {
        let (flight, grpc) = (free_port(), free_port());
        let e = Process::start_with(
            data,
            env,
            &[
                "executor",
                "--scheduler",
                &url,
                "--port",
                &flight.to_string(),
                "--grpc-port",
                &grpc.to_string(),
                "--vcores",
                "1",
            ],
            logs.join(format!("executor-{i}.log")),
        );
        wait_for_port(flight, "an executor", &e.log);
        processes.push(e);
    }
    (url, processes)
}

#[test]
fn a_cluster_reads_a_dataset_on_s3() {
    let s3 = super::object_store::S3::start();
    let mut ingest = vec!["ingest", "--dataset", "news", "--quiet"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    ingest.extend(
        crate::common::transcript_files()
            .iter()
            .map(|p| p.to_string_lossy().into_owned()),
    );
    let args: Vec<&str> = ingest.iter().map(String::as_str).collect();
    crate::util::succeeded(&s3.dyntag(&args));
    crate::util::succeeded(&s3.dyntag(&["sql", "--dataset", "news", "-e", "CREATE TAG GROUP Topics ON DATASET news TAGS ('cooking', 'wildlife'); PREVIEW TAG 'cooking' IN GROUP topics; PREVIEW TAG 'wildlife' IN GROUP topics; PUBLISH TAG GROUP topics"]));

    let logs = tempfile::tempdir().unwrap();
    let env = s3.env();
    let (url, processes) = start_cluster(super::object_store::S3::DATA, &env, logs.path());
    for sql in [
        "SELECT tag_name, coactive_video_id, round(score, 4) AS s FROM dt_topics_transcript WHERE threshold_decision",
        "SELECT coactive_video_id, segment_id, round(dt_score(embedding, 'topics', 'cooking'), 4) AS s FROM coactive_transcripts WHERE dt_score(embedding, 'topics', 'cooking') > 0.2",
    ] {
        let here = crate::util::succeeded(&s3.dyntag(&[
            "sql",
            "--dataset",
            "news",
            "--format",
            "csv",
            "-e",
            sql,
        ]));
        let there = s3.dyntag(&[
            "sql",
            "--cluster",
            &url,
            "--dataset",
            "news",
            "--format",
            "csv",
            "-e",
            sql,
        ]);
        if !there.status.success() {
            for p in &processes {
                eprintln!(
                    "--- {}\n{}",
                    p.log.display(),
                    std::fs::read_to_string(&p.log).unwrap_or_default()
                );
            }
        }
        let there = crate::util::succeeded(&there);
        let sorted = |t: &str| {
            let mut l: Vec<String> = t.lines().map(str::to_string).collect();
            l.sort();
            l
        };
        assert!(here.lines().count() > 2, "{sql}: {here}");
        assert_eq!(sorted(&there), sorted(&here), "{sql}");
    }
}
