//! Time segments of videos: shots, and transcript segments (CSV/Parquet or WebVTT/SRT).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, Int32Array, Int64Array,
    RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Int32Type, Int64Type};

use super::subtitles;
use super::{Progress, Staging, check_new_key, embedding, first_empty, key};
use crate::model::Modality;
use crate::model::dataset::encoding::Encoding;
use crate::model::dataset::schema::{col, embedding_field, embedding_item, table_schema};
use crate::model::dataset::{EmbeddingModel, TableKind};
use crate::store::input::{Format, InputFile, column, display, import_err, io_err};
use crate::{CatalogError, Result};

/// Rows embedded per model run during transcript import.
const EMBED_CHUNK: usize = 256;

struct Segments {
    video: ArrayRef,
    id: ArrayRef,
    start: ArrayRef,
    end: ArrayRef,
}

/// Reads the common columns of a segment batch and checks ids and times.
fn segments(file: &str, batch: &RecordBatch, first: usize, id_col: &str) -> Result<Segments> {
    let video =
        column(file, batch, first, col::VIDEO_ID, &DataType::Utf8, true)?.expect("required");
    let id = column(file, batch, first, id_col, &DataType::Utf8, true)?.expect("required");
    let start = column(file, batch, first, col::START, &DataType::Int64, true)?.expect("required");
    let end = column(file, batch, first, col::END, &DataType::Int64, true)?.expect("required");
    for (a, name) in [(&video, col::VIDEO_ID), (&id, id_col)] {
        if let Some(i) = first_empty(a.as_ref()) {
            return Err(import_err(
                file,
                format!("row {}, column '{name}': empty id", first + i),
            ));
        }
    }
    let (s, e) = (
        start.as_primitive::<Int64Type>(),
        end.as_primitive::<Int64Type>(),
    );
    for i in 0..batch.num_rows() {
        if s.value(i) < 0 {
            return Err(import_err(
                file,
                format!("row {}, column '{}': negative time", first + i, col::START),
            ));
        }
        if e.value(i) < s.value(i) {
            return Err(import_err(
                file,
                format!(
                    "row {}, column '{}': segment ends ({}) before it starts ({})",
                    first + i,
                    col::END,
                    e.value(i),
                    s.value(i)
                ),
            ));
        }
    }
    Ok(Segments {
        video,
        id,
        start,
        end,
    })
}

fn check_keys(
    st: &Staging<'_>,
    file: &str,
    existing: &std::collections::HashSet<String>,
    seen: &mut HashMap<String, usize>,
    seg: &Segments,
    first: usize,
    what: &str,
) -> Result<()> {
    let (v, id) = (seg.video.as_string::<i32>(), seg.id.as_string::<i32>());
    for i in 0..v.len() {
        check_new_key(
            file,
            st.dataset(),
            existing,
            seen,
            key([v.value(i), id.value(i)].into_iter()),
            first + i,
            &format!("{what} '{}' of video '{}'", id.value(i), v.value(i)),
        )?;
    }
    Ok(())
}

fn note_videos(st: &mut Staging<'_>, seg: &Segments) {
    let (v, e) = (
        seg.video.as_string::<i32>(),
        seg.end.as_primitive::<Int64Type>(),
    );
    for i in 0..v.len() {
        st.note_video(v.value(i), Some(e.value(i)));
    }
}

/// Imports shots; `shot_index` defaults to the order of start times within each video.
pub(crate) async fn import_shots(st: &mut Staging<'_>, path: &Path) -> Result<u64> {
    let mut input = InputFile::open(path)?;
    let file = input.name.clone();
    input.require(&[col::VIDEO_ID, col::SHOT_ID, col::START, col::END])?;
    let existing = st.existing_ids(TableKind::Shots).await?.clone();
    let mut seen = HashMap::new();
    let mut all: Vec<RecordBatch> = Vec::new();
    let schema = table_schema(TableKind::Shots, None);
    while let Some(next) = input.next_batch() {
        let (first, batch) = next?;
        let seg = segments(&file, &batch, first, col::SHOT_ID)?;
        check_keys(st, &file, &existing, &mut seen, &seg, first, "shot")?;
        note_videos(st, &seg);
        let index: ArrayRef = match column(
            &file,
            &batch,
            first,
            col::SHOT_INDEX,
            &DataType::Int32,
            false,
        )? {
            Some(a) => Arc::new(Int32Array::from(
                a.as_primitive::<Int32Type>()
                    .iter()
                    .map(|v| v.unwrap_or(-1))
                    .collect::<Vec<_>>(),
            )),
            None => Arc::new(Int32Array::from(vec![-1; batch.num_rows()])),
        };
        all.push(
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![seg.video, seg.id, index, seg.start, seg.end],
            )
            .map_err(|e| import_err(&file, e.to_string()))?,
        );
    }
    let rows: usize = all.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        return Err(import_err(&file, "no rows"));
    }
    let all = number_shots(&schema, all).map_err(|e| import_err(&file, e.to_string()))?;
    let mut w = st.writer(TableKind::Shots, schema)?;
    st.write(&mut w, &all).await?;
    st.finish(w).await?;
    Ok(rows as u64)
}

