//! Asynchronous queries, as the product's query API runs them: submit → poll status → fetch
//! results. Results are kept in memory for a bounded time and up to a bounded size; a query
//! whose result would not fit fails with a message pointing at the streaming endpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use futures::StreamExt;
use serde::Serialize;

use super::super::auth::Caller;
use super::super::errors::{Code, ServeError};
use super::super::lock;
use super::super::{BatchStream, Server};

/// Where an asynchronous query is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// What `GET /api/queries/{id}` answers.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub id: String,
    pub status: JobState,
    pub sql: String,
    pub dataset: Option<String>,
    pub submitted_at_ms: u64,
    pub elapsed_ms: u64,
    pub rows: usize,
    pub bytes: usize,
    pub error: Option<serde_json::Value>,
    /// Seconds until a finished query's results are dropped.
    pub expires_in_s: Option<u64>,
}

struct Job {
    user: String,
    sql: String,
    dataset: Option<String>,
    submitted_at_ms: u64,
    started: Instant,
    finished: Option<Instant>,
    state: JobState,
    error: Option<ServeError>,
    schema: Option<SchemaRef>,
    batches: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
    task: Option<tokio::task::AbortHandle>,
}

/// The asynchronous queries of a server.
pub struct Jobs {
    jobs: Mutex<HashMap<String, Job>>,
    ttl: Duration,
    memory: usize,
}

impl Jobs {
    pub fn new(ttl: Duration, memory: usize) -> Arc<Self> {
        Arc::new(Self {
            jobs: Mutex::new(HashMap::new()),
            ttl,
            memory,
        })
    }

    /// Starts a query in the background; its id.
    pub fn submit(
        self: &Arc<Self>,
        server: Arc<Server>,
        caller: Caller,
        sql: String,
        dataset: Option<String>,
    ) -> String {
        self.purge();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.lock().insert(
            id.clone(),
            Job {
                user: caller.user.clone(),
                sql: sql.clone(),
                dataset: dataset.clone(),
                submitted_at_ms: now_ms,
                started: Instant::now(),
                finished: None,
                state: JobState::Running,
                error: None,
                schema: None,
                batches: Vec::new(),
                rows: 0,
                bytes: 0,
                task: None,
            },
        );
        let jobs = Arc::clone(self);
        let job_id = id.clone();
        let task = tokio::spawn(async move {
            let result = server
                .run(&caller, "http-async", dataset.as_deref(), &sql)
                .await;
            match result {
                Ok((schema, batches)) => jobs.collect(&job_id, schema, batches).await,
                Err(e) => jobs.finish(&job_id, Err(e)),
            }
        });
        if let Some(job) = self.lock().get_mut(&id)
            && job.state == JobState::Running
        {
            job.task = Some(task.abort_handle());
        }
        id
    }

    async fn collect(&self, id: &str, schema: SchemaRef, mut batches: BatchStream) {
        if let Some(job) = self.lock().get_mut(id) {
            job.schema = Some(schema);
        }
        while let Some(b) = batches.next().await {
            let batch = match b {
                Ok(b) => b,
                Err(e) => return self.finish(id, Err(e)),
            };
            let size = batch.get_array_memory_size();
            if self.kept_bytes() + size > self.memory {
                return self.finish(
                    id,
                    Err(ServeError::new(
                        Code::ResourceExhausted,
                        format!(
                            "the result is larger than the {} MiB the server keeps for asynchronous queries; \
                             stream it with POST /api/sql instead",
                            self.memory >> 20
                        ),
                    )),
                );
            }
            let mut jobs = self.lock();
            let Some(job) = jobs.get_mut(id) else { return };
            if job.state != JobState::Running {
                return;
            }
            job.rows += batch.num_rows();
            job.bytes += size;
            job.batches.push(batch);
        }
        self.finish(id, Ok(()));
    }

