//! Labels files: CSV or Parquet of `coactive_image_id` (or `asset_id`, or `path`), `tag`
//! (or `tag_name`) and `label` (1/0, true/false, yes/no, positive/negative), read from one
//! of three places. The command line names a path of its own machine; a remote caller names
//! a file under the data root's `files/` folder, or sends the file's bytes with the request —
//! never a path of the server's machine.

use std::io::Cursor;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::csv::ReaderBuilder;
use datafusion::arrow::csv::reader::Format;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use object_store::path::Path;

use crate::store::Store;
use crate::{CatalogError, Result};

/// The data root's folder of files that remote callers may name.
pub const FILES_FOLDER: &str = "files";

/// A labels file's size limit (its rows are labels, not data).
pub const MAX_BYTES: usize = 64 << 20;

/// Where a labels file comes from.
#[derive(Clone, PartialEq)]
pub enum LabelsFile {
    /// A path on the machine running dyntag: the command line only.
    Local(String),
    /// A file under the data root's `files/` folder, by its name there.
    Stored(String),
    /// The file itself, sent with the request.
    Upload { name: String, bytes: Bytes },
}

impl std::fmt::Debug for LabelsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(p) => write!(f, "Local({p:?})"),
            Self::Stored(p) => write!(f, "Stored({p:?})"),
            Self::Upload { name, bytes } => write!(f, "Upload({name:?}, {} bytes)", bytes.len()),
        }
    }
}

impl LabelsFile {
    /// A name for messages and label sources (the file name, never a directory).
    pub fn name(&self) -> String {
        let p = match self {
            Self::Local(p) | Self::Stored(p) => p.as_str(),
            Self::Upload { name, .. } => name.as_str(),
        };
        std::path::Path::new(p)
            .file_name()
            .map_or(p.to_string(), |n| n.to_string_lossy().into_owned())
    }

    /// A file named by a remote caller: a relative name under `files/` (letters, digits,
    /// `-`, `_`, `.`, spaces and `/` between names; no `..`). Anything else is refused
    /// without looking at whether it exists.
    pub fn stored(name: &str) -> Result<Self> {
        let ok = !name.is_empty()
            && name.len() <= 512
            && !name.starts_with('/')
            && name.split('/').all(|part| {
                !part.is_empty()
                    && part != "."
                    && part != ".."
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '))
            });
        if !ok {
            return Err(CatalogError::Denied(format!(
                "permission denied: '{name}' is not a file under the data root's {FILES_FOLDER}/ folder; \
                 over the server a labels file is either named there (e.g. 'labels.csv' for {FILES_FOLDER}/labels.csv) \
                 or sent with the request (POST /api/groups/{{group}}/tags/{{tag}}/evaluation/labels with a CSV or Parquet body), \
                 never a path of the server's machine"
            )));
        }
        Ok(Self::Stored(name.to_string()))
    }

    /// The file's rows: (asset id, tag, label).
    pub async fn read(&self, store: &Store) -> Result<Vec<(String, String, bool)>> {
        let name = self.name();
        let bytes = match self {
            Self::Local(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| CatalogError::Import {
                        file: path.clone(),
                        message: format!("cannot read it: {e}"),
                    })?;
                Bytes::from(bytes)
            }
            Self::Stored(rel) => {
                let key = Path::from(format!("{FILES_FOLDER}/{rel}"));
                store
                    .get(&key)
                    .await?
                    .ok_or_else(|| CatalogError::NotFound {
                        kind: "labels file",
                        name: rel.clone(),
                        hint: format!(" under the data root's {FILES_FOLDER}/ folder"),
                    })?
            }
            Self::Upload { bytes, .. } => bytes.clone(),
        };
        parse(&name, bytes)
    }
}

