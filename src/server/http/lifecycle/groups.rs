//! Routes of a tag group: listing, reading and dropping groups, options, publishing,
//! versions, the datasets applying a group, and the scoring jobs publishing queues.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use dyntag_catalog::statements::TagStatement;
use dyntag_core::model::access::View;
use dyntag_core::model::tags::Visibility;
use dyntag_core::service::tags::GroupEdit;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Answer, body, edit, run, system_rows, to_json};
use crate::server::errors::ServeError;
use crate::server::http::{AppState, caller};

#[derive(Deserialize)]
pub(super) struct GroupsQuery {
    #[serde(default)]
    shareable: bool,
    like: Option<String>,
}

pub(super) async fn groups(
    State(state): State<AppState>,
    Query(q): Query<GroupsQuery>,
    headers: HeaderMap,
) -> Answer {
    if q.shareable || q.like.is_some() {
        return run(
            &state,
            &headers,
            TagStatement::ShowShareable { pattern: q.like },
        )
        .await;
    }
    system_rows(&state, &headers, "tag_groups").await
}

pub(super) async fn group(
    State(state): State<AppState>,
    Path(group): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let caller = caller(&state, &headers)?;
    let snapshot = state.server.catalog().refresh().await?;
    let view = View::new(&snapshot, &caller.principal);
    let g = view.group(&group)?;
    let mut doc = serde_json::to_value(g.doc.as_ref())
        .map_err(|e| ServeError::internal(format!("encoding the group: {e}")))?;
    doc["revision"] = json!(g.revision);
    doc["status"] = json!(snapshot.group_status(&g.doc).as_str());
    if let Some(o) = doc.as_object_mut() {
        o.remove("deleted");
    }
    Ok(Json(doc).into_response())
}

pub(super) async fn drop_group(
    State(state): State<AppState>,
    Path(group): Path<String>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::DropGroup { group }).await
}

pub(super) async fn set_option(
    State(state): State<AppState>,
    Path(group): Path<String>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    #[derive(Deserialize)]
    struct Req {
        key: String,
        value: String,
        expected_revision: Option<u64>,
    }
    let r: Req = body(&bytes, r#"{"key": "shot_aggregation", "value": "mean"}"#)?;
    edit(
        &state,
        &headers,
        group,
        GroupEdit::SetOption {
            key: r.key,
            value: r.value,
        },
        r.expected_revision,
    )
    .await
}

pub(super) async fn publish(
    State(state): State<AppState>,
    Path(group): Path<String>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    #[derive(Deserialize, Default)]
    struct Req {
        visibility: Option<String>,
    }
    let r: Req = if bytes.is_empty() {
        Req::default()
    } else {
        body(&bytes, r#"{"visibility": "shareable"}"#)?
    };
    let visibility = match r
        .visibility
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => None,
        Some("secret") => Some(Visibility::Secret),
        Some("shareable") => Some(Visibility::Shareable),
        Some(other) => {
            return Err(ServeError::invalid(format!(
                "unknown visibility '{other}' (secret or shareable)"
            )));
        }
    };
    run(
        &state,
        &headers,
        TagStatement::Publish { group, visibility },
    )
    .await
}

pub(super) async fn versions(
    State(state): State<AppState>,
    Path(group): Path<String>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::ShowVersions { group }).await
}

pub(super) async fn access(
    State(state): State<AppState>,
    Path(group): Path<String>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::ShowDatasetAccess { group }).await
}

pub(super) async fn scoring_jobs(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    let caller = caller(&state, &headers)?;
    let answer = state
        .server
        .statement(&caller, None, TagStatement::ShowJobs)
        .await?;
    let mut jobs = to_json(&answer.batches)?;
    let running = state.server.workers().running();
    if let Some(rows) = jobs["rows"].as_array_mut() {
        for row in rows {
            let p = running.iter().find(|p| {
                row["group_slug"].as_str() == Some(p.group.as_str())
                    && row["dataset"].as_str() == Some(p.dataset.as_str())
            });
            row["progress"] = serde_json::to_value(p).unwrap_or(Value::Null);
        }
    }
    Ok(Json(jobs).into_response())
}
