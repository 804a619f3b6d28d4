//! The videos table: one row per video, rewritten whole by every import that mentions a
//! video. A video seen only through its keyframes, shots or transcripts gets a row whose
//! duration is the latest time seen, until a listing gives its path and duration.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};

use super::Staging;
use crate::Result;
use crate::model::dataset::schema::{col, table_schema};
use crate::model::dataset::{TableKind, new_file_path};
use crate::store::input::{InputFile, column, import_err};
use crate::store::parquet::read_columns;
use crate::store::parquet::write_file;

#[derive(Debug, Clone, Default)]
struct Video {
    path: Option<String>,
    duration: Option<i64>,
    /// Set by a listing: its duration is not overridden by times seen.
    listed: bool,
}

/// Imports a listing of videos (`coactive_video_id`, optional `path`, `duration_ms`).
pub(crate) async fn import_listing(st: &mut Staging<'_>, path: &Path) -> Result<u64> {
    let mut input = InputFile::open(path)?;
    let file = input.name.clone();
    input.require(&[col::VIDEO_ID])?;
    let mut rows = 0;
    let mut listed = BTreeMap::new();
    while let Some(next) = input.next_batch() {
        let (first, batch) = next?;
        let ids =
            column(&file, &batch, first, col::VIDEO_ID, &DataType::Utf8, true)?.expect("required");
        let paths = column(&file, &batch, first, col::PATH, &DataType::Utf8, false)?;
        let durations = column(&file, &batch, first, col::DURATION, &DataType::Int64, false)?;
        let ids = ids.as_string::<i32>();
        for i in 0..ids.len() {
            let v = Video {
                path: paths.as_ref().and_then(|p| {
                    p.is_valid(i)
                        .then(|| p.as_string::<i32>().value(i).to_string())
                }),
                duration: durations.as_ref().and_then(|d| {
                    d.is_valid(i)
                        .then(|| d.as_primitive::<Int64Type>().value(i))
                }),
                listed: true,
            };
            if listed.insert(ids.value(i).to_string(), v).is_some() {
                return Err(import_err(
                    &file,
                    format!("row {}: duplicate video id '{}'", first + i, ids.value(i)),
                ));
            }
            rows += 1;
        }
    }
    for (id, v) in listed {
        st.listed.insert(id, (v.path, v.duration));
    }
    Ok(rows)
}

/// Rewrites the videos table if this import mentioned any video.
pub(crate) async fn rewrite(st: &mut Staging<'_>) -> Result<()> {
    if st.video_refs.is_empty() && st.listed.is_empty() {
        return Ok(());
    }
    let mut videos: BTreeMap<String, Video> = BTreeMap::new();
    for f in st.manifest.files(TableKind::Videos).to_vec() {
        for b in read_columns(
            st.catalog.store(),
            &f,
            &[col::VIDEO_ID, col::PATH, col::DURATION],
        )
        .await?
        {
            let (id, p, d) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_string::<i32>(),
                b.column(2).as_primitive::<Int64Type>(),
            );
            for i in 0..b.num_rows() {
                videos.insert(
                    id.value(i).to_string(),
                    Video {
                        path: p.is_valid(i).then(|| p.value(i).to_string()),
                        duration: d.is_valid(i).then(|| d.value(i)),
                        listed: p.is_valid(i),
                    },
                );
            }
        }
    }
    for (id, t) in std::mem::take(&mut st.video_refs) {
        let v = videos.entry(id).or_default();
        if !v.listed {
            v.duration = Some(v.duration.unwrap_or(0).max(t));
        }
    }
    for (id, (path, duration)) in std::mem::take(&mut st.listed) {
        let v = videos.entry(id).or_default();
        v.path = path.or(v.path.take());
        v.duration = duration.or(v.duration);
        v.listed = true;
    }
    let schema = table_schema(TableKind::Videos, None);
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(
                videos.keys().map(String::as_str).collect::<Vec<_>>(),
            )) as ArrayRef,
            Arc::new(StringArray::from(
                videos
                    .values()
                    .map(|v| v.path.as_deref())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                videos.values().map(|v| v.duration).collect::<Vec<_>>(),
            )),
        ],
    )
    .map_err(|e| crate::CatalogError::engine("videos", e))?;
    let path = new_file_path(st.dataset(), TableKind::Videos);
    st.written.push(path.clone());
    let file = write_file(st.catalog.store(), path, schema, &[batch]).await?;
    st.manifest.tables.insert(TableKind::Videos, vec![file]);
    Ok(())
}
