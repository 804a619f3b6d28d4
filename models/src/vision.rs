//! The vision tower: `preprocessor_config.json` plus `onnx/vision_model.onnx`
//! (`pixel_values` → `image_embeds`, or `pooler_output` for SigLIP-style exports), batched,
//! with preprocessing spread over all cores.

use std::path::Path;
use std::sync::Mutex;

use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};
use rayon::prelude::*;

use crate::manifest::ModelManifest;
use crate::preprocess::Preprocess;
use crate::{Embeddings, ModelError, Result, l2_normalize};

const OUTPUTS: [&str; 3] = ["image_embeds", "pooler_output", "embeddings"];

/// A decoded image: RGBA, row-major, 4 bytes a pixel.
#[derive(Debug, Clone)]
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl Rgba {
    /// Decodes PNG, JPEG, WebP, GIF or BMP bytes; `what` names the source in errors.
    pub fn decode(bytes: &[u8], what: &str) -> std::result::Result<Self, String> {
        let img = image::load_from_memory(bytes)
            .map_err(|e| format!("{what}: cannot decode image: {e}"))?;
        let rgba = img.into_rgba8();
        let (width, height) = rgba.dimensions();
        if width == 0 || height == 0 {
            return Err(format!("{what}: empty image"));
        }
        Ok(Self {
            width,
            height,
            pixels: rgba.into_raw(),
        })
    }

    /// Reads and decodes an image file.
    pub fn open(path: &Path) -> std::result::Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::decode(&bytes, &path.display().to_string())
    }

    /// Wraps interleaved RGB bytes.
    pub fn from_rgb(width: u32, height: u32, rgb: &[u8]) -> Self {
        let mut pixels = Vec::with_capacity(rgb.len() / 3 * 4);
        for p in rgb.chunks_exact(3) {
            pixels.extend_from_slice(&[p[0], p[1], p[2], 255]);
        }
        Self {
            width,
            height,
            pixels,
        }
    }
}

/// Embeds images with a model's vision tower.
pub struct VisionEncoder {
    model: String,
    preprocess: Preprocess,
    session: Mutex<Session>,
    input: String,
    output: String,
    batch_size: usize,
    dim: usize,
}

impl std::fmt::Debug for VisionEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisionEncoder")
            .field("model", &self.model)
            .field("dim", &self.dim)
            .finish()
    }
}

