//! Datasets: named media collections stored as Parquet files on the object store, described
//! by a manifest that is committed as a new revision after every import.
//!
//! ```text
//! datasets/<name>/_log/0000000003.json      manifest revisions (the highest is current)
//! datasets/<name>/data/<table>/<uuid>.parquet
//! datasets/<name>/index/<modality>/<uuid>.usearch   search index segments
//! ```
//!
//! Files are written before the manifest revision that references them, so a failed or
//! killed import leaves at most unreferenced files behind and never a half-visible table.

pub mod encoding;
pub mod schema;
pub mod vectors;

use std::collections::BTreeMap;

use datafusion::arrow::datatypes::DataType;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::model::Modality;
use crate::store::RevisionLog;
pub use crate::store::now;
pub use crate::store::parquet::DataFile;
use crate::{CatalogError, Result};

/// The name of the schema of catalog tables (`system`), which no dataset may take.
pub const SYSTEM_SCHEMA: &str = "system";

/// A stored table of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    /// Images and video keyframes, with their visual embeddings.
    Images,
    /// Video shots.
    Shots,
    /// Transcript segments, with their text embeddings.
    Transcripts,
    /// Videos (rewritten whole by every import: one row per video).
    Videos,
    /// User metadata keyed by `coactive_video_id` (rewritten whole by a metadata import).
    VideoMetadata,
    /// User metadata keyed by `coactive_image_id` (rewritten whole by a metadata import).
    ImageMetadata,
}

impl TableKind {
    /// The table holding `modality`'s embeddings.
    pub fn of(modality: Modality) -> Self {
        match modality {
            Modality::Visual => Self::Images,
            Modality::Transcript => Self::Transcripts,
        }
    }

    /// The folder name of the table's files.
    pub fn dir_name(self) -> &'static str {
        match self {
            Self::Images => "images",
            Self::Shots => "shots",
            Self::Transcripts => "transcripts",
            Self::Videos => "videos",
            Self::VideoMetadata => "video_metadata",
            Self::ImageMetadata => "image_metadata",
        }
    }
}

/// The model that embedded one modality of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingModel {
    /// Model id (as recorded on the embedding column).
    pub id: String,
    /// Embedding dimension.
    pub dimension: usize,
    /// How the embeddings are stored; absent for datasets written before encodings, whose
    /// files hold a Parquet list of float32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<encoding::Encoding>,
}

impl EmbeddingModel {
    /// The numeric form of the embeddings (float32 for the legacy list layout).
    pub fn numeric(&self) -> encoding::Encoding {
        self.encoding.unwrap_or_default()
    }
}

/// One imported source file, so that importing it again changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// What was imported (`keyframes`, `shots`, `transcripts`, `metadata`, ...).
    pub kind: String,
    /// The file name as given.
    pub source: String,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// Rows imported.
    pub rows: u64,
    /// When (RFC 3339).
    pub at: String,
}

/// A user metadata column: name and a simple type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSpec {
    /// Column name as given in the file.
    pub name: String,
    /// `utf8`, `int64`, `float64`, `boolean`, `date` or `timestamp` (milliseconds, UTC).
    #[serde(rename = "type")]
    pub data_type: String,
}

impl ColumnSpec {
    /// The Arrow type of the column.
    pub fn arrow_type(&self) -> DataType {
        match self.data_type.as_str() {
            "int64" => DataType::Int64,
            "float64" => DataType::Float64,
            "boolean" => DataType::Boolean,
            "date" => DataType::Date32,
            "timestamp" => DataType::Timestamp(
                datafusion::arrow::datatypes::TimeUnit::Millisecond,
                Some("UTC".into()),
            ),
            _ => DataType::Utf8,
        }
    }

    /// The simple type name of an Arrow type (anything unusual is stored as text).
    pub fn type_name(dt: &DataType) -> &'static str {
        match dt {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32 => "int64",
            DataType::Float16 | DataType::Float32 | DataType::Float64 => "float64",
            DataType::Boolean => "boolean",
            DataType::Date32 | DataType::Date64 => "date",
            DataType::Timestamp(_, _) => "timestamp",
            _ => "utf8",
        }
    }
}

