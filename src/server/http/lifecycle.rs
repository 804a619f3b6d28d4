//! The lifecycle API: tag groups, tags, prompts, labels, previews, publishing, applying,
//! versions, scoring jobs, users and roles as JSON routes. Each route builds the same
//! [`TagStatement`] its SQL equivalent parses to and runs it through the same service
//! layer, so the two can never disagree. One table, [`ROUTES`], lists each route with its
//! handler: it builds the router and feeds the OpenAPI document and the README's table.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::json::WriterBuilder;
use datafusion::arrow::json::writer::JsonArray;
use dyntag_catalog::statements::TagStatement;
use dyntag_core::Modality;
use dyntag_core::model::access::{DatasetRole, View};
use dyntag_core::model::tags::{Polarity, Prompt, PromptModality, Visibility};
use dyntag_core::scoring::scan::PreviewMode;
use dyntag_core::service::tags::GroupEdit;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, caller};
use crate::server::errors::ServeError;

/// One route: method, path, the SQL it stands for, what it does.
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub sql: &'static str,
    pub summary: &'static str,
}

macro_rules! routes {
    ($( $m:ident $p:literal => $h:path, $sql:literal : $s:literal ;)*) => {
        /// Every lifecycle route with its SQL equivalent.
        pub const ROUTES: &[RouteDoc] = &[ $( RouteDoc { method: stringify!($m), path: $p, sql: $sql, summary: $s } ),* ];

        /// The lifecycle routes, from the same table.
        pub(super) fn router() -> Router<AppState> {
            Router::new() $( .route($p, axum::routing::on(axum::routing::MethodFilter::$m, $h)) )*
        }
    };
}

