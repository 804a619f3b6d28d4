//! The object store holding everything dyntag keeps: a local directory by default, or an
//! `s3://`, `gs://`, `az://` URL (credentials from the usual environment variables).
//!
//! Everything is addressed relative to the data root. Documents are JSON; a document that
//! changes over time is a [`RevisionLog`] of immutable revisions committed with
//! create-if-absent, so two writers never overwrite each other.

pub mod fault;
pub mod input;
pub mod journal;
mod log;
pub mod parquet;
pub mod progress;
pub mod random;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use datafusion::execution::object_store::ObjectStoreUrl;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use log::{MAX_ATTEMPTS, RevisionLog, Step};

/// The current time as RFC 3339.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Paths of objects under the data root.
pub use object_store::path::Path as StorePath;

use crate::{CatalogError, Result};

/// The URL under which the store is registered with DataFusion.
pub const STORE_URL: &str = "dyntag://data";

/// A handle to the data root. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    location: String,
    /// The directory of a local data root.
    local: Option<PathBuf>,
    journal: Arc<JournalState>,
}

/// What this process knows of the [`journal`] and the revision logs: the highest journal
/// entry it has seen, whether a commit of its own could not be journaled (then the next
/// refresh reloads everything), and the latest revision it has seen of each log (logs are
/// dense, so finding the latest from there reads one object, not a listing of the log).
#[derive(Debug, Default)]
struct JournalState {
    hint: AtomicU64,
    gap: AtomicBool,
    logs: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

impl Store {
    /// Opens a location: a local directory (created if missing), `file://`, `s3://bucket/prefix`,
    /// `gs://bucket/prefix` or `az://container/prefix`.
    pub fn open(location: &str) -> Result<Self> {
        let bad = |message: String| CatalogError::Location {
            location: location.to_string(),
            message,
        };
        let mut local = None;
        let inner: Arc<dyn ObjectStore> = match location.split_once("://") {
            None | Some(("file", _)) => {
                let dir = location.strip_prefix("file://").unwrap_or(location);
                std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
                let dir = std::fs::canonicalize(dir).map_err(|e| bad(e.to_string()))?;
                local = Some(dir.clone());
                Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(|e| bad(e.to_string()))?)
            }
            Some((scheme, rest)) => {
                let url = url::Url::parse(location).map_err(|e| bad(e.to_string()))?;
                let store: Arc<dyn ObjectStore> = match scheme {
                    "s3" | "s3a" => Arc::new(
                        object_store::aws::AmazonS3Builder::from_env()
                            .with_url(location)
                            .build()
                            .map_err(|e| bad(e.to_string()))?,
                    ),
                    "gs" => Arc::new(
                        object_store::gcp::GoogleCloudStorageBuilder::from_env()
                            .with_url(location)
                            .build()
                            .map_err(|e| bad(e.to_string()))?,
                    ),
                    "az" | "abfs" | "abfss" | "azure" => Arc::new(
                        object_store::azure::MicrosoftAzureBuilder::from_env()
                            .with_url(location)
                            .build()
                            .map_err(|e| bad(e.to_string()))?,
                    ),
                    other => {
                        return Err(bad(format!(
                            "unsupported scheme '{other}' (use a directory, s3://, gs:// or az://)"
                        )));
                    }
                };
                let _ = rest;
                let prefix = url.path().trim_matches('/');
                if prefix.is_empty() {
                    store
                } else {
                    Arc::new(PrefixStore::new(store, prefix))
                }
            }
        };
        Ok(Self {
            inner,
            location: location.to_string(),
            local,
            journal: Arc::default(),
        })
    }

    /// Where the object at `path` is on this machine's file system, for a local data root
    /// (`None` for an object store elsewhere).
    pub fn local_path(&self, path: &StorePath) -> Option<PathBuf> {
        let mut at = self.local.clone()?;
        at.extend(path.parts().map(|p| p.as_ref().to_string()));
        Some(at)
    }