/// Fills missing shot indexes (-1) with each shot's rank by start time within its video.
fn number_shots(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    batches: Vec<RecordBatch>,
) -> std::result::Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let all = datafusion::arrow::compute::concat_batches(schema, &batches)?;
    let video = all.column(0).as_string::<i32>();
    let index = all.column(2).as_primitive::<Int32Type>();
    let start = all.column(3).as_primitive::<Int64Type>();
    let mut by_video: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for i in 0..all.num_rows() {
        by_video.entry(video.value(i)).or_default().push(i);
    }
    let mut out: Vec<i32> = index.values().to_vec();
    for rows in by_video.values_mut() {
        rows.sort_by_key(|&i| start.value(i));
        for (rank, &i) in rows.iter().enumerate() {
            if out[i] < 0 {
                out[i] = rank as i32;
            }
        }
    }
    let mut cols = all.columns().to_vec();
    cols[2] = Arc::new(Int32Array::from(out));
    RecordBatch::try_new(Arc::clone(schema), cols)
}

/// Imports transcript segments from CSV/Parquet or one WebVTT/SRT file.
pub(crate) async fn import_transcripts(
    st: &mut Staging<'_>,
    path: &Path,
    model: Option<&str>,
    progress: &dyn Progress,
) -> Result<u64> {
    match Format::of(path)? {
        Format::WebVtt | Format::Srt => import_subtitles(st, path, progress).await,
        _ => import_table(st, path, model, progress).await,
    }
}

async fn import_subtitles(
    st: &mut Staging<'_>,
    path: &Path,
    progress: &dyn Progress,
) -> Result<u64> {
    let file = display(path);
    let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    let cues = subtitles::parse(&file, &text, Format::of(path)? == Format::WebVtt)?;
    let video = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or_else(|| import_err(&file, "cannot take a video id from the file name"))?;
    let n = cues.len();
    let batch = RecordBatch::try_from_iter(vec![
        (
            col::VIDEO_ID,
            Arc::new(StringArray::from(vec![video.as_str(); n])) as ArrayRef,
        ),
        (
            col::SEGMENT_ID,
            Arc::new(StringArray::from(
                cues.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            )),
        ),
        (
            col::START,
            Arc::new(Int64Array::from(
                cues.iter().map(|c| c.start_ms).collect::<Vec<_>>(),
            )),
        ),
        (
            col::END,
            Arc::new(Int64Array::from(
                cues.iter().map(|c| c.end_ms).collect::<Vec<_>>(),
            )),
        ),
        (
            col::TEXT,
            Arc::new(StringArray::from(
                cues.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
            )),
        ),
    ])
    .map_err(|e| import_err(&file, e.to_string()))?;
    write_transcripts(st, &file, vec![(1, batch)], None, progress).await
}

async fn import_table(
    st: &mut Staging<'_>,
    path: &Path,
    model: Option<&str>,
    progress: &dyn Progress,
) -> Result<u64> {
    let mut input = InputFile::open(path)?;
    let file = input.name.clone();
    input.require(&[
        col::VIDEO_ID,
        col::SEGMENT_ID,
        col::START,
        col::END,
        col::TEXT,
    ])?;
    let has_embedding = input.schema.index_of(col::EMBEDDING).is_ok();
    if has_embedding && model.is_none() {
        return Err(import_err(
            &file,
            "the file has embeddings: give the id of the model that made them (--model)",
        ));
    }
    let mut batches = Vec::new();
    while let Some(next) = input.next_batch() {
        batches.push(next?);
    }
    write_transcripts(
        st,
        &file,
        batches,
        if has_embedding { model } else { None },
        progress,
    )
    .await
}

