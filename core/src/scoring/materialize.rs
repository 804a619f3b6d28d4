//! Materialising the `dt_` tables of a group version on a dataset.
//!
//! Keyframes and transcript segments stream through the scoring kernel batch by batch and
//! their long-format rows are written as they are produced; only the roll-up state (per
//! shot and per video, per tag: [`Rollup`]) is kept in memory. A job is cut into parts
//! ([`ScoreJob`]), scored by as many tasks at once as this process has cores
//! ([`LocalParts`]) or by a cluster's tasks ([`ScoreParts`]), their roll-ups merged here. All files go to a fresh run folder and
//! become visible only when the caller commits the returned [`ScoreRun`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int32Array, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use object_store::path::Path;

use super::Resources;
use serde::{Deserialize, Serialize};

use super::head::CompiledHeads;
use super::rollup::Rollup;
use super::scan::{batches, score_batch};
use super::schema::stored_schema;
use crate::model::Modality;
use crate::model::applications::{ScoreRun, ScoreTable, run_dir};
use crate::model::dataset::schema::col;
use crate::model::dataset::{DataFile, TableKind};
use crate::model::snapshot::{Definition, Snapshot};
use crate::model::tags::{GroupOptions, VersionTag};
use crate::store::Store;
use crate::store::parquet::{RollingWriter, read_columns};
use crate::store::progress::{NoProgress, Progress};
use crate::{CatalogError, Result};

/// Long-format rows per score file, and per row group.
const FILE_ROWS: usize = 8 << 20;
const ROW_GROUP: usize = 1 << 17;

/// Scores `dataset` with `definition` (a published version) and writes its four tables:
/// the parts of the job are scored by `scorer` (here, [`LocalParts`], or a cluster's
/// executors), then this process writes the shot and video tables from the parts'
/// roll-ups. Nothing is visible until the caller commits the returned [`ScoreRun`].
pub async fn score_dataset(
    catalog: &Resources,
    snapshot: &Snapshot,
    dataset: &str,
    definition: &Definition,
    options: &GroupOptions,
    scorer: &dyn ScoreParts,
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
    let mut job = ScoreJob {
        dataset: dataset.to_string(),
        group: definition.group.clone(),
        version,
        tags: definition.tags.clone(),
        options: *options,
        dir: dir.to_string(),
        parts: Vec::new(),
    };
    for (modality, kind) in [
        (Modality::Visual, TableKind::Images),
        (Modality::Transcript, TableKind::Transcripts),
    ] {
        if let Some(m) = manifest.models.get(&modality)
            && !manifest.files(kind).is_empty()
        {
            job.parts.push(ScorePart {
                modality,
                model: m.id.clone(),
                files: manifest.files(kind).to_vec(),
            });
        }
    }
    let job = job.in_parts_of(scorer.part_rows());
    let scored = scorer.score(&job, progress).await?;
    if scored.len() != job.parts.len() {
        return Err(CatalogError::Internal(format!(
            "{} of the {} parts of the scoring job came back",
            scored.len(),
            job.parts.len()
        )));
    }

    let mut run = ScoreRun {
        version,
        id: run_id,
        models: BTreeMap::new(),
        tables: BTreeMap::new(),
        scored_at: crate::model::dataset::now(),
    };
    let mut rollup = Rollup::new(*options);
    for (part, scores) in job.parts.iter().zip(scored) {
        run.models.insert(part.modality, part.model.clone());
        run.tables
            .entry(part.table())
            .or_default()
            .extend(scores.files);
        if let Some(r) = scores.rollup {
            rollup.merge(r);
        }
    }
    crate::store::fault::pause("while-scoring").await;
    crate::store::fault::point("crash-while-scoring");
    if let Some(model) = run.models.get(&Modality::Visual) {
        let heads = catalog.heads(definition, Modality::Visual, model, None)?;
        let shots = shot_times(catalog, manifest.files(TableKind::Shots)).await?;
        let durations = video_durations(catalog, manifest.files(TableKind::Videos)).await?;
        let (shot_batch, video_batch) = rollup.finish(&heads, &shots, &durations, version)?;
        for (kind, batch) in [
            (ScoreTable::Shot, shot_batch),
            (ScoreTable::Video, video_batch),
        ] {
            let mut w = long_writer(catalog.store(), &dir, kind, "");
            w.write(&batch).await?;
            run.tables.insert(kind, w.finish().await?);
        }
    }
    Ok(run)
}

