//! An immutable in-memory picture of everything on the store: datasets, groups, versions
//! and applications. Planning reads only the snapshot; it is refreshed explicitly (once
//! before each statement and after each write) from the journal: only the entries written
//! since the last refresh and the documents they name are read, so a refresh costs the same
//! whatever the catalog's size and history.

use std::collections::{BTreeMap, BTreeSet};

use imbl::{OrdMap, OrdSet};
use std::sync::Arc;

use object_store::path::Path;

use crate::model::access::{AccessDoc, access_log};
use crate::model::applications::{Application, application_log};
use crate::model::dataset::{DatasetManifest, manifest_log};
use crate::model::tags::{GroupVersion, TagGroup, VersionTag, group_log, version_path};
use crate::store::Store;
use crate::{CatalogError, Result};

/// A document and the revision it was read at.
#[derive(Debug)]
pub struct Versioned<T> {
    pub revision: u64,
    pub doc: Arc<T>,
}

impl<T> Clone for Versioned<T> {
    fn clone(&self) -> Self {
        Self {
            revision: self.revision,
            doc: Arc::clone(&self.doc),
        }
    }
}

/// Everything the catalog knows, as of one refresh. Its maps are persistent: a snapshot made
/// from another by a few changes shares everything else with it, so making it costs the
/// changes, not the size of the catalog.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// The last [journal](crate::store::journal) entry this snapshot includes.
    pub journal: u64,
    pub datasets: OrdMap<String, Versioned<DatasetManifest>>,
    /// Live (not dropped) groups by slug.
    pub groups: OrdMap<String, Versioned<TagGroup>>,
    /// (training dataset, slug) of every live group: which groups a dataset trains.
    trained: OrdSet<(String, String)>,
    /// The revision applied of each log, dropped groups and removed applications included:
    /// journal entries of one log may arrive out of order (a writer journals its revision
    /// after a later writer journaled the next), and an older one must never undo a newer.
    applied: OrdMap<LogKey, u64>,
    /// Published versions by (slug, version).
    pub versions: OrdMap<(String, u32), Arc<GroupVersion>>,
    /// Applications by (dataset, slug).
    pub applications: OrdMap<(String, String), Versioned<Application>>,
    /// Users and roles.
    pub access: Arc<AccessDoc>,
    /// The revision of `access` (0: no users yet).
    pub access_revision: u64,
}

/// Which definition of a group a dataset sees.
#[derive(Debug, Clone)]
pub struct Definition {
    /// Group slug.
    pub group: String,
    /// The version applied to the dataset, or `None` for the training dataset's draft
    /// of a group that was never published.
    pub version: Option<u32>,
    /// The draft revision (identifies a draft definition).
    pub revision: u64,
    pub tags: Vec<VersionTag>,
}

/// Which part of the snapshot a log keeps, from its folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum LogKey {
    Dataset(String),
    Group(String),
    Application { group: String, dataset: String },
    Access,
}

impl LogKey {
    /// The key of a journaled log folder; `None` for logs the snapshot does not keep
    /// (evaluations).
    fn of(folder: &str) -> Option<Self> {
        let parts: Vec<&str> = folder.split('/').collect();
        match parts.as_slice() {
            ["datasets", name] => Some(Self::Dataset(name.to_string())),
            ["groups", slug] => Some(Self::Group(slug.to_string())),
            ["applications", group, dataset] => Some(Self::Application {
                group: group.to_string(),
                dataset: dataset.to_string(),
            }),
            ["access"] => Some(Self::Access),
            _ => None,
        }
    }
}

impl Snapshot {
    /// Loads a whole new snapshot, listing every log, and reusing from `previous` every
    /// document whose revision did not change. Used when a catalog opens and to reconcile;
    /// statements catch up with [`Snapshot::catch_up`].
    pub async fn load(store: &Store, previous: &Snapshot) -> Result<Snapshot> {
        let journal = crate::store::journal::head(store).await?;
        let mut changes = Vec::new();
        for name in store.list_names(&Path::from("datasets")).await? {
            let rev = manifest_log(&name).latest_revision(store).await?;
            changes.push((LogKey::Dataset(name), rev));
        }
        for slug in store.list_names(&Path::from("groups")).await? {
            let rev = group_log(&slug).latest_revision(store).await?;
            changes.push((LogKey::Group(slug), rev));
        }
        changes.push((LogKey::Access, access_log().latest_revision(store).await?));
        let mut next = Snapshot {
            journal,
            ..Snapshot::default()
        };
        next.apply(store, previous, changes).await?;
        Ok(next)
    }

