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

/// Attempts of a read-modify-commit before it gives up with a conflict.
pub const MAX_ATTEMPTS: usize = 64;

/// What a step of [`RevisionLog::update`] decided.
#[derive(Debug)]
pub enum Step<T, R> {
    /// Commit this document as the next revision, then answer `R`.
    Commit(T, R),
    /// Commit nothing and answer `R`.
    Keep(R),
}

/// Waits a little before retrying a commit that lost a race: a few milliseconds growing with
/// the attempt, with jitter so that writers that collided do not collide again in step.
async fn backoff(attempt: usize) {
    let jitter = crate::store::random::Random::from_entropy().below(5);
    let ms = (attempt.min(10) as u64) * 2 + jitter;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

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

    /// The folder of the document the log keeps (`groups/news`).
    pub fn folder(&self) -> Path {
        Path::from_iter(
            self.dir
                .parts()
                .take(self.dir.parts().count().saturating_sub(1)),
        )
    }

    /// Where revision `revision` is kept (benchmarks write history directly).
    pub fn path(&self, revision: u64) -> Path {
        self.dir.clone().join(format!("{revision:0WIDTH$}.json"))
    }

    /// The highest committed revision (0 if the log is empty). Revisions are dense (`n + 1`
    /// is committed only after `n`), so from the latest revision this process has seen it
    /// reads forward until one is missing — usually a single read; the first time, it lists
    /// the log.
    pub async fn latest_revision(&self, store: &Store) -> Result<u64> {
        let latest = match store.log_hint(&self.dir) {
            Some(mut known) => {
                while store.head(&self.path(known + 1)).await? {
                    known += 1;
                }
                known
            }
            None => store
                .list_names(&self.dir)
                .await?
                .iter()
                .filter_map(|n| n.strip_suffix(".json")?.parse::<u64>().ok())
                .max()
                .unwrap_or(0),
        };
        if latest > 0 {
            store.note_log(&self.dir, latest);
        }
        Ok(latest)
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

    /// Read-modify-commit, the one way documents change: `step` gets the latest revision and
    /// its document (`None`: the log is empty) and decides what to commit; when another
    /// writer committed first, it runs again on their revision, after a back-off, up to
    /// [`MAX_ATTEMPTS`] times. Errors of `step` end the update as they are; giving up is a
    /// [`CatalogError::Conflict`] naming the current revision. Returns the committed
    /// revision (the read one for [`Step::Keep`]) and the step's answer.
    pub async fn update<T, R>(
        &self,
        store: &Store,
        mut step: impl FnMut(Option<(u64, T)>) -> Result<Step<T, R>>,
    ) -> Result<(u64, R)>
    where
        T: Serialize + DeserializeOwned,
    {
        self.update_async(store, |latest| std::future::ready(step(latest)))
            .await
    }

    /// [`RevisionLog::update`] with a step that waits on something (writes another object
    /// before the commit that names it).
    pub async fn update_async<T, R, F, Fut>(&self, store: &Store, mut step: F) -> Result<(u64, R)>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<(u64, T)>) -> Fut,
        Fut: Future<Output = Result<Step<T, R>>>,
    {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let latest = self.latest::<T>(store).await?;
            let rev = latest.as_ref().map_or(0, |(r, _)| *r);
            match step(latest).await? {
                Step::Keep(answer) => return Ok((rev, answer)),
                Step::Commit(doc, answer) => match self.commit(store, rev, &doc).await {
                    Ok(next) => return Ok((next, answer)),
                    Err(CatalogError::Conflict { .. }) => continue,
                    Err(e) => return Err(e),
                },
            }
        }
        Err(CatalogError::Conflict {
            what: format!(
                "{} (changed by others {MAX_ATTEMPTS} times in a row)",
                self.what
            ),
            current: self.latest_revision(store).await?,
        })
    }

    /// Commits `doc` as revision `expected + 1` and records it in the [`journal`]. Fails with
    /// [`CatalogError::Conflict`] if that revision exists, i.e. someone committed after
    /// `expected` was read.
    ///
    /// [`journal`]: super::journal
    pub async fn commit<T: Serialize>(&self, store: &Store, expected: u64, doc: &T) -> Result<u64> {
        let next = expected + 1;
        if store.put_json_if_absent(&self.path(next), doc).await? {
            store.note_log(&self.dir, next);
            // The revision is committed whatever happens to its journal entry: a failure here
            // only makes this process's next refresh a full reload.
            if let Err(e) = super::journal::append(store, &self.folder(), next).await {
                tracing::warn!(log = %self.dir, revision = next, error = %e, "commit not journaled; the next refresh reloads the catalog");
                store.note_journal_gap();
            }
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

    #[tokio::test]
    async fn update_runs_again_on_the_revision_that_won() {
        let store = Store::from_object_store(Arc::new(InMemory::new()), "memory");
        let log = RevisionLog::new(Path::from("groups/news"), "tag group 'news'");
        log.commit(&store, 0, &vec![1u32]).await.unwrap();
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let (rev, seen) = log
            .update_async(&store, |latest: Option<(u64, Vec<u32>)>| {
                let (runs, log, store) = (&runs, &log, &store);
                async move {
                    let run = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    let (rev, mut doc) = latest.expect("a document");
                    if run == 1 {
                        // Another writer commits between our read and our commit.
                        log.commit(store, rev, &vec![1u32, 2]).await?;
                    }
                    doc.push(3);
                    let seen = doc.len();
                    Ok(Step::Commit(doc, seen))
                }
            })
            .await
            .unwrap();
        let runs = runs.into_inner();
        assert_eq!((runs, rev, seen), (2, 3, 3));
        let (_, doc): (u64, Vec<u32>) = log.latest(&store).await.unwrap().unwrap();
        assert_eq!(doc, vec![1, 2, 3]);
        // A step's own error ends the update; Keep commits nothing.
        let err = log
            .update(&store, |_: Option<(u64, Vec<u32>)>| {
                Err::<Step<Vec<u32>, ()>, _>(CatalogError::Invalid("no".into()))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, CatalogError::Invalid(_)));
        let (rev, ()) = log
            .update(&store, |_: Option<(u64, Vec<u32>)>| Ok(Step::Keep(())))
            .await
            .unwrap();
        assert_eq!(rev, 3);
    }
}
