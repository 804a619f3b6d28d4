//! `dyntag bench labels`: what visual labels do to a tag. On the sample library's images
//! (ground truth: each image's Openclipart category), every category becomes a tag whose
//! text prompt is its name; then 10, 25 and 50 labels are chosen by the uncertain-assets
//! method (rounds of 5, from the current classifier, spread out) or at random, and the F1
//! of the tag at its default threshold (0.5) is measured on the images not labelled.

use std::collections::BTreeMap;

use dyntag_core::model::tags::{
    Label, LabelEmbedding, Polarity, Prompt, PromptModality, VersionTag,
};
use dyntag_core::scoring::classifier::encode;
use dyntag_core::scoring::head::compile;
use dyntag_core::service::search::pick_uncertain;
use dyntag_core::store::random::Random;
use dyntag_core::{CatalogError, Modality};
use dyntag_models::Model;

use super::zero_shot::embedded_categories;
use crate::cli::Global;
use crate::error::Result;

const BUDGETS: [usize; 3] = [10, 25, 50];
const RANDOM_SEEDS: u64 = 5;

pub(super) async fn run(global: &Global, model: Option<String>) -> Result<()> {
    let catalog = global.open().await?;
    let id = model.unwrap_or_else(|| catalog.models().default_id().to_string());
    let model = catalog.models().get(&id).map_err(CatalogError::from)?;
    let (items, rows, tags) = embedded_categories(&model)?;
    let dim = rows.first().map_or(0, Vec::len);
    let bench = Bench {
        model: &model,
        rows: &rows,
        dim,
    };
    // budget → (sum of F1 over tags) for each strategy; text-only once per tag.
    let mut text_only = 0.0;
    let mut uncertain: BTreeMap<usize, f64> = BTreeMap::new();
    let mut random: BTreeMap<usize, f64> = BTreeMap::new();
    for tag in &tags {
        let truth: Vec<bool> = items.iter().map(|(_, c)| c == tag).collect();
        let zero = bench.scores(tag, &[])?;
        text_only += f1(&zero, &truth, &[]);
        // Uncertain: rounds of 5 from the current classifier.
        let mut chosen: Vec<usize> = Vec::new();
        let mut scores = zero.clone();
        for &budget in &BUDGETS {
            while chosen.len() < budget {
                let candidates: Vec<usize> =
                    (0..rows.len()).filter(|i| !chosen.contains(i)).collect();
                let pick = pick_uncertain(
                    candidates,
                    0.5,
                    5.min(budget - chosen.len()),
                    |&i| scores[i],
                    |&i| Some(std::borrow::Cow::Borrowed(rows[i].as_slice())),
                );
                if pick.is_empty() {
                    break;
                }
                chosen.extend(pick);
                scores = bench.scores(tag, &labels(&chosen, &truth, &rows, &id))?;
            }
            *uncertain.entry(budget).or_default() += f1(&scores, &truth, &chosen);
        }
        // Random: the mean over seeds.
        for &budget in &BUDGETS {
            let mut sum = 0.0;
            for seed in 0..RANDOM_SEEDS {
                let chosen = shuffled(rows.len(), seed * 7919 + tag.len() as u64)
                    .into_iter()
                    .take(budget)
                    .collect::<Vec<_>>();
                let scores = bench.scores(tag, &labels(&chosen, &truth, &rows, &id))?;
                sum += f1(&scores, &truth, &chosen);
            }
            *random.entry(budget).or_default() += sum / RANDOM_SEEDS as f64;
        }
    }
    let n = tags.len() as f64;
    println!(
        "labels: macro F1 at threshold 0.5 over {} category tags, {} images (model '{id}'; F1 on the images not labelled)",
        tags.len(),
        rows.len()
    );
    println!(
        "| labels | text only | uncertain-assets labels | random labels (mean of {RANDOM_SEEDS}) |"
    );
    println!("|---|---|---|---|");
    println!("| 0 | {:.3} | | |", text_only / n);
    for b in BUDGETS {
        println!(
            "| {b} | | {:.3} | {:.3} |",
            uncertain[&b] / n,
            random[&b] / n
        );
    }
    Ok(())
}

struct Bench<'a> {
    model: &'a std::sync::Arc<Model>,
    rows: &'a [Vec<f32>],
    dim: usize,
}

impl Bench<'_> {
    /// Scores of every image for `tag` with `labels`.
    fn scores(&self, tag: &str, labels: &[Label]) -> Result<Vec<f64>> {
        let t = VersionTag {
            name: tag.to_string(),
            prompts: vec![Prompt {
                text: tag.to_string(),
                polarity: Polarity::Positive,
                modality: PromptModality::Both,
            }],
            labels: labels.to_vec(),
        };
        let heads = compile(self.model, Modality::Visual, &[t])?;
        let x: Vec<f32> = self.rows.iter().flatten().copied().collect();
        let mut out = vec![0f32; self.rows.len()];
        heads.scorer.score(&x, &mut out);
        debug_assert_eq!(x.len(), self.rows.len() * self.dim);
        Ok(out.into_iter().map(f64::from).collect())
    }
}

fn labels(chosen: &[usize], truth: &[bool], rows: &[Vec<f32>], model: &str) -> Vec<Label> {
    chosen
        .iter()
        .map(|&i| Label {
            asset_id: i.to_string(),
            positive: truth[i],
            embedding: Some(LabelEmbedding {
                model: model.to_string(),
                values: encode(&rows[i]),
            }),
        })
        .collect()
}

/// F1 of `score ≥ 0.5` against `truth`, over the items not in `skip`.
pub fn f1(scores: &[f64], truth: &[bool], skip: &[usize]) -> f64 {
    let (mut tp, mut fp, mut fneg) = (0.0, 0.0, 0.0);
    for (i, (&s, &t)) in scores.iter().zip(truth).enumerate() {
        if skip.contains(&i) {
            continue;
        }
        match (s >= 0.5, t) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fneg += 1.0,
            _ => {}
        }
    }
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fneg)
    }
}

/// 0..n in a seeded random order (the project's one generator).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    Random::seeded(seed).choose((0..n).collect(), n)
}
