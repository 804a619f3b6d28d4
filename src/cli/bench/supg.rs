//! `dyntag bench supg`: does "precision ≥ P" or "recall ≥ R" with confidence 1 − δ hold?
//! On the sample library's images (each category a tag, scores from its text prompt,
//! ground truth from the category), many random stratified evaluation samples are drawn;
//! on each, the threshold is chosen by SUPG and, for comparison, naively (the lowest /
//! highest threshold whose point estimate meets the target). The true metric of each
//! choice is measured on all images: the guarantee holds if it meets the target in at
//! least 1 − δ of the trials; what it costs is the recall (precision targets) or
//! precision (recall targets) given up against the naive choice.

use dyntag_core::service::evaluate::metrics::Labelled;
use dyntag_core::service::evaluate::stratified;
use dyntag_core::service::evaluate::supg::{Target, choose, choose_naive};
use dyntag_core::{CatalogError, Modality};

use super::zero_shot::embedded_categories;
use crate::cli::Global;
use crate::error::Result;

pub(super) async fn run(global: &Global, sample: usize, trials: usize, delta: f64) -> Result<()> {
    let catalog = global.open().await?;
    let id = catalog.models().default_id().to_string();
    let model = catalog.models().get(&id).map_err(CatalogError::from)?;
    let (items, rows, tags) = embedded_categories(&model)?;
    let x: Vec<f32> = rows.into_iter().flatten().collect();
    let targets = [("precision", 0.5), ("recall", 0.8)];
    println!(
        "supg: {} category tags × {trials} random stratified samples of {sample} of {} images; confidence {}",
        tags.len(),
        items.len(),
        1.0 - delta
    );
    println!(
        "| target | method | trials with a threshold | target met (share of those) | mean true recall | mean true precision |"
    );
    println!("|---|---|---|---|---|---|");
    for (kind, at_least) in targets {
        // (chosen, met, recall sum, precision sum) for SUPG and naive
        let mut acc = [(0usize, 0usize, 0.0f64, 0.0f64); 2];
        for tag in &tags {
            let t = dyntag_core::model::tags::VersionTag {
                name: tag.clone(),
                prompts: vec![dyntag_core::model::tags::Prompt {
                    text: tag.clone(),
                    polarity: dyntag_core::model::tags::Polarity::Positive,
                    modality: dyntag_core::model::tags::PromptModality::Both,
                }],
                labels: Vec::new(),
            };
            let heads = dyntag_core::scoring::head::compile(&model, Modality::Visual, &[t])?;
            let mut s = vec![0f32; items.len()];
            heads.scorer.score(&x, &mut s);
            let truth: Vec<bool> = items.iter().map(|(_, c)| c == tag).collect();
            let scores: Vec<(String, f64)> = s
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), f64::from(*v)))
                .collect();
            for trial in 0..trials {
                let drawn = stratified(
                    &scores,
                    sample,
                    (trial as u64 + 1) * 2_654_435_761 + tag.len() as u64,
                );
                let labelled: Vec<Labelled> = drawn
                    .iter()
                    .map(|d| Labelled {
                        score: d.score,
                        positive: truth[d.asset_id.parse::<usize>().unwrap_or(0)],
                        weight: d.weight,
                    })
                    .collect();
                let target = if kind == "precision" {
                    Target::Precision { at_least, delta }
                } else {
                    Target::Recall { at_least, delta }
                };
                for slot in [0, 1] {
                    let c = if slot == 0 {
                        choose(&labelled, target)
                    } else {
                        choose_naive(&labelled, target)
                    };
                    let Some(c) = c else {
                        continue;
                    };
                    let (p, r) = true_metrics(&scores, &truth, c.threshold);
                    let value = if kind == "precision" { p } else { r };
                    let a = &mut acc[slot];
                    a.0 += 1;
                    a.1 += usize::from(value >= at_least);
                    a.2 += r;
                    a.3 += p;
                }
            }
        }
        let total = tags.len() * trials;
        for (slot, name) in [(0, "SUPG"), (1, "naive")] {
            let (n, met, r, p) = acc[slot];
            let d = n.max(1) as f64;
            println!(
                "| {kind} >= {at_least} | {name} | {n} of {total} | {:.3} | {:.3} | {:.3} |",
                met as f64 / d,
                r / d,
                p / d
            );
        }
    }
    Ok(())
}

/// Precision and recall of `score >= t` over the whole population.
fn true_metrics(scores: &[(String, f64)], truth: &[bool], t: f64) -> (f64, f64) {
    let (mut tp, mut fp, mut fneg) = (0.0, 0.0, 0.0);
    for ((_, s), &y) in scores.iter().zip(truth) {
        match (*s >= t, y) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fneg += 1.0,
            _ => {}
        }
    }
    let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let r = if tp + fneg > 0.0 {
        tp / (tp + fneg)
    } else {
        0.0
    };
    (p, r)
}
