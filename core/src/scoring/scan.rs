//! The one scan of scored rows and the one sampler: a data file's batches through the
//! resident cache, a batch scored against compiled heads, every row of a modality's table
//! scored on the fly (under a draft or a published definition, or a query's embedding), and
//! the samples previews show (stratified buckets shared with the Tag Evaluator). Previews,
//! search, uncertain assets, the evaluator and materialised `dt_` tables all read through
//! here.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::Int64Type;

use super::Resources;
use super::head::CompiledHeads;
use crate::model::Modality;
use crate::model::dataset::schema::col;
use crate::model::dataset::vectors::{Vectors, vectors};
use crate::model::dataset::{DataFile, TableKind};
use crate::model::snapshot::{Definition, Snapshot};
use crate::{CatalogError, Result};

/// Which items a preview shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewMode {
    /// A random sample of positives and one of negatives at the threshold, half each.
    Compare,
    /// Random positives.
    Positives,
    /// Random negatives.
    Negatives,
    /// `per_bucket` random items from each score bucket of width 0.1.
    Stratified { per_bucket: usize },
    /// The highest scores first (transcript previews).
    Top,
}

impl PreviewMode {
    /// `compare`, `positives`, `negatives`, `stratified`, `top`.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "compare" => Self::Compare,
            "positives" | "positive" => Self::Positives,
            "negatives" | "negative" => Self::Negatives,
            "stratified" => Self::Stratified { per_bucket: 10 },
            "top" => Self::Top,
            other => {
                return Err(CatalogError::Invalid(format!(
                    "unknown preview mode '{other}' (modes: compare, positives, negatives, stratified, top)"
                )));
            }
        })
    }
}

/// One scored item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub video_id: Option<String>,
    pub time_ms: Option<i64>,
    /// The image path, or the transcript text.
    pub detail: Option<String>,
    pub score: f64,
}

/// The first pass of a scan for one tag: every row of `modality` in `dataset` scored
/// against `tag` of `definition` (see [`ScoredRows::fetch`] for the second).
pub async fn score_rows(
    catalog: &Resources,
    snapshot: &Snapshot,
    dataset: &str,
    definition: &Definition,
    modality: Modality,
    tag: &str,
) -> Result<ScoredRows> {
    let manifest = Arc::clone(snapshot.dataset(dataset)?);
    let Some(model) = manifest.models.get(&modality) else {
        return Ok(ScoredRows {
            files: Vec::new(),
            modality,
            refs: Vec::new(),
        });
    };
    let heads = catalog.heads(definition, modality, &model.id, Some(tag))?;
    if heads.tags.is_empty() {
        return Err(CatalogError::NotFound {
            kind: "tag",
            name: tag.to_string(),
            hint: format!(" in tag group '{}'", definition.group),
        });
    }
    scored_rows(catalog, snapshot, dataset, modality, |batch, _, _| {
        Ok(score_batch(&heads, batch)?
            .iter()
            .map(|s| f64::from(*s))
            .collect())
    })
    .await
}

/// The ids of a batch's items (keyframes or transcript segments).
pub fn item_ids(batch: &RecordBatch, modality: Modality) -> Result<&StringArray> {
    string_col(
        batch,
        match modality {
            Modality::Visual => col::IMAGE_ID,
            Modality::Transcript => col::SEGMENT_ID,
        },
    )
}

fn string_col<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| CatalogError::Internal(format!("a scored table has no '{name}' column")))
}

/// The batches of a data file, from the resident cache when it fits.
pub async fn batches(catalog: &Resources, file: &DataFile) -> Result<Arc<Vec<RecordBatch>>> {
    match catalog.table_cache().get(catalog.store(), file).await? {
        Some(b) => Ok(b),
        None => Ok(Arc::new(
            crate::scoring::cache::read_file(catalog.store(), file).await?,
        )),
    }
}

/// The values of an embedding array in any encoding, and their dimension.
pub fn embedding_vectors(array: &dyn Array) -> Result<(Vectors<'_>, usize)> {
    vectors(array).ok_or_else(|| {
        CatalogError::Internal(format!(
            "an embedding column holds {}, not embeddings",
            array.data_type()
        ))
    })
}

