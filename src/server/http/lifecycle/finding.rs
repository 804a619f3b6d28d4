//! Routes that find items to label or prompts to try: semantic search, uncertain assets
//! and prompt suggestions. Search and uncertain assets call the same services as the
//! `semantic_search` and `dt_uncertain` SQL functions.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use dyntag_catalog::statements::TagStatement;
use dyntag_core::Modality;
use dyntag_core::model::access::{DatasetRole, View};
use dyntag_core::service::search;
use serde::Deserialize;

use super::{Answer, run, to_json};
use crate::server::errors::ServeError;
use crate::server::http::{AppState, caller};

/// `visual` (the default) or `transcript`.
fn modality(given: Option<&str>) -> Result<Modality, ServeError> {
    match given.unwrap_or("visual").to_ascii_lowercase().as_str() {
        "visual" => Ok(Modality::Visual),
        "transcript" => Ok(Modality::Transcript),
        other => Err(ServeError::invalid(format!(
            "unknown modality '{other}' (visual or transcript)"
        ))),
    }
}

/// A SQL string literal (for the text a running request is listed under).
pub(super) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Found items as `{"rows": [...]}`, the columns of the SQL functions.
fn found(f: &search::Found) -> Answer {
    Ok(Json(to_json(&[search::found_batch(f)?])?).into_response())
}

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    q: String,
    k: Option<usize>,
    modality: Option<String>,
    /// Scan every row instead of going through the search index.
    #[serde(default)]
    exact: bool,
}

/// The fourth argument of the SQL search functions.
fn method(exact: bool) -> &'static str {
    if exact { "exact" } else { "index" }
}

pub(super) async fn search(
    State(state): State<AppState>,
    Path(dataset): Path<String>,
    Query(q): Query<SearchQuery>,
    headers: HeaderMap,
) -> Answer {
    let who = caller(&state, &headers)?;
    let modality = modality(q.modality.as_deref())?;
    let k = q.k.unwrap_or(20);
    let what = format!(
        "SELECT * FROM semantic_search({}, {k}, '{}', '{}')",
        quote(&q.q),
        modality.as_str(),
        method(q.exact)
    );
    let catalog = state.server.catalog();
    let work = async {
        let snapshot = catalog.refresh().await?;
        View::new(&snapshot, &who.principal).require(&dataset, DatasetRole::Viewer, "searching")?;
        Ok(search::search(catalog, &dataset, modality, &q.q, k, q.exact).await?)
    };
    found(&state.server.limited(&who, &what, work).await?)
}

#[derive(Deserialize)]
pub(super) struct SimilarQuery {
    item: String,
    k: Option<usize>,
    modality: Option<String>,
    #[serde(default)]
    exact: bool,
}

pub(super) async fn similar(
    State(state): State<AppState>,
    Path(dataset): Path<String>,
    Query(q): Query<SimilarQuery>,
    headers: HeaderMap,
) -> Answer {
    let who = caller(&state, &headers)?;
    let modality = modality(q.modality.as_deref())?;
    let k = q.k.unwrap_or(20);
    let what = format!(
        "SELECT * FROM similar_items({}, {k}, '{}', '{}')",
        quote(&q.item),
        modality.as_str(),
        method(q.exact)
    );
    let catalog = state.server.catalog();
    let work = async {
        let snapshot = catalog.refresh().await?;
        View::new(&snapshot, &who.principal).require(&dataset, DatasetRole::Viewer, "searching")?;
        Ok(search::similar(catalog, &dataset, modality, &q.item, k, q.exact).await?)
    };
    found(&state.server.limited(&who, &what, work).await?)
}

#[derive(Deserialize)]
pub(super) struct CountQuery {
    k: Option<usize>,
}

pub(super) async fn uncertain(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    Query(q): Query<CountQuery>,
    headers: HeaderMap,
) -> Answer {
    let who = caller(&state, &headers)?;
    let k = q.k.unwrap_or(20);
    let what = format!(
        "SELECT * FROM dt_uncertain({}, {}, {k})",
        quote(&group),
        quote(&tag)
    );
    let catalog = state.server.catalog();
    let work = async {
        let snapshot = catalog.refresh().await?;
        let view = View::new(&snapshot, &who.principal);
        let training = &view.group(&group)?.doc.training_dataset;
        view.require(training, DatasetRole::Viewer, "finding uncertain assets")?;
        Ok(search::uncertain_assets(catalog, training, &group, &tag, k).await?)
    };
    found(&state.server.limited(&who, &what, work).await?)
}

#[derive(Deserialize)]
pub(super) struct ModalityQuery {
    modality: Option<String>,
}

pub(super) async fn suggestions(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    Query(q): Query<ModalityQuery>,
    headers: HeaderMap,
) -> Answer {
    let modality = modality(q.modality.as_deref())?;
    run(
        &state,
        &headers,
        TagStatement::Suggest {
            group,
            tag,
            modality,
        },
    )
    .await
}
