//! Compiling tags into heads: prompt embeddings → centroid, negatives, logit scale.

use std::sync::Arc;

use dyntag_models::{Model, l2_normalize};

use super::kernel::{HeadSpec, Scorer};
use crate::model::Modality;
use crate::model::tags::{Polarity, VersionTag};
use crate::{CatalogError, Result};

/// Generic prompts every tag of a modality is contrasted with, so that a score of 0.5
/// means "as close to the tag as to everything it is not". The transcript set is ordinary
/// speech; it was chosen on the transcript fixture, where six topic tags reach F1 0.85 at
/// the default threshold 0.5 (see `sample-data/transcripts/README.md`).
pub fn background_prompts(modality: Modality) -> &'static [&'static str] {
    match modality {
        Modality::Visual => &[
            "a photo.",
            "a picture.",
            "an image of something.",
            "a blurry photo.",
            "a photo of an object.",
            "a frame of a video.",
        ],
        Modality::Transcript => &[
            "Thank you very much.",
            "Let's take a look at this.",
            "I think that is right.",
            "Here we go, this is it.",
            "And now for something else.",
            "That was a good one.",
        ],
    }
}

/// The compiled heads of a set of tags for one modality and model.
#[derive(Debug)]
pub struct CompiledHeads {
    /// The model whose embedding space the heads live in.
    pub model: String,
    pub modality: Modality,
    /// Tag names, in output column order.
    pub tags: Vec<String>,
    pub scorer: Scorer,
}

/// Compiles `tags` for `modality` with `model`'s text tower: the positive prompts of each
/// tag (its name when it has none for this modality) are embedded and averaged into a unit
/// centroid; its negative prompts and the modality's background prompts are the
/// alternatives of the softmax; τ is the model's logit scale.
pub fn compile(
    model: &Arc<Model>,
    modality: Modality,
    tags: &[VersionTag],
) -> Result<CompiledHeads> {
    let text = model.text()?;
    let scale = model.manifest().logit_scale;
    let mut prompts: Vec<&str> = background_prompts(modality).to_vec();
    for tag in tags {
        prompts.extend(prompt_texts(tag, modality, Polarity::Positive));
        prompts.extend(prompt_texts(tag, modality, Polarity::Negative));
    }
    let vectors = text.embed_many_cached(&prompts)?;
    let lookup = |p: &str| -> Result<&[f32]> {
        let i = prompts
            .iter()
            .position(|q| *q == p)
            .ok_or_else(|| CatalogError::Internal(format!("prompt '{p}' was not embedded")))?;
        Ok(&vectors[i])
    };
    let backgrounds: Vec<Vec<f32>> = background_prompts(modality)
        .iter()
        .map(|p| lookup(p).map(<[f32]>::to_vec))
        .collect::<Result<_>>()?;
    let dim = text.dim();
    let mut heads = Vec::with_capacity(tags.len());
    for tag in tags {
        let mut centroid = vec![0f32; dim];
        let positives = prompt_texts(tag, modality, Polarity::Positive);
        for p in &positives {
            centroid
                .iter_mut()
                .zip(lookup(p)?)
                .for_each(|(c, v)| *c += v);
        }
        l2_normalize(&mut centroid);
        let negatives = prompt_texts(tag, modality, Polarity::Negative)
            .iter()
            .map(|p| lookup(p).map(<[f32]>::to_vec))
            .collect::<Result<Vec<_>>>()?;
        let correction = if modality == Modality::Visual {
            label_correction(
                tag,
                model.id(),
                dim,
                &backgrounds,
                scale,
                &centroid,
                &negatives,
            )
        } else {
            None
        };
        heads.push(HeadSpec::Softmax {
            centroid,
            negatives,
            scale,
            correction,
        });
    }
    Ok(CompiledHeads {
        model: model.id().to_string(),
        modality,
        tags: tags.iter().map(|t| t.name.clone()).collect(),
        scorer: Scorer::new(dim, &backgrounds, scale, &heads),
    })
}

/// The correction learned from the tag's visual labels (those embedded by `model`), or
/// `None` without any.
fn label_correction(
    tag: &VersionTag,
    model: &str,
    dim: usize,
    backgrounds: &[Vec<f32>],
    scale: f32,
    centroid: &[f32],
    negatives: &[Vec<f32>],
) -> Option<(Vec<f32>, f32)> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for l in &tag.labels {
        let Some(v) = l
            .embedding
            .as_ref()
            .filter(|e| e.model == model)
            .and_then(|e| super::classifier::decode(&e.values))
            .filter(|v| v.len() == dim)
        else {
            continue;
        };
        x.extend(v);
        y.push(if l.positive { 1.0 } else { 0.0 });
    }
    if y.is_empty() {
        return None;
    }
    let zero_shot = Scorer::new(
        dim,
        backgrounds,
        scale,
        &[HeadSpec::Softmax {
            centroid: centroid.to_vec(),
            negatives: negatives.to_vec(),
            scale,
            correction: None,
        }],
    );
    let mut scores = vec![0f32; y.len()];
    zero_shot.score(&x, &mut scores);
    let z0: Vec<f32> = scores
        .iter()
        .map(|s| super::classifier::logit(*s))
        .collect();
    Some(super::classifier::fit_correction(&x, dim, &y, &z0))
}

/// The prompt texts of a tag for a modality; a tag without positive prompts for the
/// modality falls back to its name.
fn prompt_texts(tag: &VersionTag, modality: Modality, polarity: Polarity) -> Vec<&str> {
    let texts: Vec<&str> = tag
        .prompts
        .iter()
        .filter(|p| p.polarity == polarity && p.modality.covers(modality))
        .map(|p| p.text.as_str())
        .collect();
    if texts.is_empty() && polarity == Polarity::Positive {
        vec![tag.name.as_str()]
    } else {
        texts
    }
}
