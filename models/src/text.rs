//! The text tower: a tokenizer plus `onnx/text_model.onnx`, batched, with a prompt cache.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::manifest::ModelManifest;
use crate::{Embeddings, ModelError, Result, l2_normalize};

/// Output names tried in order: CLIP/SigLIP exports, sentence-transformers exports, and
/// finally per-token states, which are mean-pooled over the attention mask.
const POOLED_OUTPUTS: [&str; 3] = ["text_embeds", "sentence_embedding", "pooler_output"];
const TOKEN_OUTPUTS: [&str; 2] = ["last_hidden_state", "token_embeddings"];
const CACHE_LIMIT: usize = 50_000;

/// Embeds text with a model's text tower. Cheap to share: sessions are guarded by a mutex
/// (ONNX Runtime sessions run one batch at a time) and prompt embeddings are cached.
pub struct TextEncoder {
    model: String,
    tokenizer: Tokenizer,
    session: Mutex<Session>,
    inputs: Vec<(String, TensorElementType)>,
    output: String,
    pooled: bool,
    batch_size: usize,
    cache: Mutex<HashMap<String, Arc<[f32]>>>,
    dim: usize,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEncoder")
            .field("model", &self.model)
            .field("dim", &self.dim)
            .finish()
    }
}

impl TextEncoder {
    /// Loads the text tower of the model directory `dir`.
    pub(crate) fn load(dir: &Path, manifest: &ModelManifest) -> Result<Self> {
        let model = manifest.id.clone();
        let tok_path = dir.join("tokenizer.json");
        let graph_path = dir.join("onnx/text_model.onnx");
        for p in [&tok_path, &graph_path] {
            if !p.is_file() {
                return Err(ModelError::MissingFile {
                    model: model.clone(),
                    path: p.clone(),
                });
            }
        }
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| ModelError::Tokenizer {
            model: model.clone(),
            message: e.to_string(),
        })?;
        configure_tokenizer(&mut tokenizer, manifest, &model)?;

        let session = crate::runtime::session(&model, &graph_path)?;

        let mut inputs = Vec::new();
        for input in session.inputs() {
            let ty = match input.dtype() {
                ValueType::Tensor { ty, .. } => *ty,
                other => {
                    return Err(graph_err(
                        &model,
                        format!("input '{}' is {other:?}", input.name()),
                    ));
                }
            };
            match input.name() {
                "input_ids" | "attention_mask" | "token_type_ids" | "position_ids" => {}
                name => {
                    return Err(graph_err(
                        &model,
                        format!("text_model.onnx has an unsupported input '{name}'"),
                    ));
                }
            }
            if !matches!(ty, TensorElementType::Int64 | TensorElementType::Int32) {
                return Err(graph_err(
                    &model,
                    format!("input '{}' must be int64 or int32, is {ty:?}", input.name()),
                ));
            }
            inputs.push((input.name().to_string(), ty));
        }
        if !inputs.iter().any(|(n, _)| n == "input_ids") {
            return Err(graph_err(
                &model,
                "text_model.onnx has no 'input_ids' input",
            ));
        }
        let names: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        let (output, pooled) = if let Some(n) = POOLED_OUTPUTS.iter().find(|n| names.contains(n)) {
            (n.to_string(), true)
        } else if let Some(n) = TOKEN_OUTPUTS.iter().find(|n| names.contains(n)) {
            (n.to_string(), false)
        } else {
            return Err(graph_err(
                &model,
                format!(
                    "text_model.onnx has none of the outputs text_embeds, sentence_embedding, pooler_output, last_hidden_state (has {names:?})"
                ),
            ));
        };
        let batch_size = manifest.text.batch_size.unwrap_or(64).max(1);
        let mut encoder = Self {
            model,
            tokenizer,
            session: Mutex::new(session),
            inputs,
            output,
            pooled,
            batch_size,
            cache: Mutex::new(HashMap::new()),
            dim: 0,
        };
        encoder.dim = encoder.run(&["dimension probe"])?.dim();
        if manifest.dimension != 0 && manifest.dimension != encoder.dim {
            return Err(graph_err(
                &encoder.model,
                format!(
                    "dyntag-model.json says dimension {} but text_model.onnx returns {}",
                    manifest.dimension, encoder.dim
                ),
            ));
        }
        Ok(encoder)
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Embeds `texts` (L2-normalised), in batches, without the cache.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Embeddings> {
        let mut data = Vec::with_capacity(texts.len() * self.dim);
        for chunk in texts.chunks(self.batch_size) {
            let refs: Vec<&str> = chunk.iter().map(AsRef::as_ref).collect();
            data.extend(self.run(&refs)?.into_vec());
        }
        Ok(Embeddings::new(self.dim.max(1), data))
    }

