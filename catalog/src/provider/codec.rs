//! Plans that travel: the bytes that stand for a [`FileTable`] in a logical plan and for a
//! [`ResidentScanExec`] or [`DecodeExec`] in a physical plan, so that another process (a cluster's scheduler
//! or executor) rebuilds them over the same files of the same store, with its own store
//! handle and cache ([`Resources`]).
//!
//! A node is `dyntag-node:` followed by a JSON header's length (4 bytes, little-endian),
//! the header, and for a scan its table's schema as an Arrow IPC stream. The bytes name
//! files, not datasets: which files a plan may read was decided by the caller's view of the
//! catalog when the plan was made (see `DyntagCatalogProvider`), so whoever can send plans
//! to a cluster's scheduler reads what they name — the scheduler's port is the cluster's
//! inside, never a door for clients.

use std::io::Cursor;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::view::ViewTable;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DFResult};
use datafusion::datasource::{TableProvider, source_as_provider};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;

use super::decode_exec::DecodeExec;
use super::file_table::FileTable;
use super::resident_scan::{ResidentScan, ResidentScanExec};
use dyntag_core::scoring::cache::TableCache;
use dyntag_core::store::Store;

const MAGIC: &[u8] = b"dyntag-node:";

/// What a process rebuilds plans over: its handle on the store and its cache.
#[derive(Debug, Clone)]
pub struct Resources {
    pub store: Store,
    pub cache: Arc<TableCache>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "node", rename_all = "snake_case")]
enum Header {
    FileTable(super::file_table::Parts),
    ResidentScan(ResidentScan),
    /// A [`DecodeExec`] (its output schema follows; its input is the plan's child).
    Decode,
}

/// Whether a plan reading `table` can be sent to another process: a [`FileTable`], or a
/// view of such tables (`dt_version`'s included). Tables made in memory cannot: system
/// tables, the search functions' results, `generate_series`.
pub fn travels(table: &dyn TableProvider) -> bool {
    if table.is::<FileTable>() {
        return true;
    }
    match table.downcast_ref::<ViewTable>() {
        Some(view) => plan_travels(view.logical_plan()),
        None => false,
    }
}

