//! Scoring on a cluster: a scoring job ([`ScoreJob`]) runs as a query whose table is the
//! job itself ([`ScoreJobTable`]). The scheduler plans it as one in-memory partition per
//! part of the job under a [`ScorePartsExec`], so each task scores one part (Ballista
//! hands each task its partition of an in-memory scan): it writes the part's score files
//! under the run's folder on the store and answers the files it wrote and the part's
//! roll-up into shots and videos as Arrow, in pieces. The process that queued the job
//! ([`ClusterScoring`]) merges the roll-ups, writes the shot and video tables and makes the
//! one commit that shows the run (`dyntag_core::service::jobs`); a failed task fails the
//! job, whose files are then never named by a commit.

use std::fmt;
use std::io::Cursor;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, AsArray, LargeBinaryArray, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DFResult};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr,
    PlanProperties, ReplaceChildrenOptions, SendableRecordBatchStream,
};
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};

use dyntag_core::Modality;
use dyntag_core::model::dataset::DataFile;
use dyntag_core::scoring::materialize::{PartScores, ScoreJob, ScoreParts, score_part};
use dyntag_core::scoring::rollup::Rollup;
use dyntag_core::store::progress::{NoProgress, Progress};
use dyntag_core::{Catalog, CatalogError};

/// The rows a part of a job is cut to by default: 8 of the 65,536-row files an import
/// writes, so that a dataset of a few million keyframes makes more parts than a small
/// cluster has task slots.
pub const DEFAULT_PART_ROWS: u64 = 8 * 65_536;

/// The start of a scoring job's bytes (as a table or as its plan node).
const JOB_MAGIC: &[u8] = b"dyntag-score-job:";
const PARTS_MAGIC: &[u8] = b"dyntag-score-parts:";

/// Scoring jobs' parts run as tasks of a cluster.
pub struct ClusterScoring {
    /// A session executing on the cluster.
    ctx: SessionContext,
    catalog: Arc<Catalog>,
    part_rows: u64,
}

/// The rows a part of a job is cut to: `DYNTAG_SCORE_PART_ROWS`, else
/// [`DEFAULT_PART_ROWS`].
pub fn part_rows() -> u64 {
    std::env::var("DYNTAG_SCORE_PART_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_PART_ROWS)
}

impl ClusterScoring {
    /// Scoring on the cluster whose scheduler is `scheduler` (`df://host:port`), parts of
    /// [`part_rows`] rows.
    pub fn connect(
        scheduler: &str,
        catalog: &Arc<Catalog>,
    ) -> crate::error::Result<Arc<dyn ScoreParts>> {
        let ctx = super::upgrade(&SessionContext::new(), scheduler, catalog)?;
        Ok(Arc::new(Self::new(ctx, Arc::clone(catalog), part_rows())))
    }

    /// Scoring on the cluster `ctx` executes on (see `cluster::upgrade`), parts of
    /// `part_rows` rows.
    pub fn new(ctx: SessionContext, catalog: Arc<Catalog>, part_rows: u64) -> Self {
        Self {
            ctx,
            catalog,
            part_rows: part_rows.max(1),
        }
    }
}

#[async_trait]
impl ScoreParts for ClusterScoring {
    fn part_rows(&self) -> u64 {
        self.part_rows
    }

    async fn score(
        &self,
        job: &ScoreJob,
        progress: &dyn Progress,
    ) -> dyntag_core::Result<Vec<PartScores>> {
        let failed = |e: DataFusionError| {
            let text = e.to_string();
            CatalogError::Upstream(format!(
                "scoring on the cluster: {}",
                text.lines().next().unwrap_or_default()
            ))
        };
        if job.parts.is_empty() {
            // Nothing to score: a stage of no tasks would never end.
            return Ok(Vec::new());
        }
        let table = ScoreJobTable::new(Arc::new(job.clone()), Arc::clone(&self.catalog));
        let frame = self.ctx.read_table(Arc::new(table)).map_err(failed)?;
        let mut stream = frame.execute_stream().await.map_err(failed)?;
        let mut files: Vec<Option<Vec<DataFile>>> = job.parts.iter().map(|_| None).collect();
        // The parts' roll-ups, merged as their pieces arrive.
        let mut rollup = Rollup::new(job.options);
        progress.begin(
            "scoring on the cluster",
            Some(job.parts.iter().map(|p| p.rows()).sum()),
        );
        while let Some(batch) = stream.try_next().await.map_err(failed)? {
            for answer in answers(job, &batch)? {
                match answer {
                    Answer::Files(index, written) => {
                        progress.advance(job.parts[index].rows());
                        files[index] = Some(written);
                    }
                    Answer::Rollup(piece) => rollup.merge(piece),
                }
            }
        }
        progress.end();
        // The merged roll-up goes with the first keyframe part (`score_dataset` merges the
        // parts' roll-ups: one carrying them all is the same).
        let mut rollup = Some(rollup);
        files
            .into_iter()
            .enumerate()
            .map(|(i, written)| {
                let files = written.ok_or_else(|| {
                    CatalogError::Upstream(format!(
                        "the cluster answered no scores for part {i} of the job"
                    ))
                })?;
                let rollup = match job.parts[i].modality {
                    Modality::Visual => rollup.take(),
                    Modality::Transcript => None,
                };
                Ok(PartScores { files, rollup })
            })
            .collect()
    }
}

/// The columns of a scoring job's answer: per part, a row naming the files it wrote, then
/// rows of pieces of its roll-up, each an Arrow IPC stream of at most about
/// [`ROLLUP_PIECE_BYTES`] (one answer batch per row: a batch travels as one gRPC message,
/// of at most 16 MiB by default).
fn answer_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("part", DataType::UInt32, false),
        Field::new("files", DataType::Utf8, true),
        Field::new("rollup", DataType::LargeBinary, true),
    ]))
}

