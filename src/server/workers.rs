//! The background scoring workers: each claims queued jobs (see `dyntag_core::service::jobs`)
//! and runs them; a statement that queues one wakes them, and they also look every few
//! seconds (a job left by a crashed server is found at start). Progress of running jobs is
//! kept here for the API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dyntag_core::Catalog;
use dyntag_core::scoring::materialize::ScoreParts;
use dyntag_core::service::import::Progress;
use dyntag_core::service::jobs::{self, JobKey, Outcome};
use serde::Serialize;
use tokio::sync::{Notify, watch};

use super::lock;

/// How often idle workers look for jobs without being woken.
const POLL: Duration = Duration::from_secs(2);

/// How often the whole catalog is read again (listing every log), to pick up a revision
/// whose writer died before journaling it; statements only read the journal.
const RECONCILE: Duration = Duration::from_secs(300);

/// Progress of a running job.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobProgress {
    pub group: String,
    pub dataset: String,
    pub stage: String,
    pub done: u64,
    pub total: Option<u64>,
}

/// The worker pool's shared state.
pub struct Workers {
    wake: Arc<Notify>,
    running: Mutex<HashMap<JobKey, JobProgress>>,
    reloaded: Mutex<Instant>,
}

impl Workers {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            wake: Arc::default(),
            running: Mutex::default(),
            reloaded: Mutex::new(Instant::now()),
        })
    }

    /// What statements notify when they queue a job.
    pub fn wake(&self) -> &Arc<Notify> {
        &self.wake
    }

    /// Progress of the jobs running now.
    pub fn running(&self) -> Vec<JobProgress> {
        let mut v: Vec<JobProgress> = lock(&self.running).values().cloned().collect();
        v.sort_by(|a, b| (&a.group, &a.dataset).cmp(&(&b.group, &b.dataset)));
        v
    }

    /// Starts `n` workers over `catalog`, scoring on `remote` (a cluster) when given; they
    /// stop when `stop` turns true (a job in progress is abandoned and re-run by the next
    /// server).
    pub fn spawn(
        self: &Arc<Self>,
        catalog: Arc<Catalog>,
        n: usize,
        remote: Option<Arc<dyn ScoreParts>>,
        stop: watch::Receiver<bool>,
    ) {
        for _ in 0..n.max(1) {
            let me = Arc::clone(self);
            let catalog = Arc::clone(&catalog);
            let remote = remote.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let id = jobs::worker_id();
                loop {
                    let ran = tokio::select! {
                        r = me.run_pending(&catalog, &id, remote.as_deref()) => r,
                        _ = stop.wait_for(|s| *s) => return,
                    };
                    if ran {
                        continue;
                    }
                    tokio::select! {
                        _ = me.wake.notified() => {}
                        _ = tokio::time::sleep(POLL) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
            });
        }
    }

    /// Runs the queued jobs this worker can claim; whether it ran any.
    async fn run_pending(
        &self,
        catalog: &Arc<Catalog>,
        id: &str,
        remote: Option<&dyn ScoreParts>,
    ) -> bool {
        let reconcile = {
            let mut at = lock(&self.reloaded);
            let due = at.elapsed() >= RECONCILE;
            if due {
                *at = Instant::now();
            }
            due
        };
        let read = if reconcile {
            catalog.reload().await
        } else {
            catalog.refresh().await
        };
        let snapshot = match read {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "scoring worker could not read the catalog");
                return false;
            }
        };
        let mut ran = false;
        for key in jobs::pending(&snapshot) {
            let progress = Reporter {
                workers: self,
                key: key.clone(),
            };
            match jobs::run(catalog, &key.0, &key.1, id, remote, &progress).await {
                Ok(Outcome::Skipped) => {}
                Ok(Outcome::Scored { version, rows }) => {
                    ran = true;
                    tracing::info!(group = %key.0, dataset = %key.1, version, rows, "scored");
                }
                Ok(Outcome::Failed(m)) => {
                    ran = true;
                    tracing::warn!(group = %key.0, dataset = %key.1, error = %m, "scoring failed");
                }
                Err(e) => {
                    tracing::warn!(group = %key.0, dataset = %key.1, error = %e, "scoring job could not run");
                }
            }
            lock(&self.running).remove(&key);
        }
        ran
    }
}

/// Records a job's progress in the pool's table.
struct Reporter<'a> {
    workers: &'a Workers,
    key: JobKey,
}

impl Progress for Reporter<'_> {
    fn begin(&self, stage: &str, total: Option<u64>) {
        lock(&self.workers.running).insert(
            self.key.clone(),
            JobProgress {
                group: self.key.0.clone(),
                dataset: self.key.1.clone(),
                stage: stage.to_string(),
                done: 0,
                total,
            },
        );
    }

    fn advance(&self, n: u64) {
        if let Some(p) = lock(&self.workers.running).get_mut(&self.key) {
            p.done += n;
        }
    }

    fn end(&self) {}
}
