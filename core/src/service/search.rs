//! Finding items to label: semantic search (a text query against a modality's
//! embeddings) and uncertain assets (the items the current classifier of a tag is least
//! sure about, spread out so that no two are near-duplicates).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, new_null_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use datafusion::arrow::array::AsArray;

use crate::model::Modality;
use crate::model::dataset::schema::col;
use crate::model::dataset::{DatasetManifest, TableKind};
use crate::model::snapshot::Definition;
use crate::scoring::nearest::nearest;
use crate::scoring::scan::{Fetched, Item, RowRef, batches, embeddings, scored_rows, to_batch};
use crate::service::Catalog;
use crate::store::parquet::read_columns;
use crate::{CatalogError, Result};

/// The most items one search or uncertain-assets request may ask for.
pub const MAX_ITEMS: usize = 10_000;

/// Items found, with the threshold that decides them (none for a search).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub items: Vec<Item>,
    pub threshold: Option<f64>,
}

/// The columns of a [`Found`] table (`semantic_search`, `dt_uncertain` and their HTTP
/// routes).
pub fn found_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("item_id", DataType::Utf8, false),
        Field::new("coactive_video_id", DataType::Utf8, true),
        Field::new("time_ms", DataType::Int64, true),
        Field::new("detail", DataType::Utf8, true),
        Field::new("score", DataType::Float64, false),
        Field::new("threshold_decision", DataType::Boolean, true),
    ]))
}

/// `found` as a table of [`found_schema`]; a search has no decision (null).
pub fn found_batch(found: &Found) -> Result<RecordBatch> {
    let batch = to_batch(&found.items, found.threshold.unwrap_or(f64::INFINITY))?;
    let mut columns = batch.columns().to_vec();
    if found.threshold.is_none() {
        let last = columns.len() - 1;
        columns[last] = new_null_array(&DataType::Boolean, found.items.len());
    }
    RecordBatch::try_new(found_schema(), columns)
        .map_err(|e| CatalogError::engine("found items", e))
}

fn check_count(k: usize) -> Result<()> {
    if (1..=MAX_ITEMS).contains(&k) {
        Ok(())
    } else {
        Err(CatalogError::Invalid(format!(
            "ask for between 1 and {MAX_ITEMS} items (asked for {k})"
        )))
    }
}

/// The search the `semantic_search` function and the search route answer: through the
/// search index, or scanning every row when `exact`.
pub async fn search(
    catalog: &Catalog,
    dataset: &str,
    modality: Modality,
    query: &str,
    k: usize,
    exact: bool,
) -> Result<Found> {
    check_count(k)?;
    Ok(Found {
        items: semantic_search(catalog, dataset, modality, query, k, exact).await?,
        threshold: None,
    })
}

/// "Find similar": the `k` items of `modality` in `dataset` nearest the item `item_id`
/// (itself left out), through the search index or scanning every row when `exact` (what
/// the `similar_items` function and the similar route answer).
pub async fn similar(
    catalog: &Catalog,
    dataset: &str,
    modality: Modality,
    item_id: &str,
    k: usize,
    exact: bool,
) -> Result<Found> {
    check_count(k)?;
    let snapshot = catalog.snapshot();
    let manifest = snapshot.dataset(dataset)?;
    let Some(q) = embedding_of(catalog, manifest, modality, item_id).await? else {
        return Err(CatalogError::NotFound {
            kind: "item",
            name: item_id.to_string(),
            hint: format!(" among the {modality} items of dataset '{dataset}'"),
        });
    };
    let found = nearest(catalog, manifest, modality, &q, k, exact, Some(item_id)).await?;
    Ok(Found {
        items: found.items,
        threshold: None,
    })
}

/// The embedding of the item `item_id` of `modality`, as float32: its file found from the
/// ids alone (the resident batches, or only the id column of the others), then that file
/// read.
async fn embedding_of(
    catalog: &Catalog,
    manifest: &DatasetManifest,
    modality: Modality,
    item_id: &str,
) -> Result<Option<Vec<f32>>> {
    let column = match modality {
        Modality::Visual => col::IMAGE_ID,
        Modality::Transcript => col::SEGMENT_ID,
    };
    let row_of = |batches: &[RecordBatch]| {
        let mut offset = 0;
        for batch in batches {
            let found = batch
                .column_by_name(column)
                .and_then(|c| c.as_string_opt::<i32>())
                .and_then(|ids| ids.iter().position(|id| id == Some(item_id)));
            if let Some(r) = found {
                return Some(offset + r);
            }
            offset += batch.num_rows();
        }
        None
    };
    for file in manifest.files(TableKind::of(modality)) {
        let row = match catalog.table_cache().peek(&file.path) {
            Some(held) => row_of(&held),
            None => row_of(&read_columns(catalog.store(), file, &[column]).await?),
        };
        let Some(mut row) = row else { continue };
        for batch in batches(catalog, file).await?.iter() {
            if row < batch.num_rows() {
                let (values, dim) = embeddings(batch)?;
                return Ok(Some(values.row(row, dim)));
            }
            row -= batch.num_rows();
        }
    }
    Ok(None)
}