/// Scores of every row against every head: row-major `rows × tags`.
pub fn score_batch(heads: &CompiledHeads, batch: &RecordBatch) -> Result<Vec<f32>> {
    let (x, dim) = embeddings(batch)?;
    if dim != heads.scorer.dim() {
        return Err(CatalogError::State(format!(
            "embeddings have dimension {dim} but model '{}' makes {}",
            heads.model,
            heads.scorer.dim()
        )));
    }
    let mut out = vec![0f32; batch.num_rows() * heads.tags.len()];
    heads.scorer.score_vectors_parallel(&x, &mut out);
    Ok(out)
}

/// Score buckets of a stratified sample: 10, of width 0.1.
pub const BUCKETS: usize = 10;

/// The bucket of `score` (scores of 1.0 fall in the last one).
pub fn bucket(score: f64) -> usize {
    ((score * BUCKETS as f64).floor().max(0.0) as usize).min(BUCKETS - 1)
}

/// Samples `items` for a preview of at most `limit` items (stratified: `per_bucket` per
/// bucket), ordered by score, highest first.
pub fn sample<T: Scored + Clone>(
    mut items: Vec<T>,
    mode: PreviewMode,
    threshold: f64,
    limit: usize,
    seed: u64,
) -> Vec<T> {
    let mut rng = crate::store::random::Random::seeded(seed);
    let mut out = match mode {
        PreviewMode::Top => {
            items.sort_by(|a, b| b.score().total_cmp(&a.score()));
            items.truncate(limit);
            items
        }
        PreviewMode::Positives | PreviewMode::Negatives => {
            let want_pos = mode == PreviewMode::Positives;
            items.retain(|i| (i.score() >= threshold) == want_pos);
            rng.choose(items, limit)
        }
        PreviewMode::Compare => {
            let (pos, neg): (Vec<T>, Vec<T>) =
                items.into_iter().partition(|i| i.score() >= threshold);
            let half = limit / 2;
            let pos_n = half.max(limit.saturating_sub(neg.len())).min(pos.len());
            let neg_n = (limit - pos_n).min(neg.len());
            let mut out = rng.choose(pos, pos_n);
            out.extend(rng.choose(neg, neg_n));
            out
        }
        PreviewMode::Stratified { per_bucket } => {
            let mut buckets: Vec<Vec<T>> = vec![Vec::new(); BUCKETS];
            for i in items {
                buckets[bucket(i.score())].push(i);
            }
            buckets
                .into_iter()
                .flat_map(|b| rng.choose(b, per_bucket))
                .collect()
        }
    };
    out.sort_by(|a, b| b.score().total_cmp(&a.score()));
    out
}

/// Anything with a score can be sampled.
pub trait Scored {
    fn score(&self) -> f64;
}

impl Scored for Item {
    fn score(&self) -> f64 {
        self.score
    }
}

/// A scored row: where it is (a file of the scan, a row of that file) and its score — 16
/// bytes, so that every row of a table can be scored and sampled without holding its
/// batches; only the rows a caller keeps are read again ([`ScoredRows::fetch`]).
#[derive(Debug, Clone, Copy)]
pub struct RowRef {
    pub file: u32,
    pub row: u32,
    pub score: f64,
}

impl Scored for RowRef {
    fn score(&self) -> f64 {
        self.score
    }
}

/// Scores every item of `modality` in `dataset` for `tag` of `definition`, samples them,
/// and reads again only the sampled items.
pub async fn sampled_items(
    catalog: &Resources,
    snapshot: &Snapshot,
    dataset: &str,
    definition: &Definition,
    modality: Modality,
    tag: &str,
    pick: impl FnOnce(Vec<RowRef>) -> Vec<RowRef>,
) -> Result<Vec<Item>> {
    let mut rows = score_rows(catalog, snapshot, dataset, definition, modality, tag).await?;
    let refs = pick(std::mem::take(&mut rows.refs));
    Ok(rows
        .fetch(catalog, &refs)
        .await?
        .into_iter()
        .map(|f| f.item)
        .collect())
}

/// Every row of a modality's table in a dataset with a score: the first pass of a scan,
/// which keeps the files' list and one [`RowRef`] per row, never a batch.
pub struct ScoredRows {
    files: Vec<DataFile>,
    modality: Modality,
    pub refs: Vec<RowRef>,
}

/// A row read again by [`ScoredRows::fetch`].
#[derive(Debug, Clone)]
pub struct Fetched {
    pub item: Item,
    /// Its embedding as float32.
    pub embedding: Vec<f32>,
}

