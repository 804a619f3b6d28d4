//! [`FileTable`]: a table made of known Parquet files on the store.
//!
//! The file list comes from a manifest in the snapshot, so planning never lists the store.
//! Scans read Parquet with projection, filter (row-group and page pruning) and limit
//! pushdown. A table with an embedding column can be *resident*: when a query reads the
//! embeddings, the decoded batches come from the [`TableCache`] (see `cache.rs`), or, for a
//! file the cache's budget cannot hold, are read and decoded a file at a time (embeddings
//! are stored encoded, see `encoding.rs`: the Parquet reader alone would hand them to SQL
//! as bytes).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, DataFusionError, Result as DFResult, Statistics};
use datafusion::datasource::TableProvider;
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{
    FileGroup, FileGroupPartitioner, FileScanConfigBuilder, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;

use dyntag_core::model::dataset::DataFile;
use dyntag_core::scoring::cache::TableCache;
use dyntag_core::store::Store;

use super::decode_exec::DecodeExec;
use super::resident_scan::{ResidentScan, ResidentScanExec};

/// Below this many bytes a scan is not split across partitions.
const REPARTITION_MIN_BYTES: usize = 4 << 20;

/// A table over Parquet files of the store.
#[derive(Debug, Clone)]
pub struct FileTable {
    schema: SchemaRef,
    files: Vec<DataFile>,
    store: Store,
    resident: Option<Resident>,
    /// Rebuilt on a cluster's scheduler from a plan's bytes: scans are plain Parquet scans
    /// (whose files the scheduler can share out among tasks), embeddings decoded after.
    on_cluster: bool,
}

/// A [`FileTable`]'s files and resident columns.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Parts {
    pub files: Vec<DataFile>,
    pub resident: Option<ResidentColumns>,
}

/// Which columns of a [`FileTable`] are served from the cache.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResidentColumns {
    pub columns: Vec<usize>,
    pub whole: bool,
}

#[derive(Debug, Clone)]
struct Resident {
    cache: Arc<TableCache>,
    /// Reading any of these columns makes the scan resident.
    columns: Vec<usize>,
    /// Every column is (a score table): a scan with a limit or a filter reads Parquet row
    /// groups rather than load whole files it may not need, unless they are resident.
    whole: bool,
}

impl FileTable {
    /// A table of `files`, all with `schema`.
    pub fn new(schema: SchemaRef, files: Vec<DataFile>, store: Store) -> Self {
        Self {
            schema,
            files,
            store,
            resident: None,
            on_cluster: false,
        }
    }

    /// Serves scans that read `column` from `cache`.
    pub fn resident(mut self, cache: Arc<TableCache>, column: &str) -> Self {
        if let Ok(i) = self.schema.index_of(column) {
            self.resident = Some(Resident {
                cache,
                columns: vec![i],
                whole: false,
            });
        }
        self
    }

    /// Serves every scan from `cache` (files it does not keep stream from the store).
    pub fn resident_whole(mut self, cache: Arc<TableCache>) -> Self {
        self.resident = Some(Resident {
            cache,
            columns: (0..self.schema.fields().len()).collect(),
            whole: true,
        });
        self
    }

    /// What the table is made of besides its schema, store and cache: its files and which
    /// columns are resident (see `codec.rs`).
    pub fn parts(&self) -> Parts {
        Parts {
            files: self.files.clone(),
            resident: self.resident.as_ref().map(|r| ResidentColumns {
                columns: r.columns.clone(),
                whole: r.whole,
            }),
        }
    }

    /// The table [`FileTable::parts`] describes, over `store` and `cache`, as a cluster's
    /// scheduler plans it.
    pub fn from_parts(
        schema: SchemaRef,
        parts: Parts,
        store: Store,
        cache: Arc<TableCache>,
    ) -> Self {
        Self {
            schema,
            files: parts.files,
            store,
            resident: parts.resident.map(|r| Resident {
                cache,
                columns: r.columns,
                whole: r.whole,
            }),
            on_cluster: true,
        }
    }