    /// The snapshot after the journal entries past this one's: only the logs they name are
    /// read. Returns `None` when nothing changed.
    pub async fn catch_up(self: &Arc<Self>, store: &Store) -> Result<Option<Snapshot>> {
        let entries = crate::store::journal::since(store, self.journal).await?;
        let Some((last, _)) = entries.last() else {
            return Ok(None);
        };
        let mut latest: BTreeMap<LogKey, u64> = BTreeMap::new();
        for (_, e) in &entries {
            if let Some(key) = LogKey::of(&e.log) {
                let r = latest.entry(key).or_default();
                *r = (*r).max(e.revision);
            }
        }
        let mut next = Snapshot {
            journal: *last,
            ..(**self).clone()
        };
        // Groups first: an application is kept only while its group is live.
        let (groups, rest): (Vec<_>, Vec<_>) = latest
            .into_iter()
            .partition(|(k, _)| matches!(k, LogKey::Group(_)));
        next.apply(store, self, groups.into_iter().chain(rest).collect())
            .await?;
        Ok(Some(next))
    }

    /// Brings the documents of `changes` (a log and its newest revision) up to date, reading
    /// a document only when `reuse` does not hold it at that revision.
    async fn apply(
        &mut self,
        store: &Store,
        reuse: &Snapshot,
        changes: Vec<(LogKey, u64)>,
    ) -> Result<()> {
        let mut touched_applications = false;
        for (key, rev) in changes {
            match key {
                LogKey::Dataset(name) => {
                    let key = LogKey::Dataset(name.clone());
                    if self.behind(&key, rev) {
                        continue;
                    }
                    let doc = match reuse.datasets.get(&name) {
                        Some(v) if v.revision == rev => v.clone(),
                        _ => read(&manifest_log(&name), store, rev, &name).await?,
                    };
                    self.datasets.insert(name, doc);
                    self.applied.insert(key, rev);
                }
                LogKey::Group(slug) => {
                    touched_applications |= self.apply_group(store, reuse, slug, rev).await?;
                }
                LogKey::Application { group, dataset } => {
                    touched_applications = true;
                    self.apply_application(store, reuse, group, dataset, rev)
                        .await?;
                }
                LogKey::Access => {
                    if self.behind(&LogKey::Access, rev) {
                        continue;
                    }
                    self.applied.insert(LogKey::Access, rev);
                    self.access = if rev == reuse.access_revision {
                        Arc::clone(&reuse.access)
                    } else {
                        Arc::new(
                            access_log()
                                .read::<AccessDoc>(store, rev)
                                .await?
                                .ok_or_else(|| missing("users and roles"))?,
                        )
                    };
                    self.access_revision = rev;
                }
            }
        }
        if touched_applications {
            self.load_named_versions(store, reuse).await?;
        }
        Ok(())
    }

