//! User metadata (e.g. `SeriesName`, `EpisodeName`) keyed by `coactive_video_id` or
//! `coactive_image_id`. A metadata import merges into the table: new ids are added, and
//! for known ids the file's columns replace the stored values. Column types are inferred
//! (whole numbers, decimals, true/false, else text).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch,
    StringArray, TimestampMillisecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;

use super::Staging;
use crate::Result;
use crate::model::dataset::schema::metadata_schema;
use crate::model::dataset::schema::{col, reserved_column};
use crate::model::dataset::{ColumnSpec, TableKind, new_file_path};
use crate::store::input::{InputFile, import_err};
use crate::store::parquet::read_columns;
use crate::store::parquet::write_file;

type Rows = BTreeMap<String, BTreeMap<String, Option<String>>>;

/// Columns that key metadata by media file name: the asset's id is the file's stem, as
/// ingestion of media files gives it.
const FILE_COLUMNS: [&str; 4] = ["path", "file", "file_name", "filename"];

/// Whether a media file name names a video or an image, and its asset id (the stem).
fn media_id(name: &str) -> Option<(TableKind, String)> {
    let p = Path::new(name);
    let ext = p.extension()?.to_string_lossy().to_ascii_lowercase();
    let stem = p.file_stem()?.to_string_lossy().into_owned();
    if super::media::VIDEO_EXTENSIONS.contains(&ext.as_str()) {
        Some((TableKind::VideoMetadata, stem))
    } else if super::media::IMAGE_EXTENSIONS.contains(&ext.as_str()) {
        Some((TableKind::ImageMetadata, stem))
    } else {
        None
    }
}

/// The kind of a file-keyed metadata file: that of its first row's file.
fn file_kind(path: &Path, file: &str, column: &str) -> Result<TableKind> {
    let mut input = InputFile::open(path)?;
    let (_, batch) = input
        .next_batch()
        .ok_or_else(|| import_err(file, "no rows"))??;
    let first = text(&batch, column)?;
    if first.is_empty() || first.is_null(0) {
        return Err(import_err(
            file,
            format!("row 1, column '{column}': missing file name"),
        ));
    }
    let first = first.value(0).trim().to_string();
    media_id(&first).map(|(k, _)| k).ok_or_else(|| {
        import_err(
            file,
            format!(
                "row 1, column '{column}': '{first}' is neither an image ({}) nor a video ({})",
                super::media::IMAGE_EXTENSIONS.join(", "),
                super::media::VIDEO_EXTENSIONS.join(", ")
            ),
        )
    })
}

