//! Materialising the `dt_` tables of a group version on a dataset.
//!
//! Keyframes and transcript segments stream through the scoring kernel batch by batch and
//! their long-format rows are written as they are produced; only the roll-up state (per
//! shot and per video, per tag) is kept in memory. All files go to a fresh run folder and
//! become visible only when the caller commits the returned [`ScoreRun`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    UInt32Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use object_store::path::Path;

use super::Resources;
use super::head::CompiledHeads;
use super::scan::{batches, score_batch};
use super::schema::stored_schema;
use crate::model::Modality;
use crate::model::applications::{ScoreRun, ScoreTable, run_dir};
use crate::model::dataset::schema::col;
use crate::model::dataset::{DataFile, TableKind};
use crate::model::snapshot::{Definition, Snapshot};
use crate::model::tags::{GroupOptions, ShotAggregation, VideoAggregation};
use crate::store::Store;
use crate::store::parquet::{RollingWriter, read_columns};
use crate::store::progress::Progress;
use crate::{CatalogError, Result};

/// Long-format rows per score file, and per row group.
const FILE_ROWS: usize = 8 << 20;
const ROW_GROUP: usize = 1 << 17;

/// Scores `dataset` with `definition` (a published version) and writes its four tables.
pub async fn score_dataset(
    catalog: &Resources,
    snapshot: &Snapshot,
    dataset: &str,
    definition: &Definition,
    options: &GroupOptions,
    progress: &dyn Progress,
) -> Result<ScoreRun> {
    let version = definition.version.ok_or_else(|| {
        CatalogError::State(format!(
            "tag group '{}' has no published version to score",
            definition.group
        ))
    })?;
    let manifest = Arc::clone(snapshot.dataset(dataset)?);
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let dir = run_dir(dataset, &definition.group, version, &run_id);
    let mut run = ScoreRun {
        version,
        id: run_id,
        models: BTreeMap::new(),
        tables: BTreeMap::new(),
        scored_at: crate::model::dataset::now(),
    };
    let mut rollup = Rollup::new(*options);

    if let Some(m) = manifest.models.get(&Modality::Visual)
        && !manifest.files(TableKind::Images).is_empty()
    {
        let heads = catalog.heads(definition, Modality::Visual, &m.id, None)?;
        run.models.insert(Modality::Visual, m.id.clone());
        let keys = [
            col::IMAGE_ID,
            col::VIDEO_ID,
            col::KEYFRAME_TIME,
            col::SHOT_ID,
        ];
        let files = manifest.files(TableKind::Images);
        let stage = Stage {
            catalog,
            heads: &heads,
            version,
            progress,
        };
        let visual = stage
            .score_files(
                "scoring keyframes",
                files,
                &keys,
                &dir,
                ScoreTable::Visual,
                |batch, scores| rollup.add_keyframes(batch, scores, heads.tags.len()),
            )
            .await?;
        run.tables.insert(ScoreTable::Visual, visual);
        crate::store::fault::pause("while-scoring").await;
        crate::store::fault::point("crash-while-scoring");
        let shots = shot_times(catalog, manifest.files(TableKind::Shots)).await?;
        let durations = video_durations(catalog, manifest.files(TableKind::Videos)).await?;
        let (shot_batch, video_batch) = rollup.finish(&heads, &shots, &durations, version)?;
        for (kind, batch) in [
            (ScoreTable::Shot, shot_batch),
            (ScoreTable::Video, video_batch),
        ] {
            let mut w = long_writer(
                catalog.store(),
                dir.clone().join(kind.suffix()),
                stored_schema(kind),
            );
            w.write(&batch).await?;
            run.tables.insert(kind, w.finish().await?);
        }
    }

    if let Some(m) = manifest.models.get(&Modality::Transcript)
        && !manifest.files(TableKind::Transcripts).is_empty()
    {
        let heads = catalog.heads(definition, Modality::Transcript, &m.id, None)?;
        run.models.insert(Modality::Transcript, m.id.clone());
        let keys = [col::VIDEO_ID, col::SEGMENT_ID, col::START, col::END];
        let files = manifest.files(TableKind::Transcripts);
        let stage = Stage {
            catalog,
            heads: &heads,
            version,
            progress,
        };
        let transcript = stage
            .score_files(
                "scoring transcripts",
                files,
                &keys,
                &dir,
                ScoreTable::Transcript,
                |_, _| {},
            )
            .await?;
        run.tables.insert(ScoreTable::Transcript, transcript);
    }
    Ok(run)
}