    /// Embeds one prompt through the cache: repeated prompts cost one ONNX run in all.
    pub fn embed_cached(&self, text: &str) -> Result<Arc<[f32]>> {
        if let Some(hit) = self.lock_cache().get(text) {
            return Ok(Arc::clone(hit));
        }
        let v: Arc<[f32]> = self.run(&[text])?.into_vec().into();
        let mut cache = self.lock_cache();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(text.to_string(), Arc::clone(&v));
        Ok(v)
    }

    /// Embeds many prompts through the cache, running the missing ones as one batch.
    pub fn embed_many_cached<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Arc<[f32]>>> {
        let missing: Vec<&str> = {
            let cache = self.lock_cache();
            let mut m: Vec<&str> = texts
                .iter()
                .map(AsRef::as_ref)
                .filter(|t| !cache.contains_key(*t))
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        if !missing.is_empty() {
            let embedded = self.embed(&missing)?;
            let mut cache = self.lock_cache();
            if cache.len() + missing.len() > CACHE_LIMIT {
                cache.clear();
            }
            for (t, row) in missing.iter().zip(embedded.rows()) {
                cache.insert(t.to_string(), row.into());
            }
        }
        texts
            .iter()
            .map(|t| match self.lock_cache().get(t.as_ref()) {
                Some(v) => Ok(Arc::clone(v)),
                None => self.embed_cached(t.as_ref()),
            })
            .collect()
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<[f32]>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self, texts: &[&str]) -> Result<Embeddings> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ModelError::Tokenizer {
                model: self.model.clone(),
                message: e.to_string(),
            })?;
        let batch = encodings.len();
        let seq = encodings.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0i64; batch * seq];
        let mut mask = vec![0i64; batch * seq];
        for (b, enc) in encodings.iter().enumerate() {
            for (t, (&id, &m)) in enc
                .get_ids()
                .iter()
                .zip(enc.get_attention_mask())
                .enumerate()
            {
                ids[b * seq + t] = i64::from(id);
                mask[b * seq + t] = i64::from(m);
            }
        }
        let zeros = vec![0i64; batch * seq];
        let positions: Vec<i64> = (0..batch).flat_map(|_| 0..seq as i64).collect();
        let onnx = |source: ort::Error| ModelError::Onnx {
            model: self.model.clone(),
            source,
        };
        let shape = [batch, seq];
        let as_i32 = |v: &[i64]| v.iter().map(|&x| x as i32).collect::<Vec<i32>>();
        let owned32: Vec<(String, Vec<i32>)> = self
            .inputs
            .iter()
            .filter(|(_, ty)| *ty == TensorElementType::Int32)
            .map(|(n, _)| {
                (
                    n.clone(),
                    as_i32(self.input_values(n, &ids, &mask, &zeros, &positions)),
                )
            })
            .collect();
        let mut feeds: Vec<(String, ort::session::SessionInputValue<'_>)> = Vec::new();
        for (name, ty) in &self.inputs {
            let value = if *ty == TensorElementType::Int32 {
                let data = &owned32.iter().find(|(n, _)| n == name).expect("prepared").1;
                TensorRef::from_array_view((shape, data.as_slice()))
                    .map_err(onnx)?
                    .into()
            } else {
                let data = self.input_values(name, &ids, &mask, &zeros, &positions);
                TensorRef::from_array_view((shape, data))
                    .map_err(onnx)?
                    .into()
            };
            feeds.push((name.clone(), value));
        }
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session.run(feeds).map_err(onnx)?;
        let (out_shape, values) = outputs[self.output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(onnx)?;
        let dims: Vec<usize> = out_shape.iter().map(|&d| d.max(0) as usize).collect();
        let mut data = if self.pooled {
            if dims.len() != 2 || dims[0] != batch {
                return Err(graph_err(
                    &self.model,
                    format!(
                        "output '{}' has shape {dims:?}, expected [{batch}, dim]",
                        self.output
                    ),
                ));
            }
            values.to_vec()
        } else {
            if dims.len() != 3 || dims[0] != batch || dims[1] != seq {
                return Err(graph_err(
                    &self.model,
                    format!(
                        "output '{}' has shape {dims:?}, expected [{batch}, {seq}, dim]",
                        self.output
                    ),
                ));
            }
            mean_pool(values, &mask, batch, seq, dims[2])
        };
        let dim = dims[dims.len() - 1];
        if dim == 0 {
            return Err(graph_err(
                &self.model,
                "text_model.onnx returned empty embeddings",
            ));
        }
        data.chunks_exact_mut(dim).for_each(l2_normalize);
        Ok(Embeddings::new(dim, data))
    }

    fn input_values<'a>(
        &self,
        name: &str,
        ids: &'a [i64],
        mask: &'a [i64],
        zeros: &'a [i64],
        positions: &'a [i64],
    ) -> &'a [i64] {
        match name {
            "input_ids" => ids,
            "attention_mask" => mask,
            "position_ids" => positions,
            _ => zeros,
        }
    }
}