/// The size a piece of a roll-up is cut to.
const ROLLUP_PIECE_BYTES: usize = 4 << 20;

/// One row of a scoring job's answer.
enum Answer {
    /// The files part `.0` wrote.
    Files(usize, Vec<DataFile>),
    /// A piece of a part's roll-up.
    Rollup(Rollup),
}

/// The rows of `batch`, read.
fn answers(job: &ScoreJob, batch: &RecordBatch) -> dyntag_core::Result<Vec<Answer>> {
    let bad = |what: String| CatalogError::Internal(format!("a scoring task's answer: {what}"));
    if batch.schema().fields() != answer_schema().fields() {
        return Err(bad(format!("columns {:?}", batch.schema().fields())));
    }
    let parts = batch.column(0).as_primitive::<UInt32Type>();
    let files = batch.column(1).as_string::<i32>();
    let rollups = batch.column(2).as_binary::<i64>();
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let index = parts.value(i) as usize;
        if index >= job.parts.len() {
            return Err(bad(format!("part {index} of {}", job.parts.len())));
        }
        if files.is_valid(i) {
            let written: Vec<DataFile> =
                serde_json::from_str(files.value(i)).map_err(|e| bad(format!("files: {e}")))?;
            out.push(Answer::Files(index, written));
        }
        if rollups.is_valid(i) {
            let reader = StreamReader::try_new(Cursor::new(rollups.value(i)), None)
                .map_err(|e| bad(format!("roll-up: {e}")))?;
            for b in reader {
                let b = b.map_err(|e| bad(format!("roll-up: {e}")))?;
                out.push(Answer::Rollup(Rollup::from_batch(job.options, &b)?));
            }
        }
    }
    Ok(out)
}

/// A scoring job as a table: scanning it scores the job's parts.
#[derive(Debug)]
pub struct ScoreJobTable {
    job: Arc<ScoreJob>,
    catalog: Arc<Catalog>,
}

impl ScoreJobTable {
    pub fn new(job: Arc<ScoreJob>, catalog: Arc<Catalog>) -> Self {
        Self { job, catalog }
    }
}

