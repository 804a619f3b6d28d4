//! `semantic_search('query', k [, 'visual' | 'transcript' [, 'exact']])`,
//! `similar_items('item_id', k [, 'visual' | 'transcript' [, 'exact']])` ("find similar"),
//! `dt_uncertain('group', 'tag', k)` (items to label) and `dt_metrics('group', 'tag')` (the
//! Tag Evaluator's table): table functions computed when the query runs (their scan is
//! asynchronous), on the session's dataset. Searches go through the dataset's search index;
//! `'exact'` scans every row instead.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use dyntag_core::Modality;
use dyntag_core::service::evaluate::{metrics, metrics_table};
use dyntag_core::service::search::{
    MAX_ITEMS, found_batch, found_schema, search, similar, uncertain_assets,
};

use crate::FunctionContext;

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
        Some(ScalarValue::Int64(Some(k))) if (1..=MAX_ITEMS as i64).contains(k) => Ok(*k as usize),
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
        exact: bool,
    },
    Similar {
        item: String,
        k: usize,
        modality: Modality,
        exact: bool,
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
            schema: metrics_table(&[])?.schema(),
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
    /// Its one batch, from the service that answers the HTTP route of the same name.
    async fn batch(&self) -> Result<RecordBatch> {
        let catalog = &self.ctx.catalog;
        let dataset = self.ctx.dataset.get();
        Ok(match &self.request {
            Request::Metrics { slug, tag } => metrics(catalog, slug, tag).await?,
            Request::Search {
                query,
                k,
                modality,
                exact,
            } => found_batch(&search(catalog, &dataset, *modality, query, *k, *exact).await?)?,
            Request::Similar {
                item,
                k,
                modality,
                exact,
            } => found_batch(&similar(catalog, &dataset, *modality, item, *k, *exact).await?)?,
            Request::Uncertain { group, tag, k } => {
                found_batch(&uncertain_assets(catalog, &dataset, group, tag, *k).await?)?
            }
        })
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
        const USAGE: &str = "semantic_search('query', k [, 'visual' | 'transcript' [, 'exact']])";
        let exprs = args.exprs();
        let query = string_arg(exprs, 0, USAGE)?;
        let k = count_arg(exprs, 1, USAGE)?;
        let (modality, exact) = search_options(exprs, USAGE)?;
        if query.trim().chars().count() < 2 {
            return plan_err!("a search query needs at least 2 characters: {USAGE}");
        }
        Ok(Arc::new(LazyTable {
            ctx: self.ctx.clone(),
            schema: found_schema(),
            request: Request::Search {
                query,
                k,
                modality,
                exact,
            },
        }))
    }
}

/// The optional modality (third argument) and `'exact'` (fourth) of a search.
fn search_options(exprs: &[Expr], usage: &str) -> Result<(Modality, bool)> {
    let modality = match exprs.get(2) {
        None => Modality::Visual,
        Some(_) => match string_arg(exprs, 2, usage)?.to_ascii_lowercase().as_str() {
            "visual" => Modality::Visual,
            "transcript" => Modality::Transcript,
            other => return plan_err!("unknown modality '{other}': {usage}"),
        },
    };
    let exact = match exprs.get(3) {
        None => false,
        Some(_) => match string_arg(exprs, 3, usage)?.to_ascii_lowercase().as_str() {
            "exact" => true,
            "index" => false,
            other => return plan_err!("unknown search method '{other}' (exact or index): {usage}"),
        },
    };
    if exprs.len() > 4 {
        return plan_err!("too many arguments: {usage}");
    }
    Ok((modality, exact))
}

/// The `similar_items` table function: "find similar to this item".
#[derive(Debug)]
pub struct SimilarItems {
    ctx: FunctionContext,
}

impl SimilarItems {
    pub fn new(ctx: FunctionContext) -> Self {
        Self { ctx }
    }
}

impl TableFunctionImpl for SimilarItems {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const USAGE: &str = "similar_items('item_id', k [, 'visual' | 'transcript' [, 'exact']])";
        let exprs = args.exprs();
        let item = string_arg(exprs, 0, USAGE)?;
        let k = count_arg(exprs, 1, USAGE)?;
        let (modality, exact) = search_options(exprs, USAGE)?;
        Ok(Arc::new(LazyTable {
            ctx: self.ctx.clone(),
            schema: found_schema(),
            request: Request::Similar {
                item,
                k,
                modality,
                exact,
            },
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
            schema: found_schema(),
            request: Request::Uncertain { group, tag, k },
        }))
    }
}
