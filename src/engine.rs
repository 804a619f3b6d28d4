//! [`Engine`]: a DataFusion session over the dyntag catalog, with dyntag's functions and
//! the tag statements. Every front end (CLI, servers, tests) runs SQL through it.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ParamValues;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use dyntag_catalog::access::{Principal, SessionUser, View};
use dyntag_catalog::import::{NoProgress, Progress};
use dyntag_catalog::jobs::{self, Outcome as JobOutcome};
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
    /// Scoring jobs the statement queued for the background workers.
    pub queued: usize,
}

impl Answer {
    fn from_batch(batch: RecordBatch) -> Self {
        Self {
            schema: batch.schema(),
            batches: vec![batch],
            queued: 0,
        }
    }

    /// Total rows.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The answer as a stream of its batches.
    pub fn into_stream(self) -> Result<SendableRecordBatchStream> {
        Ok(Box::pin(MemoryStream::try_new(
            self.batches,
            self.schema,
            None,
        )?))
    }
}

/// A statement made ready to run: a tag statement (run when asked), or a query planned but
/// not executed.
#[derive(Debug)]
pub enum Statement {
    Tag(TagStatement),
    Query(LogicalPlan),
}

/// Resources and identity of one session.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Memory a query may hold (operators that can spill to disk do so beyond it); `None`
    /// for no limit.
    pub memory_limit: Option<usize>,
    /// Who the session acts for.
    pub principal: Principal,
    /// Where scoring jobs that statements queue are run: `None` runs them in the statement
    /// (the command line); `Some` wakes the server's background workers.
    pub jobs: Option<Arc<tokio::sync::Notify>>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            memory_limit: None,
            principal: Principal::LocalAdmin,
            jobs: None,
        }
    }
}

/// A SQL session over a catalog.
pub struct Engine {
    catalog: Arc<Catalog>,
    ctx: SessionContext,
    dataset: SessionDataset,
    /// Who opened the session (may act as others if an organisation admin).
    session_user: Principal,
    /// Who the session acts for now.
    user: SessionUser,
    jobs: Option<Arc<tokio::sync::Notify>>,
}

impl Engine {
    /// A session whose current dataset is `dataset`, else the first dataset, else `default`.
    pub fn new(catalog: Arc<Catalog>, dataset: Option<&str>) -> Result<Self> {
        Self::with_options(catalog, dataset, EngineOptions::default())
    }