#[async_trait]
impl TableProvider for ScoreJobTable {
    fn schema(&self) -> SchemaRef {
        answer_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        // One partition per part, holding the part's number.
        let schema = Arc::new(Schema::new(vec![Field::new(
            "part",
            DataType::UInt32,
            false,
        )]));
        let partitions = (0..self.job.parts.len() as u32)
            .map(|i| {
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![Arc::new(UInt32Array::from(vec![i]))],
                )
                .map(|b| vec![b])
            })
            .collect::<Result<Vec<_>, _>>()?;
        let input = MemorySourceConfig::try_new_exec(&partitions, schema, None)?;
        Ok(Arc::new(ScorePartsExec::new(
            Arc::clone(&self.job),
            input,
            Arc::clone(&self.catalog),
        )))
    }
}

/// Scores the parts its input names (one partition, one part): writes their score files
/// and answers one row per part.
#[derive(Debug)]
pub struct ScorePartsExec {
    job: Arc<ScoreJob>,
    input: Arc<dyn ExecutionPlan>,
    catalog: Arc<Catalog>,
    properties: Arc<PlanProperties>,
}

impl ScorePartsExec {
    pub fn new(job: Arc<ScoreJob>, input: Arc<dyn ExecutionPlan>, catalog: Arc<Catalog>) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(answer_schema()),
            input.properties().output_partitioning().clone(),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Self {
            job,
            input,
            catalog,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for ScorePartsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ScorePartsExec: {} v{} on {}, {} parts",
            self.job.group,
            self.job.version,
            self.job.dataset,
            self.job.parts.len()
        )
    }
}

impl ExecutionPlan for ScorePartsExec {
    fn name(&self) -> &'static str {
        "ScorePartsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        // Each part is one partition already; spreading them again buys nothing.
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DFResult<TreeNodeRecursion>,
    ) -> DFResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(
                "ScorePartsExec has one child".to_string(),
            ));
        }
        Ok(Arc::new(Self::new(
            Arc::clone(&self.job),
            children.remove(0),
            Arc::clone(&self.catalog),
        )))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let (job, catalog) = (Arc::clone(&self.job), Arc::clone(&self.catalog));
        let answer = futures::stream::once(async move {
            let batches: Vec<RecordBatch> = input.try_collect().await?;
            let mut rows = Vec::new();
            for batch in &batches {
                let parts = batch.column(0).as_primitive::<UInt32Type>();
                for index in parts.values().iter().copied() {
                    rows.extend(
                        score_one(&catalog, &job, index as usize)
                            .await
                            .map_err(|e| DataFusionError::External(Box::new(e)))?,
                    );
                }
            }
            Ok::<_, DataFusionError>(futures::stream::iter(rows.into_iter().map(Ok)))
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            answer_schema(),
            answer.boxed(),
        )))
    }
}

/// Scores part `index` of `job` here; its answer batches (see [`answer_schema`]). The
/// files are named by the part and a fresh id, so a task run again never writes over the
/// files of an earlier attempt that another process may have answered.
async fn score_one(
    catalog: &Arc<Catalog>,
    job: &ScoreJob,
    index: usize,
) -> dyntag_core::Result<Vec<RecordBatch>> {
    let attempt = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let prefix = format!("part{index:05}-{attempt}-");
    let started = std::time::Instant::now();
    let scores = score_part(catalog, job, index, &prefix, &NoProgress).await?;
    tracing::info!(
        group = %job.group,
        version = job.version,
        dataset = %job.dataset,
        rows = job.parts[index].rows(),
        secs = started.elapsed().as_secs_f64(),
        "scored part {index} of {}",
        job.parts.len()
    );
    answer_rows(index, &scores, ROLLUP_PIECE_BYTES)
}

