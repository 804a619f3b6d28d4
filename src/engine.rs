//! [`Engine`]: a DataFusion session over the dyntag catalog, with dyntag's functions and
//! the tag statements. Every front end (CLI, servers, tests) runs SQL through it.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use dyntag_catalog::import::{NoProgress, Progress};
use dyntag_catalog::provider::{CATALOG_NAME, DyntagCatalogProvider};
use dyntag_catalog::statements::{self, TagStatement};
use dyntag_catalog::store::Store;
use dyntag_catalog::{Catalog, CatalogError};
use dyntag_udfs::{FunctionContext, SessionDataset};

use crate::error::{AppError, Result};

/// The answer to one statement.
#[derive(Debug)]
pub struct Answer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl Answer {
    fn from_batch(batch: RecordBatch) -> Self {
        Self {
            schema: batch.schema(),
            batches: vec![batch],
        }
    }

    /// Total rows.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// A SQL session over a catalog.
pub struct Engine {
    catalog: Arc<Catalog>,
    ctx: SessionContext,
    dataset: SessionDataset,
}

impl Engine {
    /// A session whose current dataset is `dataset`, else the first dataset, else `default`.
    pub fn new(catalog: Arc<Catalog>, dataset: Option<&str>) -> Result<Self> {
        let snapshot = catalog.snapshot();
        let dataset = match dataset {
            Some(d) => {
                snapshot.dataset(d)?;
                d.to_string()
            }
            None => snapshot
                .datasets
                .keys()
                .next()
                .cloned()
                .unwrap_or_else(|| "default".into()),
        };
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG_NAME, &dataset)
            .with_create_default_catalog_and_schema(false);
        let runtime = RuntimeEnvBuilder::new().build_arc()?;
        runtime.register_object_store(Store::url().as_ref(), catalog.store().object_store());
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        ctx.register_catalog(
            CATALOG_NAME,
            Arc::new(DyntagCatalogProvider::new(Arc::clone(&catalog))),
        );
        let session_dataset = SessionDataset::new(dataset);
        for f in dyntag_udfs::functions(FunctionContext {
            catalog: Arc::clone(&catalog),
            dataset: session_dataset.clone(),
        }) {
            ctx.register_udf(f);
        }
        Ok(Self {
            catalog,
            ctx,
            dataset: session_dataset,
        })
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The DataFusion session.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The current dataset.
    pub fn dataset(&self) -> String {
        self.dataset.get()
    }

    /// Switches the current dataset.
    pub async fn use_dataset(&self, name: &str) -> Result<()> {
        self.catalog.refresh().await?.dataset(name)?;
        self.ctx
            .sql(&format!("SET datafusion.catalog.default_schema = '{name}'"))
            .await?
            .collect()
            .await?;
        self.dataset.set(name);
        Ok(())
    }

    /// Runs one statement (standard SQL or a tag statement) and collects its answer.
    pub async fn execute(&self, sql: &str) -> Result<Answer> {
        self.execute_with_progress(sql, &NoProgress).await
    }

    /// Like [`Engine::execute`], reporting the progress of long statements (publishing).
    pub async fn execute_with_progress(
        &self,
        sql: &str,
        progress: &dyn Progress,
    ) -> Result<Answer> {
        self.catalog.refresh().await?;
        match statements::parse(sql)? {
            Some(TagStatement::Use { dataset }) => {
                self.use_dataset(&dataset).await?;
                Ok(Answer::from_batch(statements::message(format!(
                    "using dataset '{dataset}'"
                ))?))
            }
            Some(stmt) => {
                let batch =
                    statements::execute(&self.catalog, &stmt, &self.dataset(), progress).await?;
                Ok(Answer::from_batch(batch))
            }
            None => {
                let df = self.ctx.sql(sql).await.map_err(friendly)?;
                let schema = Arc::new(df.schema().as_arrow().clone());
                let batches = df.collect().await.map_err(friendly)?;
                Ok(Answer { schema, batches })
            }
        }
    }

    /// Runs a script of `;`-separated statements, returning each answer.
    pub async fn execute_script(&self, script: &str) -> Result<Vec<Answer>> {
        let mut out = Vec::new();
        for stmt in statements::split_statements(script) {
            out.push(self.execute(&stmt).await?);
        }
        Ok(out)
    }
}

/// Our own errors travel through DataFusion wrapped; unwrap them so that the user sees the
/// catalog's message.
fn friendly(e: datafusion::error::DataFusionError) -> AppError {
    let mut cur: &datafusion::error::DataFusionError = &e;
    loop {
        match cur {
            datafusion::error::DataFusionError::External(inner) => {
                if let Some(c) = inner.downcast_ref::<CatalogError>() {
                    return AppError::Usage(c.to_string());
                }
                break;
            }
            datafusion::error::DataFusionError::Context(_, inner)
            | datafusion::error::DataFusionError::Diagnostic(_, inner) => cur = inner,
            _ => break,
        }
    }
    AppError::Query(e)
}
