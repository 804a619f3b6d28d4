//! The tag lifecycle through the server: the HTTP API driven by five users over two
//! datasets, and a server killed in the middle of a background scoring job.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common;
use crate::serve::Served;
use crate::util::dyntag;

/// A data folder with `news` (keyframes, shots, transcripts) and `archive` (keyframes).
pub async fn two_datasets() -> tempfile::TempDir {
    let (dir, catalog) = common::news_catalog().await;
    common::add_keyframe_dataset(dir.path(), &catalog, "archive").await;
    dir
}

pub fn sql(data: &Path, statements: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dyntag"))
        .args(["--data", data.to_str().unwrap(), "sql", "--dataset", "news"])
        .args(["--format", "csv", "-e", statements])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{statements}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_lifecycle_across_two_datasets_and_five_users() {
    let dir = two_datasets().await;
    let server = Served::start(&dir.path().join("data"), &[]);
    let out = server.client("lifecycle.py", &[]);
    assert!(out.contains("lifecycle: all checks passed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_sees_only_their_dataset_over_flight_sql() {
    let dir = two_datasets().await;
    let data = dir.path().join("data");
    let token = dyntag(&data, &["users", "create", "cat"]);
    dyntag(
        &data,
        &[
            "users",
            "grant",
            "cat",
            "--dataset",
            "archive",
            "--role",
            "viewer",
        ],
    );
    let server = Served::start(&data, &[]);
    let out = server.client("restricted_flight.py", &["cat", &token]);
    assert!(out.contains("restricted flight: all checks passed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoring_job_killed_midway_reruns_after_restart_and_readers_never_see_it_partial() {
    let dir = two_datasets().await;
    let data = dir.path().join("data");
    sql(
        &data,
        "CREATE TAG GROUP Topics ON DATASET news TAGS ('football', 'cooking'); \
         PREVIEW TAG 'football' IN GROUP topics; PREVIEW TAG 'cooking' IN GROUP topics; \
         PUBLISH TAG GROUP topics; \
         ALTER TAG 'cooking' IN GROUP topics ADD NEGATIVE PROMPT 'boiling water'",
    );

    // A server that crashes in the middle of scoring version 2.
    let mut first = Served::start_with_env(
        &data,
        "serve",
        &["--dataset", "news"],
        &[("DYNTAG_FAULT", "crash-while-scoring")],
    );
    first.client("fault_client.py", &["publish"]);
    let status = first
        .wait_exit(Duration::from_secs(60))
        .expect("the fault point stops the server");
    assert!(!status.success());
    assert!(
        first
            .log_tail()
            .contains("crashing at 'crash-while-scoring'")
    );
    drop(first);

    // On the store: the job is still queued, claimed once; readers see version 1 whole.
    let app = sql(
        &data,
        "SELECT applied_version, status, scored_version, job_attempt FROM system.applications WHERE dataset = 'news'",
    );
    assert!(app.contains("2,queued,1,1"), "{app}");
    let rows = sql(
        &data,
        "SELECT group_version, count(*) FROM dt_topics_visual GROUP BY 1",
    );
    assert!(rows.contains("1,54"), "{rows}");

    // A new server finds the job and runs it again (slowly, so that readers look midway).
    let second = Served::start_with_env(
        &data,
        "serve",
        &["--dataset", "news"],
        &[("DYNTAG_PAUSE", "while-scoring:3000")],
    );
    let out = second.client("fault_client.py", &["watch", "2", "54"]);
    assert!(out.contains("fault: all checks passed"));
}
