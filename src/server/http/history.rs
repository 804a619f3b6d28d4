//! The query history of each user, kept on the server: the statements a user ran from the
//! console (requests that ask for it with `"history": true`), one small JSON object each
//! under the data root, read back newest first by `GET /api/history`.
//!
//! ```text
//! history/<user>/20261202T120102123456789Z-<uuid>.json    {"at", "dataset", "sql", "outcome", "elapsed_ms"}
//! ```

use dyntag_core::store::Store;
use futures::StreamExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::server::errors::ServeError;

/// The folder of the histories.
const FOLDER: &str = "history";
/// Longest statement text kept.
const MAX_TEXT: usize = 20_000;
/// Entries a history answers (the newest).
pub const MAX_ENTRIES: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub at: String,
    pub dataset: Option<String>,
    pub sql: String,
    /// `done` or the error code.
    pub outcome: String,
    pub elapsed_ms: u64,
}

/// The folder of `user`'s history (the name escaped as one path part).
fn folder(user: &str) -> Path {
    Path::from_iter([FOLDER, user])
}

/// Records one statement of `user` (a failure to write is logged, not the user's error).
pub async fn record(store: &Store, user: &str, mut entry: Entry) {
    if entry.sql.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !entry.sql.is_char_boundary(end) {
            end -= 1;
        }
        entry.sql.truncate(end);
    }
    let now = chrono::Utc::now();
    let name = format!(
        "{}-{}.json",
        now.format("%Y%m%dT%H%M%S%9fZ"),
        uuid::Uuid::new_v4().simple()
    );
    let path = Path::from_iter([FOLDER, user, &name]);
    let bytes = match serde_json::to_vec(&entry) {
        Ok(b) => b,
        Err(e) => return tracing::warn!("query history: {e}"),
    };
    if let Err(e) = store.put(&path, bytes.into()).await {
        tracing::warn!(user, "query history not written: {e}");
    }
}

/// The newest [`MAX_ENTRIES`] statements of `user`, newest first.
pub async fn list(store: &Store, user: &str) -> Result<Vec<Entry>, ServeError> {
    let mut paths: Vec<Path> = store
        .list_recursive(&folder(user))
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    paths.sort();
    paths.reverse();
    paths.truncate(MAX_ENTRIES);
    let docs = futures::stream::iter(paths)
        .map(|p| async move { store.get_json::<Entry>(&p).await })
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
    Ok(docs.into_iter().filter_map(|r| r.ok().flatten()).collect())
}