/// Imports a metadata file; returns the rows in it.
pub(crate) async fn import(st: &mut Staging<'_>, path: &Path) -> Result<u64> {
    let mut input = InputFile::open(path)?;
    let file = input.name.clone();
    let has = |c: &str| input.schema.index_of(c).is_ok();
    let (kind, key_col) = match (has(col::VIDEO_ID), has(col::IMAGE_ID)) {
        (true, false) => (TableKind::VideoMetadata, col::VIDEO_ID),
        (false, true) => (TableKind::ImageMetadata, col::IMAGE_ID),
        (true, true) => {
            return Err(import_err(
                &file,
                format!(
                    "a metadata file is keyed by one column: it has both '{}' and '{}'",
                    col::VIDEO_ID,
                    col::IMAGE_ID
                ),
            ));
        }
        (false, false) => match FILE_COLUMNS.iter().find(|c| has(c)) {
            Some(c) => (file_kind(path, &file, c)?, *c),
            None => {
                return Err(import_err(
                    &file,
                    format!(
                        "missing required column: a metadata file needs '{}', '{}' or a file name column ({})",
                        col::VIDEO_ID,
                        col::IMAGE_ID,
                        FILE_COLUMNS.join(", ")
                    ),
                ));
            }
        },
    };
    let by_file = key_col != col::VIDEO_ID && key_col != col::IMAGE_ID;
    let columns: Vec<String> = input
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != key_col)
        .collect();
    if columns.is_empty() {
        return Err(import_err(&file, "no metadata columns besides the key"));
    }
    if let Some(bad) = columns.iter().find(|c| reserved_column(c)) {
        return Err(import_err(
            &file,
            format!("column '{bad}' would shadow a dataset column; rename it"),
        ));
    }
    let mut incoming: Rows = BTreeMap::new();
    let mut first_row: BTreeMap<String, usize> = BTreeMap::new();
    let mut types: BTreeMap<String, &'static str> = BTreeMap::new();
    while let Some(next) = input.next_batch() {
        let (first, batch) = next?;
        let key = text(&batch, key_col)?;
        for c in &columns {
            let dt = batch
                .column(batch.schema().index_of(c).expect("listed"))
                .data_type()
                .clone();
            if dt != DataType::Utf8 {
                types.insert(c.clone(), ColumnSpec::type_name(&dt));
            }
        }
        let values: Vec<StringArray> = columns
            .iter()
            .map(|c| text(&batch, c))
            .collect::<Result<_>>()?;
        for i in 0..batch.num_rows() {
            if key.is_null(i) || key.value(i).trim().is_empty() {
                return Err(import_err(
                    &file,
                    format!("row {}, column '{key_col}': missing id", first + i),
                ));
            }
            let mut k = key.value(i).trim().to_string();
            if by_file {
                k = match media_id(&k) {
                    Some((row_kind, id)) if row_kind == kind => id,
                    _ => {
                        return Err(import_err(
                            &file,
                            format!(
                                "row {}, column '{key_col}': '{k}' is not a {} file (all rows of a metadata file describe one kind of asset)",
                                first + i,
                                if kind == TableKind::VideoMetadata {
                                    "video"
                                } else {
                                    "image"
                                }
                            ),
                        ));
                    }
                };
            }
            if let Some(prev) = first_row.insert(k.clone(), first + i) {
                return Err(import_err(
                    &file,
                    format!(
                        "row {}: duplicate id '{k}' (first on row {prev})",
                        first + i
                    ),
                ));
            }
            let row = incoming.entry(k).or_default();
            for (c, v) in columns.iter().zip(&values) {
                let val = (v.is_valid(i) && !v.value(i).trim().is_empty())
                    .then(|| v.value(i).trim().to_string());
                row.insert(c.clone(), val);
            }
        }
    }
    let rows = incoming.len() as u64;
    if rows == 0 {
        return Err(import_err(&file, "no rows"));
    }
    // Merge with what is stored.
    let old_specs = st
        .manifest
        .metadata_columns
        .get(&kind)
        .cloned()
        .unwrap_or_default();
    let mut merged: Rows = BTreeMap::new();
    let old_names: Vec<&str> = std::iter::once(key_col)
        .chain(old_specs.iter().map(|s| s.name.as_str()))
        .collect();
    for f in st.manifest.files(kind).to_vec() {
        for batch in read_columns(st.catalog.store(), &f, &old_names).await? {
            let key = text(&batch, key_col)?;
            let vals: Vec<StringArray> = old_specs
                .iter()
                .map(|s| text(&batch, &s.name))
                .collect::<Result<_>>()?;
            for i in 0..batch.num_rows() {
                let row = merged.entry(key.value(i).to_string()).or_default();
                for (s, v) in old_specs.iter().zip(&vals) {
                    row.insert(
                        s.name.clone(),
                        v.is_valid(i).then(|| v.value(i).to_string()),
                    );
                }
            }
        }
    }
    for (k, row) in incoming {
        merged.entry(k).or_default().extend(row);
    }
    let mut names: Vec<String> = old_specs.iter().map(|s| s.name.clone()).collect();
    for c in &columns {
        if !names.contains(c) {
            names.push(c.clone());
        }
    }
    let specs: Vec<ColumnSpec> = names
        .iter()
        .map(|n| ColumnSpec {
            name: n.clone(),
            data_type: types
                .get(n)
                .copied()
                .unwrap_or_else(|| infer(merged.values().filter_map(|r| r.get(n)?.as_deref())))
                .to_string(),
        })
        .collect();
    let schema = metadata_schema(kind, Some(&specs));
    let keys: Vec<&str> = merged.keys().map(String::as_str).collect();
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(StringArray::from(keys))];
    for s in &specs {
        let vals: Vec<Option<&str>> = merged
            .values()
            .map(|r| r.get(&s.name).and_then(|v| v.as_deref()))
            .collect();
        arrays.push(
            typed(&vals, &s.arrow_type())
                .map_err(|m| import_err(&file, format!("column '{}': {m}", s.name)))?,
        );
    }
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays)
        .map_err(|e| import_err(&file, e.to_string()))?;
    let path = new_file_path(st.dataset(), kind);
    st.written.push(path.clone());
    let data = write_file(st.catalog.store(), path, schema, &[batch]).await?;
    st.manifest.tables.insert(kind, vec![data]);
    st.manifest.metadata_columns.insert(kind, specs);
    Ok(rows)
}

