//! [`Catalog`]: the handle every front end holds — the store, the models, the current
//! snapshot, compiled tag heads and the resident table cache.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use dyntag_models::ModelRegistry;

use crate::model::snapshot::{Definition, Snapshot};
use crate::scoring::Resources;
use crate::scoring::cache::TableCache;
use crate::store::Store;
use crate::{CatalogError, Result};

/// How to open a catalog. Every field documents its default.
#[derive(Debug, Clone)]
pub struct CatalogConfig {
    /// Data root: a directory or an `s3://`, `gs://`, `az://` URL. Default `./dyntag-data`.
    pub data: String,
    /// Model directories, or folders of model directories. Default: the embedded
    /// `sample-data/models`.
    pub models: Vec<PathBuf>,
    /// Memory for resident embedding tables, in bytes. Default: half of physical memory.
    pub cache_bytes: usize,
    /// How long files a dataset revision stopped naming (data files a conversion rewrote,
    /// index segments a merge replaced) stay on the store for readers of the revisions
    /// before, at the least, in seconds: a later commit removes them once this is over.
    pub keep_replaced_secs: u64,
}

/// The default of [`CatalogConfig::keep_replaced_secs`]: longer than a query, a stream or a
/// scoring job that started on a revision before runs.
pub const DEFAULT_KEEP_REPLACED_SECS: u64 = 3600;

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            data: "dyntag-data".into(),
            models: vec![default_models_dir()],
            cache_bytes: default_cache_bytes(),
            keep_replaced_secs: DEFAULT_KEEP_REPLACED_SECS,
        }
    }
}

/// The embedded default models: `models/` of the sample data folder.
pub fn default_models_dir() -> PathBuf {
    sample_data_dir().join("models")
}

/// The embedded sample data folder (`sample-data/` of the source tree), found at run time so
/// that a binary built into a shared target directory still finds the tree it runs from:
/// `DYNTAG_SAMPLE_DATA`, else `./sample-data`, else a `sample-data` beside an ancestor of the
/// executable, else the source tree the binary was built from.
pub fn sample_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DYNTAG_SAMPLE_DATA") {
        return PathBuf::from(dir);
    }
    let is_sample = |d: &std::path::Path| d.join("models").is_dir();
    if let Ok(cwd) = std::env::current_dir() {
        let here = cwd.join("sample-data");
        if is_sample(&here) {
            return here;
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            let candidate = dir.join("sample-data");
            if is_sample(&candidate) {
                return candidate;
            }
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sample-data")
}

/// Half of physical memory (4 GiB if it cannot be read).
pub fn default_cache_bytes() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
        })
        .map_or(4 << 30, |kib| kib * 1024 / 2)
}

/// The catalog handle. Cheap to share (`Arc<Catalog>`).
#[derive(Debug)]
///
/// It dereferences to the [`Resources`] scoring works with (the store, the models, compiled
/// heads and the table cache), so `catalog.store()` and `catalog.heads(..)` read as they say.
pub struct Catalog {
    resources: Resources,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Held while catching up with the store.
    refreshing: tokio::sync::Mutex<()>,
    keep_replaced_secs: u64,
}

impl std::ops::Deref for Catalog {
    type Target = Resources;

    fn deref(&self) -> &Resources {
        &self.resources
    }
}

impl Catalog {
    /// Opens the store and the model registry and loads the first snapshot.
    pub async fn open(config: CatalogConfig) -> Result<Arc<Self>> {
        let store = Store::open(&config.data)?;
        let models = Arc::new(ModelRegistry::new(config.models)?);
        let catalog = Arc::new(Self {
            resources: Resources::new(store, models, TableCache::new(config.cache_bytes)),
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            refreshing: tokio::sync::Mutex::new(()),
            keep_replaced_secs: config.keep_replaced_secs,
        });
        catalog.reload().await?;
        Ok(catalog)
    }

    /// See [`CatalogConfig::keep_replaced_secs`].
    pub fn keep_replaced_secs(&self) -> u64 {
        self.keep_replaced_secs
    }

