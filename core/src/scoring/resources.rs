//! [`Resources`]: what scoring keeps resident — the store, the model registry, the tag heads
//! compiled so far and the table cache — shared by every scan, preview and job.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dyntag_models::{Model, ModelRegistry};

use super::ann::AnnIndex;
use super::cache::TableCache;
use super::head::{CompiledHeads, compile};
use crate::model::Modality;
use crate::model::dataset::IndexSegment;
use crate::model::snapshot::{Definition, list_or_none};
use crate::model::tags::VersionTag;
use crate::store::Store;
use crate::{CatalogError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HeadKey {
    group: String,
    version: Option<u32>,
    revision: u64,
    modality: Modality,
    model: String,
    tag: Option<String>,
}

/// The store, the models, compiled heads and the table cache. Cheap to share behind the
/// catalog handle.
#[derive(Debug)]
pub struct Resources {
    store: Store,
    models: Arc<ModelRegistry>,
    heads: Mutex<HashMap<HeadKey, Arc<CompiledHeads>>>,
    cache: Arc<TableCache>,
    /// Search index segments read so far, by path.
    segments: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Arc<AnnIndex>>>>>,
}

impl Resources {
    /// Resources over `store` and `models`, with `cache` for resident tables.
    pub fn new(store: Store, models: Arc<ModelRegistry>, cache: TableCache) -> Self {
        Self {
            store,
            models,
            heads: Mutex::new(HashMap::new()),
            cache: Arc::new(cache),
            segments: Mutex::new(HashMap::new()),
        }
    }

    /// The object store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The model registry.
    pub fn models(&self) -> &Arc<ModelRegistry> {
        &self.models
    }

    /// The resident table cache.
    pub fn table_cache(&self) -> &Arc<TableCache> {
        &self.cache
    }

    /// The search index segment `segment`, opened the first time it is asked for and kept:
    /// memory-mapped from a local data root ([`AnnIndex::view`]), read into memory from an
    /// object store elsewhere.
    pub async fn index_segment(&self, segment: &IndexSegment) -> Result<Arc<AnnIndex>> {
        let cell = Arc::clone(
            self.segments
                .lock()
                .expect("segments lock")
                .entry(segment.path.clone())
                .or_default(),
        );
        let loaded = cell
            .get_or_try_init(|| async {
                let path = object_store::path::Path::from(segment.path.as_str());
                // A local file is mapped (its path must be text, as USearch takes it).
                let local = self
                    .store
                    .local_path(&path)
                    .filter(|f| f.to_str().is_some());
                if let Some(file) = local {
                    if !tokio::fs::try_exists(&file).await.unwrap_or(false) {
                        return Err(CatalogError::State(format!(
                            "search index segment {path} is missing"
                        )));
                    }
                    return tokio::task::spawn_blocking(move || {
                        AnnIndex::view(&file).map(Arc::new)
                    })
                    .await
                    .map_err(|e| CatalogError::Internal(format!("opening {path}: {e}")))?;
                }
                let bytes = self.store.get(&path).await?.ok_or_else(|| {
                    CatalogError::State(format!("search index segment {path} is missing"))
                })?;
                tokio::task::spawn_blocking(move || AnnIndex::from_bytes(&bytes).map(Arc::new))
                    .await
                    .map_err(|e| CatalogError::Internal(format!("loading {path}: {e}")))?
            })
            .await?;
        Ok(Arc::clone(loaded))
    }

    /// Lets go of segments whose path starts with `prefix` other than `current` (those of
    /// an index that merges replaced).
    pub fn forget_segments(&self, prefix: &str, current: &[IndexSegment]) {
        self.segments
            .lock()
            .expect("segments lock")
            .retain(|path, _| !path.starts_with(prefix) || current.iter().any(|s| &s.path == path));
    }

    /// The model with this id, with a hint on how to add one.
    pub fn model(&self, id: &str) -> Result<Arc<Model>> {
        self.models.get(id).map_err(|_| {
            CatalogError::State(format!(
                "no model directory with id '{id}' is known (known: {}); start dyntag with --models DIR pointing at it",
                list_or_none(self.models.ids().map(str::to_string).collect::<Vec<_>>().iter())
            ))
        })
    }

    /// The compiled heads of `definition` for `modality` in the space of `model`: all its
    /// tags in order, or only `tag`. Compiled once and kept.
    pub fn heads(
        &self,
        definition: &Definition,
        modality: Modality,
        model: &str,
        tag: Option<&str>,
    ) -> Result<Arc<CompiledHeads>> {
        let key = HeadKey {
            group: definition.group.clone(),
            version: definition.version,
            revision: if definition.version.is_some() {
                0
            } else {
                definition.revision
            },
            modality,
            model: model.to_string(),
            tag: tag.map(str::to_string),
        };
        if let Some(h) = self
            .heads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(Arc::clone(h));
        }
        let tags: Vec<VersionTag> = match tag {
            Some(t) => definition
                .tags
                .iter()
                .filter(|v| v.name.eq_ignore_ascii_case(t))
                .cloned()
                .collect(),
            None => definition.tags.clone(),
        };
        let compiled = Arc::new(compile(&self.model(model)?, modality, &tags)?);
        self.heads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, Arc::clone(&compiled));
        Ok(compiled)
    }
}