impl VisionEncoder {
    /// Loads the vision tower of the model directory `dir`.
    pub(crate) fn load(dir: &Path, manifest: &ModelManifest) -> Result<Self> {
        let model = manifest.id.clone();
        let config = dir.join("preprocessor_config.json");
        let graph = dir.join("onnx/vision_model.onnx");
        for p in [&config, &graph] {
            if !p.is_file() {
                return Err(ModelError::MissingFile {
                    model: model.clone(),
                    path: p.clone(),
                });
            }
        }
        let preprocess = Preprocess::load(&model, &config)?;
        let session = crate::runtime::session(&model, &graph)?;
        let graph_err = |message: String| ModelError::Graph {
            model: model.clone(),
            message,
        };
        let input = match session.inputs() {
            [one] => one,
            many => match many.iter().find(|i| i.name() == "pixel_values") {
                Some(i) => i,
                None => {
                    return Err(graph_err(format!(
                        "vision_model.onnx has no 'pixel_values' input (has {:?})",
                        many.iter().map(|i| i.name()).collect::<Vec<_>>()
                    )));
                }
            },
        };
        match input.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } if shape.len() == 4 => {}
            other => {
                return Err(graph_err(format!(
                    "input '{}' must be a float32 tensor [batch, 3, height, width], is {other:?}",
                    input.name()
                )));
            }
        }
        let input = input.name().to_string();
        let names: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        let Some(output) = OUTPUTS.iter().find(|n| names.contains(n)) else {
            return Err(graph_err(format!(
                "vision_model.onnx has none of the outputs {OUTPUTS:?} (has {names:?})"
            )));
        };
        let mut encoder = Self {
            model,
            preprocess,
            session: Mutex::new(session),
            input,
            output: output.to_string(),
            batch_size: manifest.image.batch_size.unwrap_or(32).max(1),
            dim: 0,
        };
        let probe = Rgba::from_rgb(8, 8, &[128; 8 * 8 * 3]);
        encoder.dim = encoder.embed(std::slice::from_ref(&probe))?.dim();
        if manifest.dimension != 0 && manifest.dimension != encoder.dim {
            return Err(ModelError::Graph {
                model: encoder.model.clone(),
                message: format!(
                    "dyntag-model.json says dimension {} but vision_model.onnx returns {}",
                    manifest.dimension, encoder.dim
                ),
            });
        }
        Ok(encoder)
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Images per ONNX run.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The preprocessing this tower's config asks for.
    pub fn preprocess(&self) -> &Preprocess {
        &self.preprocess
    }

    /// Preprocesses images (in parallel) into one `[n, 3, h, w]` tensor. All images must
    /// come out the same size (they do whenever the config crops or resizes exactly).
    pub fn pixel_values(&self, images: &[Rgba]) -> Result<(Vec<f32>, [usize; 4])> {
        let Some(first) = images.first() else {
            return Ok((Vec::new(), [0, 3, 0, 0]));
        };
        let (h, w) = self.preprocess.output_size(first.width, first.height);
        if let Some(odd) = images
            .iter()
            .find(|i| self.preprocess.output_size(i.width, i.height) != (h, w))
        {
            return Err(ModelError::Graph {
                model: self.model.clone(),
                message: format!(
                    "images of different shapes ({}x{} and {}x{}) in one batch: the preprocessor config neither crops nor resizes to a fixed size",
                    first.width, first.height, odd.width, odd.height
                ),
            });
        }
        let plane = 3 * h as usize * w as usize;
        let mut out = vec![0f32; images.len() * plane];
        out.par_chunks_mut(plane)
            .zip(images.par_iter())
            .for_each(|(dst, img)| {
                self.preprocess
                    .apply(&img.pixels, img.width, img.height, dst)
            });
        Ok((out, [images.len(), 3, h as usize, w as usize]))
    }

    /// Embeds images (L2-normalised), in batches.
    pub fn embed(&self, images: &[Rgba]) -> Result<Embeddings> {
        let mut data = Vec::new();
        let mut dim = self.dim;
        for chunk in images.chunks(self.batch_size) {
            let (pixels, shape) = self.pixel_values(chunk)?;
            let e = self.run(&pixels, shape)?;
            dim = e.dim();
            data.extend(e.into_vec());
        }
        Ok(Embeddings::new(dim.max(1), data))
    }

    /// Runs the graph on preprocessed `pixel_values` of shape `[n, 3, h, w]`.
    pub fn run(&self, pixels: &[f32], shape: [usize; 4]) -> Result<Embeddings> {
        let onnx = |source: ort::Error| ModelError::Onnx {
            model: self.model.clone(),
            source,
        };
        let tensor = TensorRef::from_array_view((shape, pixels)).map_err(onnx)?;
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session
            .run(vec![(
                self.input.clone(),
                ort::session::SessionInputValue::from(tensor),
            )])
            .map_err(onnx)?;
        let (out_shape, values) = outputs[self.output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(onnx)?;
        let dims: Vec<usize> = out_shape.iter().map(|&d| d.max(0) as usize).collect();
        if dims.len() != 2 || dims[0] != shape[0] || dims[1] == 0 {
            return Err(ModelError::Graph {
                model: self.model.clone(),
                message: format!(
                    "output '{}' has shape {dims:?}, expected [{}, dim]",
                    self.output, shape[0]
                ),
            });
        }
        let mut data = values.to_vec();
        data.chunks_exact_mut(dims[1]).for_each(l2_normalize);
        Ok(Embeddings::new(dims[1], data))
    }
}
