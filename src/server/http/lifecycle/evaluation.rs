//! Routes of the Tag Evaluator: drawing the sample, labelling it (by hand, from a file or
//! by the configured LLM), removing items, the metrics table, and saving thresholds.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use dyntag_catalog::statements::TagStatement;
use dyntag_core::CatalogError;
use dyntag_core::model::access::{DatasetRole, View};
use serde::Deserialize;

use super::{Answer, body, run, to_json};
use crate::server::errors::ServeError;
use crate::server::http::{AppState, caller};

pub(super) async fn evaluate(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    #[derive(Deserialize, Default)]
    struct Req {
        sample: Option<usize>,
    }
    let r: Req = if bytes.is_empty() {
        Req::default()
    } else {
        body(&bytes, r#"{"sample": 400}"#)?
    };
    if r.sample == Some(0) {
        return Err(ServeError::invalid("sample must be at least 1"));
    }
    run(
        &state,
        &headers,
        TagStatement::Evaluate {
            group,
            tag,
            sample: r.sample,
        },
    )
    .await
}

pub(super) async fn show_evaluation(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    run(
        &state,
        &headers,
        TagStatement::ShowEvaluation { group, tag },
    )
    .await
}

pub(super) async fn label_evaluation(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    Query(q): Query<FileName>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    use dyntag_catalog::statements::EvaluationLabels;
    use dyntag_core::service::evaluate::LabelsFile;
    #[derive(Deserialize)]
    struct One {
        asset_id: String,
        label: bool,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Req {
        labels: Option<Vec<One>>,
        file: Option<String>,
        csv: Option<String>,
        parquet_base64: Option<String>,
        #[serde(default)]
        llm: bool,
    }
    let statement = |labels| TagStatement::LabelEvaluation {
        group: group.clone(),
        tag: tag.clone(),
        labels,
    };
    let sent = |default: &str, bytes: bytes::Bytes| {
        statement(EvaluationLabels::Sent {
            file: LabelsFile::Upload {
                name: q.name.clone().unwrap_or_else(|| default.to_string()),
                bytes,
            },
        })
    };
    // A labels file as the body itself.
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("text/csv") {
        return run(&state, &headers, sent("labels.csv", bytes)).await;
    }
    if [
        "application/vnd.apache.parquet",
        "application/x-parquet",
        "application/octet-stream",
    ]
    .iter()
    .any(|t| content_type.starts_with(t))
    {
        return run(&state, &headers, sent("labels.parquet", bytes)).await;
    }
    let r: Req = body(
        &bytes,
        r#"{"labels": [{"asset_id": "img_1", "label": true}]}, {"csv": "asset_id,tag,label\n..."}, {"file": "labels.csv"} (under the data root's files/) or {"llm": true}"#,
    )?;
    if r.llm {
        return run(&state, &headers, statement(EvaluationLabels::Llm)).await;
    }
    match (r.labels, r.file, r.csv, r.parquet_base64) {
        (Some(labels), None, None, None) => {
            // One statement per polarity, both through the same service.
            let mut last = None;
            for positive in [true, false] {
                let asset_ids: Vec<String> = labels
                    .iter()
                    .filter(|l| l.label == positive)
                    .map(|l| l.asset_id.clone())
                    .collect();
                if asset_ids.is_empty() {
                    continue;
                }
                last = Some(
                    run(
                        &state,
                        &headers,
                        statement(EvaluationLabels::Items {
                            asset_ids,
                            positive,
                        }),
                    )
                    .await?,
                );
            }
            last.ok_or_else(|| ServeError::invalid("no labels given"))
        }
        (None, Some(path), None, None) => {
            run(&state, &headers, statement(EvaluationLabels::File { path })).await
        }
        (None, None, Some(csv), None) => {
            run(&state, &headers, sent("labels.csv", csv.into())).await
        }
        (None, None, None, Some(b64)) => {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| ServeError::invalid(format!("parquet_base64 is not base64: {e}")))?;
            run(&state, &headers, sent("labels.parquet", bytes.into())).await
        }
        _ => Err(ServeError::invalid(
            "send one of {\"labels\": [...]}, {\"csv\": text}, {\"parquet_base64\": data}, {\"file\": name under files/} or {\"llm\": true}, or the labels file itself with Content-Type text/csv or application/vnd.apache.parquet",
        )),
    }
}

#[derive(Deserialize)]
pub(super) struct FileName {
    name: Option<String>,
}

pub(super) async fn remove_evaluation_items(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    #[derive(Deserialize)]
    struct Req {
        asset_ids: Vec<String>,
    }
    let r: Req = body(&bytes, r#"{"asset_ids": ["img_1"]}"#)?;
    run(
        &state,
        &headers,
        TagStatement::RemoveEvaluationItems {
            group,
            tag,
            asset_ids: r.asset_ids,
        },
    )
    .await
}

pub(super) async fn tag_metrics(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    let who = caller(&state, &headers)?;
    let what = format!(
        "SELECT * FROM dt_metrics({}, {})",
        super::finding::quote(&group),
        super::finding::quote(&tag)
    );
    let catalog = state.server.catalog();
    let work = async {
        let snapshot = catalog.refresh().await?;
        let view = View::new(&snapshot, &who.principal);
        let g = &view.group(&group)?.doc;
        view.require(&g.training_dataset, DatasetRole::Viewer, "reading metrics")?;
        let t = g.tag(&tag).ok_or_else(|| CatalogError::NotFound {
            kind: "tag",
            name: tag.clone(),
            hint: format!(" in tag group '{}'", g.name),
        })?;
        Ok(dyntag_core::service::evaluate::metrics(catalog, &g.slug, &t.name).await?)
    };
    let table = state.server.limited(&who, &what, work).await?;
    Ok(Json(to_json(&[table])?).into_response())
}

pub(super) async fn save_threshold(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    #[derive(Deserialize, Default)]
    struct Req {
        metric: Option<String>,
    }
    let r: Req = if bytes.is_empty() {
        Req::default()
    } else {
        body(&bytes, r#"{"metric": "f1"}"#)?
    };
    let metric = dyntag_core::service::evaluate::metrics::Metric::parse(
        r.metric.as_deref().unwrap_or("f1"),
    )?;
    run(
        &state,
        &headers,
        TagStatement::SaveThreshold { group, tag, metric },
    )
    .await
}

pub(super) async fn set_target(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    #[derive(Deserialize)]
    struct Req {
        metric: String,
        at_least: f64,
        confidence: Option<f64>,
    }
    let r: Req = body(
        &bytes,
        r#"{"metric": "precision", "at_least": 0.9, "confidence": 0.95}"#,
    )?;
    let confidence = r.confidence.unwrap_or(0.95);
    if !(0.0..1.0).contains(&r.at_least) || !(0.5..1.0).contains(&confidence) {
        return Err(ServeError::invalid(format!(
            "a target is between 0 and 1 (found {}) and a confidence between 0.5 and 1 (found {confidence})",
            r.at_least
        )));
    }
    let delta = 1.0 - confidence;
    use dyntag_core::service::evaluate::supg::Target;
    let target = match r.metric.to_ascii_lowercase().as_str() {
        "precision" => Target::Precision {
            at_least: r.at_least,
            delta,
        },
        "recall" => Target::Recall {
            at_least: r.at_least,
            delta,
        },
        other => {
            return Err(ServeError::invalid(format!(
                "unknown target metric '{other}' (precision or recall)"
            )));
        }
    };
    run(
        &state,
        &headers,
        TagStatement::SetTarget { group, tag, target },
    )
    .await
}
