//! Hostile input: a seeded mutation fuzzer over the committed corpus (`tests/fuzz/corpus/`),
//! run on the tag-statement parser (and DataFusion's, with the statement classifier), the
//! WebVTT/SRT reader, CSV and Parquet import files, labels files, and the JSON bodies of
//! the HTTP routes (a real server in process). Every input must end in an answer or a clear
//! error: no panic, no hang, no `500`.
//!
//! The suite runs a bounded number of cases per target; `DYNTAG_FUZZ_CASES=N` runs N (the
//! HTTP target a tenth of it) and `DYNTAG_FUZZ_SEED=S` another sequence. A failing input is
//! written to `target/fuzz-failures/` and printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use dyntag::engine::Engine;
use dyntag::server::{Config, Endpoints, queries::Limits};
use dyntag_catalog::statements::{self, classify_sql};
use dyntag_core::service::evaluate::labels_file;
use dyntag_core::service::import::subtitles;
use dyntag_core::store::input::InputFile;
use dyntag_core::store::random::Random;

use super::common;

/// How long one input may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(20);

fn cases(default: usize) -> usize {
    std::env::var("DYNTAG_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    std::env::var("DYNTAG_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_d7a9)
}

/// The project's one seeded generator, with the fuzzer's draw.
struct Rng(Random);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.0.below(n as u64) as usize
        }
    }
}

/// Words that make mutations reach deeper: the grammar's keywords and punctuation, JSON,
/// subtitle timing, CSV quoting, and numbers at the edges.
const DICTIONARY: &[&str] = &[
    "'",
    "''",
    "\"",
    "(",
    ")",
    ",",
    ";",
    "=",
    "*",
    "--",
    "/*",
    "$1",
    "?",
    "TAG",
    "GROUP",
    "TAGS",
    "ALTER",
    "CREATE",
    "DROP",
    "SHOW",
    "PROMPT",
    "LABELS",
    "AT REVISION ",
    "THRESHOLD",
    "LIMIT",
    "MODE",
    "SAMPLE",
    "FILE",
    "USER",
    "READ ONLY",
    "TOKEN",
    "SELECT",
    "COPY",
    "TO",
    "-1",
    "0",
    "1e309",
    "NaN",
    "inf",
    "-0.0",
    "18446744073709551616",
    "99999999999999999999",
    "{",
    "}",
    "[",
    "]",
    "null",
    "true",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "-->",
    "00:00:00.000",
    "99:99:99,999",
    "WEBVTT",
    "\n\n",
    "\r\n",
    "<v ",
    "</v>",
    "\u{feff}",
    "\"\"\"",
    ",,",
    "\u{1F600}",
    "\0",
    "../",
    "/etc/passwd",
    "PAR1",
];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = [0, 0xff, b'\'', b'(', b')', b',', b';', b'\n', b'9', 0x80][rng.below(10)];
            }
            2 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                out.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let n = (1 + rng.below(16)).min(len - at);
                out.drain(at..at + n);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let n = (1 + rng.below(32)).min(len - at);
                let copy = out[at..at + n].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
            }
            5 => {
                let at = rng.below(len + 1);
                let word = DICTIONARY[rng.below(DICTIONARY.len())].as_bytes().to_vec();
                out.splice(at..at, word);
            }
            6 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            7 if len > 0 => out.truncate(rng.below(len)),
            _ => {
                // A run of digits becomes a number at the edges.
                if let Some(start) = out.iter().position(|b| b.is_ascii_digit()) {
                    let end = out[start..]
                        .iter()
                        .position(|b| !b.is_ascii_digit() && *b != b'.')
                        .map_or(out.len(), |e| start + e);
                    let n = [
                        "-1",
                        "0",
                        "1e309",
                        "NaN",
                        "99999999999999999999",
                        "0.0000001",
                    ][rng.below(6)];
                    out.splice(start..end, n.bytes());
                }
            }
        }
    }
    out.truncate(64 << 10);
    out
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = common::repo_root().join("tests/fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the {target} corpus is empty");
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// Runs `check` on every corpus entry and on `n` mutations of them, each under a panic
/// catcher and the hang limit. `check` answers `Err` for a finding (not for a clear
/// refusal of bad input).
fn fuzz(
    target: &'static str,
    n: usize,
    check: impl Fn(&str, &[u8]) -> Result<(), String> + Send + Sync + 'static,
) {
    let seeds = corpus(target);
    let bytes: Vec<Vec<u8>> = seeds.iter().map(|(_, b)| b.clone()).collect();
    let (tx, rx) = mpsc::channel::<(usize, Option<String>, Vec<u8>)>();
    let check = Arc::new(check);
    let worker = {
        let check = Arc::clone(&check);
        std::thread::spawn(move || {
            let mut rng = Rng(Random::seeded(seed() ^ target.len() as u64));
            for i in 0..seeds.len() + n {
                let (name, input) = if i < seeds.len() {
                    (seeds[i].0.clone(), seeds[i].1.clone())
                } else {
                    let (name, base) = &seeds[rng.below(seeds.len())];
                    (name.clone(), mutate(&mut rng, base, &bytes))
                };
                let _ = tx.send((i, None, input.clone()));
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&name, &input)));
                let finding = match result {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(p) => Some(format!(
                        "panicked: {}",
                        p.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default()
                    )),
                };
                if finding.is_some() {
                    let _ = tx.send((i, finding, input));
                    return;
                }
            }
        })
    };
    let mut current = Vec::new();
    loop {
        match rx.recv_timeout(HANG) {
            Ok((_, None, input)) => current = input,
            Ok((i, Some(finding), input)) => fail(target, i, &finding, &input),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => fail(
                target,
                usize::MAX,
                &format!("no answer within {} s (a hang)", HANG.as_secs()),
                &current,
            ),
        }
    }
    worker.join().unwrap();
}

