//! Model directories run through ONNX Runtime.
//!
//! A model is a directory in the layout of the common ONNX exports of CLIP-family models:
//!
//! ```text
//! tokenizer.json              the Hugging Face tokenizer
//! onnx/text_model.onnx        input_ids, attention_mask -> text_embeds
//! onnx/vision_model.onnx      pixel_values -> image_embeds (optional)
//! preprocessor_config.json    image preprocessing (with the vision tower)
//! dyntag-model.json           id, dimension, modalities, logit scale (optional)
//! ```
//!
//! The ONNX Runtime shared library is loaded at run time (see [`runtime`]); nothing is
//! downloaded. [`ModelRegistry`] finds model directories by id and loads their towers lazily.
//!
//! ```no_run
//! # fn main() -> Result<(), dyntag_models::ModelError> {
//! let registry = dyntag_models::ModelRegistry::new(vec!["sample-data/models".into()])?;
//! let model = registry.get(registry.default_id())?;
//! let embeddings = model.text()?.embed(&["a goalkeeper saves a penalty"])?;
//! assert_eq!(embeddings.dim(), model.manifest().dimension);
//! # Ok(())
//! # }
//! ```

mod embeddings;
mod error;
mod manifest;
pub mod preprocess;
mod registry;
pub mod runtime;
mod text;
mod vision;

pub use embeddings::{Embeddings, l2_normalize};
pub use error::ModelError;
pub use manifest::{ImageSettings, Modality, ModelManifest};
pub use registry::{DEFAULT_MODEL_ID, Model, ModelRegistry};
pub use text::TextEncoder;
pub use vision::{Rgba, VisionEncoder};

/// Result type of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
