//! Routes of users: who the caller is, the users, creating users and tokens, dropping users.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use dyntag_catalog::statements::TagStatement;
use dyntag_core::model::access::View;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Answer, body, run};
use crate::server::http::{AppState, caller};

pub(super) async fn me(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    let caller = caller(&state, &headers)?;
    let snapshot = state.server.catalog().refresh().await?;
    let view = View::new(&snapshot, &caller.principal);
    let roles: serde_json::Map<String, Value> = view
        .datasets()
        .into_iter()
        .filter_map(|d| view.role(d).map(|r| (d.clone(), json!(r.as_str()))))
        .collect();
    Ok(Json(json!({
        "user": caller.user,
        "org_admin": view.org_admin(),
        "roles": roles,
        "dataset": state.server.session_dataset(&caller),
    }))
    .into_response())
}

pub(super) async fn users(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    run(&state, &headers, TagStatement::ShowUsers).await
}

pub(super) async fn create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    #[derive(Deserialize)]
    struct Req {
        name: String,
        #[serde(default)]
        org_admin: bool,
        #[serde(default)]
        read_only: bool,
    }
    let r: Req = body(
        &bytes,
        r#"{"name": "ann", "org_admin": false, "read_only": false}"#,
    )?;
    let answer = run(
        &state,
        &headers,
        TagStatement::CreateUser {
            name: r.name,
            org_admin: r.org_admin,
            read_only: r.read_only,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, answer).into_response())
}

pub(super) async fn create_token(
    State(state): State<AppState>,
    Path(user): Path<String>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    #[derive(Deserialize)]
    struct Req {
        #[serde(default)]
        read_only: bool,
    }
    let r: Req = if bytes.is_empty() {
        Req { read_only: false }
    } else {
        body(&bytes, r#"{"read_only": true}"#)?
    };
    let answer = run(
        &state,
        &headers,
        TagStatement::CreateToken {
            user,
            read_only: r.read_only,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, answer).into_response())
}

pub(super) async fn drop_user(
    State(state): State<AppState>,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::DropUser { name: user }).await
}
