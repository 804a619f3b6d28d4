//! [`Engine`]: a DataFusion session over the dyntag catalog, with dyntag's functions and
//! the tag statements. Every front end (CLI, servers, tests) runs SQL through it, and every
//! statement is classified and allowed for the session's caller before it is planned
//! ([`dyntag_catalog::statements::policy`]); each is logged when it ends ([`log`]).

mod log;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::cluster::scoring::{self, ClusterScoring};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ParamValues;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{LogicalPlan, Statement as PlanStatement};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use dyntag_catalog::provider::{CATALOG_NAME, DyntagCatalogProvider};
use dyntag_catalog::statements::policy::authorize_setting;
use dyntag_catalog::statements::{self, Classified, Door, StatementKind, TagStatement};
use dyntag_core::model::access::{Principal, SessionUser, View};
use dyntag_core::model::snapshot::Snapshot;
use dyntag_core::scoring::materialize::ScoreParts;
use dyntag_core::service::import::{NoProgress, Progress};
use dyntag_core::service::jobs::{self, Outcome as JobOutcome};
use dyntag_core::store::Store;
use dyntag_core::{Catalog, CatalogError};
use dyntag_udfs::{FunctionContext, SessionDataset};
use futures::TryStreamExt;

use crate::error::{AppError, Result};
use log::{StatementLog, outcome_of};

/// The answer to one statement.
#[derive(Debug)]
pub struct Answer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// Scoring jobs the statement queued for the background workers.
    pub queued: usize,
    /// The facts of a change as typed fields (`group`, `version`, `job`, …).
    pub facts: serde_json::Map<String, serde_json::Value>,
}

impl Answer {
    fn from_batch(batch: RecordBatch) -> Self {
        Self {
            schema: batch.schema(),
            batches: vec![batch],
            queued: 0,
            facts: serde_json::Map::new(),
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
    /// Where the statements come from: the command line on the data folder, or a remote
    /// client (no server-side files, no table definitions, session settings only).
    pub door: Door,
    /// `cli`, `flight` or `http`: for the log and the audit trail.
    pub origin: &'static str,
    /// DataFusion settings an earlier statement of the session set (`SET`), applied again.
    pub settings: Vec<(String, String)>,
    /// The Ballista cluster (its scheduler's URL) that executes the session's queries;
    /// `None` executes them in this process. Planning, tag statements and settings stay
    /// here either way.
    pub cluster: Option<String>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            memory_limit: None,
            principal: Principal::LocalAdmin,
            jobs: None,
            door: Door::Local,
            origin: "cli",
            settings: Vec::new(),
            cluster: None,
        }
    }
}

