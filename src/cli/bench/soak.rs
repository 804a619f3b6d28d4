//! `dyntag bench soak`: load and faults together. `dyntag serve` runs over the demo dataset
//! as a child process; `benches/soak.py` runs CLIENTS concurrent clients for SECONDS (Flight
//! SQL queries, HTTP previews, tag edits, publishes, readers that look for partial `dt_`
//! tables) while the server is killed with SIGKILL and restarted KILLS times, on the same
//! ports. Prints the client's figures, the server's peak resident memory against the bound
//! its limits give, and fails unless no acknowledged edit was lost, no partial table was
//! seen and no client error other than the kills' dropped connections happened.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::rss_bytes;
use crate::cli::Global;
use crate::error::{AppError, Result};

const TOKEN: &str = "soak-token-0123456789abcdef";

/// How the soak runs.
pub(super) struct Soak<'a> {
    pub seconds: u64,
    pub clients: usize,
    pub kills: usize,
    pub memory_per_query_mb: usize,
    pub max_concurrent: usize,
    pub cache_mb: usize,
    pub work: Option<PathBuf>,
    pub script: &'a Path,
    pub python: &'a str,
}

pub(super) async fn run(global: &Global, s: Soak<'_>) -> Result<()> {
    let tmp;
    let data = match &s.work {
        Some(w) => w.clone(),
        None => {
            tmp = tempfile::tempdir().map_err(|e| AppError::io("creating a work folder", e))?;
            tmp.path().to_path_buf()
        }
    };
    let g = Global {
        data: data.to_string_lossy().into_owned(),
        ..global.clone()
    };
    let catalog = g.open().await?;
    if !catalog.snapshot().datasets.contains_key("demo") {
        eprintln!("setting up the demo dataset in {}", data.display());
        crate::cli::demo::prepare(&g, None).await?;
    }
    drop(catalog);

    let flight_port = free_port()?;
    let http_port = free_port()?;
    let start = |n: usize| -> Result<Child> {
        let exe = std::env::current_exe().map_err(|e| AppError::io("locating dyntag", e))?;
        let mut child = Process::new(exe)
            .args(["--data", &g.data, "--cache-mb", &s.cache_mb.to_string()])
            .args(["serve", "--dataset", "demo"])
            .args(["--token", TOKEN])
            .args(["--flight-addr", &format!("127.0.0.1:{flight_port}")])
            .args(["--http-addr", &format!("127.0.0.1:{http_port}")])
            .args(["--memory-per-query-mb", &s.memory_per_query_mb.to_string()])
            .args(["--max-concurrent-queries", &s.max_concurrent.to_string()])
            .args(["--login-attempts-per-minute", "100000"])
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| AppError::io("starting the server", e))?;
        let stdout = child.stdout.take().expect("piped stdout");
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| AppError::io("reading the server's output", e))?;
            if line.trim().starts_with("HTTP") {
                eprintln!("server {n} is up (pid {})", child.id());
                return Ok(child);
            }
        }
        let _ = child.kill();
        Err(AppError::Environment(format!("server {n} printed no URLs")))
    };
    let mut server = start(0)?;

    let pid = Arc::new(AtomicU32::new(server.id()));
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (pid, stop, peak) = (Arc::clone(&pid), Arc::clone(&stop), Arc::clone(&peak));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(pid.load(Ordering::Relaxed)), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    eprintln!(
        "{} clients for {} s, the server killed {} time(s)",
        s.clients, s.seconds, s.kills
    );
    let began = Instant::now();
    let client = Process::new(s.python)
        .arg(s.script)
        .args([
            &format!("grpc://127.0.0.1:{flight_port}"),
            &format!("http://127.0.0.1:{http_port}"),
            TOKEN,
            &s.seconds.to_string(),
            &s.clients.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| AppError::io(format!("running {} {}", s.python, s.script.display()), e))?;

    for k in 1..=s.kills {
        let at = Duration::from_secs(s.seconds) * k as u32 / (s.kills as u32 + 1);
        tokio::time::sleep(at.saturating_sub(began.elapsed())).await;
        eprintln!(
            "kill -9 the server at {:.0} s",
            began.elapsed().as_secs_f64()
        );
        let _ = server.kill();
        let _ = server.wait();
        server = start(k)?;
        pid.store(server.id(), Ordering::Relaxed);
    }
    let out = tokio::task::spawn_blocking(move || client.wait_with_output())
        .await
        .map_err(|e| AppError::Environment(format!("waiting for the soak client: {e}")))?
        .map_err(|e| AppError::io("running the soak client", e))?;
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let _ = server.kill();
    let _ = server.wait();

    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    let figures: serde_json::Value = serde_json::from_str(line).map_err(|_| {
        AppError::Environment(format!(
            "the soak client printed no figures (exit {}): {text}",
            out.status
        ))
    })?;
    let peak = peak.load(Ordering::Relaxed);
    let cache = (s.cache_mb as u64) << 20;
    let bound = (s.max_concurrent * s.memory_per_query_mb) as u64 * (1 << 20) + cache + (256 << 20);
    let int = |k: &str| figures[k].as_u64().unwrap_or(u64::MAX);
    println!(
        "soak: {} clients × {} s, server killed {} time(s)",
        s.clients, s.seconds, s.kills
    );
    println!(
        "  operations {}  errors {}  dropped by the kills {}  publishes {}",
        figures["ops"], figures["errors"], figures["drops"], figures["publishes"]
    );
    println!(
        "  latency p50 {} ms  p99 {} ms",
        figures["p50_ms"], figures["p99_ms"]
    );
    println!(
        "  edits acknowledged {}  checked {}  lost {}  partial dt_ reads {}",
        figures["edits"], figures["edits_checked"], figures["lost_edits"], figures["partial_reads"]
    );
    println!(
        "  server peak RSS {:.0} MiB (bound from the limits: {} queries × {} MiB + cache {:.0} MiB + 256 MiB = {:.0} MiB)",
        peak as f64 / 1048576.0,
        s.max_concurrent,
        s.memory_per_query_mb,
        cache as f64 / 1048576.0,
        bound as f64 / 1048576.0
    );
    println!("{line}");
    let mut failures = Vec::new();
    if int("errors") != 0 {
        failures.push(format!(
            "{} client errors: {}",
            figures["errors"], figures["first_errors"]
        ));
    }
    if int("lost_edits") != 0 {
        failures.push(format!(
            "{} acknowledged edits lost: {}",
            figures["lost_edits"], figures["lost_examples"]
        ));
    }
    if int("partial_reads") != 0 {
        failures.push("partial dt_ tables were read".into());
    }
    if peak > bound {
        failures.push("the server's memory passed its bound".into());
    }
    if int("ops") == 0 || int("ops") == u64::MAX {
        failures.push("no operation ran".into());
    }
    if failures.is_empty() {
        println!("soak: passed");
        Ok(())
    } else {
        Err(AppError::Incomplete(format!(
            "soak failed: {}",
            failures.join("; ")
        )))
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| AppError::io("finding a free port", e))?;
    Ok(l.local_addr()
        .map_err(|e| AppError::io("finding a free port", e))?
        .port())
}