    /// Like [`Engine::new`], with the session's resources.
    pub fn with_options(
        catalog: Arc<Catalog>,
        dataset: Option<&str>,
        options: EngineOptions,
    ) -> Result<Self> {
        let dataset = current_dataset_for(&catalog, &options.principal, dataset)?;
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG_NAME, &dataset)
            .with_create_default_catalog_and_schema(false);
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(limit) = options.memory_limit {
            runtime = runtime.with_memory_limit(limit, 1.0);
        }
        let runtime = runtime.build_arc()?;
        runtime.register_object_store(Store::url().as_ref(), catalog.store().object_store());
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let user = SessionUser::new(options.principal.clone());
        ctx.register_catalog(
            CATALOG_NAME,
            Arc::new(DyntagCatalogProvider::new(
                Arc::clone(&catalog),
                user.clone(),
            )),
        );
        let session_dataset = SessionDataset::new(dataset);
        let functions = FunctionContext {
            catalog: Arc::clone(&catalog),
            dataset: session_dataset.clone(),
        };
        for f in dyntag_udfs::functions(functions.clone()) {
            ctx.register_udf(f);
        }
        for (name, f) in dyntag_udfs::table_functions(functions) {
            ctx.register_udtf(name, f);
        }
        Ok(Self {
            catalog,
            ctx,
            dataset: session_dataset,
            session_user: options.principal,
            user,
            jobs: options.jobs,
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

    /// Who the session acts for now.
    pub fn principal(&self) -> Principal {
        self.user.get()
    }

    /// Switches the current dataset (one the session's user sees).
    pub async fn use_dataset(&self, name: &str) -> Result<()> {
        let snapshot = self.catalog.refresh().await?;
        View::new(&snapshot, &self.user.get()).dataset(name)?;
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
        match self.prepare(sql).await? {
            Statement::Tag(stmt) => self.run_tag(&stmt, progress).await,
            Statement::Query(plan) => {
                let df = self
                    .ctx
                    .execute_logical_plan(plan)
                    .await
                    .map_err(friendly)?;
                let schema = Arc::new(df.schema().as_arrow().clone());
                let batches = df.collect().await.map_err(friendly)?;
                Ok(Answer {
                    schema,
                    batches,
                    queued: 0,
                })
            }
        }
    }

    /// Parses a statement and, for a query, plans it against the current catalog. JDBC-style
    /// `?` parameters are numbered (`$1`, `$2`, …) as DataFusion expects.
    pub async fn prepare(&self, sql: &str) -> Result<Statement> {
        self.catalog.refresh().await?;
        let numbered = number_placeholders(sql);
        let sql = numbered.as_deref().unwrap_or(sql);
        match statements::parse(sql)? {
            Some(stmt) => Ok(Statement::Tag(stmt)),
            None => {
                let plan = self
                    .ctx
                    .state()
                    .create_logical_plan(sql)
                    .await
                    .map_err(friendly)?;
                Ok(Statement::Query(plan))
            }
        }
    }

    /// Runs a tag statement.
    pub async fn run_tag(&self, stmt: &TagStatement, progress: &dyn Progress) -> Result<Answer> {
        match stmt {
            TagStatement::Use { dataset } => {
                self.use_dataset(dataset).await?;
                Ok(Answer::from_batch(statements::message(format!(
                    "using dataset '{dataset}'"
                ))?))
            }
            TagStatement::SetAuthorization { user } => {
                let snapshot = self.catalog.refresh().await?;
                if !View::new(&snapshot, &self.session_user).org_admin() {
                    return Err(CatalogError::Denied(
                        "permission denied: SET SESSION AUTHORIZATION needs the organisation admin role".into(),
                    )
                    .into());
                }
                let next = match user {
                    Some(u) if snapshot.access.users.contains_key(u) => Principal::User(u.clone()),
                    Some(u) => return Err(CatalogError::not_found("user", u).into()),
                    None => self.session_user.clone(),
                };
                let dataset = current_dataset_for(&self.catalog, &next, Some(&self.dataset()))
                    .or_else(|_| current_dataset_for(&self.catalog, &next, None))?;
                self.user.set(next.clone());
                if self.use_dataset(&dataset).await.is_err() {
                    // The user sees no dataset: work in none, so that no function resolves
                    // tags in the previous user's dataset.
                    self.dataset.set(NO_DATASET);
                }
                Ok(Answer::from_batch(statements::message(format!(
                    "acting as '{}'",
                    next.name()
                ))?))
            }
            stmt => {
                let principal = self.user.get();
                let out =
                    statements::execute(&self.catalog, &principal, stmt, &self.dataset()).await?;
                if out.jobs.is_empty() {
                    return Ok(Answer::from_batch(out.batch));
                }
                let queued = if self.jobs.is_some() {
                    out.jobs.len()
                } else {
                    0
                };
                let tail = match &self.jobs {
                    Some(workers) => {
                        workers.notify_waiters();
                        "scoring is queued: SHOW SCORING JOBS and SHOW TAG GROUPS show its progress"
                            .to_string()
                    }
                    None => {
                        let done = jobs::run_now(&self.catalog, &out.jobs, progress).await?;
                        let rows: u64 = done
                            .iter()
                            .map(|o| match o {
                                JobOutcome::Scored { rows, .. } => *rows,
                                _ => 0,
                            })
                            .sum();
                        format!("scored: {rows} score rows")
                    }
                };
                let mut answer = Answer::from_batch(statements::message(format!(
                    "{}; {tail}",
                    first_text(&out.batch)
                ))?);
                answer.queued = queued;
                Ok(answer)
            }
        }
    }

    /// Runs a planned query with its parameters (`$1`, `$2`, …), streaming its batches as
    /// the plan produces them.
    pub async fn stream_query(
        &self,
        plan: LogicalPlan,
        params: Option<ParamValues>,
    ) -> Result<SendableRecordBatchStream> {
        let mut df = self
            .ctx
            .execute_logical_plan(plan)
            .await
            .map_err(friendly)?;
        if let Some(params) = params {
            df = df.with_param_values(params).map_err(friendly)?;
        }
        df.execute_stream().await.map_err(friendly)
    }

    /// Runs any statement as a stream: queries stream, tag statements answer at once.
    pub async fn stream(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        match self.prepare(sql).await? {
            Statement::Tag(stmt) => self.run_tag(&stmt, &NoProgress).await?.into_stream(),
            Statement::Query(plan) => self.stream_query(plan, None).await,
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

/// The dataset a session starts in: `dataset` if it exists, else the first dataset, else
/// `default`.
pub fn current_dataset(catalog: &Catalog, dataset: Option<&str>) -> Result<String> {
    current_dataset_for(catalog, &Principal::LocalAdmin, dataset)
}

/// Like [`current_dataset`], among the datasets `principal` sees.
pub fn current_dataset_for(
    catalog: &Catalog,
    principal: &Principal,
    dataset: Option<&str>,
) -> Result<String> {
    let snapshot = catalog.snapshot();
    let view = View::new(&snapshot, principal);
    Ok(match dataset {
        Some(d) => {
            view.dataset(d)?;
            d.to_string()
        }
        None => view
            .datasets()
            .first()
            .map(|d| d.to_string())
            .unwrap_or_else(|| NO_DATASET.into()),
    })
}

/// The current dataset's name when there is none to work in.
pub const NO_DATASET: &str = "default";

/// The text of a one-cell answer.
fn first_text(batch: &RecordBatch) -> String {
    use datafusion::arrow::array::{Array, AsArray};
    batch
        .columns()
        .first()
        .and_then(|c| c.as_string_opt::<i32>())
        .filter(|c| !c.is_empty())
        .map(|c| c.value(0).to_string())
        .unwrap_or_default()
}

/// `sql` with each `?` placeholder replaced by `$1`, `$2`, … in order; `None` when it has none
/// (or does not tokenize: the planner reports that).
fn number_placeholders(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    if !sql.contains('?') {
        return None;
    }
    let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
    if !tokens
        .iter()
        .any(|t| matches!(t, Token::Placeholder(p) if p == "?"))
    {
        return None;
    }
    let mut n = 0;
    let mut out = String::with_capacity(sql.len() + 8);
    for t in tokens {
        match t {
            Token::Placeholder(p) if p == "?" => {
                n += 1;
                out.push_str(&format!("${n}"));
            }
            t => out.push_str(&t.to_string()),
        }
    }
    Some(out)
}

/// Our own errors travel through DataFusion wrapped; unwrap them so that the user sees the
/// catalog's message.
pub(crate) fn friendly(e: datafusion::error::DataFusionError) -> AppError {
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

#[cfg(test)]
mod tests {
    use super::number_placeholders;

    #[test]
    fn question_marks_become_numbered_placeholders() {
        assert_eq!(
            number_placeholders("SELECT a FROM t WHERE b = ? AND c > ? AND d = '?'").as_deref(),
            Some("SELECT a FROM t WHERE b = $1 AND c > $2 AND d = '?'")
        );
        assert_eq!(number_placeholders("SELECT '?'"), None);
        assert_eq!(number_placeholders("SELECT 1"), None);
    }
}