fn text(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    let a = batch.column(
        batch
            .schema()
            .index_of(name)
            .map_err(|e| crate::CatalogError::engine("metadata", e))?,
    );
    let s = cast(a, &DataType::Utf8).map_err(|e| crate::CatalogError::engine("metadata", e))?;
    Ok(s.as_string::<i32>().clone())
}

/// The narrowest simple type all values parse as.
fn infer<'a>(values: impl Iterator<Item = &'a str> + Clone) -> &'static str {
    if values.clone().all(|v| v.parse::<i64>().is_ok()) {
        "int64"
    } else if values.clone().all(|v| v.parse::<f64>().is_ok()) {
        "float64"
    } else if values
        .clone()
        .all(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "false"))
    {
        "boolean"
    } else if values.clone().all(|v| date_days(v).is_some()) {
        "date"
    } else if values.clone().all(|v| timestamp_ms(v).is_some()) {
        "timestamp"
    } else {
        "utf8"
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
fn date_days(v: &str) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

/// Milliseconds since the epoch (UTC) of an RFC 3339 time, or of `YYYY-MM-DD HH:MM:SS` /
/// `YYYY-MM-DDTHH:MM:SS` (taken as UTC).
fn timestamp_ms(v: &str) -> Option<i64> {
    let v = v.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Some(t.timestamp_millis());
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(v, f).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

fn typed(vals: &[Option<&str>], dt: &DataType) -> std::result::Result<ArrayRef, String> {
    let bad = |v: &str| format!("'{v}' is not a {dt} value");
    Ok(match dt {
        DataType::Int64 => Arc::new(Int64Array::from(
            vals.iter()
                .map(|v| v.map(|s| s.parse::<i64>().map_err(|_| bad(s))).transpose())
                .collect::<std::result::Result<Vec<_>, _>>()?,
        )),
        DataType::Float64 => Arc::new(Float64Array::from(
            vals.iter()
                .map(|v| v.map(|s| s.parse::<f64>().map_err(|_| bad(s))).transpose())
                .collect::<std::result::Result<Vec<_>, _>>()?,
        )),
        DataType::Boolean => Arc::new(BooleanArray::from(
            vals.iter()
                .map(|v| {
                    v.map(|s| match s.to_ascii_lowercase().as_str() {
                        "true" => Ok(true),
                        "false" => Ok(false),
                        _ => Err(bad(s)),
                    })
                    .transpose()
                })
                .collect::<std::result::Result<Vec<_>, _>>()?,
        )),
        DataType::Date32 => Arc::new(Date32Array::from(
            vals.iter()
                .map(|v| v.map(|s| date_days(s).ok_or_else(|| bad(s))).transpose())
                .collect::<std::result::Result<Vec<_>, _>>()?,
        )),
        DataType::Timestamp(_, _) => Arc::new(
            TimestampMillisecondArray::from(
                vals.iter()
                    .map(|v| v.map(|s| timestamp_ms(s).ok_or_else(|| bad(s))).transpose())
                    .collect::<std::result::Result<Vec<_>, _>>()?,
            )
            .with_timezone("UTC"),
        ),
        _ => Arc::new(StringArray::from(vals.to_vec())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_the_narrowest_type() {
        assert_eq!(infer(["1", "22"].into_iter()), "int64");
        assert_eq!(infer(["1", "2.5"].into_iter()), "float64");
        assert_eq!(infer(["true", "False"].into_iter()), "boolean");
        assert_eq!(infer(["S01", "2"].into_iter()), "utf8");
        assert_eq!(infer(["2026-05-04", "2026-11-30"].into_iter()), "date");
        assert_eq!(
            infer(["2026-05-04 19:30:00", "2026-05-04T20:00:00Z"].into_iter()),
            "timestamp"
        );
        assert_eq!(infer(["2026-05-04", "someday"].into_iter()), "utf8");
        let a = typed(&[Some("1970-01-02"), None], &DataType::Date32).unwrap();
        assert_eq!(
            a.as_primitive::<datafusion::arrow::datatypes::Date32Type>()
                .value(0),
            1
        );
        assert!(typed(&[Some("2026-13-01")], &DataType::Date32).is_err());
    }
}
