//! Prompt suggestions: offline (templates, transcript sentences) and from an LLM — a local
//! test double that speaks the chat-completions protocol — with its failures as clear
//! errors, never a hang.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use crate::serve::python;
use crate::util::succeeded;

/// Starts the chat-completions test double; the process and its base URL.
fn llm_double() -> (std::process::Child, String) {
    let mut double = Command::new(python())
        .arg(common::repo_root().join("tests/clients/llm_double.py"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(double.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    (double, format!("http://127.0.0.1:{}/v1", port.trim()))
}

/// `dyntag sql` on `dataset` with an environment.
fn sql_on(
    dataset: &str,
    data: &str,
    env: &[(&str, String)],
    statements: &str,
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dyntag"))
        .args([
            "--data",
            data,
            "sql",
            "--dataset",
            dataset,
            "--format",
            "csv",
            "-e",
            statements,
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap()
}

fn sql(data: &str, env: &[(&str, String)], statements: &str) -> std::process::Output {
    sql_on("news", data, env, statements)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggestions_offline_and_from_an_llm() {
    let (dir, catalog) = common::news_catalog().await;
    drop(catalog);
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = sql(
        data,
        &[],
        "CREATE TAG GROUP Topics ON DATASET news TAGS ('football')",
    );
    succeeded(&out);

    // Offline: templates for visual prompts, the dataset's own sentences for transcripts.
    let out = sql(
        data,
        &[],
        "SUGGEST PROMPTS FOR TAG 'football' IN GROUP topics",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("visual,a photo of football,template"),
        "{text}"
    );
    let out = sql(
        data,
        &[],
        "SUGGEST PROMPTS FOR TAG 'football' IN GROUP topics FOR TRANSCRIPT",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.lines().count() > 2, "{text}");
    assert!(
        text.lines().skip(1).all(|l| l.ends_with(",transcripts")),
        "{text}"
    );

    // An LLM: the test double.
    let (mut double, url) = llm_double();
    let env = |model: &str| {
        vec![
            ("DYNTAG_LLM_URL", url.clone()),
            ("DYNTAG_LLM_MODEL", model.to_string()),
            ("DYNTAG_LLM_API_KEY", "test-key".to_string()),
            ("DYNTAG_LLM_TIMEOUT_S", "1".to_string()),
        ]
    };
    let out = sql(
        data,
        &env("good"),
        "SUGGEST PROMPTS FOR TAG 'football' IN GROUP topics",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    succeeded(&out);
    assert!(text.contains("visual,a football in action,llm"), "{text}");
    assert_eq!(
        text.lines().count(),
        4,
        "the empty prompt is dropped: {text}"
    );
    for (model, needle) in [
        (
            "garbage",
            "the LLM answered something that is not the JSON asked for",
        ),
        ("error", "answered 500"),
        ("slow", "did not answer within 1 s"),
    ] {
        let t = Instant::now();
        let out = sql(
            data,
            &env(model),
            "SUGGEST PROMPTS FOR TAG 'football' IN GROUP topics",
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{model}: {err}"
        );
        assert!(t.elapsed() < Duration::from_secs(4), "{model}: no hang");
    }
    let _ = double.kill();
    let _ = double.wait();
}

#[test]
fn the_evaluator_takes_ground_truth_from_an_llm_that_sees_the_images() {
    let dir = tempfile::tempdir().unwrap();
    let pics = dir.path().join("pics");
    std::fs::create_dir(&pics).unwrap();
    let library = common::sample_data().join("library/images");
    let mut names: Vec<String> = std::fs::read_dir(&library)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("birds-") || n.starts_with("fish-"))
        .collect();
    names.sort();
    for n in names.iter().take(3).chain(names.iter().rev().take(3)) {
        std::fs::copy(library.join(n), pics.join(n)).unwrap();
    }
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dyntag"))
        .args([
            "--data",
            data,
            "ingest",
            "--dataset",
            "pics",
            pics.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    succeeded(&out);
    let run = |env: &[(&str, String)], statements: &str| sql_on("pics", data, env, statements);
    let out = run(
        &[],
        "CREATE TAG GROUP Animals ON DATASET pics TAGS ('birds'); PREVIEW TAG 'birds' IN GROUP animals; PUBLISH TAG GROUP animals; EVALUATE TAG 'birds' IN GROUP animals",
    );
    succeeded(&out);
    let out = run(
        &[],
        "LABEL EVALUATION OF TAG 'birds' IN GROUP animals WITH LLM",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no LLM is configured"));

    let (mut double, url) = llm_double();
    let env = |model: &str| {
        vec![
            ("DYNTAG_LLM_URL", url.clone()),
            ("DYNTAG_LLM_MODEL", model.to_string()),
            ("DYNTAG_LLM_API_KEY", "test-key".to_string()),
        ]
    };
    let out = run(
        &env("garbage"),
        "LABEL EVALUATION OF TAG 'birds' IN GROUP animals WITH LLM",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("is neither yes nor no"),
        "{err}"
    );
    let out = run(
        &env("good"),
        "LABEL EVALUATION OF TAG 'birds' IN GROUP animals WITH LLM",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    succeeded(&out);
    assert!(
        text.contains("the LLM labelled 6 item(s); 6 sampled items have labels"),
        "{text}"
    );
    let out = run(
        &[],
        "SELECT count(*) FROM (SELECT 1) WHERE false; SHOW EVALUATION OF TAG 'birds' IN GROUP animals",
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shown.matches(",llm,").count(), 6, "{shown}");
    let _ = double.kill();
    let _ = double.wait();
}
