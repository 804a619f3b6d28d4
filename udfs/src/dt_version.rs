//! `dt_version('group', 'visual' | 'transcript' | 'shot' | 'video', version)`: the `dt_`
//! table of an earlier (or the current) version of a group on the session's dataset, so
//! that every score can be traced to the definition and model that produced it. Each
//! complete scoring run stays readable by its version.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::Expr;
use dyntag_catalog::provider::score_table;
use dyntag_core::model::applications::ScoreTable;

use crate::FunctionContext;

/// The `dt_version` table function.
#[derive(Debug)]
pub struct DtVersion {
    ctx: FunctionContext,
}

impl DtVersion {
    pub fn new(ctx: FunctionContext) -> Self {
        Self { ctx }
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

impl TableFunctionImpl for DtVersion {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const USAGE: &str =
            "dt_version('group', 'visual' | 'transcript' | 'shot' | 'video', <version number>)";
        let exprs = args.exprs();
        let (Some(group), Some(kind), Some(version)) = (
            exprs.first().and_then(literal),
            exprs.get(1).and_then(literal),
            exprs.get(2).and_then(literal),
        ) else {
            return plan_err!("dt_version takes three constant arguments: {USAGE}");
        };
        let (ScalarValue::Utf8(Some(group)), ScalarValue::Utf8(Some(kind))) = (group, kind) else {
            return plan_err!("dt_version: the group and table kind must be strings: {USAGE}");
        };
        let version = match version {
            ScalarValue::Int64(Some(v)) if *v >= 1 => *v as u32,
            other => return plan_err!("dt_version: invalid version {other}: {USAGE}"),
        };
        let Some(kind) = ScoreTable::ALL
            .into_iter()
            .find(|k| k.suffix().eq_ignore_ascii_case(kind))
        else {
            return plan_err!("dt_version: unknown table kind '{kind}': {USAGE}");
        };
        let dataset = self.ctx.dataset.get();
        let snapshot = self.ctx.catalog.snapshot();
        let slug = dyntag_core::model::tags::names::slug(group);
        let (Some(g), Some(app)) = (
            snapshot.groups.get(&slug),
            snapshot.application(&dataset, &slug),
        ) else {
            return plan_err!("tag group '{group}' not found on dataset '{dataset}'");
        };
        let Some(run) = app.run_of(version) else {
            let mut scored: Vec<String> = app
                .run
                .iter()
                .chain(app.history.iter())
                .map(|r| r.version.to_string())
                .collect();
            scored.sort();
            return plan_err!(
                "version {version} of tag group '{group}' was never scored on dataset '{dataset}' (scored versions: {})",
                if scored.is_empty() {
                    "none".to_string()
                } else {
                    scored.join(", ")
                }
            );
        };
        score_table::provider(
            kind,
            Some(run),
            &g.doc,
            self.ctx.catalog.store().clone(),
            Arc::clone(self.ctx.catalog.table_cache()),
        )
    }
}
