//! The roll-up of keyframe scores into shots and videos, kept as running aggregates per
//! shot and per video (a max, a sum, the `k` best scores, counts — never the keyframe
//! scores themselves). Roll-ups of disjoint parts of a dataset merge into the roll-up of
//! the whole ([`Rollup::merge`]), so the parts may be scored apart (a cluster's tasks) and
//! travel as Arrow ([`Rollup::to_batch`], [`Rollup::from_batch`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float32Builder, Float64Array, Float64Builder, Int32Array, Int64Array,
    ListArray, ListBuilder, RecordBatch, StringArray, UInt32Array, UInt32Builder,
};
use datafusion::arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, Int64Type, Schema, SchemaRef, UInt32Type,
};

use super::head::CompiledHeads;
use super::schema::stored_schema;
use crate::model::applications::ScoreTable;
use crate::model::dataset::schema::col;
use crate::model::tags::{GroupOptions, ShotAggregation, VideoAggregation};
use crate::{CatalogError, Result};

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
#[derive(Debug)]
pub struct Rollup {
    options: GroupOptions,
    /// (video, shot) → aggregates of its keyframes.
    shots: BTreeMap<(String, String), Acc>,
    /// video → aggregates of its keyframes that belong to no shot.
    videos: BTreeMap<String, Acc>,
}