/// The rows of a labels file's bytes (Parquet if it starts with `PAR1`, else CSV with a
/// header). Every failure names the file and, where it can, the row.
pub fn parse(name: &str, bytes: Bytes) -> Result<Vec<(String, String, bool)>> {
    let bad = |m: String| CatalogError::Import {
        file: name.to_string(),
        message: m,
    };
    if bytes.len() > MAX_BYTES {
        return Err(bad(format!(
            "{} bytes is more than a labels file may hold ({MAX_BYTES})",
            bytes.len()
        )));
    }
    let batches: Vec<RecordBatch> = if bytes.starts_with(b"PAR1") {
        let (_, batches) = crate::store::input::user_parquet(bytes, 8192)
            .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
        batches
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?
    } else {
        std::str::from_utf8(&bytes).map_err(|_| bad("not UTF-8 text (CSV) nor Parquet".into()))?;
        let (inferred, _) = Format::default()
            .with_header(true)
            .infer_schema(Cursor::new(&bytes), Some(1000))
            .map_err(|e| bad(format!("not a readable CSV file: {e}")))?;
        // Every column as text: labels are read as words, ids are never numbers.
        let schema = Arc::new(Schema::new(
            inferred
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        ReaderBuilder::new(schema)
            .with_header(true)
            .build(Cursor::new(bytes))
            .map_err(|e| bad(format!("not a readable CSV file: {e}")))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(format!("not a readable CSV file: {e}")))?
    };
    let mut out = Vec::new();
    let mut first_row = 0usize;
    for b in &batches {
        let schema = b.schema();
        let col = |names: &[&str]| names.iter().find_map(|n| schema.index_of(n).ok());
        let id = col(&["coactive_image_id", "asset_id", "path"])
            .ok_or_else(|| bad("no coactive_image_id, asset_id or path column".into()))?;
        let is_path = schema.field(id).name() == "path";
        let tag = col(&["tag", "tag_name"]).ok_or_else(|| bad("no tag column".into()))?;
        let label = col(&["label"]).ok_or_else(|| bad("no label column".into()))?;
        let text = |i: usize| -> Result<Vec<Option<String>>> {
            let c = datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8)
                .map_err(|e| bad(format!("column {}: {e}", schema.field(i).name())))?;
            Ok(c.as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect())
        };
        let (ids, tags, labels) = (text(id)?, text(tag)?, text(label)?);
        for r in 0..b.num_rows() {
            let (Some(i), Some(t), Some(l)) = (&ids[r], &tags[r], &labels[r]) else {
                continue;
            };
            let i = if is_path {
                std::path::Path::new(i)
                    .file_stem()
                    .map_or(i.clone(), |s| s.to_string_lossy().into_owned())
            } else {
                i.clone()
            };
            let l = match l.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "positive" => true,
                "0" | "false" | "no" | "negative" => false,
                other => {
                    return Err(bad(format!(
                        "row {}: label '{other}' is not 1/0 or true/false",
                        first_row + r + 2
                    )));
                }
            };
            out.push((i, t.clone(), l));
        }
        first_row += b.num_rows();
        let _ = b.column(0).len();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_labels_are_read_as_text() {
        let rows = parse(
            "l.csv",
            Bytes::from_static(b"path,tag,label\nimg/001.jpg,birds,1\nimg/002.jpg,birds,no\n"),
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                ("001".into(), "birds".into(), true),
                ("002".into(), "birds".into(), false)
            ]
        );
        let e = parse(
            "l.csv",
            Bytes::from_static(b"asset_id,tag,label\na,b,maybe\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("l.csv") && e.contains("row 2"), "{e}");
        assert!(parse("l.csv", Bytes::from_static(b"a,b\n1,2\n")).is_err());
        assert!(parse("x.parquet", Bytes::from_static(b"PAR1garbage")).is_err());
    }

    #[test]
    fn remote_names_stay_under_the_files_folder() {
        assert!(LabelsFile::stored("labels.csv").is_ok());
        assert!(LabelsFile::stored("truth/labels.csv").is_ok());
        for bad in [
            "/etc/passwd",
            "../access/_log/0000000001.json",
            "a/../../b",
            "file:///etc/passwd",
            "s3://bucket/x",
            "",
            "a//b",
            "C:\\x",
        ] {
            let e = LabelsFile::stored(bad).unwrap_err().to_string();
            assert!(e.starts_with("permission denied"), "{bad}: {e}");
        }
    }
}
