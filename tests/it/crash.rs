//! A process killed in the middle of publishing leaves the previous version queryable and
//! the definitions intact; publishing again completes the new version.

use std::process::Command;

use dyntag::engine::Engine;
use dyntag_core::Catalog;

use crate::common;
use crate::util::{floats, run, strings};

fn dyntag(data: &std::path::Path, sql: &str, fault: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dyntag"));
    cmd.args([
        "--data",
        data.to_str().unwrap(),
        "sql",
        "--dataset",
        "news",
        "-e",
        sql,
    ]);
    if let Some(f) = fault {
        cmd.env("DYNTAG_FAULT", f);
    }
    cmd.output().unwrap()
}

async fn summary(data: &std::path::Path) -> (Vec<String>, f64, Vec<String>) {
    let catalog = Catalog::open(common::config(data)).await.unwrap();
    let engine = Engine::new(catalog, Some("news")).unwrap();
    let a = run(
        &engine,
        "SELECT count(*) AS n, sum(score) AS s, max(group_version) AS v FROM dt_topics_transcript",
    )
    .await;
    let tags = run(&engine, "SHOW TAGS IN GROUP topics").await;
    (
        vec![strings(&a, "n")[0].clone(), strings(&a, "v")[0].clone()],
        floats(&a, "s")[0],
        strings(&tags, "negative_prompts"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_publish_keeps_previous_version() {
    let (dir, catalog) = common::news_catalog().await;
    drop(catalog);
    let data = dir.path().join("data");
    let ok = dyntag(
        &data,
        "CREATE TAG GROUP Topics ON DATASET news TAGS ('cooking', 'football'); PREVIEW TAG 'cooking' IN GROUP topics; PREVIEW TAG 'football' IN GROUP topics; PUBLISH TAG GROUP topics",
        None,
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let (before, sum_before, _) = summary(&data).await;
    assert_eq!(before, vec!["144".to_string(), "1".to_string()]);

    let edit = dyntag(
        &data,
        "ALTER TAG 'cooking' IN GROUP topics ADD NEGATIVE PROMPT 'boiling water' FOR BOTH",
        None,
    );
    assert!(
        edit.status.success(),
        "{}",
        String::from_utf8_lossy(&edit.stderr)
    );
    let crashed = dyntag(
        &data,
        "PUBLISH TAG GROUP topics",
        Some("crash-while-scoring"),
    );
    assert!(
        !crashed.status.success(),
        "the fault point must stop the process"
    );
    assert!(String::from_utf8_lossy(&crashed.stderr).contains("crashing at 'crash-while-scoring'"));

    // Readers still see version 1, whole; the definition (with the new prompt) is intact.
    let (after, sum_after, negatives) = summary(&data).await;
    assert_eq!(after, before);
    assert_eq!(sum_after, sum_before);
    assert_eq!(negatives[0], "boiling water");
    let catalog = Catalog::open(common::config(&data)).await.unwrap();
    let engine = Engine::new(catalog, Some("news")).unwrap();
    let app = run(
        &engine,
        "SELECT applied_version, status, scored_version FROM system.applications",
    )
    .await;
    assert_eq!(strings(&app, "applied_version"), vec!["2"]);
    assert_eq!(strings(&app, "status"), vec!["queued"]);
    assert_eq!(strings(&app, "scored_version"), vec!["1"]);

    // Publishing again scores the frozen version 2 to completion.
    let again = dyntag(&data, "PUBLISH TAG GROUP topics", None);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("re-scoring version 2"));
    let (done, sum_done, _) = summary(&data).await;
    assert_eq!(done, vec!["144".to_string(), "2".to_string()]);
    assert!(
        sum_done < sum_before,
        "a negative prompt lowers the cooking scores"
    );
}