/// The uncertain assets of `tag` in published `group` on `dataset`, which must be the
/// group's training dataset: the `k` items nearest the tag's current threshold, not yet
/// labelled (what `dt_uncertain` and the uncertain-assets route answer), as of the
/// catalog's snapshot (the caller refreshes it).
pub async fn uncertain_assets(
    catalog: &Catalog,
    dataset: &str,
    group: &str,
    tag: &str,
    k: usize,
) -> Result<Found> {
    check_count(k)?;
    let snapshot = catalog.snapshot();
    let (definition, tag_name) = catalog.resolve_tag(&snapshot, dataset, Some(group), tag)?;
    let g = &snapshot.group(group)?.doc;
    if g.training_dataset != dataset || definition.version.is_none() {
        return Err(CatalogError::State(format!(
            "dt_uncertain works once tag group '{group}' is published, on its training dataset"
        )));
    }
    let current = g.tag(&tag_name);
    let threshold = current.map_or(0.5, |t| t.threshold);
    let exclude: HashSet<String> = current
        .map(|t| t.labels.iter().map(|l| l.asset_id.clone()).collect())
        .unwrap_or_default();
    let items = uncertain(
        catalog,
        dataset,
        &definition,
        &tag_name,
        threshold,
        k,
        &exclude,
    )
    .await?;
    Ok(Found {
        items,
        threshold: Some(threshold),
    })
}

/// Two items this similar (cosine) count as near-duplicates.
pub const NEAR_DUPLICATE: f32 = 0.92;

/// The `k` items of `modality` in `dataset` nearest to `query` (score = cosine similarity),
/// best first: through the search index, or scanning every row when `exact`.
pub async fn semantic_search(
    catalog: &Catalog,
    dataset: &str,
    modality: Modality,
    query: &str,
    k: usize,
    exact: bool,
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
    Ok(nearest(catalog, manifest, modality, &q, k, exact, None)
        .await?
        .items)
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
    // The first pass scores every row; an excluded row gets no score (NaN) and is dropped,
    // as is a row whose score is NaN (no score is not an uncertain one).
    let rows = scored_rows(
        catalog,
        &snapshot,
        dataset,
        Modality::Visual,
        |batch, _, _| {
            let mut scores: Vec<f64> = crate::scoring::scan::score_batch(&heads, batch)?
                .iter()
                .map(|s| f64::from(*s))
                .collect();
            if !exclude.is_empty() {
                let ids = crate::scoring::scan::item_ids(batch, Modality::Visual)?;
                for (s, id) in scores.iter_mut().zip(ids) {
                    if id.is_some_and(|id| exclude.contains(id)) {
                        *s = f64::NAN;
                    }
                }
            }
            Ok(scores)
        },
    )
    .await?;
    let mut refs: Vec<RowRef> = rows
        .refs
        .iter()
        .filter(|r| !r.score.is_nan())
        .copied()
        .collect();
    nearest_threshold_first(&mut refs, threshold, |r| r.score);
    // The second pass reads the candidates again, nearest first, in growing chunks, until
    // `k` that are not near-duplicates of each other are taken.
    let mut taken: Vec<Fetched> = Vec::new();
    let (mut start, mut chunk) = (0, (4 * k).max(64));
    while taken.len() < k && start < refs.len() {
        let end = (start + chunk).min(refs.len());
        for f in rows.fetch(catalog, &refs[start..end]).await? {
            if taken.len() == k {
                break;
            }
            if !near_duplicate(&f.embedding, taken.iter().map(|t| t.embedding.as_slice())) {
                taken.push(f);
            }
        }
        (start, chunk) = (end, chunk * 2);
    }
    Ok(taken.into_iter().map(|f| f.item).collect())
}

/// Sorts `candidates` by the distance of their score from `threshold`, nearest first (a
/// stable sort: ties keep their order).
fn nearest_threshold_first<T>(candidates: &mut [T], threshold: f64, score: impl Fn(&T) -> f64) {
    candidates.sort_by(|a, b| {
        (score(a) - threshold)
            .abs()
            .total_cmp(&(score(b) - threshold).abs())
    });
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
    embedding: impl Fn(&T) -> Option<Cow<'a, [f32]>>,
) -> Vec<T> {
    nearest_threshold_first(&mut candidates, threshold, score);
    let mut taken: Vec<(T, Cow<'a, [f32]>)> = Vec::new();
    for c in candidates {
        if taken.len() == k {
            break;
        }
        let Some(emb) = embedding(&c) else {
            continue;
        };
        if !near_duplicate(&emb, taken.iter().map(|(_, e)| e.as_ref())) {
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
            |&i| Some(Cow::Borrowed(c[i].2.as_slice())).filter(|e| !e.is_empty()),
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