    /// Wraps an existing object store (tests use an in-memory one).
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, location: impl Into<String>) -> Self {
        Self {
            inner,
            location: location.into(),
            local: None,
            journal: Arc::default(),
        }
    }

    /// The location this store was opened from.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The underlying object store, rooted at the data root.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.inner)
    }

    /// The highest journal entry this process has seen (0: none yet).
    pub fn journal_hint(&self) -> u64 {
        self.journal.hint.load(Ordering::Acquire)
    }

    /// Notes that journal entry `seq` exists.
    pub fn note_journal(&self, seq: u64) {
        self.journal.hint.fetch_max(seq, Ordering::AcqRel);
    }

    /// The latest revision this process has seen of the log in `dir`.
    pub(crate) fn log_hint(&self, dir: &Path) -> Option<u64> {
        let logs = self.journal.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.get(dir.as_ref()).copied()
    }

    /// Notes that revision `revision` of the log in `dir` exists.
    pub(crate) fn note_log(&self, dir: &Path, revision: u64) {
        let mut logs = self.journal.logs.lock().unwrap_or_else(|p| p.into_inner());
        let known = logs.entry(dir.to_string()).or_default();
        *known = (*known).max(revision);
    }

    /// Notes that a commit could not be journaled: the next refresh must reload everything.
    pub fn note_journal_gap(&self) {
        self.journal.gap.store(true, Ordering::Release);
    }

    /// Whether a commit went unjournaled since the last call (and clears it).
    pub fn take_journal_gap(&self) -> bool {
        self.journal.gap.swap(false, Ordering::AcqRel)
    }

    /// The URL DataFusion knows this store by.
    pub fn url() -> ObjectStoreUrl {
        ObjectStoreUrl::parse(STORE_URL).expect("static URL")
    }

    /// Reads an object whole; `None` if it does not exist.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn get(&self, path: &Path) -> Result<Option<Bytes>> {
        match self.inner.get(path).await {
            Ok(r) => Ok(Some(
                r.bytes()
                    .await
                    .map_err(|e| CatalogError::storage(path, e))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(CatalogError::storage(path, e)),
        }
    }

    /// Whether an object exists at `path`.
    pub async fn head(&self, path: &Path) -> Result<bool> {
        match self.inner.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(CatalogError::storage(path, e)),
        }
    }

    /// Reads and parses a JSON document; `None` if it does not exist.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>> {
        let Some(bytes) = self.get(path).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| CatalogError::CorruptDocument {
                path: path.to_string(),
                message: e.to_string(),
            })
    }

    /// Writes an object (atomically: readers see the old or the new object whole).
    #[tracing::instrument(level = "debug", skip(self, bytes), fields(len = bytes.len()))]
    pub async fn put(&self, path: &Path, bytes: Bytes) -> Result<()> {
        self.inner
            .put(path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| CatalogError::storage(path, e))
    }

    /// Writes the local file `local` as an object, streamed in parts (objects larger than
    /// one request allows go up in a multipart upload); readers see it once it is whole.
    pub async fn put_file(&self, path: &Path, local: &std::path::Path) -> Result<u64> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let local_error = |e: std::io::Error| {
            CatalogError::storage(
                local.display(),
                object_store::Error::Generic {
                    store: "local file",
                    source: Box::new(e),
                },
            )
        };
        let upload_error = |e: std::io::Error| {
            CatalogError::storage(
                path,
                object_store::Error::Generic {
                    store: "object store",
                    source: Box::new(e),
                },
            )
        };
        let mut file = tokio::fs::File::open(local).await.map_err(local_error)?;
        let mut object = object_store::buffered::BufWriter::new(self.object_store(), path.clone());
        let mut chunk = vec![0u8; 8 << 20];
        let mut total = 0u64;
        loop {
            let n = file.read(&mut chunk).await.map_err(local_error)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if let Err(e) = object.write_all(&chunk[..n]).await {
                let _ = object.abort().await;
                return Err(upload_error(e));
            }
        }
        if let Err(e) = object.shutdown().await {
            let _ = object.abort().await;
            return Err(upload_error(e));
        }
        Ok(total)
    }

    /// Writes an object only if none exists at `path`. Returns `false` if one did.
    #[tracing::instrument(level = "debug", skip(self, bytes), fields(len = bytes.len()))]
    pub async fn put_if_absent(&self, path: &Path, bytes: Bytes) -> Result<bool> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .inner
            .put_opts(path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(CatalogError::storage(path, e)),
        }
    }

    /// Serialises `doc` and writes it only if nothing exists at `path`.
    pub async fn put_json_if_absent<T: Serialize>(&self, path: &Path, doc: &T) -> Result<bool> {
        self.put_if_absent(path, to_json(doc)?).await
    }

    /// The names directly under `prefix` (one level, like `ls`): files and "directories".
    pub async fn list_names(&self, prefix: &Path) -> Result<Vec<String>> {
        let listing = self
            .inner
            .list_with_delimiter(Some(prefix))
            .await
            .map_err(|e| CatalogError::storage(prefix, e))?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .chain(listing.objects.iter().map(|o| &o.location))
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every object under `prefix`, recursively, with its size.
    pub async fn list_recursive(&self, prefix: &Path) -> Result<Vec<(Path, u64)>> {
        self.inner
            .list(Some(prefix))
            .map_ok(|m| (m.location, m.size))
            .try_collect()
            .await
            .map_err(|e| CatalogError::storage(prefix, e))
    }

    /// Deletes an object; a missing object is not an error.
    pub async fn delete(&self, path: &Path) -> Result<()> {
        match self.inner.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(CatalogError::storage(path, e)),
        }
    }
}

/// Pretty JSON bytes of a document.
pub fn to_json<T: Serialize>(doc: &T) -> Result<Bytes> {
    serde_json::to_vec_pretty(doc)
        .map(Bytes::from)
        .map_err(|e| CatalogError::Internal(format!("cannot serialise document: {e}")))
}