routes! {
    GET "/api/me" => me, "SHOW USERS; SHOW ROLES" : "who the caller is and their roles";
    GET "/api/datasets" => datasets, "SELECT * FROM system.datasets" : "the datasets the caller sees, with their role";
    GET "/api/datasets/{dataset}/groups" => dataset_groups, "SHOW TAG GROUPS ON DATASET d" : "manage groups: groups trained or applied on the dataset, applied version, update available, scoring status";
    POST "/api/datasets/{dataset}/groups" => create_group, "CREATE TAG GROUP g ON DATASET d TAGS (...)" : "create a group from {name, tags: [..] or \"one per line\", options: {..}}";
    POST "/api/datasets/{dataset}/applications" => apply, "APPLY TAG GROUP g TO DATASET d" : "apply a shareable group {group}; queues scoring";
    POST "/api/datasets/{dataset}/applications/{group}/update" => update, "UPDATE TAG GROUP g ON DATASET d" : "move to the latest version; queues scoring";
    DELETE "/api/datasets/{dataset}/applications/{group}" => remove, "REMOVE TAG GROUP g FROM DATASET d" : "stop applying a group";
    GET "/api/datasets/{dataset}/roles" => roles, "SHOW ROLES ON DATASET d" : "roles on the dataset";
    PUT "/api/datasets/{dataset}/roles/{user}" => grant, "GRANT EDITOR ON DATASET d TO u" : "give a user a role {role: admin|editor|viewer}";
    DELETE "/api/datasets/{dataset}/roles/{user}" => revoke, "REVOKE ALL ON DATASET d FROM u" : "take a user's role away";
    GET "/api/groups" => groups, "SELECT * FROM system.tag_groups; SHOW SHAREABLE TAG GROUPS LIKE 'p'" : "groups the caller sees; ?shareable=true&like=pattern searches groups to apply";
    GET "/api/groups/{group}" => group, "SHOW TAGS IN GROUP g" : "the group's definition with statuses and its revision";
    DELETE "/api/groups/{group}" => drop_group, "DROP TAG GROUP g" : "drop the group";
    PUT "/api/groups/{group}/options" => set_option, "ALTER TAG GROUP g SET option = 'value'" : "set one option {key, value}";
    POST "/api/groups/{group}/publish" => publish, "PUBLISH TAG GROUP g VISIBILITY v" : "freeze a version {visibility?}; queues scoring";
    GET "/api/groups/{group}/versions" => versions, "SHOW VERSIONS OF TAG GROUP g" : "published versions";
    GET "/api/groups/{group}/access" => access, "SHOW DATASET ACCESS FOR TAG GROUP g" : "datasets applying the group, with version and scoring status";
    GET "/api/groups/{group}/tags" => tags, "SHOW TAGS IN GROUP g" : "tags with status, threshold, prompts";
    POST "/api/groups/{group}/tags" => add_tag, "ALTER TAG GROUP g ADD TAG 't'" : "add a tag {name}";
    PATCH "/api/groups/{group}/tags/{tag}" => patch_tag, "ALTER TAG 't' IN GROUP g SET THRESHOLD x | RENAME TO 'n' [AT REVISION r]" : "{threshold} or {name}, with optional expected_revision";
    DELETE "/api/groups/{group}/tags/{tag}" => drop_tag, "ALTER TAG GROUP g DROP TAG 't'" : "drop a tag";
    POST "/api/groups/{group}/tags/{tag}/prompts" => add_prompt, "ALTER TAG 't' IN GROUP g ADD [NEGATIVE] PROMPT 'p' FOR m" : "add a prompt {text, polarity?, modality?, expected_revision?}";
    DELETE "/api/groups/{group}/tags/{tag}/prompts" => drop_prompt, "ALTER TAG 't' IN GROUP g DROP PROMPT 'p'" : "drop a prompt {text, polarity?, modality?}";
    GET "/api/groups/{group}/tags/{tag}/labels" => labels, "SHOW LABELS IN GROUP g" : "the tag's visual labels";
    POST "/api/groups/{group}/tags/{tag}/labels" => add_labels, "ALTER TAG 't' IN GROUP g ADD POSITIVE LABELS (...)" : "label {asset_ids: [..], positive: bool}";
    DELETE "/api/groups/{group}/tags/{tag}/labels" => drop_labels, "ALTER TAG 't' IN GROUP g DROP LABELS (...)" : "remove labels {asset_ids}";
    GET "/api/groups/{group}/tags/{tag}/preview" => preview, "PREVIEW TAG 't' IN GROUP g ..." : "?modality=visual|transcript&mode=compare|positives|negatives|stratified|top&threshold=&limit=&published=; opening it reviews the tag";
    GET "/api/datasets/{dataset}/thumbnails/{image_id}" => super::media::thumbnail, "SELECT path FROM coactive_table WHERE coactive_image_id = 'i'" : "the JPEG thumbnail of an image or keyframe (image/jpeg), for whoever sees the dataset";
    GET "/api/datasets/{dataset}/search" => search, "SELECT * FROM semantic_search('q', k, 'visual')" : "?q=text&k=20&modality=visual|transcript: the items nearest the text, to label";
    GET "/api/groups/{group}/tags/{tag}/uncertain" => uncertain, "SELECT * FROM dt_uncertain('g', 't', k)" : "?k=20: the items the published classifier is least sure about, spread out, not yet labelled";
    GET "/api/groups/{group}/tags/{tag}/suggestions" => suggestions, "SUGGEST PROMPTS FOR TAG 't' IN GROUP g FOR VISUAL" : "?modality=visual|transcript: prompts from the configured LLM, else templates or the dataset's transcript sentences";
    POST "/api/groups/{group}/tags/{tag}/evaluation" => evaluate, "EVALUATE TAG 't' IN GROUP g SAMPLE n" : "draw the Tag Evaluator's sample {sample?} (about 400 items stratified over the score range)";
    GET "/api/groups/{group}/tags/{tag}/evaluation" => show_evaluation, "SHOW EVALUATION OF TAG 't' IN GROUP g" : "the sampled items with their scores, weights and labels";
    POST "/api/groups/{group}/tags/{tag}/evaluation/labels" => label_evaluation, "LABEL EVALUATION OF TAG 't' IN GROUP g POSITIVE (...) | FROM FILE 'f' | WITH LLM" : "ground truth: {labels: [{asset_id, label}]}, a labels file sent as the body (text/csv or application/vnd.apache.parquet; ?name=), {csv: text}, {file: name} under the data root's files/ folder, or {llm: true} (the configured LLM looks at each image)";
    DELETE "/api/groups/{group}/tags/{tag}/evaluation/items" => remove_evaluation_items, "REMOVE EVALUATION ITEMS (...) OF TAG 't' IN GROUP g" : "take items judged wrong out {asset_ids}";
    GET "/api/groups/{group}/tags/{tag}/metrics" => tag_metrics, "SELECT * FROM dt_metrics('g', 't')" : "F1, F0.5, precision, recall, accuracy over thresholds 0–1 with 95% intervals, the recommended threshold";
    POST "/api/groups/{group}/tags/{tag}/threshold" => save_threshold, "SAVE THRESHOLD OF TAG 't' IN GROUP g FOR F1" : "save the threshold maximising {metric?} (no rescoring)";
    POST "/api/groups/{group}/tags/{tag}/target" => set_target, "SET TARGET OF TAG 't' IN GROUP g PRECISION 0.9 CONFIDENCE 0.95" : "save the threshold meeting {metric: precision|recall, at_least, confidence?} with that confidence (SUPG)";
    GET "/api/scoring-jobs" => scoring_jobs, "SHOW SCORING JOBS" : "queued and running scoring jobs with live progress";
    GET "/api/users" => users, "SHOW USERS" : "users (organisation admins see all)";
    POST "/api/users" => create_user, "CREATE USER u [ORG ADMIN] [READ ONLY]" : "create a user {name, org_admin?, read_only?}; answers their token once";
    POST "/api/users/{user}/tokens" => create_token, "CREATE [READ ONLY] TOKEN FOR USER u" : "another token for a user {read_only?} (organisation admins, or the user for themselves); answered once";
    DELETE "/api/users/{user}" => drop_user, "DROP USER u" : "drop a user";
}

