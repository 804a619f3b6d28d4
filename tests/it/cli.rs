//! The `dyntag` binary: output formats, error exits, and the demo with its tour.

use std::process::Command;

fn dyntag(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dyntag"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn sql_prints_csv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = dyntag(&[
        "--data",
        data,
        "sql",
        "--format",
        "csv",
        "-e",
        "SELECT 1 AS x, 'a' AS y",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x,y\n1,a\n");
    let out = dyntag(&[
        "--data",
        data,
        "sql",
        "--format",
        "json",
        "-e",
        "SELECT 1 AS x; SELECT 2 AS x",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"x\":1}\n{\"x\":2}\n"
    );
}

#[test]
fn errors_exit_non_zero_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = dyntag(&["--data", data, "sql", "-e", "SELEC 1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: ") && err.contains("SELEC"), "{err}");
    let out = dyntag(&[
        "--data",
        data,
        "ingest",
        "--dataset",
        "d",
        "--shots",
        "/nonexistent/shots.csv",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/shots.csv: cannot read"), "{err}");
    let out = dyntag(&[
        "--data",
        data,
        "ingest",
        "--dataset",
        "Bad-Name",
        "--shots",
        "x.csv",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid dataset name 'Bad-Name'"));
}

#[test]
fn demo_sets_up_and_every_tour_query_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = dyntag(&["--data", data, "demo", "--no-shell"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tour = String::from_utf8_lossy(&out.stdout);
    assert!(tour.contains("SHOW TAG GROUPS;"), "{tour}");
    for (title, sql) in dyntag::cli::demo::TOUR {
        let out = dyntag(&["--data", data, "sql", "--dataset", "demo", "-e", sql]);
        assert!(
            out.status.success(),
            "tour step '{title}' failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Running the demo again reuses what is there.
    let again = dyntag(&["--data", data, "demo", "--no-shell"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 new rows imported"));
}
