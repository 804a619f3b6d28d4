//! The catalog journal: one numbered entry per revision committed to any [`RevisionLog`],
//! naming the log and the revision. It is what lets a reader catch up with what changed
//! since it last looked by reading only the new entries, instead of listing every log.
//!
//! Entries live at `_journal/<seq / 1000>/<seq>.json`. Entries are dense: a writer creates entry `k` (create-if-absent) only after finding that
//! entry `k - 1` exists, so a reader that reads `c + 1, c + 2, …` until one is missing has
//! seen every change up to there. A writer that dies between committing a revision and
//! journaling it leaves that revision unjournaled; the next commit to the same log carries
//! it (readers read a log's newest revision), and a full reload finds it in any case.
//!
//! [`RevisionLog`]: super::RevisionLog

use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::Store;
use crate::Result;

const WIDTH: usize = 20;

/// One journal entry: revision `revision` of the log in folder `log` was committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The log's folder relative to the data root, without `/_log` (`groups/news`).
    pub log: String,
    pub revision: u64,
}

/// Entries per folder: a local file system creates files in a folder of millions of entries
/// more slowly than in a small one, so the journal is cut into folders of this many.
const PER_FOLDER: u64 = 1000;

/// Where entry `seq` is kept (benchmarks write history directly).
pub fn path(seq: u64) -> Path {
    Path::from("_journal")
        .join(format!("{:0WIDTH$}", seq / PER_FOLDER))
        .join(format!("{seq:0WIDTH$}.json"))
}

/// Records a commit; returns its sequence number. Starts from the store's hint of the
/// journal's end, so a writer that is up to date makes one attempt.
pub(super) async fn append(store: &Store, log: &Path, revision: u64) -> Result<u64> {
    let entry = Entry {
        log: log.to_string(),
        revision,
    };
    let mut seq = match store.journal_hint() {
        0 => head(store).await? + 1,
        known => known + 1,
    };
    loop {
        if store.put_json_if_absent(&path(seq), &entry).await? {
            store.note_journal(seq);
            return Ok(seq);
        }
        seq += 1;
    }
}

/// The entry at `seq`, if written.
pub async fn read(store: &Store, seq: u64) -> Result<Option<Entry>> {
    store.get_json(&path(seq)).await
}

/// The entries after `cursor`, in order, up to the first missing one.
pub async fn since(store: &Store, cursor: u64) -> Result<Vec<(u64, Entry)>> {
    let mut out = Vec::new();
    let mut seq = cursor + 1;
    while let Some(e) = read(store, seq).await? {
        out.push((seq, e));
        seq += 1;
    }
    if let Some((last, _)) = out.last() {
        store.note_journal(*last);
    }
    Ok(out)
}

/// The last entry's sequence number (0: empty journal), found with O(log n) reads: doubling
/// until a missing entry, then bisecting (entries are dense).
pub async fn head(store: &Store) -> Result<u64> {
    let exists = |seq: u64| async move { store.head(&path(seq)).await };
    let mut lo = store.journal_hint();
    if lo > 0 && !exists(lo).await? {
        lo = 0;
    }
    // lo exists (or is 0); find hi that does not.
    let mut step = 1u64;
    let mut hi = lo + 1;
    while exists(hi).await? {
        lo = hi;
        step *= 2;
        hi = lo + step;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if exists(mid).await? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    store.note_journal(lo);
    Ok(lo)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;

    use super::*;

    fn store() -> Store {
        Store::from_object_store(Arc::new(InMemory::new()), "memory")
    }

    #[tokio::test]
    async fn entries_are_dense_and_the_head_is_found_from_cold() {
        let writer = store();
        assert_eq!(head(&writer).await.unwrap(), 0);
        for i in 1..=37u64 {
            let seq = append(&writer, &Path::from(format!("groups/g{i}")), i)
                .await
                .unwrap();
            assert_eq!(seq, i);
        }
        // A second handle on the same objects knows nothing: it finds the head by search.
        let reader = Store::from_object_store(writer.object_store(), "memory");
        assert_eq!(head(&reader).await.unwrap(), 37);
        let tail = since(&reader, 30).await.unwrap();
        assert_eq!(tail.len(), 7);
        assert_eq!(tail[0].1.log, "groups/g31");
        assert_eq!(tail[6].0, 37);
        // A writer with a stale hint skips the taken entries instead of overwriting them.
        let stale = Store::from_object_store(writer.object_store(), "memory");
        stale.note_journal(3);
        let seq = append(&stale, &Path::from("access"), 9).await.unwrap();
        assert_eq!(seq, 38);
        assert_eq!(read(&reader, 4).await.unwrap().unwrap().log, "groups/g4");
    }
}
