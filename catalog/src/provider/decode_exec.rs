//! [`DecodeExec`]: the embeddings of a Parquet scan in their in-memory form — what the
//! resident scan does from the cache, as a plan step over a plain file scan. A cluster
//! reads embedding tables this way: its scheduler hands each task a share of the scan's
//! files, which it can do for a Parquet scan and not for a resident one (see
//! `FileTable::scan`).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DFResult};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr,
    PlanProperties, ReplaceChildrenOptions, SendableRecordBatchStream,
};
use futures::StreamExt;

use dyntag_core::model::dataset::encoding::decode_batch;

/// Decodes the `embedding` column of its input's batches; `schema` is its output.
#[derive(Debug)]
pub struct DecodeExec {
    input: Arc<dyn ExecutionPlan>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl DecodeExec {
    /// The rows of `input` as `schema` (the same columns, embeddings decoded).
    pub fn new(input: Arc<dyn ExecutionPlan>, schema: SchemaRef) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            input.properties().output_partitioning().clone(),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Self {
            input,
            schema,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for DecodeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DecodeExec: embeddings to their in-memory form")
    }
}

impl ExecutionPlan for DecodeExec {
    fn name(&self) -> &'static str {
        "DecodeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DFResult<TreeNodeRecursion>,
    ) -> DFResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(
                "DecodeExec has one child".to_string(),
            ));
        }
        Ok(Arc::new(Self::new(
            children.remove(0),
            Arc::clone(&self.schema),
        )))
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
        let schema = Arc::clone(&self.schema);
        let input = self.input.execute(partition, context)?;
        let out = Arc::clone(&schema);
        let stream = input.map(move |b| {
            let decoded = decode_batch(b?).map_err(|e| DataFusionError::External(Box::new(e)))?;
            Ok(RecordBatch::try_new(
                Arc::clone(&out),
                decoded.columns().to_vec(),
            )?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}
