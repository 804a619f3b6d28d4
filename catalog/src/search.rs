//! Finding items to label: semantic search (a text query against a modality's
//! embeddings) and uncertain assets (the items the current classifier of a tag is least
//! sure about, spread out so that no two are near-duplicates).

use std::collections::HashSet;

use crate::snapshot::Definition;
use crate::tags::preview::{Item, scan};
use crate::{Catalog, CatalogError, Modality, Result};

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
    let mut items = Vec::new();
    scan(
        catalog,
        dataset,
        modality,
        |_, values| {
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
        },
        |item, _| items.push(item),
    )
    .await?;
    items.sort_by(|a, b| b.score.total_cmp(&a.score));
    items.truncate(k);
    Ok(items)
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
    let mut candidates: Vec<(Item, Vec<f32>)> = Vec::new();
    scan(
        catalog,
        dataset,
        Modality::Visual,
        |batch, _| {
            Ok(crate::scoring::materialize::score_batch(&heads, batch)?
                .iter()
                .map(|s| f64::from(*s))
                .collect())
        },
        |item, emb| {
            if !exclude.contains(&item.id) {
                candidates.push((item, emb.to_vec()));
            }
        },
    )
    .await?;
    Ok(pick_uncertain(candidates, threshold, k))
}

/// Greedy: nearest the threshold first, skipping near-duplicates of those taken.
pub fn pick_uncertain(
    mut candidates: Vec<(Item, Vec<f32>)>,
    threshold: f64,
    k: usize,
) -> Vec<Item> {
    candidates.sort_by(|a, b| {
        (a.0.score - threshold)
            .abs()
            .total_cmp(&(b.0.score - threshold).abs())
    });
    let mut taken: Vec<(Item, Vec<f32>)> = Vec::new();
    for (item, emb) in candidates {
        if taken.len() == k {
            break;
        }
        let dup = taken
            .iter()
            .any(|(_, t)| t.iter().zip(&emb).map(|(a, b)| a * b).sum::<f32>() > NEAR_DUPLICATE);
        if !dup {
            taken.push((item, emb));
        }
    }
    taken.into_iter().map(|(i, _)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, score: f64) -> Item {
        Item {
            id: id.into(),
            video_id: None,
            time_ms: None,
            detail: None,
            score,
        }
    }

    #[test]
    fn uncertain_items_are_near_the_threshold_and_spread_out() {
        let c = vec![
            (item("a", 0.51), vec![1.0, 0.0]),
            (item("a-copy", 0.50), vec![1.0, 0.0]),
            (item("b", 0.45), vec![0.0, 1.0]),
            (item("sure", 0.99), vec![0.6, 0.8]),
        ];
        let ids: Vec<String> = pick_uncertain(c, 0.5, 2)
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(
            ids,
            vec!["a-copy", "b"],
            "the near-duplicate 'a' is skipped"
        );
    }
}