impl ScoredRows {
    /// The second pass: the rows `refs` (in their order), read again through the resident
    /// cache, each file that holds one of them once per call. What a scan keeps in memory is
    /// then its refs and one file at a time, whatever the table's size. The files are the
    /// first pass's: a conversion that commits in between leaves them on the store until
    /// the dataset's next commit, so only two commits in between make this fail (run it
    /// again).
    pub async fn fetch(&self, catalog: &Resources, refs: &[RowRef]) -> Result<Vec<Fetched>> {
        let mut order: Vec<usize> = (0..refs.len()).collect();
        order.sort_by_key(|&i| (refs[i].file, refs[i].row));
        let mut out: Vec<Option<Fetched>> = vec![None; refs.len()];
        let mut at = 0;
        while at < order.len() {
            let f = refs[order[at]].file;
            let file = self.files.get(f as usize).ok_or_else(|| {
                CatalogError::Internal(format!("a scored row refers to file {f} of a scan"))
            })?;
            let held = batches(catalog, file).await?;
            // The first row of each batch, to find a row's batch.
            let starts: Vec<usize> = held
                .iter()
                .scan(0, |n, b| {
                    let first = *n;
                    *n += b.num_rows();
                    Some(first)
                })
                .collect();
            while at < order.len() && refs[order[at]].file == f {
                let r = &refs[order[at]];
                let row = r.row as usize;
                let b = starts.partition_point(|&s| s <= row).saturating_sub(1);
                let found = held
                    .get(b)
                    .map(|batch| (batch, row - starts[b]))
                    .filter(|(batch, i)| *i < batch.num_rows());
                let (batch, i) = found.ok_or_else(|| {
                    CatalogError::State(format!(
                        "row {row} of {} is gone (did the dataset change meanwhile? run it again)",
                        file.path
                    ))
                })?;
                let (values, dim) = embeddings(batch)?;
                out[order[at]] = Some(Fetched {
                    item: item_at(batch, i, self.modality, r.score)?,
                    embedding: values.row(i, dim),
                });
                at += 1;
            }
        }
        Ok(out
            .into_iter()
            .map(|f| f.expect("every ref fetched"))
            .collect())
    }
}

/// The embedding values of a batch (row-major, in their encoding) and their dimension.
pub fn embeddings(batch: &RecordBatch) -> Result<(Vectors<'_>, usize)> {
    let emb = batch
        .column_by_name(col::EMBEDDING)
        .ok_or_else(|| CatalogError::Internal("a scored table has no embedding column".into()))?;
    embedding_vectors(emb.as_ref())
}

