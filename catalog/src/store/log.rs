//! A revision log: a folder of immutable, numbered JSON documents. The current state is the
//! highest revision. A commit writes revision `n + 1` with create-if-absent, so of two
//! writers who both read revision `n`, exactly one succeeds and the other gets a conflict.
//! A crash leaves either the old revision current or the new one whole.

use object_store::path::Path;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Store;
use crate::{CatalogError, Result};

const WIDTH: usize = 10;

/// The revision log rooted at `<dir>/_log/`.
#[derive(Debug, Clone)]
pub struct RevisionLog {
    dir: Path,
    what: String,
}

impl RevisionLog {
    /// The log under `dir`; `what` names it in conflict errors ("tag group 'news'").
    pub fn new(dir: Path, what: impl Into<String>) -> Self {
        Self {
            dir: dir.join("_log"),
            what: what.into(),
        }
    }

    fn path(&self, revision: u64) -> Path {
        self.dir.clone().join(format!("{revision:0WIDTH$}.json"))
    }

    /// The highest committed revision (0 if the log is empty).
    pub async fn latest_revision(&self, store: &Store) -> Result<u64> {
        Ok(store
            .list_names(&self.dir)
            .await?
            .iter()
            .filter_map(|n| n.strip_suffix(".json")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0))
    }

    /// The latest document and its revision, if any.
    pub async fn latest<T: DeserializeOwned>(&self, store: &Store) -> Result<Option<(u64, T)>> {
        let rev = self.latest_revision(store).await?;
        if rev == 0 {
            return Ok(None);
        }
        self.read(store, rev).await.map(|d| d.map(|d| (rev, d)))
    }

    /// The document at `revision`.
    pub async fn read<T: DeserializeOwned>(
        &self,
        store: &Store,
        revision: u64,
    ) -> Result<Option<T>> {
        store.get_json(&self.path(revision)).await
    }

    /// Commits `doc` as revision `expected + 1`. Fails with [`CatalogError::Conflict`] if
    /// that revision exists, i.e. someone committed after `expected` was read.
    pub async fn commit<T: Serialize>(&self, store: &Store, expected: u64, doc: &T) -> Result<u64> {
        let next = expected + 1;
        if store.put_json_if_absent(&self.path(next), doc).await? {
            Ok(next)
        } else {
            Err(CatalogError::Conflict {
                what: self.what.clone(),
                current: self.latest_revision(store).await?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn second_writer_on_same_revision_conflicts() {
        let store = Store::from_object_store(Arc::new(InMemory::new()), "memory");
        let log = RevisionLog::new(Path::from("groups/news"), "tag group 'news'");
        assert_eq!(log.latest_revision(&store).await.unwrap(), 0);
        assert_eq!(log.commit(&store, 0, &"a").await.unwrap(), 1);
        let err = log.commit(&store, 0, &"b").await.unwrap_err();
        assert!(
            matches!(err, CatalogError::Conflict { current: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("tag group 'news'"));
        assert_eq!(log.commit(&store, 1, &"c").await.unwrap(), 2);
        let (rev, doc): (u64, String) = log.latest(&store).await.unwrap().unwrap();
        assert_eq!((rev, doc.as_str()), (2, "c"));
    }
}