type Answer = Result<Response, ServeError>;

/// Runs `stmt` for the caller and answers it as JSON: `{"message", "jobs"}` for a change,
/// `{"rows": [...]}` for a table.
async fn run(state: &AppState, headers: &HeaderMap, stmt: TagStatement) -> Answer {
    run_in(state, headers, None, stmt).await
}

async fn run_in(
    state: &AppState,
    headers: &HeaderMap,
    dataset: Option<&str>,
    stmt: TagStatement,
) -> Answer {
    let caller = caller(state, headers)?;
    let answer = state.server.statement(&caller, dataset, stmt).await?;
    let created = answer.queued > 0;
    let body = to_json(&answer.batches)?;
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

/// `{"message": …}` for a one-cell `result`, else `{"rows": [...]}`.
fn to_json(batches: &[RecordBatch]) -> Result<Value, ServeError> {
    if let [b] = batches
        && b.num_columns() == 1
        && b.schema().field(0).name() == "result"
        && b.num_rows() == 1
        && let Some(s) = b.column(0).as_string_opt::<i32>()
        && s.is_valid(0)
    {
        return Ok(json!({ "message": s.value(0) }));
    }
    let mut w = WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, JsonArray>(Vec::new());
    for b in batches {
        w.write(b)?;
    }
    w.finish()?;
    let bytes = w.into_inner();
    let rows: Value = if bytes.is_empty() {
        json!([])
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ServeError::internal(format!("encoding rows: {e}")))?
    };
    Ok(json!({ "rows": rows }))
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8], example: &str) -> Result<T, ServeError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ServeError::invalid(format!("the body must be JSON like {example}: {e}")))
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> Answer {
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

async fn system_rows(state: &AppState, headers: &HeaderMap, table: &str) -> Answer {
    let caller = caller(state, headers)?;
    let snapshot = state.server.catalog().refresh().await?;
    let view = View::new(&snapshot, &caller.principal);
    let batch = dyntag_catalog::provider::system_table(&view, table)?
        .ok_or_else(|| ServeError::internal(format!("no system table {table}")))?;
    Ok(Json(to_json(&[batch])?).into_response())
}

async fn datasets(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    system_rows(&state, &headers, "datasets").await
}

async fn dataset_groups(
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
enum TagList {
    List(Vec<String>),
    Lines(String),
}

async fn create_group(
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
struct GroupRef {
    group: String,
}

async fn apply(
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

async fn update(
    State(state): State<AppState>,
    Path((dataset, group)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::Update { group, dataset }).await
}

async fn remove(
    State(state): State<AppState>,
    Path((dataset, group)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::Remove { group, dataset }).await
}

async fn roles(
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

async fn grant(
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

async fn revoke(
    State(state): State<AppState>,
    Path((dataset, user)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::Revoke { dataset, user }).await
}

#[derive(Deserialize)]
struct GroupsQuery {
    #[serde(default)]
    shareable: bool,
    like: Option<String>,
}

async fn groups(
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

async fn group(
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

async fn drop_group(
    State(state): State<AppState>,
    Path(group): Path<String>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::DropGroup { group }).await
}

async fn edit(
    state: &AppState,
    headers: &HeaderMap,
    group: String,
    edit: GroupEdit,
    expected_revision: Option<u64>,
) -> Answer {
    run(
        state,
        headers,
        TagStatement::Edit {
            group,
            edit,
            expected_revision,
        },
    )
    .await
}

async fn set_option(
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

async fn publish(
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

async fn versions(
    State(state): State<AppState>,
    Path(group): Path<String>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::ShowVersions { group }).await
}

async fn access(
    State(state): State<AppState>,
    Path(group): Path<String>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::ShowDatasetAccess { group }).await
}

async fn tags(
    State(state): State<AppState>,
    Path(group): Path<String>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::ShowTags { group }).await
}

async fn add_tag(
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

async fn patch_tag(
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

async fn drop_tag(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    edit(&state, &headers, group, GroupEdit::DropTag { tag }, None).await
}

#[derive(Deserialize)]
struct PromptReq {
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

async fn add_prompt(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    let r: PromptReq = body(&bytes, PROMPT_EXAMPLE)?;
    let prompt = Prompt {
        text: r.text,
        polarity: r.polarity,
        modality: r.modality,
    };
    edit(
        &state,
        &headers,
        group,
        GroupEdit::AddPrompt { tag, prompt },
        r.expected_revision,
    )
    .await
}

async fn drop_prompt(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    let r: PromptReq = body(&bytes, PROMPT_EXAMPLE)?;
    let prompt = Prompt {
        text: r.text,
        polarity: r.polarity,
        modality: r.modality,
    };
    edit(
        &state,
        &headers,
        group,
        GroupEdit::DropPrompt { tag, prompt },
        r.expected_revision,
    )
    .await
}

async fn labels(
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
struct LabelReq {
    asset_ids: Vec<String>,
    #[serde(default = "yes")]
    positive: bool,
    expected_revision: Option<u64>,
}

fn yes() -> bool {
    true
}

async fn add_labels(
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

async fn drop_labels(
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
struct PreviewQuery {
    modality: Option<String>,
    mode: Option<String>,
    threshold: Option<f64>,
    limit: Option<usize>,
    #[serde(default)]
    published: bool,
}

async fn preview(
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

/// A SQL string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Runs a query for the caller in `dataset` and answers its rows.
async fn query_rows(state: &AppState, headers: &HeaderMap, dataset: &str, sql: &str) -> Answer {
    use futures::TryStreamExt;
    let caller = caller(state, headers)?;
    let (_, stream) = state
        .server
        .run(&caller, "http", Some(dataset), sql)
        .await?;
    let batches: Vec<RecordBatch> = stream.try_collect().await?;
    Ok(Json(to_json(&batches)?).into_response())
}

#[derive(Deserialize)]
struct SearchQuery {
    q: String,
    k: Option<usize>,
    modality: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    Path(dataset): Path<String>,
    Query(q): Query<SearchQuery>,
    headers: HeaderMap,
) -> Answer {
    let modality = q.modality.unwrap_or_else(|| "visual".into());
    let sql = format!(
        "SELECT * FROM semantic_search({}, {}, {})",
        quote(&q.q),
        q.k.unwrap_or(20),
        quote(&modality)
    );
    query_rows(&state, &headers, &dataset, &sql).await
}

#[derive(Deserialize)]
struct CountQuery {
    k: Option<usize>,
}

async fn uncertain(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    Query(q): Query<CountQuery>,
    headers: HeaderMap,
) -> Answer {
    let who = caller(&state, &headers)?;
    let snapshot = state.server.catalog().refresh().await?;
    let training = View::new(&snapshot, &who.principal)
        .group(&group)?
        .doc
        .training_dataset
        .clone();
    let sql = format!(
        "SELECT * FROM dt_uncertain({}, {}, {})",
        quote(&group),
        quote(&tag),
        q.k.unwrap_or(20)
    );
    query_rows(&state, &headers, &training, &sql).await
}

#[derive(Deserialize)]
struct ModalityQuery {
    modality: Option<String>,
}

async fn suggestions(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    Query(q): Query<ModalityQuery>,
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

async fn evaluate(
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

async fn show_evaluation(
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

async fn label_evaluation(
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
        .get(axum::http::header::CONTENT_TYPE)
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
struct FileName {
    name: Option<String>,
}

async fn remove_evaluation_items(
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

async fn tag_metrics(
    State(state): State<AppState>,
    Path((group, tag)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    let who = caller(&state, &headers)?;
    let snapshot = state.server.catalog().refresh().await?;
    let training = View::new(&snapshot, &who.principal)
        .group(&group)?
        .doc
        .training_dataset
        .clone();
    let sql = format!(
        "SELECT * FROM dt_metrics({}, {})",
        quote(&group),
        quote(&tag)
    );
    query_rows(&state, &headers, &training, &sql).await
}

async fn save_threshold(
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

async fn set_target(
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

async fn scoring_jobs(State(state): State<AppState>, headers: HeaderMap) -> Answer {
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

async fn users(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    run(&state, &headers, TagStatement::ShowUsers).await
}

async fn create_user(
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

async fn create_token(
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

async fn drop_user(
    State(state): State<AppState>,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Answer {
    run(&state, &headers, TagStatement::DropUser { name: user }).await
}

/// The lifecycle routes as OpenAPI path items.
pub fn openapi_paths() -> serde_json::Map<String, Value> {
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|p| json!({ "name": p, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let entry = paths
            .entry(r.path.to_string())
            .or_insert_with(|| json!({ "parameters": params }));
        entry[r.method.to_ascii_lowercase()] = json!({
            "summary": r.summary,
            "description": format!("SQL equivalent: {}", r.sql),
            "responses": {
                "200": { "description": "{\"message\"} for a change, {\"rows\": [...]} for a table" },
                "202": { "description": "a change that queued scoring" },
                "400": { "description": "bad input; the error names what was wrong" },
                "403": { "description": "the caller's role does not allow it" },
                "404": { "description": "no such (or no visible) dataset, group, tag or user" },
                "409": { "description": "conflict (the current revision is named) or not allowed in the current state" }
            }
        });
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::ROUTES;

    #[test]
    fn every_route_is_in_the_readme_and_the_openapi_document() {
        // The checkout's README, read at run time: `cargo test` sets CARGO_MANIFEST_DIR, and a
        // test binary in a shared target directory may have been built by another checkout.
        let root = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
        let readme = std::fs::read_to_string(std::path::Path::new(&root).join("README.md"))
            .expect("README.md");
        let spec = super::openapi_paths();
        for r in ROUTES {
            let row = format!("| `{} {}` |", r.method, r.path);
            assert!(readme.contains(&row), "README lacks the route {row}");
            assert!(
                spec.get(r.path)
                    .and_then(|p| p.get(r.method.to_ascii_lowercase()))
                    .is_some(),
                "OpenAPI lacks {} {}",
                r.method,
                r.path
            );
        }
    }
}
