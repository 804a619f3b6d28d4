//! Progress of long work: on a terminal, a bar redrawn in place (items, rate, time left);
//! otherwise a plain line at most every two seconds.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dyntag_core::service::import::Progress;

/// Prints progress lines to standard error.
pub struct LineProgress {
    state: Mutex<Option<Stage>>,
    quiet: bool,
    terminal: bool,
}

struct Stage {
    name: String,
    total: Option<u64>,
    done: u64,
    started: Instant,
    last_print: Instant,
}

impl LineProgress {
    /// Progress lines, or nothing when `quiet`.
    pub fn new(quiet: bool) -> Self {
        Self {
            state: Mutex::new(None),
            quiet,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn bar(s: &Stage) -> String {
        const WIDTH: usize = 30;
        let filled = match s.total {
            Some(t) if t > 0 => ((s.done.min(t) as f64 / t as f64) * WIDTH as f64) as usize,
            _ => 0,
        };
        format!(
            "\r[{}{}] {}\x1b[K",
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            Self::line(s)
        )
    }

    fn line(s: &Stage) -> String {
        let secs = s.started.elapsed().as_secs_f64().max(1e-9);
        let rate = s.done as f64 / secs;
        match s.total {
            Some(t) if t > 0 => {
                let left = (t.saturating_sub(s.done)) as f64 / rate.max(1e-9);
                format!(
                    "{}: {}/{} ({:.0}%, {:.0}/s, {:.0}s left)",
                    s.name,
                    s.done,
                    t,
                    100.0 * s.done as f64 / t as f64,
                    rate,
                    left
                )
            }
            _ => format!("{}: {} ({:.0}/s)", s.name, s.done, rate),
        }
    }
}

impl Progress for LineProgress {
    fn begin(&self, stage: &str, total: Option<u64>) {
        let now = Instant::now();
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = Some(Stage {
            name: stage.to_string(),
            total,
            done: 0,
            started: now,
            last_print: now,
        });
    }

    fn advance(&self, n: u64) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = st.as_mut() {
            s.done += n;
            if self.quiet {
                return;
            }
            if self.terminal {
                if s.last_print.elapsed() > Duration::from_millis(100) {
                    s.last_print = Instant::now();
                    eprint!("{}", Self::bar(s));
                }
            } else if s.last_print.elapsed() > Duration::from_secs(2) {
                s.last_print = Instant::now();
                eprintln!("{}", Self::line(s));
            }
        }
    }

    fn end(&self) {
        if let Some(s) = self.state.lock().unwrap_or_else(|p| p.into_inner()).take()
            && !self.quiet
            && (self.terminal || s.started.elapsed() > Duration::from_millis(500))
        {
            let shown = if self.terminal {
                Self::bar(&s)
            } else {
                Self::line(&s)
            };
            eprintln!(
                "{shown} — done in {:.1}s",
                s.started.elapsed().as_secs_f64()
            );
        }
    }
}
