//! `dyntag-model.json`: what dyntag needs to know of a model directory beyond its graphs.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{ModelError, Result};

/// The name of the manifest file inside a model directory.
pub const MANIFEST_FILE: &str = "dyntag-model.json";

/// A tower of a model: what kind of input it embeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// Text: prompts and transcript segments (`onnx/text_model.onnx`).
    Text,
    /// Pixels: images and keyframes (`onnx/vision_model.onnx`).
    Image,
}

/// The manifest of a model directory.
///
/// Every field has a default so that a plain CLIP / SigLIP export without a manifest
/// works: the id defaults to the directory name, the dimension is read from the graph, the
/// modalities from the graph files present, and the logit scale from the model family
/// (`config.json`'s `model_type`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    /// The model id recorded with every embedding it makes. Default: the directory name.
    pub id: String,
    /// The embedding dimension. Default: read from the graph's output shape.
    #[serde(default)]
    pub dimension: usize,
    /// The towers present. Default: those whose graph file exists.
    #[serde(default)]
    pub modalities: Vec<Modality>,
    /// τ of the scoring softmax: the scale of cosine similarities turned into logits.
    /// Default: 100 for CLIP, 110 for SigLIP, 20 otherwise.
    #[serde(default)]
    pub logit_scale: f32,
    /// Text tower settings.
    #[serde(default)]
    pub text: TextSettings,
    /// Vision tower settings.
    #[serde(default)]
    pub image: ImageSettings,
}

/// Settings of the vision tower (preprocessing comes from `preprocessor_config.json`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImageSettings {
    /// Images per ONNX run. Default: 32.
    #[serde(default)]
    pub batch_size: Option<usize>,
}

/// Settings of the text tower.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TextSettings {
    /// Longest token sequence fed to the graph. Default: the tokenizer's own truncation,
    /// else 77 (CLIP's context length).
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Inputs per ONNX run. Default: 64.
    #[serde(default)]
    pub batch_size: Option<usize>,
}

#[derive(Deserialize)]
struct HfConfig {
    #[serde(default)]
    model_type: String,
}

impl ModelManifest {
    /// Reads the manifest of `dir`, filling defaults for what it leaves out.
    pub fn load(dir: &Path) -> Result<Self> {
        let dir_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".to_string());
        let path = dir.join(MANIFEST_FILE);
        let mut manifest = if path.exists() {
            let text = read(&path)?;
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| invalid(&dir_name, &path, e))?;
            let mut value = value;
            if value.get("id").is_none()
                && let Some(obj) = value.as_object_mut()
            {
                obj.insert("id".into(), dir_name.clone().into());
            }
            serde_json::from_value::<ModelManifest>(value)
                .map_err(|e| invalid(&dir_name, &path, e))?
        } else {
            ModelManifest {
                id: dir_name.clone(),
                dimension: 0,
                modalities: vec![],
                logit_scale: 0.0,
                text: TextSettings::default(),
                image: ImageSettings::default(),
            }
        };
        if manifest.id.trim().is_empty() {
            return Err(invalid(&dir_name, &path, "\"id\" is empty"));
        }
        if manifest.modalities.is_empty() {
            if dir.join("onnx/text_model.onnx").exists() {
                manifest.modalities.push(Modality::Text);
            }
            if dir.join("onnx/vision_model.onnx").exists() {
                manifest.modalities.push(Modality::Image);
            }
        }
        if manifest.logit_scale <= 0.0 {
            manifest.logit_scale = default_logit_scale(dir);
        }
        Ok(manifest)
    }
}

/// Logit scale of well-known families when the manifest does not give one: trained CLIP
/// models end at the clamp of 100; SigLIP's learnt scale is about exp(4.7) ≈ 110.
fn default_logit_scale(dir: &Path) -> f32 {
    let model_type = std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<HfConfig>(&t).ok())
        .map(|c| c.model_type.to_ascii_lowercase())
        .unwrap_or_default();
    if model_type.contains("siglip") {
        110.0
    } else if model_type.contains("clip") {
        100.0
    } else {
        20.0
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(model: &str, path: &Path, message: impl ToString) -> ModelError {
    ModelError::InvalidConfig {
        model: model.to_string(),
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_a_bare_clip_export() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("my-clip");
        std::fs::create_dir_all(model.join("onnx")).unwrap();
        std::fs::write(model.join("onnx/text_model.onnx"), b"").unwrap();
        std::fs::write(model.join("onnx/vision_model.onnx"), b"").unwrap();
        std::fs::write(model.join("config.json"), r#"{"model_type":"clip"}"#).unwrap();
        let m = ModelManifest::load(&model).unwrap();
        assert_eq!(m.id, "my-clip");
        assert_eq!(m.modalities, vec![Modality::Text, Modality::Image]);
        assert_eq!(m.logit_scale, 100.0);
    }

    #[test]
    fn malformed_manifest_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST_FILE), "{not json").unwrap();
        let err = ModelManifest::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(MANIFEST_FILE), "{err}");
    }
}