/// Scores every row of `modality`'s table in `dataset`, a file at a time: `score` gives one
/// score per row of each batch (it also sees the batch's embeddings and their dimension).
/// Nothing of a batch is kept but its scores.
pub async fn scored_rows(
    catalog: &Resources,
    snapshot: &Snapshot,
    dataset: &str,
    modality: Modality,
    mut score: impl FnMut(&RecordBatch, &Vectors<'_>, usize) -> Result<Vec<f64>>,
) -> Result<ScoredRows> {
    let manifest = Arc::clone(snapshot.dataset(dataset)?);
    let files = manifest.files(TableKind::of(modality)).to_vec();
    let mut refs = Vec::new();
    for (f, file) in files.iter().enumerate() {
        let mut row = 0u32;
        for batch in batches(catalog, file).await?.iter() {
            let (values, dim) = embeddings(batch)?;
            let scores = score(batch, &values, dim)?;
            refs.extend(scores.iter().enumerate().map(|(r, s)| RowRef {
                file: f as u32,
                row: row + r as u32,
                score: *s,
            }));
            row += batch.num_rows() as u32;
        }
    }
    Ok(ScoredRows {
        files,
        modality,
        refs,
    })
}

/// The item at row `i` of a batch of `modality`'s table.
pub(crate) fn item_at(
    batch: &RecordBatch,
    i: usize,
    modality: Modality,
    score: f64,
) -> Result<Item> {
    let (id, time, detail) = match modality {
        Modality::Visual => (col::IMAGE_ID, col::KEYFRAME_TIME, col::PATH),
        Modality::Transcript => (col::SEGMENT_ID, col::START, col::TEXT),
    };
    let ids = string_col(batch, id)?;
    let videos = batch
        .column_by_name(col::VIDEO_ID)
        .map(|c| c.as_string::<i32>());
    let times = batch
        .column_by_name(time)
        .and_then(|c| c.as_primitive_opt::<Int64Type>());
    let details = batch
        .column_by_name(detail)
        .and_then(|c| c.as_string_opt::<i32>());
    Ok(Item {
        id: ids.value(i).to_string(),
        video_id: videos
            .filter(|v| v.is_valid(i))
            .map(|v| v.value(i).to_string()),
        time_ms: times.filter(|t| t.is_valid(i)).map(|t| t.value(i)),
        detail: details
            .filter(|d| d.is_valid(i))
            .map(|d| d.value(i).to_string()),
        score,
    })
}

/// Items as a table: `item_id, coactive_video_id, time_ms, detail, score,
/// threshold_decision`.
pub fn to_batch(items: &[Item], threshold: f64) -> Result<RecordBatch> {
    let cols: Vec<(&str, ArrayRef)> = vec![
        (
            "item_id",
            Arc::new(StringArray::from_iter_values(
                items.iter().map(|i| i.id.as_str()),
            )),
        ),
        (
            "coactive_video_id",
            Arc::new(StringArray::from(
                items.iter().map(|i| i.video_id.clone()).collect::<Vec<_>>(),
            )),
        ),
        (
            "time_ms",
            Arc::new(Int64Array::from(
                items.iter().map(|i| i.time_ms).collect::<Vec<_>>(),
            )),
        ),
        (
            "detail",
            Arc::new(StringArray::from(
                items.iter().map(|i| i.detail.clone()).collect::<Vec<_>>(),
            )),
        ),
        (
            "score",
            Arc::new(Float64Array::from_iter_values(
                items.iter().map(|i| i.score),
            )),
        ),
        (
            "threshold_decision",
            Arc::new(BooleanArray::from(
                items
                    .iter()
                    .map(|i| i.score >= threshold)
                    .collect::<Vec<_>>(),
            )),
        ),
    ];
    RecordBatch::try_from_iter(cols).map_err(|e| CatalogError::engine("preview", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three keyframe files of 7, 1 and 5 rows, in row groups of 3 (so batches of 3, 3, 1;
    /// 1; 3, 2), their embeddings stored as float16: what the second pass reads again.
    async fn three_files(store: &crate::store::Store) -> (Vec<DataFile>, Vec<(String, Vec<f32>)>) {
        use crate::model::dataset::encoding::{Encoding, encode_batch};
        use crate::store::parquet::{FileWriter, with_sizes};
        use datafusion::arrow::array::{FixedSizeListArray, Float32Array};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let dim = 4;
        let (mut files, mut rows) = (Vec::new(), Vec::new());
        for (f, n) in [7usize, 1, 5].into_iter().enumerate() {
            let ids: Vec<String> = (0..n).map(|r| format!("f{f}r{r}")).collect();
            // Halves of small integers: exact in float16.
            let values: Vec<f32> = (0..n * dim)
                .map(|i| ((i + 10 * f) % 13) as f32 / 2.0)
                .collect();
            for (r, id) in ids.iter().enumerate() {
                rows.push((id.clone(), values[r * dim..(r + 1) * dim].to_vec()));
            }
            let list = FixedSizeListArray::new(
                Arc::new(Field::new("item", DataType::Float32, false)),
                dim as i32,
                Arc::new(Float32Array::from(values)),
                None,
            );
            let schema = Arc::new(Schema::new(vec![
                Field::new(col::IMAGE_ID, DataType::Utf8, false),
                Field::new(col::EMBEDDING, list.data_type().clone(), false),
            ]));
            let batch = RecordBatch::try_new(
                schema,
                vec![Arc::new(StringArray::from(ids)) as ArrayRef, Arc::new(list)],
            )
            .unwrap();
            let stored = encode_batch(&batch, Some(Encoding::Float16)).unwrap();
            let path = object_store::path::Path::from(format!("t/{f}.parquet"));
            let mut w = FileWriter::create(store, path, stored.schema(), 3).unwrap();
            w.write(&stored).await.unwrap();
            files.push(w.finish().await.unwrap());
        }
        (with_sizes(store, files).await.unwrap(), rows)
    }

    #[tokio::test]
    async fn the_second_pass_reads_the_rows_kept_in_their_order() {
        use crate::scoring::cache::TableCache;
        use crate::store::Store;
        let store =
            Store::from_object_store(Arc::new(object_store::memory::InMemory::new()), "memory");
        let (files, rows) = three_files(&store).await;
        let models = Arc::new(dyntag_models::ModelRegistry::new(Vec::new()).unwrap());
        // No cache (every file read again) and room for all of them.
        for budget in [0, 1 << 30] {
            let catalog =
                Resources::new(store.clone(), Arc::clone(&models), TableCache::new(budget));
            // Every row's place, as the first pass numbers them (row within its file).
            let (mut places, mut shapes) = (Vec::new(), Vec::new());
            for (f, file) in files.iter().enumerate() {
                let held = batches(&catalog, file).await.unwrap();
                let sizes: Vec<usize> = held.iter().map(|b| b.num_rows()).collect();
                places.extend((0..sizes.iter().sum::<usize>()).map(|r| (f as u32, r as u32)));
                shapes.push(sizes);
            }
            assert_eq!(
                shapes,
                vec![vec![3, 3, 1], vec![1], vec![3, 2]],
                "batches per file"
            );
            assert_eq!(places.len(), rows.len());
            let scanned = ScoredRows {
                files: files.clone(),
                modality: Modality::Visual,
                refs: Vec::new(),
            };
            // Out of order, across files and batch boundaries, one row twice.
            let picks = [12, 0, 7, 6, 3, 2, 12, 9];
            let refs: Vec<RowRef> = picks
                .iter()
                .map(|&i| RowRef {
                    file: places[i].0,
                    row: places[i].1,
                    score: i as f64 / 100.0,
                })
                .collect();
            let got = scanned.fetch(&catalog, &refs).await.unwrap();
            for (&i, g) in picks.iter().zip(&got) {
                assert_eq!(g.item.id, rows[i].0, "budget {budget}");
                assert_eq!(g.item.score, i as f64 / 100.0);
                assert_eq!(g.embedding, rows[i].1, "{}", rows[i].0);
            }
            let beyond = RowRef {
                file: 1,
                row: 1,
                score: 0.0,
            };
            let err = scanned
                .fetch(&catalog, &[beyond])
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("row 1 of t/1.parquet is gone"), "{err}");
        }
    }

    fn items(scores: &[f64]) -> Vec<Item> {
        scores
            .iter()
            .enumerate()
            .map(|(i, s)| Item {
                id: format!("i{i}"),
                video_id: None,
                time_ms: None,
                detail: None,
                score: *s,
            })
            .collect()
    }

    #[test]
    fn compare_takes_half_each_side_and_fills_from_the_other() {
        let v = items(&[0.9, 0.8, 0.7, 0.6, 0.1, 0.2]);
        let out = sample(v.clone(), PreviewMode::Compare, 0.5, 4, 1);
        assert_eq!(out.iter().filter(|i| i.score >= 0.5).count(), 2);
        assert_eq!(out.len(), 4);
        let out = sample(v, PreviewMode::Compare, 0.5, 6, 1);
        assert_eq!(out.iter().filter(|i| i.score >= 0.5).count(), 4);
        assert!(out.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn top_and_negatives_modes() {
        let v = items(&[0.2, 0.9, 0.4, 0.7, 0.1]);
        let top: Vec<f64> = sample(v.clone(), PreviewMode::Top, 0.5, 3, 9)
            .iter()
            .map(|i| i.score)
            .collect();
        assert_eq!(top, vec![0.9, 0.7, 0.4]);
        let neg = sample(v, PreviewMode::Negatives, 0.5, 10, 9);
        assert_eq!(neg.len(), 3);
        assert!(neg.iter().all(|i| i.score < 0.5));
        assert!(PreviewMode::parse("sideways").is_err());
    }

    #[test]
    fn stratified_takes_per_bucket() {
        let scores: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
        let out = sample(
            items(&scores),
            PreviewMode::Stratified { per_bucket: 10 },
            0.5,
            0,
            3,
        );
        assert_eq!(out.len(), 100);
        for b in 0..10 {
            let n = out.iter().filter(|i| bucket(i.score) == b).count();
            assert_eq!(n, 10, "bucket {b}");
        }
        let pos = sample(items(&scores), PreviewMode::Positives, 0.9, 5, 3);
        assert!(pos.len() == 5 && pos.iter().all(|i| i.score >= 0.9));
    }
}
