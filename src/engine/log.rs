//! Every statement is logged when it ends, with who ran it, from where, in which dataset, its
//! kind, how it ended and how long it took (failures at `warn`, with the error; statements
//! of the command line at `debug`). Tag and access statements — tag edits and admin
//! statements, done, refused or failed — and every refused statement are also written to
//! the audit trail (`system.audit`); refusals at most [`MAX_REFUSALS_PER_MINUTE`] a minute
//! per user, so that nobody fills the store by being refused.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use dyntag_catalog::statements::StatementKind;
use dyntag_core::Catalog;
use dyntag_core::model::access::Principal;
use dyntag_core::model::audit::{self, Outcome};
use futures::Stream;

/// Longest statement text kept in a log line or an audit record.
const MAX_TEXT: usize = 2000;

/// Refusals of one user written to the audit trail per minute (the log has them all).
pub const MAX_REFUSALS_PER_MINUTE: u32 = 120;

/// Refusals audited per user in the current minute.
static REFUSALS: std::sync::Mutex<Option<std::collections::HashMap<String, (Instant, u32)>>> =
    std::sync::Mutex::new(None);

/// Whether another refusal of `user` may go to the audit trail this minute.
fn refusal_allowed(user: &str) -> bool {
    let mut map = REFUSALS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let map = map.get_or_insert_with(Default::default);
    if map.len() > 10_000 {
        map.retain(|_, (since, _)| since.elapsed().as_secs() < 60);
    }
    let entry = map.entry(user.to_string()).or_insert((Instant::now(), 0));
    if entry.0.elapsed().as_secs() >= 60 {
        *entry = (Instant::now(), 0);
    }
    entry.1 += 1;
    entry.1 <= MAX_REFUSALS_PER_MINUTE
}

/// One statement being run.
#[derive(Clone)]
pub struct StatementLog {
    pub catalog: Arc<Catalog>,
    pub user: Principal,
    pub origin: &'static str,
    pub dataset: String,
    pub kind: Option<StatementKind>,
    pub text: String,
    pub started: Instant,
}

impl StatementLog {
    fn kind_name(&self) -> &'static str {
        self.kind.map_or("unparsed", StatementKind::as_str)
    }

    fn text(&self) -> &str {
        match self.text.char_indices().nth(MAX_TEXT) {
            Some((i, _)) => &self.text[..i],
            None => &self.text,
        }
    }

    /// Tag and access statements, and refusals of any statement.
    fn audited(&self, outcome: Outcome) -> bool {
        if outcome == Outcome::Denied {
            return refusal_allowed(self.user.name());
        }
        matches!(
            self.kind,
            Some(StatementKind::TagEdit | StatementKind::Admin)
        )
    }

    /// Writes the log line of a statement that ended.
    fn log(&self, rows: usize, error: Option<&(Outcome, String)>) {
        let ms = self.started.elapsed().as_millis() as u64;
        let user = self.user.name();
        let read_only = self.user.is_read_only();
        let (origin, dataset, kind, sql) =
            (self.origin, &self.dataset, self.kind_name(), self.text());
        match (error, origin) {
            (None, "cli") => {
                tracing::debug!(user, origin, %dataset, kind, outcome = "done", duration_ms = ms, rows, sql, "statement")
            }
            (None, _) => {
                tracing::info!(user, read_only, origin, %dataset, kind, outcome = "done", duration_ms = ms, rows, sql, "statement")
            }
            (Some((outcome, e)), "cli") => {
                tracing::debug!(user, origin, %dataset, kind, outcome = outcome.as_str(), duration_ms = ms, error = %e, sql, "statement")
            }
            (Some((outcome, e)), _) => {
                tracing::warn!(user, read_only, origin, %dataset, kind, outcome = outcome.as_str(), duration_ms = ms, error = %e, sql, "statement")
            }
        }
    }

    /// The statement ended: logs it, and writes the audit record of a tag or access
    /// statement. `error` is the failure as the caller sees it.
    pub async fn ended(&self, rows: usize, error: Option<(Outcome, String)>) {
        self.log(rows, error.as_ref());
        let outcome = error.as_ref().map_or(Outcome::Done, |(o, _)| *o);
        if !self.audited(outcome) {
            return;
        }
        let record = audit::Record {
            at: dyntag_core::model::dataset::now(),
            user: self.user.name().to_string(),
            read_only: self.user.is_read_only(),
            origin: self.origin.to_string(),
            dataset: self.dataset.clone(),
            kind: self.kind_name().to_string(),
            statement: self.text().to_string(),
            outcome,
            error: error.map(|(_, e)| e),
            duration_ms: self.started.elapsed().as_millis() as u64,
        };
        if let Err(e) = audit::write(self.catalog.store(), &record).await {
            tracing::error!(error = %e, "writing the audit record failed");
        }
    }

    /// Wraps a query's stream: the statement is logged when the stream ends, fails, or is
    /// dropped before its end (cancelled).
    pub fn stream(self, inner: SendableRecordBatchStream) -> SendableRecordBatchStream {
        Box::pin(Logged {
            schema: inner.schema(),
            inner,
            log: Some(self),
            rows: 0,
        })
    }
}

/// How a failure is recorded.
pub fn outcome_of(message: &str) -> Outcome {
    if message.starts_with("permission denied") {
        Outcome::Denied
    } else {
        Outcome::Failed
    }
}

struct Logged {
    schema: SchemaRef,
    inner: SendableRecordBatchStream,
    log: Option<StatementLog>,
    rows: usize,
}

impl Logged {
    /// Logs the query's end (queries are not audited: nothing to write).
    fn finish(&mut self, error: Option<String>) {
        if let Some(log) = self.log.take() {
            let error = error.map(|e| (outcome_of(&e), e));
            log.log(self.rows, error.as_ref());
        }
    }
}

impl Stream for Logged {
    type Item = Result<RecordBatch, DataFusionError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.as_mut().poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(b))) => self.rows += b.num_rows(),
            Poll::Ready(Some(Err(e))) => {
                let e = e.to_string();
                self.finish(Some(e));
            }
            Poll::Ready(None) => self.finish(None),
            Poll::Pending => {}
        }
        next
    }
}

impl RecordBatchStream for Logged {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if self.log.is_some() {
            self.finish(Some("cancelled before its end".into()));
        }
    }
}
