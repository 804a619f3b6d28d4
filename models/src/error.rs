use std::path::PathBuf;

/// Errors of model loading and inference. Each names the model or file involved.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The ONNX Runtime shared library could not be found or loaded.
    #[error("{0}")]
    RuntimeMissing(String),

    /// No model directory with this id is known.
    #[error("unknown model '{id}' (known models: {known})")]
    UnknownModel { id: String, known: String },

    /// A model directory lacks a file its layout requires.
    #[error("model '{model}': missing {path}")]
    MissingFile { model: String, path: PathBuf },

    /// `dyntag-model.json` or another config file is malformed.
    #[error("model '{model}': invalid {path}: {message}")]
    InvalidConfig {
        model: String,
        path: PathBuf,
        message: String,
    },

    /// The model has no tower for this modality.
    #[error("model '{model}' has no {modality} tower")]
    NoTower { model: String, modality: String },

    /// The tokenizer failed.
    #[error("model '{model}': tokenizer: {message}")]
    Tokenizer { model: String, message: String },

    /// ONNX Runtime failed to load or run a graph.
    #[error("model '{model}': ONNX Runtime: {source}")]
    Onnx {
        model: String,
        #[source]
        source: ort::Error,
    },

    /// The graph's inputs or outputs are not what the layout promises.
    #[error("model '{model}': {message}")]
    Graph { model: String, message: String },

    /// Reading a model directory failed.
    #[error("model directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
