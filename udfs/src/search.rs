//! `semantic_search('query', k [, 'visual' | 'transcript'])`, `dt_uncertain('group', 'tag',
//! k)` (items to label) and `dt_metrics('group', 'tag')` (the Tag Evaluator's table): table
//! functions computed when the query runs (their scan is asynchronous), on the session's
//! dataset.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, new_null_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use dyntag_core::Modality;
use dyntag_core::scoring::scan::{Item, to_batch};

use crate::FunctionContext;

/// Columns of both functions: the items, with their score.
fn item_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("item_id", DataType::Utf8, false),
        Field::new("coactive_video_id", DataType::Utf8, true),
        Field::new("time_ms", DataType::Int64, true),
        Field::new("detail", DataType::Utf8, true),
        Field::new("score", DataType::Float64, false),
        Field::new("threshold_decision", DataType::Boolean, true),
    ]))
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

fn string_arg(exprs: &[Expr], i: usize, usage: &str) -> Result<String> {
    match exprs.get(i).and_then(literal) {
        Some(ScalarValue::Utf8(Some(s))) => Ok(s.clone()),
        _ => plan_err!("argument {} must be a string: {usage}", i + 1),
    }
}

fn count_arg(exprs: &[Expr], i: usize, usage: &str) -> Result<usize> {
    match exprs.get(i).and_then(literal) {
        Some(ScalarValue::Int64(Some(k))) if (1..=10_000).contains(k) => Ok(*k as usize),
        _ => plan_err!(
            "argument {} must be a count between 1 and 10000: {usage}",
            i + 1
        ),
    }
}

/// What a lazy table computes when scanned.
#[derive(Debug, Clone)]
enum Request {
    Search {
        query: String,
        k: usize,
        modality: Modality,
    },
    Uncertain {
        group: String,
        tag: String,
        k: usize,
    },
    Metrics {
        slug: String,
        tag: String,
    },
}

/// `dt_metrics('group', 'tag')`: the Tag Evaluator's table of every metric over
/// thresholds 0.00–1.00, with 95% bootstrap intervals and the recommended threshold.
#[derive(Debug)]
pub struct DtMetrics {
    ctx: FunctionContext,
}

impl DtMetrics {
    pub fn new(ctx: FunctionContext) -> Self {
        Self { ctx }
    }
}

impl TableFunctionImpl for DtMetrics {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const USAGE: &str = "dt_metrics('group', 'tag')";
        let exprs = args.exprs();
        let group = string_arg(exprs, 0, USAGE)?;
        let tag = string_arg(exprs, 1, USAGE)?;
        let dataset = self.ctx.dataset.get();
        let snapshot = self.ctx.catalog.snapshot();
        let g = snapshot
            .groups_of(&dataset)
            .into_iter()
            .find(|g| g.doc.slug == dyntag_core::model::tags::names::slug(&group))
            .map(|g| Arc::clone(&g.doc));
        let Some(g) = g.filter(|g| g.training_dataset == dataset) else {
            return plan_err!(
                "tag group '{group}' not found on dataset '{dataset}' (dt_metrics reads evaluations on a group's training dataset)"
            );
        };
        let Some(t) = g.tag(&tag) else {
            return plan_err!("tag '{tag}' not found in tag group '{}'", g.name);
        };
        Ok(Arc::new(LazyTable {
            ctx: self.ctx.clone(),
            schema: dyntag_core::service::evaluate::metrics_table(&[])?.schema(),
            request: Request::Metrics {
                slug: g.slug.clone(),
                tag: t.name.clone(),
            },
        }))
    }
}

/// A table computed when the query runs.
#[derive(Debug)]
struct LazyTable {
    ctx: FunctionContext,
    schema: SchemaRef,
    request: Request,
}