/// Scoring a group version on a dataset, as parts that can be scored apart: what a
/// cluster's task is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreJob {
    pub dataset: String,
    /// Group slug.
    pub group: String,
    pub version: u32,
    /// The version's tags (what its heads are compiled from).
    pub tags: Vec<VersionTag>,
    pub options: GroupOptions,
    /// The run's folder on the store: every part writes its files under it.
    pub dir: String,
    pub parts: Vec<ScorePart>,
}

/// Data files of one modality, scored by one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorePart {
    pub modality: Modality,
    /// The model the files' embeddings are in.
    pub model: String,
    pub files: Vec<DataFile>,
}

impl ScorePart {
    /// The table its long rows go to.
    fn table(&self) -> ScoreTable {
        match self.modality {
            Modality::Visual => ScoreTable::Visual,
            Modality::Transcript => ScoreTable::Transcript,
        }
    }

    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
}

impl ScoreJob {
    /// The definition its heads are compiled from.
    pub fn definition(&self) -> Definition {
        Definition {
            group: self.group.clone(),
            version: Some(self.version),
            revision: 0,
            tags: self.tags.clone(),
        }
    }

    /// The job with each part cut into parts of whole files of about `rows` rows each
    /// (a file larger than that is a part of its own).
    pub fn in_parts_of(mut self, rows: u64) -> Self {
        let mut parts = Vec::new();
        for part in std::mem::take(&mut self.parts) {
            let mut current = ScorePart {
                files: Vec::new(),
                ..part.clone()
            };
            for file in part.files {
                if !current.files.is_empty() && current.rows() + file.rows > rows {
                    let full = std::mem::take(&mut current.files);
                    parts.push(ScorePart {
                        files: full,
                        ..current.clone()
                    });
                }
                current.files.push(file);
            }
            if !current.files.is_empty() {
                parts.push(current);
            }
        }
        self.parts = parts;
        self
    }
}

/// What scoring one part made: its long-format files and, for keyframes, the roll-up of
/// its rows into shots and videos.
#[derive(Debug)]
pub struct PartScores {
    pub files: Vec<DataFile>,
    pub rollup: Option<Rollup>,
}

/// Who scores the parts of a job: this process ([`LocalParts`]), or a cluster whose tasks
/// each run [`score_part`] on one part.
#[async_trait::async_trait]
pub trait ScoreParts: Send + Sync {
    /// The rows a part is cut to.
    fn part_rows(&self) -> u64;

    /// The scores of each part of `job`, in the order of `job.parts`; an error if any part
    /// failed (its files, and the other parts', are then never committed). The parts'
    /// roll-ups may come merged, carried by one of them: what counts is their merge.
    async fn score(&self, job: &ScoreJob, progress: &dyn Progress) -> Result<Vec<PartScores>>;
}

/// The rows a part is cut to in this process: as on a cluster.
pub const LOCAL_PART_ROWS: u64 = 8 * 65_536;

/// Scores a job's parts in this process, as many at once as it has cores: each part has
/// its own writer, so the score files are encoded in parallel as the scores are computed
/// (one writer, encoding on one thread, held the job to half the speed of two cluster
/// tasks). A part that fails stops the others.
pub struct LocalParts<C> {
    catalog: Arc<C>,
    at_once: usize,
}