/// The answer batches of part `index`: a row naming its files, then its roll-up in pieces
/// of about `piece_bytes` each.
fn answer_rows(
    index: usize,
    scores: &PartScores,
    piece_bytes: usize,
) -> dyntag_core::Result<Vec<RecordBatch>> {
    let engine = |e| CatalogError::engine("a scoring task's answer", e);
    let row = |files: Option<String>, rollup: Option<Vec<u8>>| {
        RecordBatch::try_new(
            answer_schema(),
            vec![
                Arc::new(UInt32Array::from(vec![index as u32])),
                Arc::new(StringArray::from(vec![files])),
                Arc::new(LargeBinaryArray::from(vec![rollup.as_deref()])),
            ],
        )
        .map_err(engine)
    };
    let files = serde_json::to_string(&scores.files)
        .map_err(|e| CatalogError::Internal(format!("score files: {e}")))?;
    let mut out = vec![row(Some(files), None)?];
    if let Some(rollup) = scores.rollup.as_ref().filter(|r| !r.is_empty()) {
        let whole = rollup.to_batch()?;
        let per_row = whole.get_array_memory_size() / whole.num_rows().max(1);
        let step = (piece_bytes / per_row.max(1)).max(1);
        for start in (0..whole.num_rows()).step_by(step) {
            let piece = whole.slice(start, step.min(whole.num_rows() - start));
            let mut bytes = Vec::new();
            let mut w = StreamWriter::try_new(&mut bytes, &piece.schema()).map_err(engine)?;
            w.write(&piece).and_then(|_| w.finish()).map_err(engine)?;
            drop(w);
            out.push(row(None, Some(bytes))?);
        }
    }
    Ok(out)
}

/// Writes `table` into `buf` if it is a scoring job.
pub fn encode_table(table: &dyn TableProvider, buf: &mut Vec<u8>) -> DFResult<bool> {
    let Some(table) = table.downcast_ref::<ScoreJobTable>() else {
        return Ok(false);
    };
    write_job(buf, JOB_MAGIC, &table.job)?;
    Ok(true)
}

/// The scoring job `buf` stands for, over `catalog`; `None` if the bytes are not one.
pub fn decode_table(
    buf: &[u8],
    catalog: &Arc<Catalog>,
) -> DFResult<Option<Arc<dyn TableProvider>>> {
    Ok(read_job(buf, JOB_MAGIC)?
        .map(|job| Arc::new(ScoreJobTable::new(Arc::new(job), Arc::clone(catalog))) as _))
}

/// Writes `plan` into `buf` if it is a [`ScorePartsExec`] (its input travels as a child).
pub fn encode_plan(plan: &dyn ExecutionPlan, buf: &mut Vec<u8>) -> DFResult<bool> {
    let Some(plan) = plan.downcast_ref::<ScorePartsExec>() else {
        return Ok(false);
    };
    write_job(buf, PARTS_MAGIC, &plan.job)?;
    Ok(true)
}

/// The [`ScorePartsExec`] `buf` stands for, over `inputs` and `catalog`; `None` if the
/// bytes are not one.
pub fn decode_plan(
    buf: &[u8],
    inputs: &[Arc<dyn ExecutionPlan>],
    catalog: &Arc<Catalog>,
) -> DFResult<Option<Arc<dyn ExecutionPlan>>> {
    let Some(job) = read_job(buf, PARTS_MAGIC)? else {
        return Ok(None);
    };
    match inputs {
        [input] => Ok(Some(Arc::new(ScorePartsExec::new(
            Arc::new(job),
            Arc::clone(input),
            Arc::clone(catalog),
        )))),
        _ => Err(DataFusionError::Internal(format!(
            "a scoring job's plan node has one input, not {}",
            inputs.len()
        ))),
    }
}

fn write_job(buf: &mut Vec<u8>, magic: &[u8], job: &ScoreJob) -> DFResult<()> {
    buf.extend_from_slice(magic);
    serde_json::to_writer(&mut *buf, job)
        .map_err(|e| DataFusionError::Internal(format!("scoring job bytes: {e}")))
}

