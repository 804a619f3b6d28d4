//! Finding items to label: semantic search (a text query against a modality's
//! embeddings) and uncertain assets (the items the current classifier of a tag is least
//! sure about, spread out so that no two are near-duplicates).

use std::collections::HashSet;

use crate::model::Modality;
use crate::model::snapshot::Definition;
use crate::scoring::scan::{Item, scored_rows};
use crate::service::Catalog;
use crate::{CatalogError, Result};

/// Two items this similar (cosine) count as near-duplicates.
pub const NEAR_DUPLICATE: f32 = 0.92;

/// The `k` items of `modality` in `dataset` nearest to `query` (score = cosine similarity),
/// best first.
pub async fn semantic_search(
    catalog: &Catalog,
    dataset: &str,
    modality: Modality,
    query: &str,
    k: usize,
) -> Result<Vec<Item>> {
    if query.trim().chars().count() < 2 {
        return Err(CatalogError::Invalid(
            "a search query needs at least 2 characters".into(),
        ));
    }
    let snapshot = catalog.snapshot();
    let manifest = snapshot.dataset(dataset)?;
    let Some(model) = manifest.models.get(&modality) else {
        return Ok(Vec::new());
    };
    let q = catalog.model(&model.id)?.text()?.embed_cached(query)?;
    let mut rows = scored_rows(catalog, &snapshot, dataset, modality, |_, values| {
        if values.len() % q.len() != 0 {
            return Err(CatalogError::State(format!(
                "embeddings of dataset '{dataset}' do not have the query's dimension {}",
                q.len()
            )));
        }
        Ok(values
            .chunks_exact(q.len())
            .map(|v| f64::from(v.iter().zip(q.iter()).map(|(a, b)| a * b).sum::<f32>()))
            .collect())
    })
    .await?;
    let mut refs = std::mem::take(&mut rows.refs);
    refs.sort_by(|a, b| b.score.total_cmp(&a.score));
    refs.truncate(k);
    refs.iter().map(|r| rows.item(r)).collect()
}

/// The `k` visual items of `dataset` whose score for `tag` under `definition` is nearest
/// `threshold`, skipping `exclude` (already labelled) and near-duplicates of items already
/// chosen. Each item's `score` is its score.
pub async fn uncertain(
    catalog: &Catalog,
    dataset: &str,
    definition: &Definition,
    tag: &str,
    threshold: f64,
    k: usize,
    exclude: &HashSet<String>,
) -> Result<Vec<Item>> {
    let snapshot = catalog.snapshot();
    let manifest = snapshot.dataset(dataset)?;
    let Some(model) = manifest.models.get(&Modality::Visual) else {
        return Ok(Vec::new());
    };
    let heads = catalog.heads(definition, Modality::Visual, &model.id, Some(tag))?;
    let mut rows = scored_rows(catalog, &snapshot, dataset, Modality::Visual, |batch, _| {
        Ok(crate::scoring::materialize::score_batch(&heads, batch)?
            .iter()
            .map(|s| f64::from(*s))
            .collect())
    })
    .await?;
    let mut refs = std::mem::take(&mut rows.refs);
    refs.retain(|r| rows.id(r).is_ok_and(|id| !exclude.contains(id)));
    let taken = pick_uncertain(refs, threshold, k, |r| r.score, |r| rows.embedding(r).ok());
    taken.iter().map(|r| rows.item(r)).collect()
}

/// Whether `emb` is a near-duplicate of any of `others`.
fn near_duplicate<'a>(emb: &[f32], mut others: impl Iterator<Item = &'a [f32]>) -> bool {
    others.any(|t| t.iter().zip(emb).map(|(a, b)| a * b).sum::<f32>() > NEAR_DUPLICATE)
}

/// Greedy: nearest the threshold first, skipping near-duplicates of those taken (and
/// candidates without an embedding).
pub fn pick_uncertain<'a, T>(
    mut candidates: Vec<T>,
    threshold: f64,
    k: usize,
    score: impl Fn(&T) -> f64,
    embedding: impl Fn(&T) -> Option<&'a [f32]>,
) -> Vec<T> {
    candidates.sort_by(|a, b| {
        (score(a) - threshold)
            .abs()
            .total_cmp(&(score(b) - threshold).abs())
    });
    let mut taken: Vec<(T, &'a [f32])> = Vec::new();
    for c in candidates {
        if taken.len() == k {
            break;
        }
        let Some(emb) = embedding(&c) else {
            continue;
        };
        if !near_duplicate(emb, taken.iter().map(|(_, e)| *e)) {
            taken.push((c, emb));
        }
    }
    taken.into_iter().map(|(c, _)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncertain_items_are_near_the_threshold_and_spread_out() {
        let c: Vec<(&str, f64, Vec<f32>)> = vec![
            ("a", 0.51, vec![1.0, 0.0]),
            ("a-copy", 0.50, vec![1.0, 0.0]),
            ("b", 0.45, vec![0.0, 1.0]),
            ("sure", 0.99, vec![0.6, 0.8]),
            ("no embedding", 0.5, vec![]),
        ];
        let ids: Vec<&str> = pick_uncertain(
            (0..c.len()).collect(),
            0.5,
            2,
            |&i| c[i].1,
            |&i| Some(c[i].2.as_slice()).filter(|e| !e.is_empty()),
        )
        .into_iter()
        .map(|i| c[i].0)
        .collect();
        assert_eq!(
            ids,
            vec!["a-copy", "b"],
            "the near-duplicate 'a' and the item without an embedding are skipped"
        );
    }
}
