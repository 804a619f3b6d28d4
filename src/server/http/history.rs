//! The query history of each user, kept on the server: the statements a user ran from the
//! console (requests that ask for it with `"history": true`), one small JSON object each
//! under the data root, recorded when the answer ends (done or failed, also mid-stream) and
//! read back newest first by `GET /api/history`. A history belongs to one user record: the
//! folder names the user and when the user was created, so a user dropped and created
//! again under the same name starts with an empty history. Each keeps its newest
//! [`MAX_ENTRIES`].
//!
//! ```text
//! history/<user>/<user created at>/20261202T120102123456789Z-<uuid>.json
//!     {"at", "dataset", "sql", "outcome", "elapsed_ms", "rows"}
//! ```

use dyntag_core::model::snapshot::Snapshot;
use dyntag_core::store::Store;
use futures::StreamExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::server::BatchStream;
use crate::server::errors::ServeError;

/// The folder of the histories.
const FOLDER: &str = "history";
/// Longest statement text kept.
const MAX_TEXT: usize = 20_000;
/// Entries a history keeps and answers (the newest).
pub const MAX_ENTRIES: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub at: String,
    pub dataset: Option<String>,
    pub sql: String,
    /// `done` or the error's code.
    pub outcome: String,
    pub elapsed_ms: u64,
    /// Rows answered (up to the failure, for one that failed mid-stream).
    pub rows: u64,
}

/// Whose history: a user as they are now (their record's creation time tells a user from
/// an earlier one of the same name; the built-in admin has no record).
pub struct Owner(Path);

impl Owner {
    pub fn of(snapshot: &Snapshot, user: &str) -> Self {
        let created = snapshot
            .access
            .users
            .get(user)
            .map_or_else(|| "builtin".to_string(), |u| u.created_at.clone());
        Self(Path::from_iter([FOLDER, user, &created]))
    }
}

/// The entry of one statement being answered: written once, when the answer ends — done,
/// failed (before or during the stream) or dropped by the client (`cancelled`).
pub struct Recorder {
    store: Store,
    owner: Owner,
    entry: Option<Entry>,
    started: std::time::Instant,
}

impl Recorder {
    pub fn new(
        store: Store,
        owner: Owner,
        dataset: Option<String>,
        sql: String,
        started: std::time::Instant,
    ) -> Self {
        let entry = Entry {
            at: String::new(),
            dataset,
            sql,
            outcome: "cancelled".into(),
            elapsed_ms: 0,
            rows: 0,
        };
        Self {
            store,
            owner,
            entry: Some(entry),
            started,
        }
    }

    /// Writes the entry: done, or the error's code.
    pub fn end(mut self, error: Option<&ServeError>) {
        if let Some(e) = &mut self.entry {
            e.outcome = error.map_or("done", |e| e.code.name()).to_string();
        }
    }

    /// `batches`, counting their rows; the entry is written when they end, fail or are
    /// dropped (the client went away).
    pub fn watch(self, mut batches: BatchStream) -> BatchStream {
        let mut recorder = Some(self);
        Box::pin(futures::stream::poll_fn(move |cx| {
            let item = std::task::ready!(batches.as_mut().poll_next(cx));
            match &item {
                Some(Ok(b)) => {
                    if let Some(e) = recorder.as_mut().and_then(|r| r.entry.as_mut()) {
                        e.rows += b.num_rows() as u64;
                    }
                }
                Some(Err(e)) => recorder.take().into_iter().for_each(|r| r.end(Some(e))),
                None => recorder.take().into_iter().for_each(|r| r.end(None)),
            }
            std::task::Poll::Ready(item)
        }))
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let Some(mut entry) = self.entry.take() else {
            return;
        };
        entry.elapsed_ms = self.started.elapsed().as_millis() as u64;
        // The time the statement ended, taken here rather than in the task that writes it:
        // the entry is dropped before the response's last frame leaves, so a statement the
        // client sends next is always named later.
        let ended = chrono::Utc::now();
        let store = self.store.clone();
        let owner = Owner(std::mem::take(&mut self.owner.0));
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { record(&store, &owner, entry, ended).await });
        }
    }
}

/// Records one statement (a failure to write is logged, not the user's error), then keeps
/// the newest [`MAX_ENTRIES`].
pub async fn record(
    store: &Store,
    owner: &Owner,
    mut entry: Entry,
    now: chrono::DateTime<chrono::Utc>,
) {
    entry.sql.truncate(entry.sql.floor_char_boundary(MAX_TEXT));
    entry.at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let name = format!(
        "{}-{}.json",
        now.format("%Y%m%dT%H%M%S%9fZ"),
        uuid::Uuid::new_v4().simple()
    );
    let bytes = match serde_json::to_vec(&entry) {
        Ok(b) => b,
        Err(e) => return tracing::warn!("query history: {e}"),
    };
    let path = owner.0.clone().join(name);
    if let Err(e) = store.put(&path, bytes.into()).await {
        return tracing::warn!("query history not written: {e}");
    }
    match paths(store, owner).await {
        Ok(all) => {
            for old in all.into_iter().skip(MAX_ENTRIES) {
                if let Err(e) = store.delete(&old).await {
                    tracing::warn!("query history not pruned: {e}");
                }
            }
        }
        Err(e) => tracing::warn!("query history not pruned: {e}"),
    }
}

/// The owner's entries, newest first.
async fn paths(store: &Store, owner: &Owner) -> Result<Vec<Path>, ServeError> {
    let mut paths: Vec<Path> = store
        .list_recursive(&owner.0)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    paths.sort();
    paths.reverse();
    Ok(paths)
}

/// The newest [`MAX_ENTRIES`] statements of the owner, newest first.
pub async fn list(store: &Store, owner: &Owner) -> Result<Vec<Entry>, ServeError> {
    let mut paths = paths(store, owner).await?;
    paths.truncate(MAX_ENTRIES);
    let docs = futures::stream::iter(paths)
        .map(|p| async move { store.get_json::<Entry>(&p).await })
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
    Ok(docs.into_iter().filter_map(|r| r.ok().flatten()).collect())
}