/// The job in `buf` after `magic`. Its files go under the store's `scores/` folder only:
/// the run folders score files live in.
fn read_job(buf: &[u8], magic: &[u8]) -> DFResult<Option<ScoreJob>> {
    let Some(json) = buf.strip_prefix(magic) else {
        return Ok(None);
    };
    let job: ScoreJob = serde_json::from_slice(json)
        .map_err(|e| DataFusionError::Internal(format!("scoring job bytes: {e}")))?;
    let dir = object_store::path::Path::from(job.dir.as_str());
    let mut parts = dir.parts();
    if parts.next().is_none_or(|p| p.as_ref() != "scores") || parts.next().is_none() {
        return Err(DataFusionError::Plan(format!(
            "a scoring job writes under scores/, not {}",
            job.dir
        )));
    }
    Ok(Some(job))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(dir: &str) -> ScoreJob {
        ScoreJob {
            dataset: "d".into(),
            group: "g".into(),
            version: 2,
            tags: Vec::new(),
            options: Default::default(),
            dir: dir.into(),
            parts: Vec::new(),
        }
    }

    #[test]
    fn a_roll_up_cut_into_pieces_is_read_back_whole() {
        use datafusion::arrow::array::{ArrayRef, Int64Array};

        let options = Default::default();
        let mut rollup = Rollup::new(options);
        let n = 50;
        let schema = Arc::new(Schema::new(vec![
            Field::new("coactive_video_id", DataType::Utf8, true),
            Field::new("shot_id", DataType::Utf8, true),
            Field::new("keyframe_time_ms", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("v{}", i % 4)),
                )) as ArrayRef,
                Arc::new(StringArray::from_iter(
                    (0..n).map(|i| (i % 5 > 0).then(|| format!("s{}", i / 3))),
                )),
                Arc::new(Int64Array::from_iter_values((0..n).map(|i| i as i64 * 100))),
            ],
        )
        .unwrap();
        let scores: Vec<f32> = (0..n * 2).map(|i| (i % 17) as f32 / 16.0).collect();
        rollup.add_keyframes(&batch, &scores, 2);
        let whole = rollup.to_batch().unwrap();
        let scores = PartScores {
            files: vec![DataFile {
                path: "scores/d/g/v1-x/visual/part00003-a-00000.parquet".into(),
                rows: 100,
                bytes: 1,
            }],
            rollup: Some(rollup),
        };
        let mut job = job("scores/d/g/v1-x");
        job.parts = (0..4)
            .map(|_| dyntag_core::scoring::materialize::ScorePart {
                modality: Modality::Visual,
                model: "m".into(),
                files: Vec::new(),
            })
            .collect();

        // Pieces of one row each: the roll-up's rows after the files' row, merged back whole.
        let rows = answer_rows(3, &scores, 1).unwrap();
        assert_eq!(rows.len(), 1 + whole.num_rows());
        let mut merged = Rollup::new(options);
        let mut named = Vec::new();
        for batch in &rows {
            for answer in answers(&job, batch).unwrap() {
                match answer {
                    Answer::Files(index, files) => named.push((index, files)),
                    Answer::Rollup(piece) => merged.merge(piece),
                }
            }
        }
        assert_eq!(named, vec![(3, scores.files.clone())]);
        assert_eq!(merged.to_batch().unwrap(), whole);
        // One piece when it fits.
        assert_eq!(answer_rows(3, &scores, 1 << 20).unwrap().len(), 2);
        // A part number outside the job is refused.
        job.parts.truncate(3);
        assert!(answers(&job, &rows[0]).is_err());
    }

    #[test]
    fn a_job_travels_and_writes_only_under_scores() {
        let mut buf = Vec::new();
        write_job(&mut buf, JOB_MAGIC, &job("scores/d/g/v2-abc")).unwrap();
        assert_eq!(
            read_job(&buf, JOB_MAGIC).unwrap(),
            Some(job("scores/d/g/v2-abc"))
        );
        assert_eq!(read_job(&buf, PARTS_MAGIC).unwrap(), None);
        for outside in ["datasets/d", "scores", "", "users/x"] {
            let mut buf = Vec::new();
            write_job(&mut buf, JOB_MAGIC, &job(outside)).unwrap();
            let err = read_job(&buf, JOB_MAGIC).unwrap_err().to_string();
            assert!(err.contains("writes under scores/"), "{outside}: {err}");
        }
        assert!(read_job(b"dyntag-score-job:{", JOB_MAGIC).is_err());
    }
}
