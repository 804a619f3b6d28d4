//! Security: remote callers never touch the server's files, every statement is allowed by
//! the caller's role before it runs, sessions belong to connections, failed sign-ins are
//! limited, and oversized input is refused with a clear error. The attacks run from real
//! clients (`tests/clients/security.py`, `limits_hostile.py`: ADBC Flight SQL and HTTP).

use std::path::Path;
use std::process::Command;

use crate::lifecycle::{sql, two_datasets};
use crate::serve::Served;
use crate::util::{dyntag, succeeded};

fn users(data: &Path, args: &[&str]) -> String {
    let mut all = vec!["users"];
    all.extend_from_slice(args);
    dyntag(data, &all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_callers_never_touch_server_files_and_roles_decide_before_anything_runs() {
    let dir = two_datasets().await;
    let data = dir.path().join("data");
    sql(
        &data,
        "CREATE TAG GROUP Topics ON DATASET news TAGS ('football', 'cooking'); \
         PREVIEW TAG 'football' IN GROUP topics; PREVIEW TAG 'cooking' IN GROUP topics; \
         PUBLISH TAG GROUP topics; EVALUATE TAG 'football' IN GROUP topics SAMPLE 20",
    );
    let viewer = users(&data, &["create", "viewer"]);
    users(
        &data,
        &["grant", "viewer", "--dataset", "news", "--role", "viewer"],
    );
    let editor = users(&data, &["create", "editor"]);
    users(
        &data,
        &["grant", "editor", "--dataset", "news", "--role", "editor"],
    );
    let read_only = users(&data, &["token", "editor", "--read-only"]);
    assert_ne!(read_only, editor);
    // A labels file an admin put under the data root's files/ folder.
    std::fs::create_dir_all(data.join("files")).unwrap();
    std::fs::write(
        data.join("files/labels.csv"),
        "asset_id,tag,label\nkf_foot_3,football,1\nkf_wx_1,football,0\n",
    )
    .unwrap();
    let canary = tempfile::tempdir().unwrap();

    let server = Served::start(
        &data,
        &["--dataset", "news", "--login-attempts-per-minute", "10000"],
    );
    let out = server.client(
        "security.py",
        &[
            data.to_str().unwrap(),
            canary.path().to_str().unwrap(),
            &viewer,
            &editor,
            &read_only,
        ],
    );
    assert!(out.contains("security: all checks passed"));
    assert_eq!(
        std::fs::read_dir(canary.path()).unwrap().count(),
        0,
        "no file was written outside the data root"
    );
    // Every refused statement is in the server's log, at warn, with who and why.
    let log = server.log_text();
    let refused = log
        .lines()
        .find(|l| {
            l.contains("WARN")
                && l.contains("user=\"viewer\"")
                && l.contains("outcome=\"denied\"")
                && l.contains("ALTER TAG")
        })
        .unwrap_or_else(|| panic!("no warn line for the viewer's refused ALTER TAG:\n{log}"));
    assert!(refused.contains("origin=\"flight\"") || refused.contains("origin=\"http\""));
    assert!(refused.contains("kind=\"tag edit\"") && refused.contains("duration_ms="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_statements_bodies_and_json_answers_are_limited() {
    let (dir, _catalog) = crate::common::news_catalog().await;
    let server = Served::start(
        &dir.path().join("data"),
        &[
            "--login-attempts-per-minute",
            "5",
            "--max-statement-kb",
            "4",
            "--max-body-mb",
            "1",
            "--max-json-rows",
            "10",
        ],
    );
    let out = server.client("limits_hostile.py", &[]);
    assert!(out.contains("hostile limits: all checks passed"));
}

/// The soak command, short: clients of every kind while the server is killed once; it
/// fails on a lost edit, a partial table or any client error but the kill's dropped
/// connections. (`dyntag bench soak` runs 32 clients for 10 minutes with two kills.)
#[test]
fn a_short_soak_with_a_kill_loses_nothing() {
    let work = tempfile::tempdir().unwrap();
    crate::util::copy_dir(crate::serve::demo_data(), work.path());
    let root = crate::common::repo_root();
    let out = Command::new(env!("CARGO_BIN_EXE_dyntag"))
        .args([
            "bench",
            "soak",
            "--seconds",
            "40",
            "--clients",
            "8",
            "--kills",
            "1",
        ])
        .args(["--work", work.path().to_str().unwrap()])
        .args(["--script", root.join("benches/soak.py").to_str().unwrap()])
        .args(["--python", &crate::serve::python()])
        .output()
        .unwrap();
    let stdout = succeeded(&out);
    assert!(stdout.contains("soak: passed"), "{stdout}");
    assert!(stdout.contains("lost 0"), "{stdout}");
}
