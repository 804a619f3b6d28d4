//! The audit trail of tag and access statements: one small JSON object per statement that
//! changes (or tried to change) tag groups, labels, evaluations, users, tokens or roles,
//! written when it ends — done, refused or failed — and read back as `system.audit`, which
//! only organisation admins see.
//!
//! ```text
//! audit/2026-12-01/20261201T204413123456789Z-<uuid>.json    one record, never rewritten
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::Result as DFResult;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use futures::StreamExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::{CatalogError, Result};

/// The folder of the audit trail.
pub const AUDIT_FOLDER: &str = "audit";

/// How a statement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Done,
    /// Refused for lack of permission.
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// One audited statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When it ended (RFC 3339, UTC, milliseconds).
    pub at: String,
    pub user: String,
    /// Signed in with a read-only token.
    pub read_only: bool,
    /// `cli`, `flight` or `http`.
    pub origin: String,
    /// The session's dataset.
    pub dataset: String,
    /// The statement's kind (`tag edit`, `admin`, …).
    pub kind: String,
    /// The statement as sent (tokens it answered are never part of it).
    pub statement: String,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// Writes one record.
pub async fn write(store: &Store, record: &Record) -> Result<()> {
    let now = chrono::Utc::now();
    let path = Path::from(format!(
        "{AUDIT_FOLDER}/{}/{}-{}.json",
        now.format("%Y-%m-%d"),
        now.format("%Y%m%dT%H%M%S%9fZ"),
        uuid::Uuid::new_v4().simple()
    ));
    let bytes = serde_json::to_vec(record)
        .map_err(|e| CatalogError::Internal(format!("cannot serialise an audit record: {e}")))?;
    store.put(&path, bytes.into()).await
}

/// Every record, oldest first.
pub async fn read_all(store: &Store) -> Result<Vec<Record>> {
    let mut paths: Vec<Path> = store
        .list_recursive(&Path::from(AUDIT_FOLDER))
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    paths.sort();
    let docs = futures::stream::iter(paths)
        .map(|p| async move { store.get_json::<Record>(&p).await })
        .buffered(32)
        .collect::<Vec<_>>()
        .await;
    docs.into_iter()
        .filter_map(|r| r.transpose())
        .collect::<Result<Vec<_>>>()
}

fn schema() -> SchemaRef {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        s("at"),
        s("user_name"),
        Field::new("read_only", DataType::Boolean, false),
        s("origin"),
        s("dataset"),
        s("kind"),
        s("statement"),
        s("outcome"),
        s("error"),
        Field::new("duration_ms", DataType::Int64, false),
    ]))
}

fn batch(records: &[Record]) -> DFResult<RecordBatch> {
    let s = |f: &dyn Fn(&Record) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(records.iter().map(f).collect::<Vec<_>>()))
    };
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            s(&|r| Some(r.at.clone())),
            s(&|r| Some(r.user.clone())),
            Arc::new(BooleanArray::from(
                records.iter().map(|r| r.read_only).collect::<Vec<_>>(),
            )),
            s(&|r| Some(r.origin.clone())),
            s(&|r| Some(r.dataset.clone())),
            s(&|r| Some(r.kind.clone())),
            s(&|r| Some(r.statement.clone())),
            s(&|r| Some(r.outcome.as_str().to_string())),
            s(&|r| r.error.clone()),
            Arc::new(Int64Array::from(
                records
                    .iter()
                    .map(|r| r.duration_ms as i64)
                    .collect::<Vec<_>>(),
            )),
        ],
    )?)
}

/// `system.audit`: read from the store when scanned.
#[derive(Debug)]
pub struct AuditTable {
    store: Store,
}

impl AuditTable {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl TableProvider for AuditTable {
    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let records = read_all(&self.store).await?;
        let batch = batch(&records)?;
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            schema(),
            projection.cloned(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_read_back_in_order() {
        let store =
            Store::from_object_store(Arc::new(object_store::memory::InMemory::new()), "memory://");
        let mut r = Record {
            at: "t".into(),
            user: "ann".into(),
            read_only: false,
            origin: "http".into(),
            dataset: "news".into(),
            kind: "tag edit".into(),
            statement: "DROP TAG GROUP g".into(),
            outcome: Outcome::Denied,
            error: Some("permission denied".into()),
            duration_ms: 3,
        };
        write(&store, &r).await.unwrap();
        r.outcome = Outcome::Done;
        r.error = None;
        write(&store, &r).await.unwrap();
        let back = read_all(&store).await.unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].outcome, Outcome::Denied);
        assert_eq!(back[1], r);
        assert_eq!(batch(&back).unwrap().num_rows(), 2);
    }
}