/// What scoring one modality needs.
struct Stage<'a> {
    catalog: &'a Resources,
    heads: &'a CompiledHeads,
    version: u32,
    progress: &'a dyn Progress,
}

impl Stage<'_> {
    /// Streams `files` through the heads and writes their long rows (the `keys` columns of
    /// each row, once per tag) to the `kind` folder of the run; `each` sees every batch
    /// with its scores.
    async fn score_files(
        &self,
        stage: &str,
        files: &[DataFile],
        keys: &[&str],
        dir: &Path,
        kind: ScoreTable,
        mut each: impl FnMut(&RecordBatch, &[f32]),
    ) -> Result<Vec<DataFile>> {
        let mut out = long_writer(
            self.catalog.store(),
            dir.clone().join(kind.suffix()),
            stored_schema(kind),
        );
        self.progress
            .begin(stage, Some(files.iter().map(|f| f.rows).sum()));
        for file in files {
            for batch in batches(self.catalog, file).await?.iter() {
                let scores = score_batch(self.heads, batch)?;
                each(batch, &scores);
                let long = long_rows(batch, keys, self.heads, &scores, self.version, out.schema())?;
                out.write(&long).await?;
                self.progress.advance(batch.num_rows() as u64);
            }
        }
        self.progress.end();
        out.finish().await
    }
}

/// Long-format rows: the `keys` columns of each row repeated once per tag, then tag name,
/// score, group version and model id.
fn long_rows(
    batch: &RecordBatch,
    keys: &[&str],
    heads: &CompiledHeads,
    scores: &[f32],
    version: u32,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let t = heads.tags.len();
    let n = batch.num_rows() * t;
    let repeat = UInt32Array::from_iter_values(
        (0..batch.num_rows() as u32).flat_map(|i| std::iter::repeat_n(i, t)),
    );
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(keys.len() + 4);
    for k in keys {
        let c = batch
            .column_by_name(k)
            .ok_or_else(|| CatalogError::Internal(format!("column {k} missing")))?;
        columns
            .push(take(c.as_ref(), &repeat, None).map_err(|e| CatalogError::engine("scoring", e))?);
    }
    columns.push(Arc::new(StringArray::from_iter_values(
        (0..n).map(|i| heads.tags[i % t].as_str()),
    )));
    columns.push(Arc::new(Float64Array::from_iter_values(
        scores.iter().map(|&s| f64::from(s)),
    )));
    columns.push(Arc::new(Int32Array::from(vec![version as i32; n])));
    columns.push(Arc::new(StringArray::from(vec![heads.model.as_str(); n])));
    RecordBatch::try_new(Arc::clone(schema), columns)
        .map_err(|e| CatalogError::engine("scoring", e))
}

/// The columns of the shot table being built.
#[derive(Default)]
struct ShotRows {
    video: Vec<String>,
    shot: Vec<String>,
    start: Vec<Option<i64>>,
    end: Vec<Option<i64>>,
    tag: Vec<String>,
    score: Vec<f64>,
}

/// Per-shot and per-video roll-up state: running aggregates only (a max, a sum, the `k`
/// best scores), never the keyframe scores themselves.
struct Rollup {
    options: GroupOptions,
    /// (video, shot) → aggregates of its keyframes.
    shots: BTreeMap<(String, String), Acc>,
    /// video → aggregates of its keyframes that belong to no shot.
    videos: BTreeMap<String, Acc>,
}

#[derive(Default, Clone)]
struct Acc {
    max: Vec<f32>,
    sum: Vec<f64>,
    /// Per tag, the best `k` scores (for `top<k>_mean`) — empty otherwise.
    top: Vec<Vec<f32>>,
    /// Per tag, keyframes at or above the coverage minimum.
    above: Vec<u32>,
    count: u32,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
}

