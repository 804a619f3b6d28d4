//! `dyntag serve` with real clients: the real binary on free ports over the demo dataset,
//! talked to by the ADBC Flight SQL driver, pyarrow.flight, the flightsql-dbapi SQLAlchemy
//! dialect (Superset's path) and plain HTTP. The clients are Python scripts in
//! `tests/clients/`; each asserts what it checks and exits non-zero on a failure.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dyntag::cli::bench::rss_bytes;

use super::common;

use crate::util::succeeded;

const TOKEN: &str = "test-token-0123456789abcdef";

/// A data root with the demo dataset, set up once for all tests of this file.
pub fn demo_data() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_dyntag"))
            .args([
                "--data",
                dir.path().to_str().unwrap(),
                "demo",
                "--setup-only",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "demo set-up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

pub fn python() -> String {
    std::env::var("DYNTAG_PYTHON")
        .unwrap_or_else(|_| format!("{}/.venv/bin/python", common::repo_root().display()))
}

/// A running `dyntag serve`.
pub struct Served {
    child: Child,
    pub flight: String,
    pub http: String,
    log: PathBuf,
    _logdir: tempfile::TempDir,
}

impl Served {
    pub fn start(data: &Path, extra: &[&str]) -> Self {
        Self::start_command(data, "serve", extra)
    }

    /// Starts `dyntag <command>` (`serve`, or `demo`, which serves too).
    pub fn start_command(data: &Path, command: &str, extra: &[&str]) -> Self {
        Self::start_with_env(data, command, extra, &[])
    }

    /// Like [`Served::start_command`], with extra environment variables.
    pub fn start_with_env(
        data: &Path,
        command: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let logdir = tempfile::tempdir().unwrap();
        let log = logdir.path().join("server.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_dyntag"))
            .args(["--data", data.to_str().unwrap(), command])
            .args(["--flight-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
            .args(["--token", TOKEN])
            .args(extra)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut flight, mut http) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(120);
        while flight.is_none() || http.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let line = line.trim();
                    if let Some(u) = line.strip_prefix("Flight SQL") {
                        flight = Some(u.trim().to_string());
                    } else if let Some(u) = line.strip_prefix("HTTP ") {
                        http = Some(u.trim().to_string());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "the server printed no URLs: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        }
        Self {
            child,
            flight: flight.unwrap(),
            http: http.unwrap(),
            log,
            _logdir: logdir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs a client script with the server's URLs and token; asserts it passed.
    pub fn client(&self, script: &str, extra: &[&str]) -> String {
        self.passed(script, self.run_client(script, extra))
    }

    pub fn run_client(&self, script: &str, extra: &[&str]) -> Output {
        self.run_client_at(&self.flight, script, extra)
    }

    /// Like [`Served::run_client`], with another Flight URL.
    pub fn run_client_at(&self, flight: &str, script: &str, extra: &[&str]) -> Output {
        self.run_client_with(&python(), flight, script, extra)
    }

    /// Runs a client script with another Python (another virtual environment).
    pub fn run_client_with(
        &self,
        python: &str,
        flight: &str,
        script: &str,
        extra: &[&str],
    ) -> Output {
        let dir = common::repo_root().join("tests/clients");
        Command::new(python)
            .arg(dir.join(script))
            .args([flight, &self.http, TOKEN])
            .args(extra)
            .current_dir(&dir)
            .output()
            .expect("python with the client packages (scripts/test installs them)")
    }

    /// Asserts that a client run passed; its output.
    pub fn passed(&self, script: &str, out: Output) -> String {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{script} failed\n--- stdout\n{stdout}\n--- stderr\n{}\n--- server log (tail)\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        println!("{stdout}");
        stdout
    }

    /// The token the server was started with.
    pub fn token(&self) -> &'static str {
        TOKEN
    }

    /// Everything the server logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Waits up to `timeout` for the process to exit by itself (and reaps it).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn adbc_driver_browses_joins_updates_prepares_and_cancels() {
    let server = Served::start(demo_data(), &[]);
    let out = server.client("adbc_client.py", &[]);
    assert!(out.contains("adbc: all checks passed"));
}

#[test]
fn pyarrow_flight_speaks_flight_sql() {
    let server = Served::start(demo_data(), &[]);
    let out = server.client("pyarrow_flight_client.py", &[]);
    assert!(out.contains("pyarrow.flight: all checks passed"));
}

#[test]
fn sqlalchemy_dialect_reflects_and_queries() {
    let server = Served::start(demo_data(), &[]);
    let out = server.client("sqlalchemy_client.py", &[]);
    assert!(out.contains("sqlalchemy: all checks passed"));
}

#[test]
fn http_api_streams_formats_and_runs_asynchronous_queries() {
    let server = Served::start(demo_data(), &[]);
    let out = server.client("http_client.py", &[]);
    assert!(out.contains("http: all checks passed"));
}

#[test]
fn limits_give_precise_errors() {
    let server = Served::start(
        demo_data(),
        &[
            "--query-timeout",
            "3",
            "--memory-per-query-mb",
            "32",
            "--max-concurrent-queries",
            "2",
            "--queue-timeout",
            "1",
        ],
    );
    let out = server.client("limits.py", &[]);
    assert!(out.contains("limits: all checks passed"));
}

#[test]
fn flight_sql_over_tls() {
    let certs = tempfile::tempdir().unwrap();
    let out = Command::new(python())
        .arg(common::repo_root().join("tests/clients/make_cert.py"))
        .arg(certs.path())
        .output()
        .unwrap();
    succeeded(&out);
    let cert = certs.path().join("cert.pem");
    let key = certs.path().join("key.pem");
    let server = Served::start(
        demo_data(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        server.flight.starts_with("grpc+tls://"),
        "{}",
        server.flight
    );
    let out = server.client("pyarrow_flight_client.py", &[cert.to_str().unwrap()]);
    assert!(out.contains("all checks passed"));
    // Plain gRPC against the TLS port fails.
    let plain = server.flight.replace("grpc+tls", "grpc");
    let failed = server.run_client_at(&plain, "pyarrow_flight_client.py", &[]);
    assert!(!failed.status.success());
}

#[test]
fn the_demo_serves_the_demo_dataset_and_prints_where() {
    let server = Served::start_command(demo_data(), "demo", &[]);
    assert!(
        server.flight.starts_with("grpc://127.0.0.1:"),
        "{}",
        server.flight
    );
    let out = Command::new(python())
        .arg("-c")
        .arg(format!(
            "import sys, json; sys.path.insert(0, '{}'); from common import *; \
             s, _, b = http('POST', '{}/api/sql', '{TOKEN}', 'SELECT count(*) AS n FROM dt_subjects_visual'); \
             assert s == 200, b; print(json.loads(b)['rows'][0]['n'])",
            common::repo_root().join("tests/clients").display(),
            server.http
        ))
        .output()
        .unwrap();
    succeeded(&out);
    let n: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(
        n > 0,
        "the demo's default dataset has dt_subjects_visual rows"
    );
    assert!(server.stop().success());
}

#[test]
fn sigterm_lets_the_server_stop_cleanly() {
    let server = Served::start(demo_data(), &["--grace", "1"]);
    // A client in the middle of an endless query when the signal comes.
    let mut client = Command::new(python())
        .arg("-c")
        .arg(format!(
            "import sys; sys.path.insert(0, '{}'); from common import *; \
             http('POST', '{}/api/sql', '{TOKEN}', 'SELECT count(*) FROM (' + ENDLESS + ')')",
            common::repo_root().join("tests/clients").display(),
            server.http
        ))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let log_before = server.log_tail();
    let status = server.stop();
    assert!(status.success(), "exit status {status}: {log_before}");
    let _ = client.wait();
}

/// The server's stated memory bound under the load test (the demo dataset, 32 clients).
const LOAD_RSS_BOUND: u64 = 512 << 20;

#[test]
fn load_of_32_clients_for_a_minute_fails_nothing() {
    let seconds = std::env::var("DYNTAG_LOAD_SECONDS").unwrap_or_else(|_| "60".into());
    let server = Served::start(demo_data(), &[]);
    let pid = server.pid();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_bytes(pid));
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        })
    };
    let out = server.client("load.py", &[&seconds, "32"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    let report: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    println!(
        "load: {report}\nserver peak RSS {} MiB (bound {} MiB)",
        peak >> 20,
        LOAD_RSS_BOUND >> 20
    );
    assert_eq!(report["failed"], 0, "failed queries: {report}");
    assert!(report["queries"].as_u64().unwrap() > 32, "{report}");
    assert!(
        peak > 0 && peak < LOAD_RSS_BOUND,
        "server peak RSS {peak} bytes"
    );
}
