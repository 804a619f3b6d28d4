//! The lifecycle API: tag groups, tags, prompts, labels, previews, publishing, applying,
//! versions, scoring jobs, users and roles as JSON routes. Each route builds the same
//! [`TagStatement`] its SQL equivalent parses to and runs it through the same service
//! layer, so the two can never disagree. One table, [`ROUTES`], lists each route with its
//! handler: it builds the router and feeds the OpenAPI document and the README's table.
//! The handlers live by resource: datasets, groups, tags, finding (search, uncertain
//! assets, suggestions), evaluation, users.

use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::json::WriterBuilder;
use datafusion::arrow::json::writer::JsonArray;
use dyntag_catalog::statements::TagStatement;
use dyntag_core::model::access::View;
use dyntag_core::service::tags::GroupEdit;
use serde_json::{Value, json};

use super::{AppState, caller};
use crate::server::errors::ServeError;

mod datasets;
mod evaluation;
mod finding;
mod groups;
mod tags;
mod users;

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
    GET "/api/me" => users::me, "SHOW USERS; SHOW ROLES" : "who the caller is and their roles";
    GET "/api/datasets" => datasets::datasets, "SELECT * FROM system.datasets" : "the datasets the caller sees, with their role";
    GET "/api/datasets/{dataset}/groups" => datasets::dataset_groups, "SHOW TAG GROUPS ON DATASET d" : "manage groups: groups trained or applied on the dataset, applied version, update available, scoring status";
    POST "/api/datasets/{dataset}/groups" => datasets::create_group, "CREATE TAG GROUP g ON DATASET d TAGS (...)" : "create a group from {name, tags: [..] or \"one per line\", options: {..}}";
    POST "/api/datasets/{dataset}/applications" => datasets::apply, "APPLY TAG GROUP g TO DATASET d" : "apply a shareable group {group}; queues scoring";
    POST "/api/datasets/{dataset}/applications/{group}/update" => datasets::update, "UPDATE TAG GROUP g ON DATASET d" : "move to the latest version; queues scoring";
    DELETE "/api/datasets/{dataset}/applications/{group}" => datasets::remove, "REMOVE TAG GROUP g FROM DATASET d" : "stop applying a group";
    GET "/api/datasets/{dataset}/roles" => datasets::roles, "SHOW ROLES ON DATASET d" : "roles on the dataset";
    PUT "/api/datasets/{dataset}/roles/{user}" => datasets::grant, "GRANT EDITOR ON DATASET d TO u" : "give a user a role {role: admin|editor|viewer}";
    DELETE "/api/datasets/{dataset}/roles/{user}" => datasets::revoke, "REVOKE ALL ON DATASET d FROM u" : "take a user's role away";
    GET "/api/groups" => groups::groups, "SELECT * FROM system.tag_groups; SHOW SHAREABLE TAG GROUPS LIKE 'p'" : "groups the caller sees; ?shareable=true&like=pattern searches groups to apply";
    GET "/api/groups/{group}" => groups::group, "SHOW TAGS IN GROUP g" : "the group's definition with statuses and its revision";
    DELETE "/api/groups/{group}" => groups::drop_group, "DROP TAG GROUP g" : "drop the group";
    PUT "/api/groups/{group}/options" => groups::set_option, "ALTER TAG GROUP g SET option = 'value'" : "set one option {key, value}";
    POST "/api/groups/{group}/publish" => groups::publish, "PUBLISH TAG GROUP g VISIBILITY v" : "freeze a version {visibility?}; queues scoring";
    GET "/api/groups/{group}/versions" => groups::versions, "SHOW VERSIONS OF TAG GROUP g" : "published versions";
    GET "/api/groups/{group}/access" => groups::access, "SHOW DATASET ACCESS FOR TAG GROUP g" : "datasets applying the group, with version and scoring status";
    GET "/api/groups/{group}/tags" => tags::tags, "SHOW TAGS IN GROUP g" : "tags with status, threshold, prompts";
    POST "/api/groups/{group}/tags" => tags::add_tag, "ALTER TAG GROUP g ADD TAG 't'" : "add a tag {name}";
    PATCH "/api/groups/{group}/tags/{tag}" => tags::patch_tag, "ALTER TAG 't' IN GROUP g SET THRESHOLD x | RENAME TO 'n' [AT REVISION r]" : "{threshold} or {name}, with optional expected_revision";
    DELETE "/api/groups/{group}/tags/{tag}" => tags::drop_tag, "ALTER TAG GROUP g DROP TAG 't'" : "drop a tag";
    POST "/api/groups/{group}/tags/{tag}/prompts" => tags::add_prompt, "ALTER TAG 't' IN GROUP g ADD [NEGATIVE] PROMPT 'p' FOR m" : "add a prompt {text, polarity?, modality?, expected_revision?}";
    DELETE "/api/groups/{group}/tags/{tag}/prompts" => tags::drop_prompt, "ALTER TAG 't' IN GROUP g DROP PROMPT 'p'" : "drop a prompt {text, polarity?, modality?}";
    GET "/api/groups/{group}/tags/{tag}/labels" => tags::labels, "SHOW LABELS IN GROUP g" : "the tag's visual labels";
    POST "/api/groups/{group}/tags/{tag}/labels" => tags::add_labels, "ALTER TAG 't' IN GROUP g ADD POSITIVE LABELS (...)" : "label {asset_ids: [..], positive: bool}";
    DELETE "/api/groups/{group}/tags/{tag}/labels" => tags::drop_labels, "ALTER TAG 't' IN GROUP g DROP LABELS (...)" : "remove labels {asset_ids}";
    GET "/api/groups/{group}/tags/{tag}/preview" => tags::preview, "PREVIEW TAG 't' IN GROUP g ..." : "?modality=visual|transcript&mode=compare|positives|negatives|stratified|top&threshold=&limit=&published=; opening it reviews the tag";
    GET "/api/datasets/{dataset}/thumbnails/{image_id}" => super::media::thumbnail, "SELECT path FROM coactive_table WHERE coactive_image_id = 'i'" : "the JPEG thumbnail of an image or keyframe (image/jpeg), for whoever sees the dataset";
    GET "/api/datasets/{dataset}/search" => finding::search, "SELECT * FROM semantic_search('q', k, 'visual')" : "?q=text&k=20&modality=visual|transcript&exact=false: the items nearest the text, to label (through the search index; exact=true scans every row)";
    GET "/api/datasets/{dataset}/similar" => finding::similar, "SELECT * FROM similar_items('item_id', k, 'visual')" : "?item=ID&k=20&modality=visual|transcript&exact=false: the items nearest an item (find similar), itself left out";
    GET "/api/groups/{group}/tags/{tag}/uncertain" => finding::uncertain, "SELECT * FROM dt_uncertain('g', 't', k)" : "?k=20: the items the published classifier is least sure about, spread out, not yet labelled";
    GET "/api/groups/{group}/tags/{tag}/suggestions" => finding::suggestions, "SUGGEST PROMPTS FOR TAG 't' IN GROUP g FOR VISUAL" : "?modality=visual|transcript: prompts from the configured LLM, else templates or the dataset's transcript sentences";
    POST "/api/groups/{group}/tags/{tag}/evaluation" => evaluation::evaluate, "EVALUATE TAG 't' IN GROUP g SAMPLE n" : "draw the Tag Evaluator's sample {sample?} (about 400 items stratified over the score range)";
    GET "/api/groups/{group}/tags/{tag}/evaluation" => evaluation::show_evaluation, "SHOW EVALUATION OF TAG 't' IN GROUP g" : "the sampled items with their scores, weights and labels";
    POST "/api/groups/{group}/tags/{tag}/evaluation/labels" => evaluation::label_evaluation, "LABEL EVALUATION OF TAG 't' IN GROUP g POSITIVE (...) | FROM FILE 'f' | WITH LLM" : "ground truth: {labels: [{asset_id, label}]}, a labels file sent as the body (text/csv or application/vnd.apache.parquet; ?name=), {csv: text}, {file: name} under the data root's files/ folder, or {llm: true} (the configured LLM looks at each image)";
    DELETE "/api/groups/{group}/tags/{tag}/evaluation/items" => evaluation::remove_evaluation_items, "REMOVE EVALUATION ITEMS (...) OF TAG 't' IN GROUP g" : "take items judged wrong out {asset_ids}";
    GET "/api/groups/{group}/tags/{tag}/metrics" => evaluation::tag_metrics, "SELECT * FROM dt_metrics('g', 't')" : "F1, F0.5, precision, recall, accuracy over thresholds 0–1 with 95% intervals, the recommended threshold";
    POST "/api/groups/{group}/tags/{tag}/threshold" => evaluation::save_threshold, "SAVE THRESHOLD OF TAG 't' IN GROUP g FOR F1" : "save the threshold maximising {metric?} (no rescoring)";
    POST "/api/groups/{group}/tags/{tag}/target" => evaluation::set_target, "SET TARGET OF TAG 't' IN GROUP g PRECISION 0.9 CONFIDENCE 0.95" : "save the threshold meeting {metric: precision|recall, at_least, confidence?} with that confidence (SUPG)";
    GET "/api/scoring-jobs" => groups::scoring_jobs, "SHOW SCORING JOBS" : "queued and running scoring jobs with live progress";
    GET "/api/users" => users::users, "SHOW USERS" : "users (organisation admins see all)";
    POST "/api/users" => users::create_user, "CREATE USER u [ORG ADMIN] [READ ONLY]" : "create a user {name, org_admin?, read_only?}; answers their token once";
    POST "/api/users/{user}/tokens" => users::create_token, "CREATE [READ ONLY] TOKEN FOR USER u" : "another token for a user {read_only?} (organisation admins, or the user for themselves); answered once";
    DELETE "/api/users/{user}" => users::drop_user, "DROP USER u" : "drop a user";
}

type Answer = Result<Response, ServeError>;

/// Runs `stmt` for the caller and answers it as JSON: for a change, `{"message": …}` with
/// its facts as typed fields (e.g. `{"group": "topics", "version": 3, "job": {"group",
/// "dataset", "status"}}`); for a table, `{"rows": [...]}`.
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
    let mut body = to_json(&answer.batches)?;
    if let Some(fields) = body.as_object_mut() {
        fields.extend(answer.facts);
    }
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

async fn system_rows(state: &AppState, headers: &HeaderMap, table: &str) -> Answer {
    let caller = caller(state, headers)?;
    let snapshot = state.server.catalog().refresh().await?;
    let view = View::new(&snapshot, &caller.principal);
    let batch = dyntag_catalog::provider::system_table(&view, table)?
        .ok_or_else(|| ServeError::internal(format!("no system table {table}")))?;
    Ok(Json(to_json(&[batch])?).into_response())
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
                "200": { "description": "{\"message\", and the change's facts: group, version, revision, dataset, job, …} for a change, {\"rows\": [...]} for a table" },
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
