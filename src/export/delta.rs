//! A Delta Lake table on the store, written by dyntag: Parquet files and a transaction log
//! (`_delta_log/NNNNNNNNNNNNNNNNNNNN.json`, one JSON action per line) in the Delta
//! protocol's first reader and second writer versions, which Spark, Databricks, Trino,
//! DuckDB and the `deltalake` Python package read. Every commit replaces the whole table
//! (an overwrite: the previous commit's files removed, the new ones added), so time travel
//! to a commit's version reads what that commit wrote.
//!
//! A commit is created only if absent (`put_if_absent`), as Delta's log requires: of two
//! exporters writing the same version, one fails and nothing is half-written — its data
//! files are not named by any commit.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use object_store::path::Path;
use serde_json::{Value, json};

use crate::error::{AppError, Result};
use dyntag_core::store::Store;

/// One commit of the log, as read back.
#[derive(Debug, Clone)]
pub struct Commit {
    pub version: u64,
    /// The data files the table has after it.
    pub files: Vec<String>,
    /// What dyntag wrote about it (`commitInfo.dyntag`).
    pub dyntag: Value,
    /// The table's id (`metaData.id`), when the commit has one.
    pub table_id: Option<String>,
}

/// A Delta table at `root` (a folder of the store, relative to the data root).
pub struct DeltaTable {
    store: Store,
    root: String,
}

impl DeltaTable {
    pub fn new(store: Store, root: impl Into<String>) -> Self {
        Self {
            store,
            root: root.into(),
        }
    }

    fn log_path(&self, version: u64) -> Path {
        Path::from(format!("{}/_delta_log/{version:020}.json", self.root))
    }

    /// The commits of the log, in order (empty for a table not written yet).
    pub async fn commits(&self) -> Result<Vec<Commit>> {
        let names = self
            .store
            .list_names(&Path::from(format!("{}/_delta_log", self.root)))
            .await?;
        let mut versions: Vec<u64> = names
            .iter()
            .filter_map(|n| n.strip_suffix(".json")?.parse().ok())
            .collect();
        versions.sort_unstable();
        let mut out: Vec<Commit> = Vec::new();
        for version in versions {
            let bytes = self
                .store
                .get(&self.log_path(version))
                .await?
                .ok_or_else(|| {
                    AppError::Input(format!("{}: commit {version} vanished", self.root))
                })?;
            let mut files = out.last().map(|c| c.files.clone()).unwrap_or_default();
            let mut dyntag = Value::Null;
            let mut table_id = out.last().and_then(|c| c.table_id.clone());
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let action: Value = serde_json::from_slice(line).map_err(|e| {
                    AppError::Input(format!("{}: commit {version}: {e}", self.root))
                })?;
                if let Some(p) = action.pointer("/add/path").and_then(Value::as_str) {
                    files.push(p.to_string());
                } else if let Some(p) = action.pointer("/remove/path").and_then(Value::as_str) {
                    files.retain(|f| f != p);
                } else if let Some(d) = action.pointer("/commitInfo/dyntag") {
                    dyntag = d.clone();
                } else if let Some(id) = action.pointer("/metaData/id").and_then(Value::as_str) {
                    table_id = Some(id.to_string());
                }
            }
            out.push(Commit {
                version,
                files,
                dyntag,
                table_id,
            });
        }
        Ok(out)
    }

    /// Writes `batches` as the whole table in the commit after `previous` (`None`: the
    /// first), with `dyntag` in its commit information and `note` as its user metadata.
    pub async fn overwrite(
        &self,
        previous: Option<&Commit>,
        batches: &[RecordBatch],
        schema: &SchemaRef,
        dyntag: Value,
        note: &str,
    ) -> Result<u64> {
        let (schema, batches) = delta_form(schema, batches)?;
        let now = millis();
        let file = format!("part-00000-{}.snappy.parquet", uuid::Uuid::new_v4());
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let parquet = write_parquet(&schema, &batches)?;
        let size = parquet.len();
        self.store
            .put(&Path::from(format!("{}/{file}", self.root)), parquet)
            .await?;

        let version = previous.map_or(0, |c| c.version + 1);
        let id = previous
            .and_then(|c| c.table_id.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut actions = vec![json!({"commitInfo": {
            "timestamp": now,
            "operation": "WRITE",
            "operationParameters": {"mode": "Overwrite"},
            "engineInfo": concat!("dyntag/", env!("CARGO_PKG_VERSION")),
            "isBlindAppend": false,
            "userMetadata": note,
            "dyntag": dyntag,
        }})];
        if previous.is_none() {
            actions.push(json!({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}));
        }
        actions.push(json!({"metaData": {
            "id": id,
            "format": {"provider": "parquet", "options": {}},
            "schemaString": delta_schema(&schema)?.to_string(),
            "partitionColumns": [],
            "configuration": {},
            "createdTime": now,
        }}));
        for old in previous.map(|c| c.files.as_slice()).unwrap_or_default() {
            actions.push(json!({"remove": {
                "path": old, "deletionTimestamp": now, "dataChange": true,
            }}));
        }
        actions.push(json!({"add": {
            "path": file,
            "partitionValues": {},
            "size": size,
            "modificationTime": now,
            "dataChange": true,
            "stats": json!({"numRecords": rows}).to_string(),
        }}));
        let mut log = String::new();
        for a in actions {
            log.push_str(&a.to_string());
            log.push('\n');
        }
        if !self
            .store
            .put_if_absent(&self.log_path(version), Bytes::from(log))
            .await?
        {
            return Err(AppError::Incomplete(format!(
                "{}: version {version} was written by another exporter meanwhile; run the export again",
                self.root
            )));
        }
        Ok(version)
    }
}