impl Acc {
    fn add(&mut self, row: &[f32], time: Option<i64>, options: &GroupOptions) {
        let t = row.len();
        if self.count == 0 {
            self.max = vec![f32::MIN; t];
            self.sum = vec![0.0; t];
            self.above = vec![0; t];
            if matches!(options.shot_aggregation, ShotAggregation::TopKMean { .. }) {
                self.top = vec![Vec::new(); t];
            }
        }
        self.count += 1;
        let min_score = match options.video_aggregation {
            VideoAggregation::Coverage { min_score } => min_score as f32,
            VideoAggregation::Max => f32::INFINITY,
        };
        for (j, &s) in row.iter().enumerate() {
            self.max[j] = self.max[j].max(s);
            self.sum[j] += f64::from(s);
            if s >= min_score {
                self.above[j] += 1;
            }
            if let (ShotAggregation::TopKMean { k }, Some(top)) =
                (options.shot_aggregation, self.top.get_mut(j))
            {
                top.push(s);
                top.sort_by(|a, b| b.total_cmp(a));
                top.truncate(k as usize);
            }
        }
        if let Some(t) = time {
            self.first_ms = Some(self.first_ms.map_or(t, |f| f.min(t)));
            self.last_ms = Some(self.last_ms.map_or(t, |l| l.max(t)));
        }
    }

    fn aggregate(&self, tag: usize, how: ShotAggregation) -> f64 {
        match how {
            ShotAggregation::Max => f64::from(self.max[tag]),
            ShotAggregation::Mean => self.sum[tag] / f64::from(self.count.max(1)),
            ShotAggregation::TopKMean { .. } => {
                let top = &self.top[tag];
                top.iter().map(|&x| f64::from(x)).sum::<f64>() / top.len().max(1) as f64
            }
        }
    }
}

impl Rollup {
    fn new(options: GroupOptions) -> Self {
        Self {
            options,
            shots: BTreeMap::new(),
            videos: BTreeMap::new(),
        }
    }

    fn add_keyframes(&mut self, batch: &RecordBatch, scores: &[f32], tags: usize) {
        let (Some(video), Some(shot), Some(time)) = (
            batch
                .column_by_name(col::VIDEO_ID)
                .map(|c| c.as_string::<i32>()),
            batch
                .column_by_name(col::SHOT_ID)
                .map(|c| c.as_string::<i32>()),
            batch
                .column_by_name(col::KEYFRAME_TIME)
                .map(|c| c.as_primitive::<Int64Type>()),
        ) else {
            return;
        };
        for i in 0..batch.num_rows() {
            if video.is_null(i) {
                continue;
            }
            let row = &scores[i * tags..(i + 1) * tags];
            let t = time.is_valid(i).then(|| time.value(i));
            let acc = if shot.is_valid(i) {
                self.shots
                    .entry((video.value(i).to_string(), shot.value(i).to_string()))
                    .or_default()
            } else {
                self.videos.entry(video.value(i).to_string()).or_default()
            };
            acc.add(row, t, &self.options);
        }
    }

