//! Routes of the tags of a group: adding, renaming, thresholds, prompts, labels and the
//! preview that reviews a tag.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use datafusion::arrow::array::AsArray;
use dyntag_catalog::statements::TagStatement;
use dyntag_core::Modality;
use dyntag_core::model::tags::{Polarity, Prompt, PromptModality};
use dyntag_core::scoring::scan::PreviewMode;
use dyntag_core::service::tags::GroupEdit;
use serde::Deserialize;

use super::{Answer, body, edit, run, to_json};
use crate::server::errors::ServeError;
use crate::server::http::{AppState, caller};

pub(super) async fn tags(
    State(state): State<AppState>,
    Path(group): Path<String>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::ShowTags { group }).await
}

pub(super) async fn add_tag(
    State(state): State<AppState>,
    Path(group): Path<String>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    #[derive(Deserialize)]
    struct Req {
        name: String,
        expected_revision: Option<u64>,
    }
    let r: Req = body(&bytes, r#"{"name": "goal keeper"}"#)?;
    edit(
        &state,
        &headers,
        group,
        GroupEdit::AddTag { tag: r.name },
        r.expected_revision,
    )
    .await
}

pub(super) async fn patch_tag(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    #[derive(Deserialize)]
    struct Req {
        threshold: Option<f64>,
        name: Option<String>,
        expected_revision: Option<u64>,
    }
    let r: Req = body(&bytes, r#"{"threshold": 0.6, "expected_revision": 7}"#)?;
    let change = match (r.threshold, r.name) {
        (Some(threshold), None) => GroupEdit::SetThreshold { tag, threshold },
        (None, Some(to)) => GroupEdit::RenameTag { tag, to },
        _ => {
            return Err(ServeError::invalid(
                "send either {\"threshold\": x} or {\"name\": \"new name\"}",
            ));
        }
    };
    edit(&state, &headers, group, change, r.expected_revision).await
}

pub(super) async fn drop_tag(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    edit(&state, &headers, group, GroupEdit::DropTag { tag }, None).await
}

#[derive(Deserialize)]
pub(super) struct PromptReq {
    text: String,
    #[serde(default = "positive")]
    polarity: Polarity,
    #[serde(default = "both")]
    modality: PromptModality,
    expected_revision: Option<u64>,
}

fn positive() -> Polarity {
    Polarity::Positive
}

fn both() -> PromptModality {
    PromptModality::Both
}

const PROMPT_EXAMPLE: &str =
    r#"{"text": "a goalkeeper diving", "polarity": "positive", "modality": "visual"}"#;

pub(super) async fn add_prompt(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    prompt_edit(&state, &headers, group, &bytes, |prompt| {
        GroupEdit::AddPrompt { tag, prompt }
    })
    .await
}

pub(super) async fn drop_prompt(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    prompt_edit(&state, &headers, group, &bytes, |prompt| {
        GroupEdit::DropPrompt { tag, prompt }
    })
    .await
}

/// Adds or drops the prompt of a `PromptReq` body.
async fn prompt_edit(
    state: &AppState,
    headers: &HeaderMap,
    group: String,
    bytes: &[u8],
    change: impl FnOnce(Prompt) -> GroupEdit,
) -> Answer {
    let r: PromptReq = body(bytes, PROMPT_EXAMPLE)?;
    let prompt = Prompt {
        text: r.text,
        polarity: r.polarity,
        modality: r.modality,
    };
    edit(state, headers, group, change(prompt), r.expected_revision).await
}

pub(super) async fn labels(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    let caller = caller(&state, &headers)?;
    let answer = state
        .server
        .statement(&caller, None, TagStatement::ShowLabels { group })
        .await?;
    let mut out = Vec::new();
    for b in &answer.batches {
        let names = b
            .column_by_name("tag_name")
            .and_then(|c| c.as_string_opt::<i32>());
        let keep: Vec<bool> = (0..b.num_rows())
            .map(|r| names.is_some_and(|n| n.value(r).eq_ignore_ascii_case(&tag)))
            .collect();
        out.push(datafusion::arrow::compute::filter_record_batch(
            b,
            &datafusion::arrow::array::BooleanArray::from(keep),
        )?);
    }
    Ok(Json(to_json(&out)?).into_response())
}

#[derive(Deserialize)]
pub(super) struct LabelReq {
    asset_ids: Vec<String>,
    #[serde(default = "yes")]
    positive: bool,
    expected_revision: Option<u64>,
}

fn yes() -> bool {
    true
}

pub(super) async fn add_labels(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    let r: LabelReq = body(&bytes, r#"{"asset_ids": ["img_1"], "positive": true}"#)?;
    edit(
        &state,
        &headers,
        group,
        GroupEdit::AddLabels {
            tag,
            asset_ids: r.asset_ids,
            positive: r.positive,
        },
        r.expected_revision,
    )
    .await
}

pub(super) async fn drop_labels(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    let r: LabelReq = body(&bytes, r#"{"asset_ids": ["img_1"]}"#)?;
    edit(
        &state,
        &headers,
        group,
        GroupEdit::DropLabels {
            tag,
            asset_ids: r.asset_ids,
        },
        r.expected_revision,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct PreviewQuery {
    modality: Option<String>,
    mode: Option<String>,
    threshold: Option<f64>,
    limit: Option<usize>,
    #[serde(default)]
    published: bool,
}

pub(super) async fn preview(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    Query(q): Query<PreviewQuery>,
    headers: HeaderMap,
) -> Answer {
    let modality = match q.modality.as_deref().unwrap_or("visual") {
        "visual" => Modality::Visual,
        "transcript" => Modality::Transcript,
        other => {
            return Err(ServeError::invalid(format!(
                "unknown modality '{other}' (visual or transcript)"
            )));
        }
    };
    let mode = q.mode.as_deref().map(PreviewMode::parse).transpose()?;
    if q.limit == Some(0) {
        return Err(ServeError::invalid("limit must be at least 1"));
    }
    run(
        &state,
        &headers,
        TagStatement::Preview {
            group,
            tag,
            modality,
            published: q.published,
            mode,
            threshold: q.threshold,
            limit: q.limit,
        },
    )
    .await
}