fn millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The columns as Delta types: embeddings left out (they stay in dyntag), timestamps as UTC
/// microseconds, types Delta has no name for as text.
fn delta_form(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let mut keep = Vec::new();
    let mut fields = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if f.name() == dyntag_core::model::dataset::schema::col::EMBEDDING {
            continue;
        }
        let to = match f.data_type() {
            t if delta_type(t).is_some() => t.clone(),
            // Delta's `timestamp` is UTC microseconds (one without a zone needs a newer
            // protocol): as UTC.
            DataType::Timestamp(_, _) => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            }
            DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
            _ => DataType::Utf8,
        };
        keep.push(i);
        fields.push(Field::new(f.name(), to, f.is_nullable()));
    }
    let out = Arc::new(Schema::new(fields));
    let batches = batches
        .iter()
        .map(|b| {
            let columns = keep
                .iter()
                .zip(out.fields())
                .map(|(&i, f)| cast(b.column(i), f.data_type()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            RecordBatch::try_new(Arc::clone(&out), columns)
        })
        .collect::<std::result::Result<Vec<_>, datafusion::arrow::error::ArrowError>>()
        .map_err(|e| AppError::Internal(format!("a Delta table's columns: {e}")))?;
    Ok((out, batches))
}

/// Delta's name of an Arrow type it has.
fn delta_type(t: &DataType) -> Option<&'static str> {
    Some(match t {
        DataType::Utf8 => "string",
        DataType::Boolean => "boolean",
        DataType::Int8 => "byte",
        DataType::Int16 => "short",
        DataType::Int32 => "integer",
        DataType::Int64 => "long",
        DataType::Float32 => "float",
        DataType::Float64 => "double",
        DataType::Date32 => "date",
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => "timestamp",
        _ => return None,
    })
}

/// The table's schema as Delta's `schemaString` (Spark's struct type in JSON).
fn delta_schema(schema: &Schema) -> Result<Value> {
    let fields = schema
        .fields()
        .iter()
        .map(|f| {
            let t = delta_type(f.data_type()).ok_or_else(|| {
                AppError::Internal(format!("no Delta type for {}", f.data_type()))
            })?;
            Ok(json!({"name": f.name(), "type": t, "nullable": f.is_nullable(), "metadata": {}}))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(json!({"type": "struct", "fields": fields}))
}

fn write_parquet(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Bytes> {
    let mut buf = Vec::new();
    let err = |e: datafusion::parquet::errors::ParquetError| {
        AppError::Internal(format!("writing a Delta table's Parquet file: {e}"))
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut w = ArrowWriter::try_new(&mut buf, Arc::clone(schema), Some(props)).map_err(err)?;
    for b in batches {
        w.write(b).map_err(err)?;
    }
    w.close().map_err(err)?;
    Ok(Bytes::from(buf))
}