    /// A group at revision `rev`: dropped groups leave with their versions and applications;
    /// a group that appears (or comes back) brings its applications. Whether applications
    /// changed.
    async fn apply_group(
        &mut self,
        store: &Store,
        reuse: &Snapshot,
        slug: String,
        rev: u64,
    ) -> Result<bool> {
        let key = LogKey::Group(slug.clone());
        if self.behind(&key, rev) {
            return Ok(false);
        }
        let known = self.groups.get(&slug).map(|v| v.revision);
        let entry: Versioned<TagGroup> = match reuse.groups.get(&slug) {
            Some(v) if v.revision == rev => v.clone(),
            _ => read(&group_log(&slug), store, rev, &slug).await?,
        };
        self.applied.insert(key, rev);
        if let Some(old) = self.groups.get(&slug) {
            self.trained
                .remove(&(old.doc.training_dataset.clone(), slug.clone()));
        }
        if entry.doc.deleted {
            let was_live = self.groups.remove(&slug).is_some();
            remove_where(&mut self.versions, |(s, _)| *s == slug);
            remove_where(&mut self.applications, |(_, s)| *s == slug);
            // Its applications are read again if the group comes back.
            remove_where(
                &mut self.applied,
                |k| matches!(k, LogKey::Application { group, .. } if *group == slug),
            );
            return Ok(was_live);
        }
        for v in 1..=entry.doc.latest_version {
            let key = (slug.clone(), v);
            if self.versions.contains_key(&key) {
                continue;
            }
            let doc = match reuse.versions.get(&key) {
                Some(d) => Arc::clone(d),
                None => Arc::new(
                    store
                        .get_json::<GroupVersion>(&version_path(&slug, v))
                        .await?
                        .ok_or_else(|| missing(&format!("{slug} version {v}")))?,
                ),
            };
            self.versions.insert(key, doc);
        }
        self.trained
            .insert((entry.doc.training_dataset.clone(), slug.clone()));
        self.groups.insert(slug.clone(), entry);
        if known.is_some() {
            return Ok(false);
        }
        let prefix = Path::from("applications").join(slug.as_str());
        for dataset in store.list_names(&prefix).await? {
            let rev = application_log(&slug, &dataset)
                .latest_revision(store)
                .await?;
            self.apply_application(store, reuse, slug.clone(), dataset, rev)
                .await?;
        }
        Ok(true)
    }

    /// An application at revision `rev`, kept while its group is live and it is not removed.
    async fn apply_application(
        &mut self,
        store: &Store,
        reuse: &Snapshot,
        group: String,
        dataset: String,
        rev: u64,
    ) -> Result<()> {
        let log = LogKey::Application {
            group: group.clone(),
            dataset: dataset.clone(),
        };
        if !self.groups.contains_key(&group) || self.behind(&log, rev) {
            return Ok(());
        }
        let key = (dataset, group);
        let entry = match reuse.applications.get(&key) {
            Some(v) if v.revision == rev => v.clone(),
            _ => read(&application_log(&key.1, &key.0), store, rev, &key.1).await?,
        };
        self.applied.insert(log, rev);
        if entry.doc.removed {
            self.applications.remove(&key);
        } else {
            self.applications.insert(key, entry);
        }
        Ok(())
    }

    /// Whether revision `rev` of `log` adds nothing: none (0), or not newer than the one
    /// applied.
    fn behind(&self, log: &LogKey, rev: u64) -> bool {
        rev == 0 || self.applied.get(log).is_some_and(|k| *k >= rev)
    }

    /// Logs are read one after the other, so an application may already name a version its
    /// group's revision read above did not know yet (published in between). Its document
    /// exists: publishing writes it before committing anything that names it.
    async fn load_named_versions(&mut self, store: &Store, reuse: &Snapshot) -> Result<()> {
        let named: Vec<(String, u32)> = self
            .applications
            .iter()
            .flat_map(|((_, slug), a)| {
                let a = &a.doc;
                std::iter::once(a.version)
                    .chain(a.run.iter().map(|r| r.version))
                    .chain(a.history.iter().map(|r| r.version))
                    .filter(|v| *v > 0)
                    .map(move |v| (slug.clone(), v))
            })
            .collect();
        for key in named {
            if self.versions.contains_key(&key) {
                continue;
            }
            let doc = match reuse.versions.get(&key) {
                Some(d) => Some(Arc::clone(d)),
                None => store
                    .get_json::<GroupVersion>(&version_path(&key.0, key.1))
                    .await?
                    .map(Arc::new),
            };
            if let Some(doc) = doc {
                self.versions.insert(key, doc);
            }
        }
        Ok(())
    }

    /// The dataset with this name.
    pub fn dataset(&self, name: &str) -> Result<&Arc<DatasetManifest>> {
        self.datasets
            .get(name)
            .map(|v| &v.doc)
            .ok_or_else(|| CatalogError::NotFound {
                kind: "dataset",
                name: name.to_string(),
                hint: format!(" (datasets: {})", list_or_none(self.datasets.keys())),
            })
    }