impl LazyTable {
    /// Its one batch.
    async fn batch(&self) -> Result<RecordBatch> {
        if let Request::Metrics { slug, tag } = &self.request {
            let eval = dyntag_core::service::evaluate::load(&self.ctx.catalog, slug, tag)
                .await?
                .ok_or_else(|| {
                    dyntag_core::CatalogError::State(format!(
                        "tag '{tag}' has no evaluation yet: EVALUATE TAG '{tag}' IN GROUP {slug} draws its sample"
                    ))
                })?;
            if eval.labelled().is_empty() {
                return Err(dyntag_core::CatalogError::State(format!(
                    "the evaluation of tag '{tag}' has no labels yet"
                ))
                .into());
            }
            return Ok(dyntag_core::service::evaluate::metrics_table(
                &eval.sweep(),
            )?);
        }
        let (items, threshold) = self.items().await?;
        let batch = to_batch(&items, threshold)?;
        let mut columns = batch.columns().to_vec();
        if threshold.is_infinite() {
            // A search has no threshold: no decision.
            let last = columns.len() - 1;
            columns[last] = new_null_array(&DataType::Boolean, items.len());
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }

    async fn items(&self) -> dyntag_core::Result<(Vec<Item>, f64)> {
        let catalog = &self.ctx.catalog;
        let dataset = self.ctx.dataset.get();
        match &self.request {
            // Answered by `batch` itself.
            Request::Metrics { .. } => Ok((Vec::new(), f64::INFINITY)),
            Request::Search { query, k, modality } => Ok((
                dyntag_core::service::search::semantic_search(
                    catalog, &dataset, *modality, query, *k,
                )
                .await?,
                f64::INFINITY,
            )),
            Request::Uncertain { group, tag, k } => {
                let snapshot = catalog.refresh().await?;
                let (definition, tag_name) =
                    catalog.resolve_tag(&snapshot, &dataset, Some(group), tag)?;
                let g = &snapshot.group(group)?.doc;
                if g.training_dataset != dataset || definition.version.is_none() {
                    return Err(dyntag_core::CatalogError::State(format!(
                        "dt_uncertain works once tag group '{group}' is published, on its training dataset"
                    )));
                }
                let current = g.tag(&tag_name);
                let threshold = current.map_or(0.5, |t| t.threshold);
                let exclude: HashSet<String> = current
                    .map(|t| t.labels.iter().map(|l| l.asset_id.clone()).collect())
                    .unwrap_or_default();
                let items = dyntag_core::service::search::uncertain(
                    catalog,
                    &dataset,
                    &definition,
                    &tag_name,
                    threshold,
                    *k,
                    &exclude,
                )
                .await?;
                Ok((items, threshold))
            }
        }
    }
}

#[async_trait]
impl TableProvider for LazyTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![self.batch().await?]],
            Arc::clone(&self.schema),
            projection.cloned(),
        )?)
    }
}

/// The `semantic_search` table function.
#[derive(Debug)]
pub struct SemanticSearch {
    ctx: FunctionContext,
}

impl SemanticSearch {
    pub fn new(ctx: FunctionContext) -> Self {
        Self { ctx }
    }
}

impl TableFunctionImpl for SemanticSearch {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const USAGE: &str = "semantic_search('query', k [, 'visual' | 'transcript'])";
        let exprs = args.exprs();
        let query = string_arg(exprs, 0, USAGE)?;
        let k = count_arg(exprs, 1, USAGE)?;
        let modality = match exprs.get(2) {
            None => Modality::Visual,
            Some(_) => match string_arg(exprs, 2, USAGE)?.to_ascii_lowercase().as_str() {
                "visual" => Modality::Visual,
                "transcript" => Modality::Transcript,
                other => return plan_err!("unknown modality '{other}': {USAGE}"),
            },
        };
        if query.trim().chars().count() < 2 {
            return plan_err!("a search query needs at least 2 characters: {USAGE}");
        }
        Ok(Arc::new(LazyTable {
            ctx: self.ctx.clone(),
            schema: item_schema(),
            request: Request::Search { query, k, modality },
        }))
    }
}

/// The `dt_uncertain` table function.
#[derive(Debug)]
pub struct DtUncertain {
    ctx: FunctionContext,
}

impl DtUncertain {
    pub fn new(ctx: FunctionContext) -> Self {
        Self { ctx }
    }
}

impl TableFunctionImpl for DtUncertain {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const USAGE: &str = "dt_uncertain('group', 'tag', k)";
        let exprs = args.exprs();
        let group = string_arg(exprs, 0, USAGE)?;
        let tag = string_arg(exprs, 1, USAGE)?;
        let k = count_arg(exprs, 2, USAGE)?;
        Ok(Arc::new(LazyTable {
            ctx: self.ctx.clone(),
            schema: item_schema(),
            request: Request::Uncertain { group, tag, k },
        }))
    }
}