fn mean_pool(values: &[f32], mask: &[i64], batch: usize, seq: usize, dim: usize) -> Vec<f32> {
    let mut out = vec![0f32; batch * dim];
    for b in 0..batch {
        let acc = &mut out[b * dim..(b + 1) * dim];
        let mut count = 0f32;
        for t in 0..seq {
            if mask[b * seq + t] == 0 {
                continue;
            }
            count += 1.0;
            let row = &values[(b * seq + t) * dim..(b * seq + t + 1) * dim];
            acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
        }
        if count > 0.0 {
            acc.iter_mut().for_each(|a| *a /= count);
        }
    }
    out
}

/// Pads to the longest input of a batch unless the tokenizer fixes a length (SigLIP pads
/// to 64, as it was trained), and truncates at the manifest's or tokenizer's max length.
fn configure_tokenizer(tok: &mut Tokenizer, manifest: &ModelManifest, model: &str) -> Result<()> {
    let max_length = manifest
        .text
        .max_length
        .or_else(|| tok.get_truncation().map(|t| t.max_length))
        .unwrap_or(77);
    let fixed = matches!(
        tok.get_padding().map(|p| &p.strategy),
        Some(PaddingStrategy::Fixed(_))
    );
    if !fixed {
        let mut padding = tok.get_padding().cloned().unwrap_or_else(|| PaddingParams {
            pad_id: tok
                .token_to_id("[PAD]")
                .or_else(|| tok.token_to_id("<pad>"))
                .unwrap_or(0),
            ..PaddingParams::default()
        });
        padding.strategy = PaddingStrategy::BatchLongest;
        tok.with_padding(Some(padding));
    }
    let truncation = TruncationParams {
        max_length,
        ..tok.get_truncation().cloned().unwrap_or_default()
    };
    tok.with_truncation(Some(truncation))
        .map_err(|e| ModelError::Tokenizer {
            model: model.to_string(),
            message: e.to_string(),
        })?;
    Ok(())
}

fn graph_err(model: &str, message: impl Into<String>) -> ModelError {
    ModelError::Graph {
        model: model.to_string(),
        message: message.into(),
    }
}