/// The current description of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetManifest {
    /// Dataset name (a SQL schema name).
    pub name: String,
    /// When the dataset was created (RFC 3339).
    pub created_at: String,
    /// Which model embedded which modality.
    #[serde(default)]
    pub models: BTreeMap<Modality, EmbeddingModel>,
    /// The files of each table.
    #[serde(default)]
    pub tables: BTreeMap<TableKind, Vec<DataFile>>,
    /// User metadata columns (besides the key) of the metadata tables.
    #[serde(default)]
    pub metadata_columns: BTreeMap<TableKind, Vec<ColumnSpec>>,
    /// Every source file imported.
    #[serde(default)]
    pub imports: Vec<ImportRecord>,
    /// The search index of each modality: segments covering its rows from the first on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub indexes: BTreeMap<Modality, Vec<IndexSegment>>,
    /// Files a revision stopped naming: data files a conversion rewrote, index segments a
    /// merge replaced. A reader of an earlier revision may still read them (a scan's second
    /// pass, a search, a scoring job), so they are removed by the first commit a while after
    /// `retired_at` (the catalog's `keep_replaced_secs`), not by the commit that retired them.
    #[serde(
        default,
        alias = "retired_segments",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub retired: Vec<String>,
    /// When the last of `retired` was retired (RFC 3339; none in manifests written before
    /// it was kept: their files may go at the next commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<String>,
}

impl DatasetManifest {
    /// Notes `paths` as no longer named by this revision (see [`DatasetManifest::retired`]).
    pub fn retire(&mut self, paths: impl IntoIterator<Item = String>) {
        let before = self.retired.len();
        self.retired.extend(paths);
        if self.retired.len() > before {
            self.retired_at = Some(now());
        }
    }

    /// Takes the retired files kept `keep_secs` or more at `now`, leaving them all for a
    /// later commit otherwise (they share one time: the latest retirement's).
    pub fn take_retired(
        &mut self,
        now: chrono::DateTime<chrono::Utc>,
        keep_secs: u64,
    ) -> Vec<String> {
        let over = self.retired_at.as_deref().is_none_or(|at| {
            chrono::DateTime::parse_from_rfc3339(at).map_or(true, |t| {
                let kept = (now - t.with_timezone(&chrono::Utc)).num_seconds();
                kept >= 0 && kept as u64 >= keep_secs
            })
        });
        if !over {
            return Vec::new();
        }
        self.retired_at = None;
        std::mem::take(&mut self.retired)
    }
}

/// One segment of a modality's search index: an HNSW graph over rows `start..start +
/// rows` of the modality's table (rows numbered across its files in order), keyed by that
/// row number. Tables only grow at the end and a conversion keeps the rows' order, so a
/// segment stays valid as long as the table has its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSegment {
    /// Path relative to the data root.
    pub path: String,
    /// The first row covered.
    pub start: u64,
    /// Rows covered.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

impl IndexSegment {
    /// One past the last row covered.
    pub fn end(&self) -> u64 {
        self.start + self.rows
    }
}

impl DatasetManifest {
    /// An empty dataset.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            created_at: now(),
            models: BTreeMap::new(),
            tables: BTreeMap::new(),
            metadata_columns: BTreeMap::new(),
            imports: Vec::new(),
            indexes: BTreeMap::new(),
            retired: Vec::new(),
            retired_at: None,
        }
    }

    /// The files of a table (empty if it has none).
    pub fn files(&self, kind: TableKind) -> &[DataFile] {
        self.tables.get(&kind).map_or(&[], Vec::as_slice)
    }

    /// Number of rows of a table.
    pub fn rows(&self, kind: TableKind) -> u64 {
        self.files(kind).iter().map(|f| f.rows).sum()
    }

    /// The segments of `modality`'s search index (empty if it has none).
    pub fn index_segments(&self, modality: Modality) -> &[IndexSegment] {
        self.indexes.get(&modality).map_or(&[], Vec::as_slice)
    }

    /// Rows of `modality`'s table that its index segments cover (from the first row on).
    pub fn indexed_rows(&self, modality: Modality) -> u64 {
        self.index_segments(modality)
            .last()
            .map_or(0, IndexSegment::end)
    }

    /// Whether this exact file was imported before as `kind`.
    pub fn imported(&self, kind: &str, sha256: &str) -> Option<&ImportRecord> {
        self.imports
            .iter()
            .find(|r| r.kind == kind && r.sha256 == sha256)
    }
}