impl<C> LocalParts<C> {
    pub fn new(catalog: Arc<C>) -> Self {
        Self {
            catalog,
            at_once: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

#[async_trait::async_trait]
impl<C> ScoreParts for LocalParts<C>
where
    C: std::ops::Deref<Target = Resources> + Send + Sync + 'static,
{
    fn part_rows(&self) -> u64 {
        LOCAL_PART_ROWS
    }

    async fn score(&self, job: &ScoreJob, progress: &dyn Progress) -> Result<Vec<PartScores>> {
        let job = Arc::new(job.clone());
        let permits = Arc::new(tokio::sync::Semaphore::new(self.at_once.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..job.parts.len() {
            let (catalog, job, permits) = (
                Arc::clone(&self.catalog),
                Arc::clone(&job),
                Arc::clone(&permits),
            );
            tasks.spawn(async move {
                let _turn = permits.acquire_owned().await;
                let prefix = format!("part{index:05}-");
                let scores = score_part(&catalog, &job, index, &prefix, &NoProgress).await;
                (index, scores)
            });
        }
        progress.begin("scoring", Some(job.parts.iter().map(|p| p.rows()).sum()));
        let mut out: Vec<Option<PartScores>> = job.parts.iter().map(|_| None).collect();
        while let Some(done) = tasks.join_next().await {
            let (index, scores) =
                done.map_err(|e| CatalogError::Internal(format!("a scoring part: {e}")))?;
            // Returning drops the other tasks, which aborts them.
            out[index] = Some(scores?);
            progress.advance(job.parts[index].rows());
        }
        progress.end();
        Ok(out.into_iter().flatten().collect())
    }
}

/// Scores part `index` of `job` into the folder of its table in the run's folder, files
/// named `prefix` then a number, reporting rows done to `progress`.
pub async fn score_part(
    catalog: &Resources,
    job: &ScoreJob,
    index: usize,
    prefix: &str,
    progress: &dyn Progress,
) -> Result<PartScores> {
    let part = job.parts.get(index).ok_or_else(|| {
        CatalogError::Internal(format!(
            "part {index} of a scoring job of {} parts",
            job.parts.len()
        ))
    })?;
    let heads = catalog.heads(&job.definition(), part.modality, &part.model, None)?;
    let (stage, keys): (&str, &[&str]) = match part.modality {
        Modality::Visual => (
            "scoring keyframes",
            &[
                col::IMAGE_ID,
                col::VIDEO_ID,
                col::KEYFRAME_TIME,
                col::SHOT_ID,
            ],
        ),
        Modality::Transcript => (
            "scoring transcripts",
            &[col::VIDEO_ID, col::SEGMENT_ID, col::START, col::END],
        ),
    };
    let kind = part.table();
    let mut rollup = (part.modality == Modality::Visual).then(|| Rollup::new(job.options));
    let mut out = long_writer(catalog.store(), &Path::from(job.dir.as_str()), kind, prefix);
    progress.begin(stage, Some(part.rows()));
    for file in &part.files {
        for batch in batches(catalog, file).await?.iter() {
            let scores = score_batch(&heads, batch)?;
            if let Some(r) = rollup.as_mut() {
                r.add_keyframes(batch, &scores, heads.tags.len());
            }
            let long = long_rows(batch, keys, &heads, &scores, job.version, out.schema())?;
            out.write(&long).await?;
            progress.advance(batch.num_rows() as u64);
        }
    }
    progress.end();
    Ok(PartScores {
        files: out.finish().await?,
        rollup,
    })
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

/// A writer of the long-format rows of `kind` into its folder of the run's folder `run`,
/// files `<prefix>00000.parquet`, `<prefix>00001.parquet`, … of at most [`FILE_ROWS`] rows.
fn long_writer(store: &Store, run: &Path, kind: ScoreTable, prefix: &str) -> RollingWriter {
    let dir = run.clone().join(kind.suffix());
    let schema = stored_schema(kind);
    let prefix = prefix.to_string();
    RollingWriter::new(store, schema, FILE_ROWS, ROW_GROUP, move |i| {
        dir.clone().join(format!("{prefix}{i:05}.parquet"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(i: usize, rows: u64) -> DataFile {
        DataFile {
            path: format!("f{i}"),
            rows,
            bytes: 0,
        }
    }

    #[test]
    fn a_job_is_cut_into_parts_of_whole_files_in_their_order() {
        let part = |modality, files: Vec<DataFile>| ScorePart {
            modality,
            model: "m".into(),
            files,
        };
        let job = ScoreJob {
            dataset: "d".into(),
            group: "g".into(),
            version: 1,
            tags: Vec::new(),
            options: GroupOptions::default(),
            dir: "scores/d/g/v1-x".into(),
            parts: vec![
                part(
                    Modality::Visual,
                    vec![file(0, 4), file(1, 4), file(2, 10), file(3, 1), file(4, 1)],
                ),
                part(Modality::Transcript, vec![file(5, 3)]),
            ],
        };
        let cut = job.clone().in_parts_of(8);
        let names: Vec<(Modality, Vec<&str>)> = cut
            .parts
            .iter()
            .map(|p| {
                (
                    p.modality,
                    p.files.iter().map(|f| f.path.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                (Modality::Visual, vec!["f0", "f1"]),
                (Modality::Visual, vec!["f2"]),
                (Modality::Visual, vec!["f3", "f4"]),
                (Modality::Transcript, vec!["f5"]),
            ]
        );
        assert_eq!(job.clone().in_parts_of(1).parts.len(), 6);
        assert_eq!(job.clone().in_parts_of(u64::MAX).parts, job.parts);
    }
}