/// A SQL session over a catalog.
pub struct Engine {
    catalog: Arc<Catalog>,
    ctx: SessionContext,
    /// `ctx` executing on a cluster, when the session has one.
    cluster: Option<SessionContext>,
    dataset: SessionDataset,
    /// Who opened the session (may act as others if an organisation admin).
    session_user: Principal,
    /// Who the session acts for now.
    user: SessionUser,
    jobs: Option<Arc<tokio::sync::Notify>>,
    door: Door,
    origin: &'static str,
    /// The DataFusion settings the session has set (`SET`), in order.
    settings: Mutex<Vec<(String, String)>>,
    /// The settings this engine's statements changed (`None`: reset), in order.
    changes: Mutex<Vec<(String, Option<String>)>>,
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
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG_NAME, &dataset)
            .with_create_default_catalog_and_schema(false);
        for (name, value) in &options.settings {
            authorize_setting(options.door, name, Some(value))?;
            config.options_mut().set(name, value)?;
        }
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
        let cluster = options
            .cluster
            .as_deref()
            .map(|url| crate::cluster::upgrade(&ctx, url, &catalog))
            .transpose()?;
        Ok(Self {
            catalog,
            ctx,
            cluster,
            dataset: session_dataset,
            session_user: options.principal,
            user,
            jobs: options.jobs,
            door: options.door,
            origin: options.origin,
            settings: Mutex::new(options.settings),
            changes: Mutex::new(Vec::new()),
        })
    }

    /// The DataFusion settings the session has set, to carry over to its next statement.
    pub fn settings(&self) -> Vec<(String, String)> {
        self.settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The settings this engine's statements changed, in order (`None`: reset to the
    /// default), to apply to the session they belong to.
    pub fn setting_changes(&self) -> Vec<(String, Option<String>)> {
        self.changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Checks that the session's caller may run a statement of this kind, here.
    fn authorize(&self, what: &Classified, tag: Option<&TagStatement>) -> Result<()> {
        let snapshot = self.catalog.snapshot();
        let principal = self.user.get();
        statements::authorize(&View::new(&snapshot, &principal), self.door, what, tag)?;
        Ok(())
    }

    /// The log entry of a statement starting now.
    fn log(&self, kind: Option<StatementKind>, text: &str) -> StatementLog {
        StatementLog {
            catalog: Arc::clone(&self.catalog),
            user: self.user.get(),
            origin: self.origin,
            dataset: self.dataset(),
            kind,
            text: text.to_string(),
            started: Instant::now(),
        }
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
        self.switch_dataset(&snapshot, name).await
    }

    /// Switches the current dataset as `snapshot` knows it.
    async fn switch_dataset(&self, snapshot: &Snapshot, name: &str) -> Result<()> {
        View::new(snapshot, &self.user.get()).dataset(name)?;
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
            Statement::Tag(stmt) => self.run_tag(&stmt, sql, progress).await,
            Statement::Query(plan) => {
                let schema = Arc::new(plan.schema().as_arrow().clone());
                let stream = self.stream_query(plan, None, sql).await?;
                let batches = stream.try_collect().await.map_err(friendly)?;
                Ok(Answer {
                    schema,
                    batches,
                    queued: 0,
                    facts: serde_json::Map::new(),
                })
            }
        }
    }

    /// Parses a statement and, for a query, plans it against the current catalog, once the
    /// caller is allowed to run it (tag statements are allowed when they run). JDBC-style `?`
    /// parameters are numbered (`$1`, `$2`, …) as DataFusion expects.
    pub async fn prepare(&self, sql: &str) -> Result<Statement> {
        let mut kind = None;
        let result = self.prepare_inner(sql, &mut kind).await;
        if let Err(e) = &result {
            let message = e.to_string();
            self.log(kind, sql)
                .ended(0, Some((outcome_of(&message), message)))
                .await;
        }
        result
    }

    async fn prepare_inner(
        &self,
        sql: &str,
        kind: &mut Option<StatementKind>,
    ) -> Result<Statement> {
        let numbered = number_placeholders(sql);
        let sql = numbered.as_deref().unwrap_or(sql);
        if let Some(stmt) = statements::parse(sql)? {
            // A tag statement reads the catalog when it runs (it may run later, prepared).
            *kind = Some(stmt.classify().kind);
            return Ok(Statement::Tag(stmt));
        }
        self.catalog.refresh().await?;
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let parsed = state.sql_to_statement(sql, &dialect).map_err(friendly)?;
        let what = statements::classify_sql(&parsed);
        *kind = Some(what.kind);
        self.authorize(&what, None)?;
        let plan = state.statement_to_plan(parsed).await.map_err(friendly)?;
        match &plan {
            LogicalPlan::Statement(PlanStatement::SetVariable(s)) => {
                authorize_setting(self.door, &s.variable, Some(&s.value))?
            }
            LogicalPlan::Statement(PlanStatement::ResetVariable(s)) => {
                authorize_setting(self.door, &s.variable, None)?
            }
            _ if self.door == Door::Remote => {
                // The classification above refuses these first; this is the engine's own
                // check of the plan, in case a statement was classified wrongly.
                SQLOptions::new()
                    .with_allow_ddl(false)
                    .with_allow_dml(false)
                    .with_allow_statements(false)
                    .verify_plan(&plan)
                    .map_err(|e| {
                        CatalogError::Denied(format!(
                            "permission denied: {} is not allowed over the server ({e})",
                            what.keyword
                        ))
                    })?
            }
            _ => {}
        }
        Ok(Statement::Query(plan))
    }

    /// Runs a tag statement once the caller is allowed to (`text` is how it was written, for
    /// the log and the audit trail).
    pub async fn run_tag(
        &self,
        stmt: &TagStatement,
        text: &str,
        progress: &dyn Progress,
    ) -> Result<Answer> {
        let what = stmt.classify();
        let log = self.log(Some(what.kind), text);
        let allowed = match self.catalog.refresh().await {
            Ok(_) => self.authorize(&what, Some(stmt)),
            Err(e) => Err(e.into()),
        };
        let result = match allowed {
            Ok(()) => self.run_allowed(stmt, progress).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(answer) => log.ended(answer.rows(), None).await,
            Err(e) => {
                let message = e.to_string();
                log.ended(0, Some((outcome_of(&message), message))).await
            }
        }
        result
    }

    async fn run_allowed(&self, stmt: &TagStatement, progress: &dyn Progress) -> Result<Answer> {
        match stmt {
            TagStatement::Use { dataset } => {
                self.switch_dataset(&self.catalog.snapshot(), dataset)
                    .await?;
                Ok(Answer::from_batch(statements::message(format!(
                    "using dataset '{dataset}'"
                ))?))
            }
            TagStatement::SetAuthorization { user } => {
                let snapshot = self.catalog.snapshot();
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
                if self.switch_dataset(&snapshot, &dataset).await.is_err() {
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
                let out = statements::execute(
                    &self.catalog,
                    &principal,
                    self.door,
                    stmt,
                    &self.dataset(),
                )
                .await?;
                let mut facts = out.facts;
                if out.jobs.is_empty() {
                    let mut answer = Answer::from_batch(out.batch);
                    answer.facts = facts;
                    return Ok(answer);
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
                        let remote = self.cluster.as_ref().map(|ctx| {
                            ClusterScoring::new(
                                ctx.clone(),
                                Arc::clone(&self.catalog),
                                scoring::part_rows(),
                            )
                        });
                        let remote = remote.as_ref().map(|r| r as &dyn ScoreParts);
                        let done =
                            jobs::run_now(&self.catalog, &out.jobs, remote, progress).await?;
                        let rows: u64 = done
                            .iter()
                            .map(|o| match o {
                                JobOutcome::Scored { rows, .. } => *rows,
                                _ => 0,
                            })
                            .sum();
                        if let Some(job) = facts.get_mut("job").and_then(|j| j.as_object_mut()) {
                            // A failed job is an error of the statement (run_now).
                            let scored =
                                done.iter().all(|o| matches!(o, JobOutcome::Scored { .. }));
                            let status = if scored { "scored" } else { "skipped" };
                            job.insert("status".into(), status.into());
                            job.insert("score_rows".into(), rows.into());
                        }
                        format!("scored: {rows} score rows")
                    }
                };
                let mut answer = Answer::from_batch(statements::message(format!(
                    "{}; {tail}",
                    first_text(&out.batch)
                ))?);
                answer.queued = queued;
                answer.facts = facts;
                Ok(answer)
            }
        }
    }

    /// Runs a planned query with its parameters (`$1`, `$2`, …), streaming its batches as
    /// the plan produces them (`text` is how it was written, for the log).
    pub async fn stream_query(
        &self,
        plan: LogicalPlan,
        params: Option<ParamValues>,
        text: &str,
    ) -> Result<SendableRecordBatchStream> {
        let log = self.log(Some(plan_kind(&plan)), text);
        let setting = match &plan {
            LogicalPlan::Statement(PlanStatement::SetVariable(s)) => {
                Some((s.variable.clone(), Some(s.value.clone())))
            }
            LogicalPlan::Statement(PlanStatement::ResetVariable(s)) => {
                Some((s.variable.clone(), None))
            }
            _ => None,
        };
        // Queries run on the cluster when there is one; statements (`SET`, …) and
        // `EXPLAIN` here.
        let on_cluster = self.executes_on_cluster(&plan);
        let ctx = match &self.cluster {
            Some(cluster) if on_cluster => cluster,
            _ => &self.ctx,
        };
        let started = async {
            let mut df = ctx.execute_logical_plan(plan).await.map_err(friendly)?;
            if let Some(params) = params {
                df = df.with_param_values(params).map_err(friendly)?;
            }
            let stream = df.execute_stream().await.map_err(friendly)?;
            Ok::<_, AppError>(if on_cluster {
                crate::cluster::failures_named(stream)
            } else {
                stream
            })
        }
        .await;
        match started {
            Ok(stream) => {
                if let Some((name, value)) = setting {
                    self.remember_setting(name, value);
                }
                Ok(log.stream(stream))
            }
            Err(e) => {
                let message = e.to_string();
                log.ended(0, Some((outcome_of(&message), message))).await;
                Err(e)
            }
        }
    }

    /// Whether `plan` is executed on the session's cluster (`false` without one): queries
    /// are, except those that read tables made in this process's memory (system tables,
    /// the search functions' results), which run here.
    pub fn executes_on_cluster(&self, plan: &LogicalPlan) -> bool {
        self.cluster.is_some() && runs_on_cluster(plan)
    }

    /// Records a setting the session changed (`None`: reset to its default).
    fn remember_setting(&self, name: String, value: Option<String>) {
        // The cluster's session sends its settings with every job: it takes the change too
        // (a reset: the value this session started with).
        if let Some(cluster) = &self.cluster {
            let value = value.clone().or_else(|| {
                self.ctx
                    .state()
                    .config()
                    .options()
                    .entries()
                    .into_iter()
                    .find(|e| e.key == name)
                    .and_then(|e| e.value)
            });
            if let Some(value) = value {
                let state = cluster.state_ref();
                let mut state = state.write();
                // The local session accepted it: so does the same configuration here.
                let _ = state.config_mut().options_mut().set(&name, &value);
            }
        }
        apply_setting(
            &mut self
                .settings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            &name,
            value.clone(),
        );
        self.changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((name, value));
    }

    /// Runs any statement as a stream: queries stream, tag statements answer at once.
    pub async fn stream(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        match self.prepare(sql).await? {
            Statement::Tag(stmt) => self.run_tag(&stmt, sql, &NoProgress).await?.into_stream(),
            Statement::Query(plan) => self.stream_query(plan, None, sql).await,
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

/// Whether a planned statement is a query (not a statement, a definition, a change or an
/// `EXPLAIN`) whose every table can be read on a cluster (not one made in this process's
/// memory: a system table, a search function's result).
fn runs_on_cluster(plan: &LogicalPlan) -> bool {
    dyntag_catalog::provider::codec::plan_travels(plan)
        && !matches!(
            plan,
            LogicalPlan::Statement(_)
                | LogicalPlan::Ddl(_)
                | LogicalPlan::Dml(_)
                | LogicalPlan::Copy(_)
                | LogicalPlan::Explain(_)
                | LogicalPlan::Analyze(_)
                | LogicalPlan::DescribeTable(_)
                | LogicalPlan::EmptyRelation(_)
        )
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

/// Sets (or, with `None`, resets) one setting in a list of settings.
pub fn apply_setting(settings: &mut Vec<(String, String)>, name: &str, value: Option<String>) {
    settings.retain(|(n, _)| n != name);
    if let Some(v) = value {
        settings.push((name.to_string(), v));
    }
}

/// What a planned query does (for the log).
fn plan_kind(plan: &LogicalPlan) -> StatementKind {
    match plan {
        LogicalPlan::Statement(_) => StatementKind::SessionSetting,
        LogicalPlan::Copy(_) => StatementKind::FileAccess,
        LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) => StatementKind::DataChange,
        _ => StatementKind::Read,
    }
}

/// The current dataset's name when there is none to work in.
/// (Not a valid dataset name, so that no dataset can be mistaken for it.)
pub const NO_DATASET: &str = "_none";

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

/// Our own errors travel through DataFusion wrapped; unwrap them so that they reach the
/// user as themselves (a refusal stays a refusal, a storage failure stays internal).
pub(crate) fn friendly(e: datafusion::error::DataFusionError) -> AppError {
    use datafusion::error::DataFusionError as E;
    fn catalog(e: &E) -> bool {
        match e {
            E::External(inner) => inner.is::<CatalogError>(),
            E::Context(_, inner) | E::Diagnostic(_, inner) => catalog(inner),
            _ => false,
        }
    }
    if !catalog(&e) {
        return AppError::Query(e);
    }
    match e {
        E::External(inner) => match inner.downcast::<CatalogError>() {
            Ok(c) => AppError::Catalog(*c),
            Err(other) => AppError::Query(E::External(other)),
        },
        E::Context(_, inner) | E::Diagnostic(_, inner) => friendly(*inner),
        other => AppError::Query(other),
    }
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