    /// The scan of a cluster: Parquet, with the embeddings of an embedding table read in
    /// their stored form (the first file's) and decoded by a plan step after the scan.
    /// Filters on the embedding column stay above the scan (they are not pushed into
    /// the reader of the stored bytes).
    async fn cluster_scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let embedding = self
            .schema
            .index_of(dyntag_core::model::dataset::schema::col::EMBEDDING);
        let reads_embedding = embedding
            .as_ref()
            .is_ok_and(|i| projection.is_none_or(|p| p.contains(i)));
        if !reads_embedding {
            return self.parquet_scan(&self.schema, state, projection, filters, limit);
        }
        let first = &self.files[0];
        let reader = dyntag_core::store::parquet::StoreReader::new(&self.store, first);
        let stored =
            datafusion::parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder::new(reader)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?
                .schema()
                .clone();
        let kept: Vec<Expr> = filters
            .iter()
            .filter(|f| {
                !f.column_refs()
                    .iter()
                    .any(|c| c.name == dyntag_core::model::dataset::schema::col::EMBEDDING)
            })
            .cloned()
            .collect();
        let scan = self.parquet_scan(&stored, state, projection, &kept, limit)?;
        Ok(Arc::new(DecodeExec::new(scan, self.projected(projection)?)))
    }

    /// The schema of a scan reading `projection`.
    fn projected(&self, projection: Option<&Vec<usize>>) -> DFResult<SchemaRef> {
        Ok(match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        })
    }

    fn rows(&self) -> usize {
        self.files.iter().map(|f| f.rows as usize).sum()
    }

    fn parquet_scan(
        &self,
        schema: &SchemaRef,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let mut source = ParquetSource::new(Arc::clone(schema));
        if let Some(predicate) = conjunction(filters.iter().cloned()) {
            let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
            source = source.with_predicate(state.create_physical_expr(predicate, &df_schema)?);
        }
        let partitions = state.config().target_partitions().max(1);
        let mut groups: Vec<Vec<PartitionedFile>> =
            vec![Vec::new(); partitions.min(self.files.len())];
        for (i, f) in self.files.iter().enumerate() {
            let n = groups.len();
            groups[i % n].push(PartitionedFile::new(f.path.clone(), f.bytes));
        }
        let mut groups: Vec<FileGroup> = groups.into_iter().map(FileGroup::new).collect();
        // Files differ in size (a scoring run's last file is a remainder): split them by
        // byte ranges (whole row groups) so that every partition decodes an equal share.
        if let Some(even) = FileGroupPartitioner::new()
            .with_target_partitions(partitions)
            .with_repartition_file_min_size(REPARTITION_MIN_BYTES)
            .repartition_file_groups(&groups)
        {
            groups = even;
        }
        let config = FileScanConfigBuilder::new(Store::url(), Arc::new(source))
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

#[async_trait]
impl TableProvider for FileTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    fn statistics(&self) -> Option<Statistics> {
        let mut s = Statistics::new_unknown(&self.schema);
        s.num_rows = datafusion::common::stats::Precision::Exact(self.rows());
        Some(s)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        if self.files.is_empty() {
            return Ok(Arc::new(EmptyExec::new(self.projected(projection)?)));
        }
        if self.on_cluster {
            return self.cluster_scan(state, projection, filters, limit).await;
        }
        let reads_resident = self.resident.as_ref().is_some_and(|r| {
            let reads = match projection {
                None => true,
                Some(p) => p.iter().any(|i| r.columns.contains(i)),
            };
            // A score table's query with a limit or a filter reads only the row groups
            // (and columns) it needs from Parquet, unless every file is resident already.
            let prunes = r.whole
                && (limit.is_some() || !filters.is_empty())
                && !self.files.iter().all(|f| r.cache.peek(&f.path).is_some());
            reads && !prunes
        });
        match &self.resident {
            Some(r) if reads_resident => {
                let n = state
                    .config()
                    .target_partitions()
                    .clamp(1, self.files.len());
                let spec = ResidentScan {
                    files: (0..n)
                        .map(|p| self.files.iter().skip(p).step_by(n).cloned().collect())
                        .collect(),
                    projection: projection.cloned(),
                    limit,
                };
                Ok(Arc::new(ResidentScanExec::new(
                    Arc::clone(&self.schema),
                    spec,
                    self.store.clone(),
                    Arc::clone(&r.cache),
                )?))
            }
            _ => self.parquet_scan(&self.schema, state, projection, filters, limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::datasource::physical_plan::FileScanConfig;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::physical_plan::collect_partitioned;
    use datafusion::prelude::{SessionConfig, SessionContext};
    use object_store::memory::InMemory;
    use object_store::path::Path;

    use super::*;
    use dyntag_core::store::parquet::{FileWriter, with_sizes};

    /// A file of `rows` rows of pseudo-random scores (incompressible, so bytes follow rows).
    async fn scores_file(store: &Store, name: &str, schema: &SchemaRef, rows: usize) -> DataFile {
        let mut w = FileWriter::create(store, Path::from(name), Arc::clone(schema), 32_768)
            .expect("writer");
        let mut rng = dyntag_core::store::random::Random::seeded(rows as u64);
        for start in (0..rows).step_by(65_536) {
            let n = 65_536.min(rows - start);
            let scores: Vec<f64> = (0..n)
                .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
                .collect();
            let ids: Vec<String> = (start..start + n).map(|i| format!("img-{i}")).collect();
            let batch = RecordBatch::try_new(
                Arc::clone(schema),
                vec![
                    Arc::new(StringArray::from(ids)),
                    Arc::new(Float64Array::from(scores)),
                ],
            )
            .expect("batch");
            w.write(&batch).await.expect("write");
        }
        let f = w.finish().await.expect("finish");
        with_sizes(store, vec![f]).await.expect("size").remove(0)
    }

    #[tokio::test]
    async fn a_scan_of_unequal_files_is_split_evenly_and_reads_every_row_once() {
        let store = Store::from_object_store(Arc::new(InMemory::new()), "memory");
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("score", DataType::Float64, false),
        ]));
        // One large file and a small remainder, as a scoring run writes them.
        let big = scores_file(&store, "t/00000.parquet", &schema, 900_000).await;
        let small = scores_file(&store, "t/00001.parquet", &schema, 100_000).await;
        assert!(big.bytes + small.bytes > REPARTITION_MIN_BYTES as u64);
        let table = FileTable::new(Arc::clone(&schema), vec![big, small], store.clone());

        let runtime = RuntimeEnvBuilder::new().build_arc().expect("runtime");
        runtime.register_object_store(Store::url().as_ref(), store.object_store());
        let config = SessionConfig::new().with_target_partitions(2);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let plan = table
            .scan(&ctx.state(), None, &[], None)
            .await
            .expect("scan");
        // Two partitions of equal byte ranges (whole row groups are read by the partition
        // whose range holds their middle)…
        let scan = plan
            .downcast_ref::<DataSourceExec>()
            .and_then(|e| e.data_source().downcast_ref::<FileScanConfig>())
            .expect("a Parquet file scan");
        let shares: Vec<u64> = scan
            .file_groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|f| {
                        f.range
                            .as_ref()
                            .map_or(f.object_meta.size, |r| (r.end - r.start) as u64)
                    })
                    .sum()
            })
            .collect();
        assert_eq!(shares.len(), 2, "{shares:?}");
        assert!(
            shares[0].abs_diff(shares[1]) <= shares[0].max(shares[1]) / 10,
            "bytes per partition: {shares:?}"
        );
        // …which together read every row exactly once (ids repeat across the two files:
        // each starts at 0).
        let mut rows = 0;
        let mut ids = std::collections::HashSet::new();
        for batches in collect_partitioned(Arc::clone(&plan), ctx.task_ctx())
            .await
            .expect("scan")
        {
            for batch in batches {
                rows += batch.num_rows();
                let col = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .expect("ids");
                ids.extend(col.iter().flatten().map(str::to_string));
            }
        }
        assert_eq!(rows, 1_000_000);
        assert_eq!(ids.len(), 900_000);
    }
}
