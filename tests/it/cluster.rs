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

/// A group with every roll-up that merges parts (the best 3 keyframes of a shot, coverage
/// of a video), previewed and published.
const SCENES: &str = "CREATE TAG GROUP Scenes ON DATASET demo TAGS ('clocks', 'boats', 'music') WITH (shot_aggregation = 'top3_mean', video_aggregation = 'coverage(0.3)'); PREVIEW TAG 'clocks' IN GROUP scenes; PREVIEW TAG 'boats' IN GROUP scenes; PREVIEW TAG 'music' IN GROUP scenes; PUBLISH TAG GROUP scenes";

/// The four tables of group `scenes`, scores to 9 places.
const SCENES_TABLES: &[&str] = &[
    "SELECT coactive_image_id, coactive_video_id, shot_id, tag_name, round(score, 9) AS s, threshold_decision, group_version FROM dt_scenes_visual",
    "SELECT coactive_video_id, segment_id, tag_name, round(score, 9) AS s, group_version FROM dt_scenes_transcript",
    "SELECT coactive_video_id, shot_id, start_time_ms, end_time_ms, tag_name, round(score, 9) AS s, group_version FROM dt_scenes_shot",
    "SELECT coactive_video_id, tag_name, round(score, 9) AS s, group_version FROM dt_scenes_video",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_scored_in_parts_on_a_cluster_has_the_single_process_tables() {
    use dyntag::cluster::scoring::ClusterScoring;
    use dyntag_core::model::applications::{ScoreTable, ScoringStatus};
    use dyntag_core::service::jobs;
    use dyntag_core::store::progress::NoProgress;

    let dir = tempfile::tempdir().unwrap();
    let (here, there) = (dir.path().join("here"), dir.path().join("there"));
    copy_dir(demo_data(), &here);
    copy_dir(demo_data(), &there);

    // Here: published and scored in this process.
    let here = Engine::new(Catalog::open(config(&here)).await.unwrap(), Some("demo")).unwrap();
    for sql in statements::split_statements(SCENES) {
        run(&here, &sql).await;
    }

    // There: published by a session that only queues the job (a server's), then scored on
    // a cluster in parts of one file each.
    let catalog = Catalog::open(config(&there)).await.unwrap();
    let queueing = Engine::with_options(
        Arc::clone(&catalog),
        Some("demo"),
        EngineOptions {
            jobs: Some(Arc::default()),
            ..EngineOptions::default()
        },
    )
    .unwrap();
    for sql in statements::split_statements(SCENES) {
        run(&queueing, &sql).await;
    }
    // The cluster's processes: their own catalog over the same store, with no cache (an
    // executor reads the files it scores from the store).
    let on_cluster = Catalog::open(dyntag_core::CatalogConfig {
        cache_bytes: 0,
        ..config(dir.path().join("there").as_path())
    })
    .await
    .unwrap();
    let scheduler = dyntag::cluster::start_in_process(&on_cluster, 2)
        .await
        .unwrap();
    let ctx = dyntag::cluster::upgrade(
        &datafusion::prelude::SessionContext::new(),
        &scheduler,
        &on_cluster,
    )
    .unwrap();
    let cluster = ClusterScoring::new(ctx, Arc::clone(&on_cluster), 1);
    let queued = jobs::pending(&catalog.refresh().await.unwrap());
    assert_eq!(queued, vec![("scenes".to_string(), "demo".to_string())]);
    let done = jobs::run_now(&catalog, &queued, Some(&cluster), &NoProgress)
        .await
        .unwrap();
    assert!(
        matches!(done[..], [jobs::Outcome::Scored { version: 1, .. }]),
        "{done:?}"
    );

    // Every image file was a part of its own, each written by its task.
    let snapshot = catalog.snapshot();
    let images = snapshot
        .dataset("demo")
        .unwrap()
        .files(dyntag_core::model::dataset::TableKind::Images)
        .len();
    let app = snapshot.application("demo", "scenes").unwrap();
    let visual = &app.run.as_ref().unwrap().tables[&ScoreTable::Visual];
    assert!(images > 1, "the demo has {images} image files");
    assert_eq!(visual.len(), images, "{visual:?}");
    assert!(
        visual.iter().all(|f| f.path.contains("/visual/part")),
        "{visual:?}"
    );

    let there = Engine::new(Arc::clone(&catalog), Some("demo")).unwrap();
    for sql in SCENES_TABLES {
        let (a, b) = (run(&here, sql).await, run(&there, sql).await);
        assert!(a.rows() > 0, "{sql}: no rows");
        assert_eq!(rows(&b), rows(&a), "{sql}");
    }

    // A task that fails (a data file gone from the store) fails the job with its message;
    // the tables still show the whole previous version.
    let before: Vec<Vec<String>> = {
        let mut v = Vec::new();
        for sql in SCENES_TABLES {
            v.push(rows(&run(&there, sql).await));
        }
        v
    };
    for sql in statements::split_statements(
        "ALTER TAG 'clocks' IN GROUP scenes ADD PROMPT 'a clock tower' FOR VISUAL; PREVIEW TAG 'clocks' IN GROUP scenes; PUBLISH TAG GROUP scenes",
    ) {
        run(&queueing, &sql).await;
    }
    let gone = &snapshot
        .dataset("demo")
        .unwrap()
        .files(dyntag_core::model::dataset::TableKind::Images)[3]
        .path;
    std::fs::remove_file(dir.path().join("there").join(gone)).unwrap();
    let queued = jobs::pending(&catalog.refresh().await.unwrap());
    let err = jobs::run_now(&catalog, &queued, Some(&cluster), &NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("scoring on the cluster"), "{err}");
    let file = gone.rsplit('/').next().unwrap();
    assert!(
        err.contains(file),
        "the error names the missing file {file}: {err}"
    );
    let snapshot = catalog.refresh().await.unwrap();
    let app = snapshot.application("demo", "scenes").unwrap();
    assert_eq!(app.status, ScoringStatus::Error);
    assert!(
        app.error.as_deref().unwrap_or_default().contains(file),
        "{:?}",
        app.error
    );
    for (sql, rows_before) in SCENES_TABLES.iter().zip(&before) {
        assert_eq!(&rows(&run(&there, sql).await), rows_before, "{sql}");
    }
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
    // Its scoring jobs run in parts of one file each.
    let clustered = Served::start_with_env(
        &data,
        "serve",
        &[&memory[..], &["--cluster", &url, "--query-timeout", "30"]].concat(),
        &[("DYNTAG_SCORE_PART_ROWS", "1")],
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
    // Both executors scored parts of the version the client published.
    for executor in &processes[1..] {
        let log = std::fs::read_to_string(&executor.log).unwrap();
        assert!(
            log.contains("scored part"),
            "{} scored no part:\n{log}",
            executor.log.display()
        );
    }
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
    let show_logs = || {
        for p in &processes {
            eprintln!(
                "--- {}\n{}",
                p.log.display(),
                std::fs::read_to_string(&p.log).unwrap_or_default()
            );
        }
    };

    // A version published through the cluster: the executors score its parts on S3.
    let published = s3.dyntag_with_env(
        &[
            "sql",
            "--cluster",
            &url,
            "--dataset",
            "news",
            "-e",
            "ALTER TAG 'cooking' IN GROUP topics ADD PROMPT 'a chef in a kitchen' FOR TRANSCRIPT; PUBLISH TAG GROUP topics",
        ],
        &[("DYNTAG_SCORE_PART_ROWS", "1")],
    );
    if !published.status.success() {
        show_logs();
    }
    let published = crate::util::succeeded(&published);
    assert!(published.contains("published version 2"), "{published}");
    let scored_parts: usize = processes[1..]
        .iter()
        .map(|p| {
            std::fs::read_to_string(&p.log)
                .unwrap_or_default()
                .matches("scored part")
                .count()
        })
        .sum();
    assert!(scored_parts > 0, "no executor scored a part");
    let check = "SELECT count(*) AS n, min(d.group_version) AS v, max(abs(d.score - dt_score(t.embedding, 'topics', 'cooking'))) < 1e-6 AS same FROM dt_topics_transcript d JOIN coactive_transcripts t USING (coactive_video_id, segment_id) WHERE d.tag_name = 'cooking'";
    // `sql` as CSV, in one process or on the cluster.
    let csv = |sql: &str, cluster: bool| {
        let mut a = vec!["sql", "--dataset", "news", "--format", "csv", "-e", sql];
        if cluster {
            a.extend(["--cluster", url.as_str()]);
        }
        let out = s3.dyntag(&a);
        if !out.status.success() {
            show_logs();
        }
        crate::util::succeeded(&out)
    };
    let here = csv(check, false);
    let row = here.lines().nth(1).unwrap_or_default();
    assert!(row.ends_with(",2,true"), "{here}");
    for sql in [
        "SELECT tag_name, coactive_video_id, round(score, 4) AS s FROM dt_topics_transcript WHERE threshold_decision",
        "SELECT coactive_video_id, segment_id, round(dt_score(embedding, 'topics', 'cooking'), 4) AS s FROM coactive_transcripts WHERE dt_score(embedding, 'topics', 'cooking') > 0.2",
    ] {
        let (here, there) = (csv(sql, false), csv(sql, true));
        let sorted = |t: &str| {
            let mut l: Vec<String> = t.lines().map(str::to_string).collect();
            l.sort();
            l
        };
        assert!(here.lines().count() > 2, "{sql}: {here}");
        assert_eq!(sorted(&there), sorted(&here), "{sql}");
    }

    // The ADBC driver through `serve --cluster` on the same store, against a single process.
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let data = std::path::Path::new(super::object_store::S3::DATA);
    let clustered = Served::start_with_env(data, "serve", &["--cluster", &url], &env);
    let single = Served::start_with_env(data, "serve", &[], &env);
    let out = clustered.run_client(
        "same_rows.py",
        &[
            &single.flight,
            "SELECT tag_name, coactive_video_id, segment_id, round(score, 6) AS s, group_version FROM dt_topics_transcript",
            "SELECT coactive_video_id, segment_id, round(dt_score(embedding, 'topics', 'wildlife'), 5) AS s FROM coactive_transcripts",
        ],
    );
    if !out.status.success() {
        show_logs();
    }
    assert!(
        clustered
            .passed("same_rows.py", out)
            .contains("all checks passed")
    );
}
