//! The `dt_<group>_<kind>` tables: the stored scores of the run a dataset applies, with
//! `threshold_decision` computed from the group's saved thresholds at read time (so saving a
//! threshold never rescoring anything).

use std::sync::Arc;

use datafusion::catalog::view::ViewTable;
use datafusion::common::Result as DFResult;
use datafusion::datasource::{TableProvider, provider_as_source};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, case, col, lit};

use super::file_table::FileTable;
use super::qualified;
use dyntag_core::model::applications::{ScoreRun, ScoreTable};
use dyntag_core::model::tags::{DEFAULT_THRESHOLD, TagGroup};
use dyntag_core::scoring::cache::TableCache;
use dyntag_core::scoring::schema::{SCORE, TAG_NAME, THRESHOLD_DECISION, stored_schema};
use dyntag_core::store::Store;

/// The provider of one score table of `group` for the dataset whose complete run is `run`
/// (empty until the first run completes). Its files are resident in `cache` like the
/// embedding tables (decoded once, then served from memory within the budget): dashboards
/// and BI extracts read the same scores again and again, and a Flight SQL client then
/// receives them at the speed of the network rather than of Parquet decoding.
pub fn provider(
    kind: ScoreTable,
    run: Option<&ScoreRun>,
    group: &TagGroup,
    store: Store,
    cache: Arc<TableCache>,
) -> DFResult<Arc<dyn TableProvider>> {
    let schema = stored_schema(kind);
    let files = run
        .and_then(|r| r.tables.get(&kind).cloned())
        .unwrap_or_default();
    let table = Arc::new(FileTable::new(Arc::clone(&schema), files, store).resident_whole(cache));
    let name = format!("dt_{}_{}", group.slug, kind.suffix());
    let mut columns: Vec<Expr> = Vec::new();
    for f in schema.fields() {
        columns.push(qualified(&name, f.name()));
        if f.name() == SCORE {
            columns.push(threshold_decision(group).alias(THRESHOLD_DECISION));
        }
    }
    let plan = LogicalPlanBuilder::scan(name, provider_as_source(table), None)?
        .project(columns)?
        .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// `score >= <the tag's saved threshold>`.
fn threshold_decision(group: &TagGroup) -> Expr {
    let score = col(SCORE);
    let thresholds: Vec<(String, f64)> = group
        .tags
        .iter()
        .map(|t| (t.name.clone(), t.threshold))
        .collect();
    if thresholds.iter().all(|(_, t)| *t == DEFAULT_THRESHOLD) {
        return score.gt_eq(lit(DEFAULT_THRESHOLD));
    }
    let mut builder = case(col(TAG_NAME));
    for (name, t) in &thresholds {
        builder = builder.when(lit(name.clone()), lit(*t)).clone();
    }
    match builder.otherwise(lit(DEFAULT_THRESHOLD)) {
        Ok(threshold) => score.gt_eq(threshold),
        Err(_) => score.gt_eq(lit(DEFAULT_THRESHOLD)),
    }
}
