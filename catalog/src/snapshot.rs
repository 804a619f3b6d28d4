//! An immutable in-memory picture of everything on the store: datasets, groups, versions
//! and applications. Planning reads only the snapshot; it is refreshed explicitly (before
//! each statement and after each write), re-reading only the logs that moved.

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::path::Path;

use crate::access::{AccessDoc, access_log};
use crate::applications::{Application, application_log};
use crate::dataset::{DatasetManifest, manifest_log};
use crate::store::Store;
use crate::tags::{GroupVersion, TagGroup, VersionTag, group_log, version_path};
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

/// Everything the catalog knows, as of one refresh.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub datasets: BTreeMap<String, Versioned<DatasetManifest>>,
    /// Live (not dropped) groups by slug.
    pub groups: BTreeMap<String, Versioned<TagGroup>>,
    /// Published versions by (slug, version).
    pub versions: BTreeMap<(String, u32), Arc<GroupVersion>>,
    /// Applications by (dataset, slug).
    pub applications: BTreeMap<(String, String), Versioned<Application>>,
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

impl Snapshot {
    /// Loads a new snapshot, reusing from `previous` every document whose revision did not
    /// change.
    pub async fn load(store: &Store, previous: &Snapshot) -> Result<Snapshot> {
        let mut next = Snapshot::default();
        for name in store.list_names(&Path::from("datasets")).await? {
            let log = manifest_log(&name);
            let rev = log.latest_revision(store).await?;
            if rev == 0 {
                continue;
            }
            let entry = match previous.datasets.get(&name) {
                Some(v) if v.revision == rev => v.clone(),
                _ => Versioned {
                    revision: rev,
                    doc: Arc::new(log.read(store, rev).await?.ok_or_else(|| missing(&name))?),
                },
            };
            next.datasets.insert(name, entry);
        }
        for slug in store.list_names(&Path::from("groups")).await? {
            let log = group_log(&slug);
            let rev = log.latest_revision(store).await?;
            if rev == 0 {
                continue;
            }
            let entry: Versioned<TagGroup> = match previous.groups.get(&slug) {
                Some(v) if v.revision == rev => v.clone(),
                _ => Versioned {
                    revision: rev,
                    doc: Arc::new(log.read(store, rev).await?.ok_or_else(|| missing(&slug))?),
                },
            };
            if entry.doc.deleted {
                continue;
            }
            for v in 1..=entry.doc.latest_version {
                let key = (slug.clone(), v);
                let doc = match previous.versions.get(&key) {
                    Some(d) => Arc::clone(d),
                    None => Arc::new(
                        store
                            .get_json::<GroupVersion>(&version_path(&slug, v))
                            .await?
                            .ok_or_else(|| missing(&format!("{slug} version {v}")))?,
                    ),
                };
                next.versions.insert(key, doc);
            }
            next.groups.insert(slug, entry);
        }
        for slug in store.list_names(&Path::from("applications")).await? {
            if !next.groups.contains_key(&slug) {
                continue;
            }
            let prefix = Path::from("applications").join(slug.as_str());
            for dataset in store.list_names(&prefix).await? {
                let log = application_log(&slug, &dataset);
                let rev = log.latest_revision(store).await?;
                if rev == 0 {
                    continue;
                }
                let key = (dataset, slug.clone());
                let entry = match previous.applications.get(&key) {
                    Some(v) if v.revision == rev => v.clone(),
                    _ => Versioned {
                        revision: rev,
                        doc: Arc::new(log.read(store, rev).await?.ok_or_else(|| missing(&slug))?),
                    },
                };
                if !entry.doc.removed {
                    next.applications.insert(key, entry);
                }
            }
        }
        // Logs are read one after the other, so an application may already name a version
        // its group's revision read above did not know yet (published in between). Its
        // document exists: publishing writes it before committing anything that names it.
        let named: Vec<(String, u32)> = next
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
            if next.versions.contains_key(&key) {
                continue;
            }
            let doc = match previous.versions.get(&key) {
                Some(d) => Some(Arc::clone(d)),
                None => store
                    .get_json::<GroupVersion>(&version_path(&key.0, key.1))
                    .await?
                    .map(Arc::new),
            };
            if let Some(doc) = doc {
                next.versions.insert(key, doc);
            }
        }
        let log = access_log();
        let rev = log.latest_revision(store).await?;
        next.access_revision = rev;
        next.access = if rev == previous.access_revision {
            Arc::clone(&previous.access)
        } else {
            Arc::new(
                log.read::<AccessDoc>(store, rev)
                    .await?
                    .ok_or_else(|| missing("users and roles"))?,
            )
        };
        Ok(next)
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
        let slug = crate::tags::names::slug(name);
        self.groups
            .get(&slug)
            .ok_or_else(|| CatalogError::NotFound {
                kind: "tag group",
                name: name.to_string(),
                hint: String::new(),
            })
    }

    /// The groups `dataset` sees: those applied to it and those it trains, by slug.
    pub fn groups_of(&self, dataset: &str) -> Vec<&Versioned<TagGroup>> {
        self.groups
            .values()
            .filter(|g| {
                g.doc.training_dataset == dataset
                    || self
                        .applications
                        .contains_key(&(dataset.to_string(), g.doc.slug.clone()))
            })
            .collect()
    }

    /// The status of a group as shown: `updating` while its training dataset is being scored,
    /// `error` when that scoring failed, else the status of its definition.
    pub fn group_status(&self, g: &TagGroup) -> crate::tags::GroupStatus {
        use crate::applications::ScoringStatus;
        use crate::tags::GroupStatus;
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
