//! The `dyntag` binary: output formats, error exits, and the demo with its tour.

use std::process::Command;

use crate::util::succeeded;

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
    succeeded(&out);
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
    let out = dyntag(&["--data", data, "demo", "--setup-only"]);
    succeeded(&out);
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
    let again = dyntag(&["--data", data, "demo", "--setup-only"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 new rows ingested"));
}

#[test]
fn the_shell_reads_statements_until_quit() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dyntag"))
        .args(["--data", dir.path().to_str().unwrap(), "sql"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT 41 + 1 AS answer;\nSELECT\n  'two lines' AS s;\nSELEC oops;\nSELECT 'after the error' AS t;\n\\q\nSELECT 'not run';\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("| 42 ")
            && stdout.contains("two lines")
            && stdout.contains("after the error"),
        "{stdout}"
    );
    assert!(!stdout.contains("not run"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error: SQL error"),
        "a bad statement is reported and the shell goes on"
    );
}

#[test]
fn a_missing_onnx_runtime_is_a_one_line_error_saying_how_to_install_it() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dyntag"))
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", home.path())
        .args([
            "--data",
            home.path().join("d").to_str().unwrap(),
            "sql",
            "-e",
            "SELECT embed_text('x')",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("ONNX Runtime library not found") && err.contains("scripts/setup"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_command_creates_grants_lists_and_refuses_bad_input() {
    let (dir, catalog) = crate::common::news_catalog().await;
    drop(catalog);
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = dyntag(&["--data", data, "users", "create", "ann"]);
    succeeded(&out);
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        token.len() == 64 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );
    let out = dyntag(&[
        "--data",
        data,
        "users",
        "grant",
        "ann",
        "--dataset",
        "news",
        "--role",
        "editor",
    ]);
    succeeded(&out);
    let out = dyntag(&["--data", data, "users", "list"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ann\tmember\tnews=editor\n"
    );
    // The token is stored only as its hash.
    let stored = std::fs::read_dir(dir.path().join("data/access/_log"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(!stored.contains(&token) && stored.contains("token_sha256"));
    for (args, needle) in [
        (
            vec!["grant", "ann", "--dataset", "films", "--role", "viewer"],
            "dataset 'films' not found",
        ),
        (
            vec!["grant", "ann", "--dataset", "news", "--role", "owner"],
            "unknown dataset role 'owner'",
        ),
        (vec!["create", "ann"], "user 'ann' already exists"),
        (
            vec!["revoke", "bob", "--dataset", "news"],
            "role of user 'bob' not found on dataset 'news'",
        ),
    ] {
        let mut full = vec!["--data", data, "users"];
        full.extend(args);
        let out = dyntag(&full);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{full:?}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_prints_metrics_draws_the_chart_and_saves_thresholds() {
    let (dir, catalog) = crate::common::news_catalog().await;
    drop(catalog);
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let setup = dyntag(&[
        "--data",
        data,
        "sql",
        "--dataset",
        "news",
        "-e",
        "CREATE TAG GROUP Topics ON DATASET news TAGS ('football'); PREVIEW TAG 'football' IN GROUP topics; PUBLISH TAG GROUP topics",
    ]);
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    // Ground truth as a labels file keyed by file path (its stem is the asset id).
    let labels = dir.path().join("labels.csv");
    let mut csv = String::from("path,tag,label\n");
    for (_, _, _, _, id) in crate::common::KEYFRAMES {
        csv.push_str(&format!(
            "frames/{id}.jpg,football,{}\n",
            u8::from(id.starts_with("kf_foot"))
        ));
        csv.push_str(&format!("frames/{id}.jpg,cooking,0\n"));
    }
    std::fs::write(&labels, csv).unwrap();
    let chart = dir.path().join("chart.svg");
    let out = dyntag(&[
        "--data",
        data,
        "evaluate",
        "--group",
        "topics",
        "--tag",
        "football",
        "--labels",
        labels.to_str().unwrap(),
        "--seed",
        "1",
        "--chart",
        chart.to_str().unwrap(),
        "--save",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    succeeded(&out);
    assert!(
        stdout.contains("| threshold | F1 | F0.5 | precision | recall | accuracy |"),
        "{stdout}"
    );
    let recommended: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("recommended threshold for f1: "))
        .expect("a recommended threshold")
        .parse()
        .unwrap();
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("recommended (f1)"),
        "the chart marks the threshold"
    );
    let saved = dyntag(&[
        "--data",
        data,
        "sql",
        "--dataset",
        "news",
        "--format",
        "csv",
        "-e",
        "SELECT threshold FROM system.tags WHERE tag_name = 'football'",
    ]);
    let saved: f64 = String::from_utf8_lossy(&saved.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (saved - recommended).abs() < 1e-9,
        "saved {saved}, recommended {recommended}"
    );
    // A recall target with a confidence: saved with its bound; an impossible one is refused.
    let out = dyntag(&[
        "--data",
        data,
        "evaluate",
        "--group",
        "topics",
        "--tag",
        "football",
        "--keep-sample",
        "--chart",
        chart.to_str().unwrap(),
        "--recall-target",
        "0.5",
        "--confidence",
        "0.9",
    ]);
    succeeded(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("recall >= 0.5 with confidence 0.9"));
    let out = dyntag(&[
        "--data",
        data,
        "evaluate",
        "--group",
        "topics",
        "--tag",
        "football",
        "--keep-sample",
        "--chart",
        chart.to_str().unwrap(),
        "--precision-target",
        "0.999",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no threshold of tag 'football' meets precision >= 0.999")
    );
}

/// `bench zero-shot` through the product (decode, preprocessing, ONNX Runtime): the default
/// image tower against chance and the previous tower on the drawings and on the photographs.
#[test]
fn the_default_image_tower_sees_drawings_and_photographs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dyntag(&["--data", dir.path().to_str().unwrap(), "bench", "zero-shot"]);
    let stdout = succeeded(&out);
    let accuracy = |set: &str, model: &str| -> (f64, f64) {
        let line = stdout
            .lines()
            .find(|l| l.contains(&format!("set={set} model={model} ")))
            .unwrap_or_else(|| panic!("no {set} line for {model}:\n{stdout}"));
        let field = |name: &str| -> f64 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {line}"))
        };
        (field("accuracy="), field("chance="))
    };
    let (drawings, chance) = accuracy("drawings", "dyntag-default-minilm");
    let (old_drawings, _) = accuracy("drawings", "dyntag-drawings-cnn");
    assert!(
        drawings > 6.0 * chance && drawings > old_drawings,
        "{stdout}"
    );
    let (photos, chance) = accuracy("photographs", "dyntag-default-minilm");
    let (old_photos, _) = accuracy("photographs", "dyntag-drawings-cnn");
    assert!(
        photos > 20.0 * chance && photos > old_photos + 0.3,
        "{stdout}"
    );
    assert!(stdout.contains("images=99 categories=41"), "{stdout}");
}