    /// The group with this slug or name (case-insensitive).
    pub fn group(&self, name: &str) -> Result<&Versioned<TagGroup>> {
        let slug = crate::model::tags::names::slug(name);
        self.groups
            .get(&slug)
            .ok_or_else(|| CatalogError::NotFound {
                kind: "tag group",
                name: name.to_string(),
                hint: String::new(),
            })
    }

    /// The groups `dataset` sees: those applied to it and those it trains, by slug. Costs
    /// what the dataset has, not what the catalog has.
    pub fn groups_of(&self, dataset: &str) -> Vec<&Versioned<TagGroup>> {
        let from = (dataset.to_string(), String::new());
        let trained = self.trained.range(from.clone()..).map(|(d, s)| (d, s));
        let applied = self.applications.range(from..).map(|((d, s), _)| (d, s));
        let slugs: BTreeSet<&str> = trained
            .take_while(|(d, _)| *d == dataset)
            .chain(applied.take_while(|(d, _)| *d == dataset))
            .map(|(_, s)| s.as_str())
            .collect();
        slugs
            .into_iter()
            .filter_map(|s| self.groups.get(s))
            .collect()
    }

    /// The status of a group as shown: `updating` while its training dataset is being scored,
    /// `error` when that scoring failed, else the status of its definition.
    pub fn group_status(&self, g: &TagGroup) -> crate::model::tags::GroupStatus {
        use crate::model::applications::ScoringStatus;
        use crate::model::tags::GroupStatus;
        match self
            .application(&g.training_dataset, &g.slug)
            .map(|a| a.status)
        {
            Some(ScoringStatus::Queued) if g.status == GroupStatus::Published => {
                GroupStatus::Updating
            }
            Some(ScoringStatus::Error) => GroupStatus::Error,
            _ => g.status,
        }
    }

    /// The application of `group` (slug) to `dataset`, if any.
    pub fn application(&self, dataset: &str, group: &str) -> Option<&Arc<Application>> {
        self.applications
            .get(&(dataset.to_string(), group.to_string()))
            .map(|v| &v.doc)
    }

    /// The definition of `group` that `dataset` sees: the applied version, else (for the
    /// training dataset of a never-published group) the draft.
    pub fn definition(&self, dataset: &str, group: &Versioned<TagGroup>) -> Result<Definition> {
        let g = &group.doc;
        let applied = self.application(dataset, &g.slug).map(|a| a.version);
        let version = match applied {
            Some(v) => Some(v),
            None if g.training_dataset == dataset && g.latest_version > 0 => Some(g.latest_version),
            None if g.training_dataset == dataset => None,
            None => {
                return Err(CatalogError::NotFound {
                    kind: "tag group",
                    name: g.name.clone(),
                    hint: format!(" on dataset '{dataset}'"),
                });
            }
        };
        let tags = match version {
            Some(v) => self
                .versions
                .get(&(g.slug.clone(), v))
                .map(|d| d.tags.clone())
                .ok_or_else(|| missing(&format!("{} version {v}", g.slug)))?,
            None => g.version_tags(),
        };
        Ok(Definition {
            group: g.slug.clone(),
            version,
            revision: group.revision,
            tags,
        })
    }
}

/// Removes the entries of `map` whose key matches.
fn remove_where<K: Ord + Clone, V: Clone>(map: &mut OrdMap<K, V>, matches: impl Fn(&K) -> bool) {
    let keys: Vec<K> = map.keys().filter(|k| matches(k)).cloned().collect();
    for k in keys {
        map.remove(&k);
    }
}

/// The document of `log` at `rev`, which must exist.
async fn read<T: serde::de::DeserializeOwned>(
    log: &crate::store::RevisionLog,
    store: &Store,
    rev: u64,
    what: &str,
) -> Result<Versioned<T>> {
    Ok(Versioned {
        revision: rev,
        doc: Arc::new(log.read(store, rev).await?.ok_or_else(|| missing(what))?),
    })
}

fn missing(what: &str) -> CatalogError {
    CatalogError::CorruptDocument {
        path: what.to_string(),
        message: "listed but unreadable".into(),
    }
}

/// "a, b, c" or "none".
pub fn list_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = names.map(String::as_str).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