#[derive(Debug, Default, Clone, PartialEq)]
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

    /// Adds the aggregates of keyframes disjoint from this one's.
    fn merge(&mut self, other: Acc, options: &GroupOptions) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other;
            return;
        }
        for j in 0..self.max.len() {
            self.max[j] = self.max[j].max(other.max[j]);
            self.sum[j] += other.sum[j];
            self.above[j] += other.above[j];
        }
        if let ShotAggregation::TopKMean { k } = options.shot_aggregation {
            for (mine, theirs) in self.top.iter_mut().zip(other.top) {
                mine.extend(theirs);
                mine.sort_by(|a, b| b.total_cmp(a));
                mine.truncate(k as usize);
            }
        }
        self.count += other.count;
        self.first_ms = min_some(self.first_ms, other.first_ms);
        self.last_ms = match (self.last_ms, other.last_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
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

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Rollup {
    pub fn new(options: GroupOptions) -> Self {
        Self {
            options,
            shots: BTreeMap::new(),
            videos: BTreeMap::new(),
        }
    }

    pub fn add_keyframes(&mut self, batch: &RecordBatch, scores: &[f32], tags: usize) {
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

    /// Adds the roll-up of keyframes disjoint from this one's (another part of the dataset).
    pub fn merge(&mut self, other: Rollup) {
        for (key, acc) in other.shots {
            self.shots.entry(key).or_default().merge(acc, &self.options);
        }
        for (key, acc) in other.videos {
            self.videos
                .entry(key)
                .or_default()
                .merge(acc, &self.options);
        }
    }

    /// Shots and shot-less videos rolled up so far.
    pub fn len(&self) -> usize {
        self.shots.len() + self.videos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The running aggregates as rows: one per shot (`shot` set) and per video's shot-less
    /// keyframes (`shot` null), each tag's values in a list.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let n = self.len();
        let mut video = Vec::with_capacity(n);
        let mut shot = Vec::with_capacity(n);
        let mut count = Vec::with_capacity(n);
        let mut first = Vec::with_capacity(n);
        let mut last = Vec::with_capacity(n);
        let mut max = ListBuilder::new(Float32Builder::new());
        let mut sum = ListBuilder::new(Float64Builder::new());
        let mut above = ListBuilder::new(UInt32Builder::new());
        let mut top = ListBuilder::new(ListBuilder::new(Float32Builder::new()));
        let units = (self.shots.iter().map(|((v, s), a)| (v, Some(s), a)))
            .chain(self.videos.iter().map(|(v, a)| (v, None, a)));
        for (v, s, acc) in units {
            video.push(v.as_str());
            shot.push(s.map(String::as_str));
            count.push(acc.count);
            first.push(acc.first_ms);
            last.push(acc.last_ms);
            max.append_value(acc.max.iter().map(|&x| Some(x)));
            sum.append_value(acc.sum.iter().map(|&x| Some(x)));
            above.append_value(acc.above.iter().map(|&x| Some(x)));
            for best in &acc.top {
                top.values().append_value(best.iter().map(|&x| Some(x)));
            }
            top.append(true);
        }
        RecordBatch::try_new(
            rollup_schema(),
            vec![
                Arc::new(StringArray::from(video)) as ArrayRef,
                Arc::new(StringArray::from(shot)),
                Arc::new(UInt32Array::from(count)),
                Arc::new(Int64Array::from(first)),
                Arc::new(Int64Array::from(last)),
                Arc::new(max.finish()),
                Arc::new(sum.finish()),
                Arc::new(above.finish()),
                Arc::new(top.finish()),
            ],
        )
        .map_err(|e| CatalogError::engine("roll-up", e))
    }

    /// The roll-up whose rows [`Rollup::to_batch`] wrote (in `batch`, which may be one of
    /// several: merge them).
    pub fn from_batch(options: GroupOptions, batch: &RecordBatch) -> Result<Self> {
        if batch.schema().fields() != rollup_schema().fields() {
            return Err(CatalogError::Internal(format!(
                "a roll-up has columns {:?}",
                batch.schema().fields()
            )));
        }
        let video = batch.column(0).as_string::<i32>();
        let shot = batch.column(1).as_string::<i32>();
        let count = batch.column(2).as_primitive::<UInt32Type>();
        let first = batch.column(3).as_primitive::<Int64Type>();
        let last = batch.column(4).as_primitive::<Int64Type>();
        let (max, sum, above) = (
            batch.column(5).as_list::<i32>(),
            batch.column(6).as_list::<i32>(),
            batch.column(7).as_list::<i32>(),
        );
        let top: &ListArray = batch.column(8).as_list::<i32>();
        let mut out = Rollup::new(options);
        for i in 0..batch.num_rows() {
            let acc = Acc {
                max: max.value(i).as_primitive::<Float32Type>().values().to_vec(),
                sum: sum.value(i).as_primitive::<Float64Type>().values().to_vec(),
                above: above
                    .value(i)
                    .as_primitive::<UInt32Type>()
                    .values()
                    .to_vec(),
                top: {
                    let per_tag = top.value(i);
                    let per_tag = per_tag.as_list::<i32>();
                    (0..per_tag.len())
                        .map(|j| {
                            per_tag
                                .value(j)
                                .as_primitive::<Float32Type>()
                                .values()
                                .to_vec()
                        })
                        .collect()
                },
                count: count.value(i),
                first_ms: first.is_valid(i).then(|| first.value(i)),
                last_ms: last.is_valid(i).then(|| last.value(i)),
            };
            let v = video.value(i).to_string();
            if shot.is_valid(i) {
                out.shots.insert((v, shot.value(i).to_string()), acc);
            } else {
                out.videos.insert(v, acc);
            }
        }
        Ok(out)
    }

    /// The shot and video tables.
    pub fn finish(
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

/// The columns of [`Rollup::to_batch`].
pub fn rollup_schema() -> SchemaRef {
    let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
    Arc::new(Schema::new(vec![
        Field::new("video_id", DataType::Utf8, false),
        Field::new("shot_id", DataType::Utf8, true),
        Field::new("keyframes", DataType::UInt32, false),
        Field::new("first_ms", DataType::Int64, true),
        Field::new("last_ms", DataType::Int64, true),
        Field::new("max", list(DataType::Float32), false),
        Field::new("sum", list(DataType::Float64), false),
        Field::new("above", list(DataType::UInt32), false),
        Field::new("top", list(list(DataType::Float32)), false),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keyframes `from..to` of three videos: shots of four keyframes in videos 0 and 1,
    /// none in video 2; scores of two tags, multiples of 1/64 (sums exact in any order).
    fn keyframes(from: usize, to: usize) -> (RecordBatch, Vec<f32>) {
        let (mut video, mut shot, mut time, mut scores) = (vec![], vec![], vec![], vec![]);
        for i in from..to {
            let v = i % 3;
            video.push(format!("v{v}"));
            shot.push((v < 2).then(|| format!("s{}", i / 12)));
            time.push((i * 500) as i64);
            scores.extend([((i * 7) % 64) as f32 / 64.0, ((i * 13) % 64) as f32 / 64.0]);
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new(col::VIDEO_ID, DataType::Utf8, true),
            Field::new(col::SHOT_ID, DataType::Utf8, true),
            Field::new(col::KEYFRAME_TIME, DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(video)) as ArrayRef,
                Arc::new(StringArray::from(shot)),
                Arc::new(Int64Array::from(time)),
            ],
        )
        .unwrap();
        (batch, scores)
    }

    #[test]
    fn parts_rolled_up_apart_and_merged_are_the_whole_roll_up() {
        for shot_aggregation in [ShotAggregation::Max, ShotAggregation::TopKMean { k: 3 }] {
            let options = GroupOptions {
                shot_aggregation,
                video_aggregation: VideoAggregation::Coverage { min_score: 0.5 },
            };
            let mut whole = Rollup::new(options);
            let (b, s) = keyframes(0, 60);
            whole.add_keyframes(&b, &s, 2);

            let mut merged = Rollup::new(options);
            // Parts that cut shots in two, each sent as Arrow and read back.
            for (from, to) in [(0, 17), (17, 18), (18, 45), (45, 60)] {
                let mut part = Rollup::new(options);
                let (b, s) = keyframes(from, to);
                part.add_keyframes(&b, &s, 2);
                let sent = part.to_batch().unwrap();
                merged.merge(Rollup::from_batch(options, &sent).unwrap());
            }
            assert!(whole.len() > 3, "{}", whole.len());
            assert_eq!(merged.shots, whole.shots, "{shot_aggregation:?}");
            assert_eq!(merged.videos, whole.videos, "{shot_aggregation:?}");
        }
    }

    #[test]
    fn a_batch_of_other_columns_is_not_a_roll_up() {
        let (b, _) = keyframes(0, 3);
        let err = Rollup::from_batch(GroupOptions::default(), &b).unwrap_err();
        assert!(err.to_string().contains("roll-up"), "{err}");
    }
}