    /// The current snapshot (never waits on the store).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Catches up with what changed on the store since the last refresh, from the journal:
    /// reads the entries written since, and the documents they name (nothing else), and
    /// publishes the new snapshot.
    pub async fn refresh(&self) -> Result<Arc<Snapshot>> {
        // One refresh at a time, each from the snapshot the last one published: a refresh
        // that started before a reload must not publish a snapshot without what it found.
        let _one = self.refreshing.lock().await;
        if self.store().take_journal_gap() {
            return self.reload_locked().await;
        }
        let previous = self.snapshot();
        match previous.catch_up(self.store()).await? {
            None => Ok(previous),
            Some(next) => Ok(self.install(next)),
        }
    }

    /// Reads the whole catalog again, listing every log: when opening, after a commit of
    /// this process could not be journaled, and now and then in a server to pick up a
    /// revision whose writer died before journaling it.
    pub async fn reload(&self) -> Result<Arc<Snapshot>> {
        let _one = self.refreshing.lock().await;
        self.reload_locked().await
    }

    async fn reload_locked(&self) -> Result<Arc<Snapshot>> {
        let previous = self.snapshot();
        let loaded = async {
            let loaded = Arc::new(Snapshot::load(self.store(), &previous).await?);
            Ok::<_, CatalogError>(match loaded.catch_up(self.store()).await? {
                Some(n) => n,
                None => Arc::unwrap_or_clone(loaded),
            })
        }
        .await;
        match loaded {
            Ok(next) => Ok(self.install(next)),
            Err(e) => {
                // Whatever made this reload needed still holds: try again next time.
                self.store().note_journal_gap();
                Err(e)
            }
        }
    }

    /// Publishes `next` unless a snapshot further along the journal was published meanwhile
    /// (by a concurrent refresh); returns the one published.
    fn install(&self, next: Snapshot) -> Arc<Snapshot> {
        let mut current = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        if next.journal >= current.journal {
            *current = Arc::new(next);
        }
        Arc::clone(&current)
    }

    /// Finds `tag` for `dataset`: in `group` if given, else in every group the dataset
    /// sees. Unknown and ambiguous tags are errors that say what to write instead.
    pub fn resolve_tag(
        &self,
        snapshot: &Snapshot,
        dataset: &str,
        group: Option<&str>,
        tag: &str,
    ) -> Result<(Definition, String)> {
        let candidates = match group {
            Some(g) => {
                let found = snapshot.group(g).ok().filter(|v| {
                    snapshot
                        .groups_of(dataset)
                        .iter()
                        .any(|s| s.doc.slug == v.doc.slug)
                });
                vec![found.ok_or_else(|| CatalogError::NotFound {
                    kind: "tag group",
                    name: g.to_string(),
                    hint: format!(" on dataset '{dataset}'"),
                })?]
            }
            None => snapshot.groups_of(dataset),
        };
        let mut hits = Vec::new();
        for g in candidates {
            let def = snapshot.definition(dataset, g)?;
            if let Some(t) = def.tags.iter().find(|t| t.name.eq_ignore_ascii_case(tag)) {
                let name = t.name.clone();
                hits.push((def, name));
            }
        }
        match hits.len() {
            1 => Ok(hits.pop().expect("one hit")),
            0 => Err(CatalogError::NotFound {
                kind: "tag",
                name: tag.to_string(),
                hint: match group {
                    Some(g) => format!(" in tag group '{g}'"),
                    None => format!(" in the tag groups of dataset '{dataset}'"),
                },
            }),
            _ => Err(CatalogError::Invalid(format!(
                "tag '{tag}' is ambiguous: it is in tag groups {}; name the group, e.g. dt_score(embedding, '{}', '{tag}')",
                hits.iter()
                    .map(|(d, _)| format!("'{}'", d.group))
                    .collect::<Vec<_>>()
                    .join(", "),
                hits[0].0.group
            ))),
        }
    }
}
