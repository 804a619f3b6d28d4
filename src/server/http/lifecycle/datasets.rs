//! Routes of a dataset: the datasets a caller sees, the groups trained or applied on one,
//! creating a group on it, applying, updating and removing groups, and roles on it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use dyntag_catalog::statements::TagStatement;
use dyntag_core::model::access::DatasetRole;
use serde::Deserialize;

use super::{Answer, body, run, system_rows};
use crate::server::http::AppState;

pub(super) async fn datasets(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    system_rows(&state, &headers, "datasets").await
}

pub(super) async fn dataset_groups(
    State(state): State<AppState>,
    Path(dataset): Path<String>,
    headers: HeaderMap,
) -> Answer {
    run(
        &state,
        &headers,
        TagStatement::ShowGroups {
            dataset: Some(dataset),
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum TagList {
    List(Vec<String>),
    Lines(String),
}

pub(super) async fn create_group(
    State(state): State<AppState>,
    Path(dataset): Path<String>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    #[derive(Deserialize)]
    struct Req {
        name: String,
        tags: TagList,
        #[serde(default)]
        options: std::collections::BTreeMap<String, String>,
    }
    let r: Req = body(
        &bytes,
        r#"{"name": "Topics", "tags": ["football", "cooking"]}"#,
    )?;
    let tags = match r.tags {
        TagList::List(v) => v,
        TagList::Lines(s) => vec![s],
    };
    let answer = run(
        &state,
        &headers,
        TagStatement::CreateGroup {
            name: r.name,
            dataset,
            tags,
            options: r.options.into_iter().collect(),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, answer).into_response())
}

#[derive(Deserialize)]
pub(super) struct GroupRef {
    group: String,
}

pub(super) async fn apply(
    State(state): State<AppState>,
    Path(dataset): Path<String>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    let r: GroupRef = body(&bytes, r#"{"group": "topics"}"#)?;
    run(
        &state,
        &headers,
        TagStatement::Apply {
            group: r.group,
            dataset,
        },
    )
    .await
}

pub(super) async fn update(
    State(state): State<AppState>,
    Path((dataset, group)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::Update { group, dataset }).await
}

pub(super) async fn remove(
    State(state): State<AppState>,
    Path((dataset, group)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::Remove { group, dataset }).await
}

pub(super) async fn roles(
    State(state): State<AppState>,
    Path(dataset): Path<String>,
    headers: HeaderMap,
) -> Answer {
    run(
        &state,
        &headers,
        TagStatement::ShowRoles {
            dataset: Some(dataset),
        },
    )
    .await
}

pub(super) async fn grant(
    State(state): State<AppState>,
    Path((dataset, user)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    #[derive(Deserialize)]
    struct Req {
        role: String,
    }
    let r: Req = body(&bytes, r#"{"role": "editor"}"#)?;
    let role = DatasetRole::parse(&r.role)?;
    run(
        &state,
        &headers,
        TagStatement::Grant {
            role,
            dataset,
            user,
        },
    )
    .await
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    Path((dataset, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::Revoke { dataset, user }).await
}
