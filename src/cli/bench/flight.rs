//! `dyntag bench flight`: streaming a large `dt_` result to the ADBC Flight SQL client.
//!
//! Writes N synthetic embeddings, imports them, publishes a T-tag group (N×T rows of
//! `dt_g_visual`), starts `dyntag serve` as a child process and runs
//! `benches/flight_stream.py`, which fetches `SELECT * FROM dt_g_visual` with ADBC and with
//! pyarrow.flight, each against the same client reading the same rows from Arrow C++'s own
//! Flight server holding them in memory (the anchor, in a process of its own), and reads
//! them from a local Arrow IPC file (the local limit), in the same run. The server's
//! resident memory is sampled while it streams a tenth of the rows and all of them: it
//! should not grow with the result (the score table is resident in the cache after the
//! first, untimed, pass).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::rss_bytes;
use super::scoring::synthetic_dataset;
use crate::cli::Global;
use crate::engine::Engine;
use crate::error::{AppError, Result};

const TOKEN: &str = "bench-token-0123456789abcdef";

pub(super) async fn run(
    global: &Global,
    rows: usize,
    tags: usize,
    work: Option<PathBuf>,
    script: &Path,
    python: &str,
) -> Result<()> {
    let bench = synthetic_dataset(global, work, rows, None).await?;
    let (g, catalog) = (&bench.global, Arc::clone(&bench.catalog));
    eprintln!("publishing a {tags}-tag group");
    let names: Vec<String> = (0..tags).map(|i| format!("tag {i}")).collect();
    super::create_reviewed_group(&catalog, "g", "bench", &names).await?;
    Engine::new(Arc::clone(&catalog), Some("bench"))?
        .execute("PUBLISH TAG GROUP g")
        .await?;
    drop(catalog);

    let exe = std::env::current_exe().map_err(|e| AppError::io("locating dyntag", e))?;
    let mut server = Process::new(exe)
        .args([
            "--data",
            &g.data,
            "serve",
            "--dataset",
            "bench",
            "--token",
            TOKEN,
        ])
        .args(["--flight-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| AppError::io("starting the server", e))?;
    let stdout = server.stdout.take().expect("piped stdout");
    let mut flight = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| AppError::io("reading the server's output", e))?;
        if let Some(url) = line.trim().strip_prefix("Flight SQL") {
            flight = Some(url.trim().to_string());
            break;
        }
    }
    let Some(flight) = flight else {
        let _ = server.kill();
        return Err(AppError::Environment(
            "the server printed no Flight SQL URL".into(),
        ));
    };

    // Sample the server's resident memory while the client runs.
    let pid = server.id();
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let started = Instant::now();
    let out = Process::new(python)
        .arg(script)
        .args([&flight, TOKEN, "dt_g_visual", &(rows * tags).to_string()])
        .env("DYNTAG_SERVER_PID", pid.to_string())
        .output()
        .map_err(|e| AppError::io(format!("running {python} {}", script.display()), e));
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let _ = server.wait();
    let out = out?;
    if !out.status.success() {
        return Err(AppError::Environment(format!(
            "the client failed (it needs adbc-driver-flightsql and pyarrow: scripts/setup installs them): {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    print!("{}", String::from_utf8_lossy(&out.stdout));
    println!(
        "server_peak_rss_overall bytes={} seconds={:.1}",
        peak.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