    fn finish(&self, id: &str, outcome: Result<(), ServeError>) {
        let mut jobs = self.lock();
        let Some(job) = jobs.get_mut(id) else { return };
        if job.state != JobState::Running {
            return;
        }
        job.finished = Some(Instant::now());
        job.task = None;
        match outcome {
            Ok(()) => job.state = JobState::Succeeded,
            Err(e) => {
                job.state = if e.code == Code::Cancelled {
                    JobState::Cancelled
                } else {
                    JobState::Failed
                };
                job.batches.clear();
                job.bytes = 0;
                job.error = Some(e);
            }
        }
    }

    /// The status of the caller's query.
    pub fn status(&self, id: &str, caller: &Caller) -> Result<JobStatus, ServeError> {
        self.purge();
        let jobs = self.lock();
        let job = visible(&jobs, id, caller)?;
        Ok(self.describe(id, job))
    }

    /// The caller's queries, newest first.
    pub fn list(&self, caller: &Caller) -> Vec<JobStatus> {
        self.purge();
        let jobs = self.lock();
        let mut out: Vec<JobStatus> = jobs
            .iter()
            .filter(|(_, j)| j.user == caller.user)
            .map(|(id, j)| self.describe(id, j))
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.submitted_at_ms));
        out
    }

    /// The results of a finished query.
    pub fn results(
        &self,
        id: &str,
        caller: &Caller,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), ServeError> {
        self.purge();
        let jobs = self.lock();
        let job = visible(&jobs, id, caller)?;
        match job.state {
            JobState::Running => Err(ServeError::new(
                Code::FailedPrecondition,
                "the query is still running; poll its status until it has succeeded",
            )),
            JobState::Failed | JobState::Cancelled => Err(job
                .error
                .clone()
                .unwrap_or_else(|| ServeError::internal("the query failed"))),
            JobState::Succeeded => Ok((
                job.schema
                    .clone()
                    .ok_or_else(|| ServeError::internal("the query has no schema"))?,
                job.batches.clone(),
            )),
        }
    }

    /// Cancels a running query (or drops a finished one's results).
    pub fn cancel(&self, id: &str, caller: &Caller) -> Result<JobStatus, ServeError> {
        let mut jobs = self.lock();
        let job = jobs
            .get_mut(id)
            .filter(|j| j.user == caller.user)
            .ok_or_else(|| unknown_job(id))?;
        if job.state == JobState::Running {
            if let Some(task) = job.task.take() {
                task.abort();
            }
            job.state = JobState::Cancelled;
            job.finished = Some(Instant::now());
            job.error = Some(ServeError::new(Code::Cancelled, "the query was cancelled"));
        }
        job.batches.clear();
        job.bytes = 0;
        Ok(self.describe(id, job))
    }

    fn describe(&self, id: &str, j: &Job) -> JobStatus {
        JobStatus {
            id: id.to_string(),
            status: j.state,
            sql: j.sql.clone(),
            dataset: j.dataset.clone(),
            submitted_at_ms: j.submitted_at_ms,
            elapsed_ms: j
                .finished
                .unwrap_or_else(Instant::now)
                .duration_since(j.started)
                .as_millis() as u64,
            rows: j.rows,
            bytes: j.bytes,
            error: j
                .error
                .as_ref()
                .map(|e| serde_json::json!({ "code": e.code.name(), "message": e.message })),
            expires_in_s: j
                .finished
                .map(|f| self.ttl.saturating_sub(f.elapsed()).as_secs()),
        }
    }

    fn kept_bytes(&self) -> usize {
        self.lock().values().map(|j| j.bytes).sum()
    }

    /// Drops finished queries older than the time to live.
    fn purge(&self) {
        let ttl = self.ttl;
        self.lock()
            .retain(|_, j| j.finished.is_none_or(|f| f.elapsed() < ttl));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Job>> {
        lock(&self.jobs)
    }
}

/// A job of the caller (another user's job is "not found", never "forbidden").
fn visible<'a>(
    jobs: &'a HashMap<String, Job>,
    id: &str,
    caller: &Caller,
) -> Result<&'a Job, ServeError> {
    jobs.get(id)
        .filter(|j| j.user == caller.user)
        .ok_or_else(|| unknown_job(id))
}

fn unknown_job(id: &str) -> ServeError {
    ServeError::not_found(format!(
        "no query '{id}' (finished queries are kept for a limited time)"
    ))
}
