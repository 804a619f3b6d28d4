//! [`FileTable`]: a table made of known Parquet files on the store.
//!
//! The file list comes from a manifest in the snapshot, so planning never lists the store.
//! Scans read Parquet with projection, filter (row-group and page pruning) and limit
//! pushdown. A table with an embedding column can be *resident*: when a query reads the
//! embeddings, the decoded batches come from the [`TableCache`] (see `cache.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, Result as DFResult, Statistics};
use datafusion::datasource::TableProvider;
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::StreamExt;

use crate::cache::TableCache;
use crate::dataset::DataFile;
use crate::store::Store;

/// A table over Parquet files of the store.
#[derive(Debug, Clone)]
pub struct FileTable {
    schema: SchemaRef,
    files: Vec<DataFile>,
    store: Store,
    resident: Option<Resident>,
}

#[derive(Debug, Clone)]
struct Resident {
    cache: Arc<TableCache>,
    /// Reading any of these columns makes the scan resident.
    columns: Vec<usize>,
}

impl FileTable {
    /// A table of `files`, all with `schema`.
    pub fn new(schema: SchemaRef, files: Vec<DataFile>, store: Store) -> Self {
        Self {
            schema,
            files,
            store,
            resident: None,
        }
    }

    /// Serves scans that read `column` from `cache`.
    pub fn resident(mut self, cache: Arc<TableCache>, column: &str) -> Self {
        if let Ok(i) = self.schema.index_of(column) {
            self.resident = Some(Resident {
                cache,
                columns: vec![i],
            });
        }
        self
    }

    fn rows(&self) -> usize {
        self.files.iter().map(|f| f.rows as usize).sum()
    }

    fn parquet_scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let mut source = ParquetSource::new(Arc::clone(&self.schema));
        if let Some(predicate) = conjunction(filters.iter().cloned()) {
            let df_schema = DFSchema::try_from(self.schema.as_ref().clone())?;
            source = source.with_predicate(state.create_physical_expr(predicate, &df_schema)?);
        }
        let partitions = state.config().target_partitions().max(1);
        let mut groups: Vec<Vec<PartitionedFile>> =
            vec![Vec::new(); partitions.min(self.files.len())];
        for (i, f) in self.files.iter().enumerate() {
            let n = groups.len();
            groups[i % n].push(PartitionedFile::new(f.path.clone(), f.bytes));
        }
        let config = FileScanConfigBuilder::new(Store::url(), Arc::new(source))
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
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
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let reads_resident = self.resident.as_ref().is_some_and(|r| match projection {
            None => true,
            Some(p) => p.iter().any(|i| r.columns.contains(i)),
        });
        match &self.resident {
            Some(r) if reads_resident && self.files.iter().all(|f| r.cache.fits(f)) => {
                let n = state
                    .config()
                    .target_partitions()
                    .clamp(1, self.files.len());
                let partitions: Vec<Arc<dyn PartitionStream>> = (0..n)
                    .map(|p| {
                        Arc::new(ResidentPartition {
                            schema: Arc::clone(&self.schema),
                            files: self.files.iter().skip(p).step_by(n).cloned().collect(),
                            store: self.store.clone(),
                            cache: Arc::clone(&r.cache),
                        }) as Arc<dyn PartitionStream>
                    })
                    .collect();
                Ok(Arc::new(StreamingTableExec::try_new(
                    Arc::clone(&self.schema),
                    partitions,
                    projection,
                    vec![],
                    false,
                    limit,
                )?))
            }
            _ => self.parquet_scan(state, projection, filters, limit),
        }
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
                    let batches = match cache.get(&store, &file).await? {
                        Some(b) => b.as_ref().clone(),
                        None => crate::cache::read_file(&store, &file).await?,
                    };
                    Ok::<_, datafusion::error::DataFusionError>(futures::stream::iter(
                        batches.into_iter().map(Ok),
                    ))
                }
            })
            .map(|r| match r {
                Ok(s) => s.boxed(),
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            })
            .flatten();
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        ))
    }
}