fn fail(target: &str, case: usize, finding: &str, input: &[u8]) -> ! {
    let dir = common::repo_root().join("target/fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{target}-{case}.bin"));
    let _ = std::fs::write(&path, input);
    panic!(
        "fuzz target '{target}', case {case}: {finding}\ninput ({} bytes, saved to {}): {:?}",
        input.len(),
        path.display(),
        String::from_utf8_lossy(&input[..input.len().min(2000)])
    );
}

/// A refusal must say something a user can act on, never expose a panic or a backtrace.
fn clear(e: &dyn std::fmt::Display) -> Result<(), String> {
    let text = e.to_string();
    if text.trim().is_empty() || text.contains("panicked") || text.contains("RUST_BACKTRACE") {
        return Err(format!("an unclear error: {text:?}"));
    }
    Ok(())
}

#[test]
fn fuzz_statements() {
    fuzz("statements", cases(20_000), |_, input| {
        let text = String::from_utf8_lossy(input);
        match statements::parse(&text) {
            Ok(Some(stmt)) => {
                let _ = stmt.classify();
            }
            Ok(None) => {
                // DataFusion's statement: the classifier must handle whatever parses.
                if let Ok(parsed) = datafusion::sql::parser::DFParser::parse_sql(&text) {
                    for s in &parsed {
                        let _ = classify_sql(s);
                    }
                }
            }
            Err(e) => clear(&e)?,
        }
        Ok(())
    });
}

#[test]
fn fuzz_subtitles() {
    fuzz("subtitles", cases(10_000), |name, input| {
        let text = String::from_utf8_lossy(input);
        match subtitles::parse(name, &text, name.ends_with(".vtt")) {
            Ok(cues) => {
                for c in cues {
                    if c.end_ms < c.start_ms {
                        return Err(format!("a cue ends before it starts: {c:?}"));
                    }
                }
                Ok(())
            }
            Err(e) => clear(&e),
        }
    });
}

#[test]
fn fuzz_import_files() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.keep();
    fuzz("tables", cases(2000), move |name, input| {
        let ext = Path::new(name)
            .extension()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let path = dir.join(format!("case.{ext}"));
        std::fs::write(&path, input).unwrap();
        let mut file = match InputFile::open(&path) {
            Ok(f) => f,
            Err(e) => return clear(&e),
        };
        let mut batches = 0;
        while let Some(b) = file.next_batch() {
            if let Err(e) = b {
                return clear(&e);
            }
            batches += 1;
            if batches > 100_000 {
                return Err("an endless file".into());
            }
        }
        Ok(())
    });
}