    /// The shot and video tables.
    fn finish(
        self,
        heads: &CompiledHeads,
        shot_times: &HashMap<(String, String), (i64, i64)>,
        durations: &HashMap<String, i64>,
        version: u32,
    ) -> Result<(RecordBatch, RecordBatch)> {
        let options = self.options;
        let t = heads.tags.len();
        let mut s_cols = ShotRows::default();
        // video → per tag: (score, duration) of each unit (a shot, or a shot-less keyframe)
        let mut per_video_tags: BTreeMap<String, Vec<Vec<(f64, i64)>>> = BTreeMap::new();
        for ((video, shot), acc) in &self.shots {
            let (start, end) = match shot_times.get(&(video.clone(), shot.clone())) {
                Some(&(s, e)) => (Some(s), Some(e)),
                None => (acc.first_ms, acc.last_ms),
            };
            let dur = match (start, end) {
                (Some(s), Some(e)) => (e - s).max(1),
                _ => 1,
            };
            let tags_acc = per_video_tags
                .entry(video.clone())
                .or_insert_with(|| vec![Vec::new(); t]);
            for (tag, acc_tag) in tags_acc.iter_mut().enumerate() {
                let score = acc.aggregate(tag, options.shot_aggregation);
                acc_tag.push((score, dur));
                s_cols.video.push(video.clone());
                s_cols.shot.push(shot.clone());
                s_cols.start.push(start);
                s_cols.end.push(end);
                s_cols.tag.push(heads.tags[tag].clone());
                s_cols.score.push(score);
            }
        }
        // Videos without shots roll up their keyframes directly: the best keyframe, or the
        // share of keyframes at or above the coverage minimum.
        let mut shotless: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (video, acc) in &self.videos {
            if per_video_tags.contains_key(video) {
                continue;
            }
            let scores = (0..t)
                .map(|tag| match options.video_aggregation {
                    VideoAggregation::Max => f64::from(acc.max[tag]),
                    VideoAggregation::Coverage { .. } => {
                        f64::from(acc.above[tag]) / f64::from(acc.count.max(1))
                    }
                })
                .collect();
            shotless.insert(video.clone(), scores);
        }
        let n = s_cols.video.len();
        let shots = RecordBatch::try_new(
            stored_schema(ScoreTable::Shot),
            vec![
                Arc::new(StringArray::from(s_cols.video)) as ArrayRef,
                Arc::new(StringArray::from(s_cols.shot)),
                Arc::new(Int64Array::from(s_cols.start)),
                Arc::new(Int64Array::from(s_cols.end)),
                Arc::new(StringArray::from(s_cols.tag)),
                Arc::new(Float64Array::from(s_cols.score)),
                Arc::new(Int32Array::from(vec![version as i32; n])),
                Arc::new(StringArray::from(vec![heads.model.as_str(); n])),
            ],
        )
        .map_err(|e| CatalogError::engine("shot scores", e))?;
        let mut v_cols: (Vec<String>, Vec<String>, Vec<f64>) = Default::default();
        for (video, scores) in &shotless {
            for (tag, score) in scores.iter().enumerate() {
                v_cols.0.push(video.clone());
                v_cols.1.push(heads.tags[tag].clone());
                v_cols.2.push(*score);
            }
        }
        for (video, tags_acc) in &per_video_tags {
            for (tag, units) in tags_acc.iter().enumerate() {
                let score = match options.video_aggregation {
                    VideoAggregation::Max => units.iter().map(|u| u.0).fold(0.0, f64::max),
                    VideoAggregation::Coverage { min_score } => {
                        let covered: i64 =
                            units.iter().filter(|u| u.0 >= min_score).map(|u| u.1).sum();
                        let total: i64 = match durations.get(video) {
                            Some(&d) if d > 0 => d,
                            _ => units.iter().map(|u| u.1).sum(),
                        };
                        (covered as f64 / total.max(1) as f64).min(1.0)
                    }
                };
                v_cols.0.push(video.clone());
                v_cols.1.push(heads.tags[tag].clone());
                v_cols.2.push(score);
            }
        }
        let m = v_cols.0.len();
        let videos = RecordBatch::try_new(
            stored_schema(ScoreTable::Video),
            vec![
                Arc::new(StringArray::from(v_cols.0)) as ArrayRef,
                Arc::new(StringArray::from(v_cols.1)),
                Arc::new(Float64Array::from(v_cols.2)),
                Arc::new(Int32Array::from(vec![version as i32; m])),
                Arc::new(StringArray::from(vec![heads.model.as_str(); m])),
            ],
        )
        .map_err(|e| CatalogError::engine("video scores", e))?;
        Ok((shots, videos))
    }
}

async fn shot_times(
    catalog: &Resources,
    files: &[DataFile],
) -> Result<HashMap<(String, String), (i64, i64)>> {
    let mut out = HashMap::new();
    for f in files {
        for b in read_columns(
            catalog.store(),
            f,
            &[col::VIDEO_ID, col::SHOT_ID, col::START, col::END],
        )
        .await?
        {
            let (v, s, st, en) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_string::<i32>(),
                b.column(2).as_primitive::<Int64Type>(),
                b.column(3).as_primitive::<Int64Type>(),
            );
            for i in 0..b.num_rows() {
                out.insert(
                    (v.value(i).to_string(), s.value(i).to_string()),
                    (st.value(i), en.value(i)),
                );
            }
        }
    }
    Ok(out)
}

async fn video_durations(catalog: &Resources, files: &[DataFile]) -> Result<HashMap<String, i64>> {
    let mut out = HashMap::new();
    for f in files {
        for b in read_columns(catalog.store(), f, &[col::VIDEO_ID, col::DURATION]).await? {
            let (v, d) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_primitive::<Int64Type>(),
            );
            for i in 0..b.num_rows() {
                if d.is_valid(i) {
                    out.insert(v.value(i).to_string(), d.value(i));
                }
            }
        }
    }
    Ok(out)
}

/// A writer of long-format rows into `dir`, files `00000.parquet`, `00001.parquet`, … of at
/// most [`FILE_ROWS`] rows.
fn long_writer(store: &Store, dir: Path, schema: SchemaRef) -> RollingWriter {
    RollingWriter::new(store, schema, FILE_ROWS, ROW_GROUP, move |i| {
        dir.clone().join(format!("{i:05}.parquet"))
    })
}
