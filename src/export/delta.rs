//! A Delta Lake table on the store, written by dyntag: Parquet files and a transaction log
//! (`_delta_log/NNNNNNNNNNNNNNNNNNNN.json`, one JSON action per line; the Parquet files of
//! each commit in a folder of their own, written by dyntag's one Parquet writer) in the Delta
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
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use object_store::path::Path;
use serde_json::{Value, json};

use crate::error::{AppError, Result};
use dyntag_core::store::Store;
use dyntag_core::store::parquet::RollingWriter;

/// Rows per data file and per row group (as dyntag's own score files).
const FILE_ROWS: usize = 8 << 20;
const ROW_GROUP: usize = 1 << 17;

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

    /// Writes the rows of `batches` as the whole table in the commit after `previous`
    /// (`None`: the first), with `dyntag` in its commit information and `note` as its user
    /// metadata; the commit written. The rows stream into Parquet files of the store as
    /// they come (the table is never held in memory), in a folder of their own.
    pub async fn overwrite(
        &self,
        previous: Option<&Commit>,
        mut batches: SendableRecordBatchStream,
        dyntag: Value,
        note: &str,
    ) -> Result<Commit> {
        let form = DeltaForm::new(&batches.schema());
        let folder = uuid::Uuid::new_v4().simple().to_string();
        let dir = format!("{}/{folder}", self.root);
        let mut writer = RollingWriter::new(
            &self.store,
            Arc::clone(&form.schema),
            FILE_ROWS,
            ROW_GROUP,
            {
                let dir = dir.clone();
                move |i| Path::from(format!("{dir}/part-{i:05}.zstd.parquet"))
            },
        );
        let written: Result<()> = async {
            while let Some(batch) = batches.next().await {
                writer.write(&form.convert(&batch?)?).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = written {
            // Files no commit names are never read; remove them all the same.
            for path in writer.take_opened() {
                let _ = self.store.delete(&path).await;
            }
            return Err(e);
        }
        let files = writer.finish().await?;
        let now = millis();

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
            "dyntag": dyntag.clone(),
        }})];
        if previous.is_none() {
            actions.push(json!({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}));
        }
        actions.push(json!({"metaData": {
            "id": id.clone(),
            "format": {"provider": "parquet", "options": {}},
            "schemaString": delta_schema(&form.schema)?.to_string(),
            "partitionColumns": [],
            "configuration": {},
            "createdTime": now,
        }}));
        for old in previous.map(|c| c.files.as_slice()).unwrap_or_default() {
            actions.push(json!({"remove": {
                "path": old, "deletionTimestamp": now, "dataChange": true,
            }}));
        }
        let added: Vec<String> = files
            .iter()
            .map(|f| format!("{folder}/{}", f.path.rsplit('/').next().unwrap_or_default()))
            .collect();
        for (f, path) in files.iter().zip(&added) {
            actions.push(json!({"add": {
                "path": path,
                "partitionValues": {},
                "size": f.bytes,
                "modificationTime": now,
                "dataChange": true,
                "stats": json!({"numRecords": f.rows}).to_string(),
            }}));
        }
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
        Ok(Commit {
            version,
            files: added,
            dyntag,
            table_id: Some(id),
        })
    }
}

fn millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Rows in Delta's form: embeddings left out (they stay in dyntag), timestamps as UTC
/// microseconds, types Delta has no name for as text.
struct DeltaForm {
    /// The columns kept, by index.
    keep: Vec<usize>,
    schema: SchemaRef,
}

impl DeltaForm {
    fn new(schema: &SchemaRef) -> Self {
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
                _ => DataType::Utf8,
            };
            keep.push(i);
            fields.push(Field::new(f.name(), to, f.is_nullable()));
        }
        Self {
            keep,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    fn convert(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let columns = self
            .keep
            .iter()
            .zip(self.schema.fields())
            .map(|(&i, f)| cast(batch.column(i), f.data_type()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .and_then(|c| RecordBatch::try_new(Arc::clone(&self.schema), c))
            .map_err(|e| AppError::Internal(format!("a Delta table's columns: {e}")))?;
        Ok(columns)
    }
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