/// Validates, embeds (unless `given_model` says the batches carry embeddings) and writes
/// transcript batches.
async fn write_transcripts(
    st: &mut Staging<'_>,
    file: &str,
    batches: Vec<(usize, RecordBatch)>,
    given_model: Option<&str>,
    progress: &dyn Progress,
) -> Result<u64> {
    let known = st.manifest.models.get(&Modality::Transcript).cloned();
    let model_id = match (given_model, &known) {
        (Some(m), Some(k)) if m != k.id => {
            return Err(import_err(
                file,
                format!(
                    "dataset '{}' holds transcript embeddings of model '{}', not '{m}'",
                    st.dataset(),
                    k.id
                ),
            ));
        }
        (Some(m), _) => m.to_string(),
        (None, Some(k)) => k.id.clone(),
        (None, None) => st.catalog.models().default_id().to_string(),
    };
    let existing = st.existing_ids(TableKind::Transcripts).await?.clone();
    let mut seen = HashMap::new();
    let total: usize = batches.iter().map(|(_, b)| b.num_rows()).sum();
    if total == 0 {
        return Err(import_err(file, "no rows"));
    }
    let encoder = if given_model.is_none() {
        Some(st.catalog.model(&model_id)?.text()?)
    } else {
        None
    };
    let mut dim = known.as_ref().map(|k| k.dimension);
    let mut writer = None;
    progress.begin(&format!("embedding {file}"), Some(total as u64));
    for (first, batch) in batches {
        let seg = segments(file, &batch, first, col::SEGMENT_ID)?;
        check_keys(st, file, &existing, &mut seen, &seg, first, "segment")?;
        let text =
            column(file, &batch, first, col::TEXT, &DataType::Utf8, true)?.expect("required");
        let emb = match &encoder {
            Some(enc) => {
                let t = text.as_string::<i32>();
                let mut values = Vec::with_capacity(t.len() * enc.dim());
                for start in (0..t.len()).step_by(EMBED_CHUNK) {
                    let chunk: Vec<&str> = (start..(start + EMBED_CHUNK).min(t.len()))
                        .map(|i| t.value(i))
                        .collect();
                    values.extend(enc.embed(&chunk)?.into_vec());
                    progress.advance(chunk.len() as u64);
                }
                if let Some(d) = dim
                    && d != enc.dim()
                {
                    return Err(CatalogError::State(format!(
                        "model '{model_id}' makes {}-d embeddings but dataset '{}' holds {d}-d transcript embeddings",
                        enc.dim(),
                        st.dataset()
                    )));
                }
                FixedSizeListArray::try_new(
                    embedding_item(),
                    enc.dim() as i32,
                    Arc::new(Float32Array::from(values)),
                    None,
                )
                .map_err(|e| import_err(file, e.to_string()))?
            }
            None => {
                let raw = batch.column(batch.schema().index_of(col::EMBEDDING).expect("checked"));
                let (e, _) = embedding::normalise(file, raw, first, col::EMBEDDING, dim)?;
                progress.advance(batch.num_rows() as u64);
                e
            }
        };
        let d = emb.value_length() as usize;
        dim = Some(d);
        note_videos(st, &seg);
        let schema = table_schema(
            TableKind::Transcripts,
            Some(embedding_field(
                &model_id,
                Modality::Transcript.as_str(),
                d,
                Encoding::Float32,
            )),
        );
        let out = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                seg.video,
                seg.id,
                seg.start,
                seg.end,
                text,
                Arc::new(emb) as ArrayRef,
            ],
        )
        .map_err(|e| import_err(file, e.to_string()))?;
        if writer.is_none() {
            writer = Some(st.writer(TableKind::Transcripts, schema)?);
        }
        let w = writer.as_mut().expect("opened above");
        st.write(w, &out).await?;
    }
    progress.end();
    if let Some(w) = writer {
        st.finish(w).await?;
    }
    st.manifest.models.insert(
        Modality::Transcript,
        EmbeddingModel {
            id: model_id,
            dimension: dim.expect("rows were read"),
            encoding: st.encoding(Modality::Transcript)?,
        },
    );
    Ok(total as u64)
}
