//! Finding model directories by id and loading their towers on first use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::manifest::MANIFEST_FILE;
use crate::{Modality, ModelError, ModelManifest, Result, TextEncoder, VisionEncoder};

/// The id of the default model shipped in `sample-data/models/default`.
pub const DEFAULT_MODEL_ID: &str = "dyntag-default-minilm";

/// A model directory; its towers load on first use and are shared afterwards.
#[derive(Debug)]
pub struct Model {
    dir: PathBuf,
    manifest: ModelManifest,
    text: OnceLock<Result<Arc<TextEncoder>, String>>,
    vision: OnceLock<Result<Arc<VisionEncoder>, String>>,
}

impl Model {
    /// Reads the manifest of the model directory `dir` (no graph is loaded yet).
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest: ModelManifest::load(dir)?,
            text: OnceLock::new(),
            vision: OnceLock::new(),
        })
    }

    /// The model's id, recorded with every embedding it makes.
    pub fn id(&self) -> &str {
        &self.manifest.id
    }

    /// The manifest, with defaults filled in.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The text tower, loaded on first use.
    pub fn text(&self) -> Result<Arc<TextEncoder>> {
        self.tower(Modality::Text, "text", &self.text, TextEncoder::load)
    }

    /// The vision tower, loaded on first use.
    pub fn vision(&self) -> Result<Arc<VisionEncoder>> {
        self.tower(Modality::Image, "image", &self.vision, VisionEncoder::load)
    }

    /// A tower, loaded once (a failure is remembered and returned again).
    fn tower<T>(
        &self,
        modality: Modality,
        name: &str,
        cell: &OnceLock<Result<Arc<T>, String>>,
        load: fn(&Path, &ModelManifest) -> Result<T>,
    ) -> Result<Arc<T>> {
        if !self.manifest.modalities.contains(&modality) {
            return Err(ModelError::NoTower {
                model: self.id().to_string(),
                modality: name.into(),
            });
        }
        cell.get_or_init(|| {
            load(&self.dir, &self.manifest)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|message| ModelError::Graph {
            model: self.id().to_string(),
            message,
        })
    }
}

/// The models dyntag knows, by id.
#[derive(Debug)]
pub struct ModelRegistry {
    models: BTreeMap<String, Arc<Model>>,
    default_id: String,
}

impl ModelRegistry {
    /// Scans `roots`: each is a model directory itself or a directory of model directories.
    /// The default model is [`DEFAULT_MODEL_ID`] if found, else the first model found.
    pub fn new(roots: Vec<PathBuf>) -> Result<Self> {
        let mut models = BTreeMap::new();
        let mut first = None;
        for root in roots {
            let dirs = if is_model_dir(&root) {
                vec![root.clone()]
            } else {
                let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
                    .map_err(|source| ModelError::Io {
                        path: root.clone(),
                        source,
                    })?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| is_model_dir(p))
                    .collect();
                dirs.sort();
                dirs
            };
            for dir in dirs {
                let model = Model::open(&dir)?;
                first.get_or_insert_with(|| model.id().to_string());
                models
                    .entry(model.id().to_string())
                    .or_insert(Arc::new(model));
            }
        }
        let default_id = if models.contains_key(DEFAULT_MODEL_ID) {
            DEFAULT_MODEL_ID.to_string()
        } else {
            first.unwrap_or_default()
        };
        Ok(Self { models, default_id })
    }

    /// The model used where none is named (empty if no model is known).
    pub fn default_id(&self) -> &str {
        &self.default_id
    }

    /// The model with this id.
    pub fn get(&self, id: &str) -> Result<Arc<Model>> {
        self.models
            .get(id)
            .cloned()
            .ok_or_else(|| ModelError::UnknownModel {
                id: id.to_string(),
                known: if self.models.is_empty() {
                    "none".to_string()
                } else {
                    self.models.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            })
    }

    /// The ids of all known models.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.models.keys().map(String::as_str)
    }
}

fn is_model_dir(p: &Path) -> bool {
    p.join(MANIFEST_FILE).is_file() || p.join("onnx").is_dir()
}