#[test]
fn fuzz_labels_files() {
    fuzz(
        "labels",
        cases(3000),
        |name, input| match labels_file::parse(name, bytes::Bytes::copy_from_slice(input)) {
            Ok(_) => Ok(()),
            Err(e) => clear(&e),
        },
    );
}

/// The HTTP routes' JSON bodies, mutated, against a real server in process: every answer
/// is a success or a JSON error with a code, never a 500, and the server stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_http_bodies() {
    let (_dir, catalog) = common::news_catalog().await;
    let engine = Engine::new(Arc::clone(&catalog), Some(common::DATASET)).unwrap();
    engine
        .execute_script(
            "CREATE TAG GROUP fuzz ON DATASET news TAGS ('alpha', 'beta'); CREATE USER ann",
        )
        .await
        .unwrap();
    let token = "fuzz-token-0123456789abcdef".to_string();
    let config = Config {
        flight_addr: "127.0.0.1:0".parse().unwrap(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        tls: None,
        limits: Limits {
            login_attempts_per_minute: 1_000_000,
            ..Limits::default()
        },
        token: Some(token.clone()),
        default_dataset: Some(common::DATASET.into()),
        result_ttl: Duration::from_secs(60),
        result_memory: 64 << 20,
        grace: Duration::from_secs(1),
        scoring_workers: 1,
        session_key_file: _dir.path().join("session.key"),
        cluster: None,
    };
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Endpoints>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(dyntag::server::serve(
        catalog,
        config,
        async {
            let _ = stop_rx.await;
        },
        move |e| {
            let _ = ready_tx.send(e.clone());
        },
    ));
    let endpoints = ready_rx.await.unwrap();
    let base = endpoints.http_url.clone();
    let n = std::env::var("DYNTAG_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(300, |n| n / 10);
    let result = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(HANG))
            .build()
            .into();
        fuzz("http", n.max(60), move |_, input| {
            let text = String::from_utf8_lossy(input);
            let (head, body) = text.split_once('\n').unwrap_or((&text, ""));
            let (method, path) = head.split_once(' ').unwrap_or(("POST", head));
            let path: String = path
                .chars()
                .filter(|c| c.is_ascii_graphic() && *c != '#' && *c != '%')
                .collect();
            if !path.starts_with("/api/") {
                return Ok(());
            }
            let url = format!("{base}{path}");
            let auth = format!("Bearer {token}");
            if !matches!(method, "PATCH" | "PUT" | "POST" | "DELETE") {
                return Ok(());
            }
            let Ok(request) = http::Request::builder()
                .method(method)
                .uri(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .body(body.as_bytes().to_vec())
            else {
                // A request the client itself cannot build is not the server's finding.
                return Ok(());
            };
            let response = agent
                .run(request)
                .map_err(|e| format!("{method} {path}: {e}"));
            let Ok(mut response) = response else {
                // A URL the client itself refuses to send is not the server's finding.
                return Ok(());
            };
            let status = response.status().as_u16();
            let answer = response.body_mut().read_to_string().unwrap_or_default();
            if status >= 500 {
                return Err(format!("{method} {path} answered {status}: {answer}"));
            }
            if status >= 400 {
                let v: serde_json::Value = serde_json::from_str(&answer).map_err(|_| {
                    format!("{method} {path}: a {status} that is not JSON: {answer}")
                })?;
                if v.get("code").is_none() || v.get("error").is_none() {
                    return Err(format!(
                        "{method} {path}: a {status} without code and error: {v}"
                    ));
                }
            }
            Ok(())
        });
        ureq::get(format!("{}/api/health", endpoints.http_url))
            .call()
            .map(|r| r.status().as_u16())
    })
    .await;
    let _ = stop_tx.send(());
    let _ = server.await;
    match result {
        Ok(health) => assert_eq!(health.unwrap(), 200, "the server is still up"),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
