//! The codecs a cluster's plans travel with: Ballista's own, with dyntag's nodes in front —
//! the tables and resident scans of `dyntag_catalog::provider::codec`, scoring jobs
//! (`scoring.rs`), and dyntag's functions, each sent with the dataset it resolves tags in and rebuilt over the
//! receiving process's catalog (which reads the same store).

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result as DFResult, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use dyntag_catalog::provider::codec::{self, Resources};
use dyntag_core::Catalog;

/// The start of a dyntag function's bytes.
const FUNCTION_MAGIC: &[u8] = b"dyntag-fn:";

/// What the codecs rebuild plans over: the catalog of the process that receives them.
#[derive(Debug, Clone)]
pub struct Rebuild {
    catalog: Arc<Catalog>,
    resources: Resources,
}

impl Rebuild {
    pub fn new(catalog: Arc<Catalog>) -> Self {
        let resources = Resources {
            store: catalog.store().clone(),
            cache: Arc::clone(catalog.table_cache()),
        };
        Self { catalog, resources }
    }

    /// A dyntag function as `dyntag-fn:`, the catalog revision (journal entry) of the
    /// process encoding the plan, `:`, and the dataset it resolves tags in: the receiver
    /// resolves tags at that revision or a later one.
    fn encode_udf(&self, udf: &ScalarUDF, buf: &mut Vec<u8>) {
        if dyntag_udfs::is_dyntag_function(udf) {
            // `cosine_similarity` resolves no tags: no dataset.
            let dataset = dyntag_udfs::bound_dataset(udf).unwrap_or_default();
            let journal = self.catalog.snapshot().journal;
            buf.extend_from_slice(FUNCTION_MAGIC);
            buf.extend_from_slice(format!("{journal}:{dataset}").as_bytes());
        }
    }

    /// The function `buf` names, over this process's catalog, caught up with the revision
    /// the plan was made at (a tag's prompts may have changed since this process last
    /// read the catalog); `None` if the bytes are not a dyntag function.
    fn decode_udf(&self, name: &str, buf: &[u8]) -> Option<DFResult<Arc<ScalarUDF>>> {
        let rest = buf.strip_prefix(FUNCTION_MAGIC)?;
        let bad = || {
            DataFusionError::Internal(format!(
                "dyntag function bytes of {name}: {}",
                String::from_utf8_lossy(rest)
            ))
        };
        let Some((journal, dataset)) = std::str::from_utf8(rest)
            .ok()
            .and_then(|t| t.split_once(':'))
            .and_then(|(j, d)| Some((j.parse::<u64>().ok()?, d)))
        else {
            return Some(Err(bad()));
        };
        if self.catalog.snapshot().journal < journal
            && let Err(e) = catch_up(&self.catalog)
        {
            return Some(Err(e));
        }
        Some(
            dyntag_udfs::function_for(name, Arc::clone(&self.catalog), dataset)
                .map(Arc::new)
                .ok_or_else(|| DataFusionError::Plan(format!("{name} is not a dyntag function"))),
        )
    }
}

/// Reads what changed in the catalog since this process last did, from a codec's
/// (synchronous) call inside the runtime.
fn catch_up(catalog: &Arc<Catalog>) -> DFResult<()> {
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|e| DataFusionError::Internal(format!("catalog refresh: {e}")))?;
    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return Err(DataFusionError::Internal(
            "catalog refresh: needs a multi-threaded runtime".into(),
        ));
    }
    tokio::task::block_in_place(|| handle.block_on(catalog.refresh()))
        .map(|_| ())
        .map_err(|e| DataFusionError::External(Box::new(e)))
}

/// Ballista's logical codec, with dyntag's tables and functions.
#[derive(Debug)]
pub struct LogicalCodec {
    rebuild: Rebuild,
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalCodec {
    pub fn new(rebuild: Rebuild) -> Self {
        Self {
            rebuild,
            ballista: BallistaLogicalExtensionCodec::default(),
        }
    }
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> DFResult<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DFResult<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> DFResult<Arc<dyn TableProvider>> {
        if let Some(job) = super::scoring::decode_table(buf, &self.rebuild.catalog)? {
            return Ok(job);
        }
        match codec::decode_table(buf, Arc::clone(&schema), &self.rebuild.resources)? {
            Some(table) => Ok(table),
            None => self
                .ballista
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DFResult<()> {
        if codec::encode_table(node.as_ref(), buf)?
            || super::scoring::encode_table(node.as_ref(), buf)?
        {
            return Ok(());
        }
        self.ballista
            .try_encode_table_provider(table_ref, node, buf)
            .map_err(|e| {
                DataFusionError::NotImplemented(format!(
                    "the table {table_ref} cannot be read on a cluster ({e})"
                ))
            })
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> DFResult<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> DFResult<()> {
        self.ballista.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DFResult<Arc<ScalarUDF>> {
        match self.rebuild.decode_udf(name, buf) {
            Some(udf) => udf,
            None => self.ballista.try_decode_udf(name, buf),
        }
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DFResult<()> {
        self.rebuild.encode_udf(node, buf);
        Ok(())
    }
}

/// Ballista's physical codec, with dyntag's plan nodes and functions.
#[derive(Debug)]
pub struct PhysicalCodec {
    rebuild: Rebuild,
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalCodec {
    pub fn new(rebuild: Rebuild) -> Self {
        Self {
            rebuild,
            ballista: BallistaPhysicalExtensionCodec::default(),
        }
    }
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        if let Some(plan) = super::scoring::decode_plan(buf, inputs, &self.rebuild.catalog)? {
            return Ok(plan);
        }
        match codec::decode_plan(buf, inputs, &self.rebuild.resources)? {
            Some(plan) => Ok(plan),
            None => self.ballista.try_decode(buf, inputs, ctx, proto_converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DFResult<()> {
        if codec::encode_plan(node.as_ref(), buf)?
            || super::scoring::encode_plan(node.as_ref(), buf)?
        {
            return Ok(());
        }
        self.ballista.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DFResult<Arc<ScalarUDF>> {
        match self.rebuild.decode_udf(name, buf) {
            Some(udf) => udf,
            None => self.ballista.try_decode_udf(name, buf),
        }
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DFResult<()> {
        self.rebuild.encode_udf(node, buf);
        Ok(())
    }
}