/// Whether every table `plan` reads (subqueries included) [`travels`].
pub fn plan_travels(plan: &LogicalPlan) -> bool {
    let mut all = true;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && !source_as_provider(&scan.source).is_ok_and(|p| travels(p.as_ref()))
        {
            all = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    all
}

/// Writes `table` into `buf` if it is one of dyntag's; `false` if it is not.
pub fn encode_table(table: &dyn TableProvider, buf: &mut Vec<u8>) -> DFResult<bool> {
    let Some(table) = table.downcast_ref::<FileTable>() else {
        return Ok(false);
    };
    write(buf, &Header::FileTable(table.parts()), None)?;
    Ok(true)
}

/// The table `buf` stands for, with `schema` (the scan's, which the plan carries), over
/// `resources`; `None` if the bytes are not a dyntag node.
pub fn decode_table(
    buf: &[u8],
    schema: SchemaRef,
    resources: &Resources,
) -> DFResult<Option<Arc<dyn TableProvider>>> {
    match read(buf)? {
        None => Ok(None),
        Some((Header::FileTable(parts), _)) => Ok(Some(Arc::new(FileTable::from_parts(
            schema,
            parts,
            resources.store.clone(),
            Arc::clone(&resources.cache),
        )))),
        Some(_) => Err(node_error("a table", "a plan node")),
    }
}

/// Writes `plan` (this node only, not its children) into `buf` if it is one of dyntag's;
/// `false` if it is not.
pub fn encode_plan(plan: &dyn ExecutionPlan, buf: &mut Vec<u8>) -> DFResult<bool> {
    if let Some(scan) = plan.downcast_ref::<ResidentScanExec>() {
        write(
            buf,
            &Header::ResidentScan(scan.spec().clone()),
            Some(scan.table_schema()),
        )?;
        return Ok(true);
    }
    if plan.is::<DecodeExec>() {
        write(buf, &Header::Decode, Some(&plan.schema()))?;
        return Ok(true);
    }
    Ok(false)
}

/// The plan node `buf` stands for, over its already rebuilt `inputs` and `resources`;
/// `None` if the bytes are not a dyntag node.
pub fn decode_plan(
    buf: &[u8],
    inputs: &[Arc<dyn ExecutionPlan>],
    resources: &Resources,
) -> DFResult<Option<Arc<dyn ExecutionPlan>>> {
    match read(buf)? {
        None => Ok(None),
        Some((Header::ResidentScan(spec), Some(schema))) => {
            Ok(Some(Arc::new(ResidentScanExec::new(
                schema,
                spec,
                resources.store.clone(),
                Arc::clone(&resources.cache),
            )?)))
        }
        Some((Header::Decode, Some(schema))) => match inputs {
            [input] => Ok(Some(Arc::new(DecodeExec::new(Arc::clone(input), schema)))),
            _ => Err(node_error("one input of a decode step", "another number")),
        },
        Some(_) => Err(node_error("a plan node", "a table")),
    }
}

fn node_error(expected: &str, found: &str) -> DataFusionError {
    DataFusionError::Internal(format!(
        "dyntag plan bytes: expected {expected}, found {found}"
    ))
}

fn write(buf: &mut Vec<u8>, header: &Header, schema: Option<&SchemaRef>) -> DFResult<()> {
    let json = serde_json::to_vec(header)
        .map_err(|e| DataFusionError::Internal(format!("dyntag plan bytes: {e}")))?;
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
    buf.extend_from_slice(&json);
    if let Some(schema) = schema {
        let mut w = StreamWriter::try_new(&mut *buf, schema)?;
        w.finish()?;
    }
    Ok(())
}

fn read(buf: &[u8]) -> DFResult<Option<(Header, Option<SchemaRef>)>> {
    let Some(rest) = buf.strip_prefix(MAGIC) else {
        return Ok(None);
    };
    let bad = |what: &str| DataFusionError::Internal(format!("dyntag plan bytes: {what}"));
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| bad("truncated header length"))?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err(bad("truncated header"));
    }
    let (json, schema) = rest.split_at(len);
    let header: Header = serde_json::from_slice(json).map_err(|e| bad(&format!("header: {e}")))?;
    let schema = if schema.is_empty() {
        None
    } else {
        Some(StreamReader::try_new(Cursor::new(schema), None)?.schema())
    };
    Ok(Some((header, schema)))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use object_store::memory::InMemory;

    use super::*;
    use dyntag_core::model::dataset::DataFile;

    fn resources() -> Resources {
        Resources {
            store: Store::from_object_store(Arc::new(InMemory::new()), "memory"),
            cache: Arc::new(TableCache::new(1 << 20)),
        }
    }

    fn files(n: usize) -> Vec<DataFile> {
        (0..n)
            .map(|i| DataFile {
                path: format!("t/{i:05}.parquet"),
                rows: 100 + i as u64,
                bytes: 4096 + i as u64,
            })
            .collect()
    }

    #[test]
    fn a_resident_table_and_its_scan_come_back_as_they_left() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("coactive_image_id", DataType::Utf8, false),
            Field::new("embedding", DataType::FixedSizeBinary(768), true),
        ]));
        let res = resources();
        let table = FileTable::new(Arc::clone(&schema), files(3), res.store.clone())
            .resident(Arc::clone(&res.cache), "embedding");
        let mut buf = Vec::new();
        assert!(encode_table(&table, &mut buf).expect("encode"));
        let back = decode_table(&buf, Arc::clone(&schema), &res)
            .expect("decode")
            .expect("a dyntag node");
        let back = back.downcast_ref::<FileTable>().expect("a FileTable");
        assert_eq!(back.parts(), table.parts());

        let spec = ResidentScan {
            files: vec![files(2), files(1)],
            projection: Some(vec![1]),
            limit: Some(7),
        };
        let scan = ResidentScanExec::new(
            Arc::clone(&schema),
            spec.clone(),
            res.store.clone(),
            Arc::clone(&res.cache),
        )
        .expect("scan");
        let mut buf = Vec::new();
        assert!(encode_plan(&scan, &mut buf).expect("encode"));
        let back = decode_plan(&buf, &[], &res)
            .expect("decode")
            .expect("a dyntag node");
        let back = back
            .downcast_ref::<ResidentScanExec>()
            .expect("a resident scan");
        assert_eq!(back.spec(), &spec);
        assert_eq!(back.table_schema(), &schema);
        assert_eq!(back.properties().partitioning.partition_count(), 2);
        assert_eq!(back.schema().fields().len(), 1);
    }

    #[test]
    fn a_decode_step_comes_back_over_its_input() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "coactive_image_id",
            DataType::Utf8,
            false,
        )]));
        let input: Arc<dyn ExecutionPlan> = Arc::new(
            datafusion::physical_plan::empty::EmptyExec::new(Arc::clone(&schema))
                .with_partitions(3),
        );
        let step = DecodeExec::new(Arc::clone(&input), Arc::clone(&schema));
        let mut buf = Vec::new();
        assert!(encode_plan(&step, &mut buf).expect("encode"));
        let res = resources();
        let back = decode_plan(&buf, &[Arc::clone(&input)], &res)
            .expect("decode")
            .expect("a dyntag node");
        assert!(back.is::<DecodeExec>());
        assert_eq!(back.schema(), schema);
        assert_eq!(back.properties().partitioning.partition_count(), 3);
        let Err(err) = decode_plan(&buf, &[], &res) else {
            panic!("a decode step without its input was rebuilt");
        };
        assert!(err.to_string().contains("one input"), "{err}");
    }

    #[test]
    fn other_bytes_are_not_ours_and_broken_ones_are_named() {
        let res = resources();
        let schema = Arc::new(Schema::empty());
        assert!(
            decode_table(b"\x0a\x03abc", Arc::clone(&schema), &res)
                .expect("not ours")
                .is_none()
        );
        assert!(decode_plan(b"", &[], &res).expect("not ours").is_none());
        let Err(err) = decode_table(b"dyntag-node:\x10\0\0\0{", schema, &res) else {
            panic!("truncated bytes were read");
        };
        assert!(err.to_string().contains("truncated header"), "{err}");
    }
}
