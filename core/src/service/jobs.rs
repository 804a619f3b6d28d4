//! Background scoring. A job is an application in status `queued`: publishing, applying
//! and updating commit one, and a worker claims it (by committing itself as its owner),
//! scores the version into new files, and commits the run and status `scored` in one
//! revision. Readers see the previous run until that commit, so a half-scored table is
//! never visible. A worker that died (its process is gone, or it held the job longer than
//! [`LEASE`] on another host) leaves the job to the next worker, which scores it again.

use std::sync::Arc;
use std::time::Duration;

use crate::model::applications::{Application, Job, ScoringStatus, application_log};
use crate::model::dataset::now;
use crate::model::snapshot::{Definition, Snapshot};
use crate::scoring::materialize::{LocalParts, ScoreParts, score_dataset};
use crate::service::Catalog;
use crate::service::import::Progress;
use crate::store::Step;
use crate::{CatalogError, Result};

/// How long a job claimed by a worker on another host stays its own.
pub const LEASE: Duration = Duration::from_secs(15 * 60);

/// A queued job: (group slug, dataset).
pub type JobKey = (String, String);

/// The queued jobs of a snapshot, oldest first.
pub fn pending(snapshot: &Snapshot) -> Vec<JobKey> {
    let mut jobs: Vec<(&str, JobKey)> = snapshot
        .applications
        .values()
        .filter(|a| a.doc.status == ScoringStatus::Queued)
        .map(|a| {
            let at = a.doc.job.as_ref().map_or("", |j| j.enqueued_at.as_str());
            (at, (a.doc.group.clone(), a.doc.dataset.clone()))
        })
        .collect();
    jobs.sort();
    jobs.into_iter().map(|(_, k)| k).collect()
}

/// What a worker did with a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Scored; readers now see the new run.
    Scored { version: u32, rows: u64 },
    /// Scoring failed; the application is in status `error` with the message.
    Failed(String),
    /// Nothing to do: not queued any more, or another live worker holds it.
    Skipped,
}

/// One worker's identity: `host:pid:nonce`.
pub fn worker_id() -> String {
    format!(
        "{}:{}:{}",
        host(),
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Whether the worker that claimed `job` may still be running it.
fn held_by_live_worker(job: &Job, me: &str) -> bool {
    let Some(owner) = &job.owner else {
        return false;
    };
    if owner == me {
        return false;
    }
    let mut parts = owner.splitn(3, ':');
    let (h, pid) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if h == host() {
        if pid == std::process::id().to_string() {
            return true; // another worker of this process
        }
        return std::path::Path::new("/proc").join(pid).exists();
    }
    job.started_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| {
            chrono::Utc::now()
                .signed_duration_since(t)
                .to_std()
                .unwrap_or_default()
                < LEASE
        })
}

/// Claims and runs the job of `group` on `dataset` as worker `me`: scored here, or on
/// `remote` (a cluster) when given.
pub async fn run(
    catalog: &Arc<Catalog>,
    group: &str,
    dataset: &str,
    me: &str,
    remote: Option<&dyn ScoreParts>,
    progress: &dyn Progress,
) -> Result<Outcome> {
    let store = catalog.store();
    let log = application_log(group, dataset);
    let Some((rev, mut app)) = log.latest::<Application>(store).await? else {
        return Ok(Outcome::Skipped);
    };
    let Some(mut job) = app.job.clone() else {
        return Ok(Outcome::Skipped);
    };
    if app.status != ScoringStatus::Queued || held_by_live_worker(&job, me) {
        return Ok(Outcome::Skipped);
    }
    job.attempt += 1;
    job.owner = Some(me.to_string());
    job.started_at = Some(now());
    app.job = Some(job.clone());
    app.updated_at = now();
    match log.commit(store, rev, &app).await {
        Ok(_) => {}
        Err(CatalogError::Conflict { .. }) => return Ok(Outcome::Skipped),
        Err(e) => return Err(e),
    }
    tracing::info!(
        group,
        dataset,
        version = job.version,
        attempt = job.attempt,
        "scoring"
    );
    let snapshot = catalog.refresh().await?;
    let scored = match snapshot.versions.get(&(group.to_string(), job.version)) {
        Some(frozen) => {
            let definition = Definition {
                group: group.to_string(),
                version: Some(job.version),
                revision: 0,
                tags: frozen.tags.clone(),
            };
            let here = LocalParts::new(Arc::clone(catalog));
            score_dataset(
                catalog,
                &catalog.snapshot(),
                dataset,
                &definition,
                &frozen.options,
                remote.unwrap_or(&here),
                progress,
            )
            .await
        }
        None => Err(CatalogError::Internal(format!(
            "version {} of tag group '{group}' is missing",
            job.version
        ))),
    };
    let outcome = match &scored {
        Ok(run) => Outcome::Scored {
            version: job.version,
            rows: run.tables.values().flatten().map(|f| f.rows).sum(),
        },
        Err(e) => Outcome::Failed(e.to_string()),
    };
    // Commit the result unless the job was replaced meanwhile (a newer version queued).
    let (_, committed) = log
        .update(store, |latest: Option<(u64, Application)>| {
            let Some((_, mut app)) = latest else {
                return Ok(Step::Keep(false));
            };
            if app.job.as_ref().map(|j| &j.id) != Some(&job.id) {
                return Ok(Step::Keep(false));
            }
            match &scored {
                Ok(run) => {
                    if let Some(prev) = app.run.take() {
                        app.history.retain(|r| r.version != prev.version);
                        app.history.insert(0, prev);
                    }
                    app.history.retain(|r| r.version != run.version);
                    app.run = Some(run.clone());
                    app.status = ScoringStatus::Scored;
                    app.error = None;
                }
                Err(e) => {
                    app.status = ScoringStatus::Error;
                    app.error = Some(e.to_string());
                }
            }
            app.job = None;
            app.updated_at = now();
            Ok(Step::Commit(app, true))
        })
        .await?;
    if !committed {
        return Ok(Outcome::Skipped);
    }
    catalog.refresh().await?;
    Ok(outcome)
}

/// Runs the queued jobs among `keys` now, in this call (the command line has no background
/// workers; `remote` as in [`run`]), returning the first failure as an error.
pub async fn run_now(
    catalog: &Arc<Catalog>,
    keys: &[JobKey],
    remote: Option<&dyn ScoreParts>,
    progress: &dyn Progress,
) -> Result<Vec<Outcome>> {
    let me = worker_id();
    let mut out = Vec::new();
    for (group, dataset) in keys {
        let outcome = run(catalog, group, dataset, &me, remote, progress).await?;
        if let Outcome::Failed(m) = &outcome {
            return Err(CatalogError::State(format!(
                "scoring tag group '{group}' on dataset '{dataset}' failed: {m}"
            )));
        }
        out.push(outcome);
    }
    Ok(out)
}
