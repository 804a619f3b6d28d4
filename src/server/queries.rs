//! Running queries: how many may run at once, how long each may take, and cancelling them
//! (by the client, by `DELETE`, or at shutdown). Every query of either protocol runs inside
//! a [`Slot`]; its batches pass through [`Slot::guard`], which ends the stream with a clear
//! error when the deadline passes or the query is cancelled, and dropping the stream (a
//! client that hung up) releases everything the query held.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::errors::{Code, ServeError};
use super::lock;

/// Limits of the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Memory one query may hold before spilling or failing.
    pub memory_per_query: usize,
    /// Queries running at once; more wait for a slot.
    pub max_concurrent: usize,
    /// How long a query may wait for a slot.
    pub queue_timeout: Duration,
    /// How long a query may run.
    pub query_timeout: Duration,
    /// The longest statement accepted, in bytes.
    pub max_statement_bytes: usize,
    /// The largest HTTP request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Rows a JSON answer may hold (larger results: NDJSON, CSV or Arrow).
    pub max_json_rows: usize,
    /// Failed sign-ins a client may make per minute.
    pub login_attempts_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_per_query: 1 << 30,
            max_concurrent: 16,
            queue_timeout: Duration::from_secs(60),
            query_timeout: Duration::from_secs(300),
            max_statement_bytes: super::DEFAULT_MAX_STATEMENT_BYTES,
            max_body_bytes: 64 << 20,
            max_json_rows: 1_000_000,
            login_attempts_per_minute: super::auth::DEFAULT_LOGIN_ATTEMPTS_PER_MINUTE,
        }
    }
}

/// What a running query looks like from the API.
#[derive(Debug, Clone, Serialize)]
pub struct RunningQuery {
    pub id: u64,
    pub user: String,
    pub protocol: &'static str,
    pub sql: String,
    pub elapsed_ms: u64,
}

struct Entry {
    user: String,
    protocol: &'static str,
    sql: String,
    started: Instant,
    cancel: watch::Sender<bool>,
}

/// The registry of running queries.
pub struct Queries {
    limits: Limits,
    permits: Arc<Semaphore>,
    running: Mutex<BTreeMap<u64, Entry>>,
    next: AtomicU64,
    cancelled: AtomicU64,
}

impl Queries {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            permits: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            running: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(1),
            cancelled: AtomicU64::new(0),
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Waits for a slot (up to the queue timeout) and registers the query.
    pub async fn start(
        self: &Arc<Self>,
        user: &str,
        protocol: &'static str,
        sql: &str,
    ) -> Result<Slot, ServeError> {
        let permit = tokio::time::timeout(
            self.limits.queue_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        .map_err(|_| {
            ServeError::new(
                Code::ResourceExhausted,
                format!(
                    "the server is running its maximum of {} queries and none finished within {} s; try again later",
                    self.limits.max_concurrent,
                    self.limits.queue_timeout.as_secs()
                ),
            )
        })?
        .map_err(|_| ServeError::new(Code::Cancelled, "the server is shutting down"))?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (cancel, cancelled) = watch::channel(false);
        lock(&self.running).insert(
            id,
            Entry {
                user: user.to_string(),
                protocol,
                sql: sql.to_string(),
                started: Instant::now(),
                cancel,
            },
        );
        Ok(Slot {
            id,
            queries: Arc::clone(self),
            deadline: tokio::time::Instant::now() + self.limits.query_timeout,
            cancelled,
            _permit: permit,
        })
    }

    /// The queries running now.
    pub fn running(&self) -> Vec<RunningQuery> {
        lock(&self.running)
            .iter()
            .map(|(id, e)| RunningQuery {
                id: *id,
                user: e.user.clone(),
                protocol: e.protocol,
                sql: e.sql.clone(),
                elapsed_ms: e.started.elapsed().as_millis() as u64,
            })
            .collect()
    }

    /// Queries cancelled since start (by a client hanging up, a cancel request or shutdown).
    pub fn cancelled_total(&self) -> u64 {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Cancels a query of `user` (any user's when `user` is `None`). Whether it was running.
    pub fn cancel(&self, id: u64, user: Option<&str>) -> bool {
        let running = lock(&self.running);
        match running.get(&id) {
            Some(e) if user.is_none_or(|u| u == e.user) => {
                let _ = e.cancel.send(true);
                true
            }
            _ => false,
        }
    }

    /// Cancels every running query (shutdown).
    pub fn cancel_all(&self) {
        for e in lock(&self.running).values() {
            let _ = e.cancel.send(true);
        }
        self.permits.close();
    }

    fn finish(&self, id: u64, completed: bool) {
        lock(&self.running).remove(&id);
        if !completed {
            self.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A query's place in the registry; dropping it frees the slot.
pub struct Slot {
    id: u64,
    queries: Arc<Queries>,
    deadline: tokio::time::Instant,
    cancelled: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Runs a future (planning, a tag statement) under the query's deadline and cancel.
    pub async fn run<T>(
        &mut self,
        work: impl Future<Output = Result<T, ServeError>>,
    ) -> Result<T, ServeError> {
        let timeout = self.queries.limits.query_timeout;
        tokio::select! {
            r = work => r,
            _ = tokio::time::sleep_until(self.deadline) => Err(timed_out(timeout)),
            _ = self.cancelled.wait_for(|c| *c) => Err(cancelled()),
        }
    }

    /// The query's batches, ended by an error at the deadline or on cancel. The slot lives
    /// as long as the stream.
    pub fn guard(
        self,
        stream: SendableRecordBatchStream,
    ) -> impl Stream<Item = Result<RecordBatch, ServeError>> + Send + 'static {
        let state = Guarded {
            slot: self,
            stream,
            end: End::Open,
        };
        futures::stream::unfold(state, |mut s| async move {
            if s.end != End::Open {
                return None;
            }
            let timeout = s.slot.queries.limits.query_timeout;
            let next = tokio::select! {
                b = s.stream.next() => b.map(|r| r.map_err(ServeError::from)),
                _ = tokio::time::sleep_until(s.slot.deadline) => Some(Err(timed_out(timeout))),
                _ = s.slot.cancelled.wait_for(|c| *c) => Some(Err(cancelled())),
            };
            let Some(item) = next else {
                s.set_end(End::Completed);
                return None;
            };
            if let Err(e) = &item {
                s.set_end(if e.code == Code::Cancelled {
                    End::Cancelled
                } else {
                    End::Failed
                });
            }
            Some((item, s))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Open,
    Completed,
    Failed,
    Cancelled,
}

struct Guarded {
    slot: Slot,
    stream: SendableRecordBatchStream,
    end: End,
}

impl Guarded {
    /// Records how the stream ended (read when it is dropped).
    fn set_end(&mut self, end: End) {
        self.end = end;
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // Open at drop: the client stopped reading (hung up or cancelled its call).
        let cancelled = matches!(self.end, End::Open | End::Cancelled);
        self.slot.queries.finish(self.slot.id, !cancelled);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // A slot consumed by `guard` is finished by its stream first; one dropped early (an
        // error before streaming, or a tag statement) is finished here.
        let mut running = lock(&self.queries.running);
        running.remove(&self.id);
    }
}

fn timed_out(limit: Duration) -> ServeError {
    ServeError::new(
        Code::DeadlineExceeded,
        format!(
            "the query ran longer than the server's limit of {} s and was stopped",
            limit.as_secs()
        ),
    )
}

fn cancelled() -> ServeError {
    ServeError::new(Code::Cancelled, "the query was cancelled")
}
