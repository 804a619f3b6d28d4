//! [`ResidentScanExec`]: the scan of a resident [`FileTable`](super::file_table::FileTable)
//! — its files' decoded batches from the [`TableCache`], or streamed from the store a row
//! group at a time for a file the cache does not keep.
//!
//! The plan node names its files, projection and limit ([`ResidentScan`]), so that it can
//! be written into bytes and rebuilt by another process over the same store (a cluster's
//! executor, see `codec.rs`).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DFResult};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr,
    PlanProperties, ReplaceChildrenOptions, SendableRecordBatchStream,
};
use futures::StreamExt;

use dyntag_core::model::dataset::DataFile;
use dyntag_core::scoring::cache::TableCache;
use dyntag_core::store::Store;

/// What a resident scan reads: the files of each partition, the columns, the row limit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResidentScan {
    pub files: Vec<Vec<DataFile>>,
    pub projection: Option<Vec<usize>>,
    pub limit: Option<usize>,
}

/// A resident scan: one partition per list of files of its [`ResidentScan`].
#[derive(Debug)]
pub struct ResidentScanExec {
    schema: SchemaRef,
    spec: ResidentScan,
    inner: StreamingTableExec,
}

impl ResidentScanExec {
    /// The scan `spec` of a table of `schema`, its files on `store`, kept in `cache`.
    pub fn new(
        schema: SchemaRef,
        spec: ResidentScan,
        store: Store,
        cache: Arc<TableCache>,
    ) -> DFResult<Self> {
        let partitions: Vec<Arc<dyn PartitionStream>> = spec
            .files
            .iter()
            .map(|files| {
                Arc::new(ResidentPartition {
                    schema: Arc::clone(&schema),
                    files: files.clone(),
                    store: store.clone(),
                    cache: Arc::clone(&cache),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        let inner = StreamingTableExec::try_new(
            Arc::clone(&schema),
            partitions,
            spec.projection.as_ref(),
            vec![],
            false,
            spec.limit,
        )?;
        Ok(Self {
            schema,
            spec,
            inner,
        })
    }

    /// The table's schema (before the projection).
    pub fn table_schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// What the scan reads.
    pub fn spec(&self) -> &ResidentScan {
        &self.spec
    }
}

impl DisplayAs for ResidentScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ResidentScanExec: files={}, ",
            self.spec.files.concat().len()
        )?;
        self.inner.fmt_as(t, f)
    }
}

impl ExecutionPlan for ResidentScanExec {
    fn name(&self) -> &'static str {
        "ResidentScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn fetch(&self) -> Option<usize> {
        self.spec.limit
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DFResult<TreeNodeRecursion>,
    ) -> DFResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "ResidentScanExec has no children".to_string(),
            ))
        }
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
        self.inner.execute(partition, context)
    }
}

/// One partition of a resident scan: its files, from the cache.
#[derive(Debug)]
struct ResidentPartition {
    schema: SchemaRef,
    files: Vec<DataFile>,
    store: Store,
    cache: Arc<TableCache>,
}

impl PartitionStream for ResidentPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let store = self.store.clone();
        let cache = Arc::clone(&self.cache);
        let stream = futures::stream::iter(self.files.clone())
            .then(move |file| {
                let store = store.clone();
                let cache = Arc::clone(&cache);
                async move {
                    // A file the cache does not keep streams from the store a row group at
                    // a time, so a table over the budget is read within it.
                    let batches = match cache.get(&store, &file).await? {
                        Some(b) => {
                            futures::stream::iter(b.as_ref().clone().into_iter().map(Ok)).boxed()
                        }
                        None => dyntag_core::scoring::cache::stream_file(&store, &file)
                            .await?
                            .map(|b| b.map_err(DataFusionError::from))
                            .boxed(),
                    };
                    Ok::<_, DataFusionError>(batches)
                }
            })
            .map(|r| match r {
                Ok(s) => s,
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            })
            .flatten();
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        ))
    }
}
