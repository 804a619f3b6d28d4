//! Fault points for crash tests: when the environment variable `DYNTAG_FAULT` names a
//! point, the process aborts there, as a crash or a `kill -9` would stop it; when
//! `DYNTAG_PAUSE` is `<point>:<ms>`, work waits there (so that a test can look at what
//! readers see while a job is midway). Unset (the normal case) a check costs one
//! environment lookup per point per call.

/// Aborts the process if `DYNTAG_FAULT` equals `name`.
pub fn point(name: &str) {
    if std::env::var("DYNTAG_FAULT").is_ok_and(|v| v == name) {
        eprintln!("DYNTAG_FAULT: crashing at '{name}'");
        std::process::abort();
    }
}

/// Waits `ms` milliseconds if `DYNTAG_PAUSE` is `<name>:<ms>`.
pub async fn pause(name: &str) {
    let Ok(v) = std::env::var("DYNTAG_PAUSE") else {
        return;
    };
    if let Some((point, ms)) = v.split_once(':')
        && point == name
        && let Ok(ms) = ms.parse::<u64>()
    {
        eprintln!("DYNTAG_PAUSE: waiting {ms} ms at '{name}'");
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}