/// The revision log of a dataset's manifest.
pub fn manifest_log(name: &str) -> RevisionLog {
    RevisionLog::new(dataset_dir(name), format!("dataset '{name}'"))
}

/// `datasets/<name>`.
pub fn dataset_dir(name: &str) -> Path {
    Path::from("datasets").join(name)
}

/// A fresh path for a new search index segment of `modality`.
pub fn new_index_path(dataset: &str, modality: Modality) -> Path {
    dataset_dir(dataset)
        .join("index")
        .join(modality.to_string())
        .join(format!("{}.usearch", uuid::Uuid::new_v4()))
}

/// A fresh path for a new file of `kind`.
pub fn new_file_path(dataset: &str, kind: TableKind) -> Path {
    dataset_dir(dataset)
        .join("data")
        .join(kind.dir_name())
        .join(format!("{}.parquet", uuid::Uuid::new_v4()))
}

/// Checks a dataset name: it becomes a SQL schema name.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(CatalogError::Invalid(format!(
            "invalid dataset name '{name}': use lower-case letters, digits and '_', starting with a letter (at most 63 characters)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retired_files_wait_their_time_and_old_manifests_still_read() {
        let mut m = DatasetManifest::new("news");
        let t0 = chrono::Utc::now();
        assert!(m.take_retired(t0, 0).is_empty());
        m.retire(Vec::<String>::new());
        assert!(m.retired_at.is_none(), "nothing retired, no time");
        m.retire(["a".to_string(), "b".to_string()]);
        let after = |secs| t0 + chrono::Duration::seconds(secs);
        // Within the time: kept (all), for a later commit.
        assert!(m.take_retired(after(59), 3600).is_empty());
        assert_eq!(m.retired, ["a", "b"]);
        // A clock gone back counts as not yet.
        assert!(m.take_retired(after(-10), 0).is_empty());
        assert_eq!(m.take_retired(after(3601), 3600), ["a", "b"]);
        assert!(m.retired.is_empty() && m.retired_at.is_none());

        // A manifest written before: `retired_segments`, no time (taken at once).
        let mut json = serde_json::to_value(DatasetManifest::new("news")).unwrap();
        json["retired_segments"] = serde_json::json!(["index/visual/x.usearch"]);
        let mut old: DatasetManifest = serde_json::from_value(json).unwrap();
        assert_eq!(old.retired, ["index/visual/x.usearch"]);
        let written = serde_json::to_string(&old).unwrap();
        assert!(written.contains("\"retired\"") && !written.contains("retired_segments"));
        assert_eq!(old.take_retired(t0, 3600), ["index/visual/x.usearch"]);
    }

    #[test]
    fn dataset_names_are_sql_schema_names() {
        assert!(validate_name("news_2024").is_ok());
        for bad in ["", "News", "2024", "a-b", "a b"] {
            let err = validate_name(bad).unwrap_err().to_string();
            assert!(err.contains("invalid dataset name"), "{err}");
        }
    }

    #[test]
    fn manifest_round_trips_through_json() {
        let mut m = DatasetManifest::new("demo");
        m.models.insert(
            Modality::Visual,
            EmbeddingModel {
                id: "clip".into(),
                dimension: 512,
                encoding: Some(encoding::Encoding::Float16),
            },
        );
        m.tables.insert(
            TableKind::Images,
            vec![DataFile {
                path: "datasets/demo/data/images/a.parquet".into(),
                rows: 3,
                bytes: 100,
            }],
        );
        let json = serde_json::to_string(&m).unwrap();
        assert!(
            json.contains("\"visual\"") && json.contains("\"images\""),
            "{json}"
        );
        let back: DatasetManifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.rows(TableKind::Images), 3);
        assert_eq!(back.rows(TableKind::Shots), 0);
    }
}
