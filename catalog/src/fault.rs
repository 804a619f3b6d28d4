//! Fault points for crash tests: when the environment variable `DYNTAG_FAULT` names a
//! point, the process aborts there, as a crash or a `kill -9` would stop it. Unset (the
//! normal case) the check costs one environment lookup per point per call.

/// Aborts the process if `DYNTAG_FAULT` equals `name`.
pub fn point(name: &str) {
    if std::env::var("DYNTAG_FAULT").is_ok_and(|v| v == name) {
        eprintln!("DYNTAG_FAULT: crashing at '{name}'");
        std::process::abort();
    }
}
