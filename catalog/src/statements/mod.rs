//! The tag statements: parsed here ([`parser`]), carried out by the service layers
//! ([`TagService`], [`AccessService`]) for one caller, and answered with a small table so
//! that every SQL client can run them. The HTTP API builds the same [`TagStatement`]s.

mod display;
pub mod parser;
pub mod policy;

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::filter_record_batch;

pub use parser::{EvaluationLabels, GRAMMAR, TagStatement, parse, split_statements};
pub use policy::{Classified, Door, StatementKind, authorize, classify_sql};

use crate::provider::system_table;
use dyntag_core::model::access::{OrgRole, Principal, View};
use dyntag_core::scoring::scan::PreviewMode;
use dyntag_core::service::access::AccessService;
use dyntag_core::service::evaluate::{Evaluation, Evaluator, LabelsFile, SAMPLE};
use dyntag_core::service::jobs::JobKey;
use dyntag_core::service::tags::{GroupEdit, PreviewRequest, TagService};
use dyntag_core::{Catalog, CatalogError, Result};

/// Default number of items of a preview.
pub const PREVIEW_LIMIT: usize = 40;

/// What a statement did: its answer, and the scoring jobs it queued.
#[derive(Debug)]
pub struct Outcome {
    pub batch: RecordBatch,
    pub jobs: Vec<JobKey>,
}

impl From<RecordBatch> for Outcome {
    fn from(batch: RecordBatch) -> Self {
        Self {
            batch,
            jobs: Vec::new(),
        }
    }
}

/// Carries out `stmt` for `caller`, who came through `door`. `dataset` is the session's
/// current dataset (for `SHOW TAG GROUPS`). `USE` and `SET SESSION AUTHORIZATION` are the
/// caller's to handle (they change the session), so they are rejected here.
pub async fn execute(
    catalog: &Arc<Catalog>,
    caller: &Principal,
    door: Door,
    stmt: &TagStatement,
    dataset: &str,
) -> Result<Outcome> {
    // The caller has just refreshed the catalog: the services work on its snapshot (and
    // read back their own commits), so a statement reads the store's journal once.
    let service = TagService::new(Arc::clone(catalog), caller.clone()).after_refresh();
    let access = AccessService::new(Arc::clone(catalog), caller.clone());
    let snapshot = catalog.snapshot();
    let view = View::new(&snapshot, caller);
    let out: Outcome = match stmt {
        TagStatement::CreateGroup {
            name,
            dataset,
            tags,
            options,
        } => {
            let g = service.create_group(name, dataset, tags, options).await?;
            message(format!(
                "created tag group '{}' on dataset '{}' with {} tag(s), each needing review: open each tag's preview (PREVIEW TAG ...), then publish to create dt_{}_visual, _transcript, _shot and _video",
                g.name,
                g.training_dataset,
                g.tags.len(),
                g.slug
            ))?
            .into()
        }
        TagStatement::Edit {
            group,
            edit,
            expected_revision,
        } => {
            let (rev, g) = service.edit(group, edit, *expected_revision).await?;
            message(format!(
                "{} in tag group '{}' (revision {rev}, status {})",
                describe(edit),
                g.name,
                g.status.as_str()
            ))?
            .into()
        }
        TagStatement::Preview {
            group,
            tag,
            modality,
            published,
            mode,
            threshold,
            limit,
        } => service
            .preview(&PreviewRequest {
                group: group.clone(),
                tag: tag.clone(),
                modality: *modality,
                mode: *mode,
                threshold: *threshold,
                limit: limit.unwrap_or(match mode {
                    Some(PreviewMode::Stratified { .. }) => usize::MAX,
                    _ => PREVIEW_LIMIT,
                }),
                published: *published,
                seed: None,
            })
            .await?
            .into(),
        TagStatement::Publish { group, visibility } => {
            let p = service.publish(group, *visibility).await?;
            Outcome {
                batch: message(format!(
                    "{} version {} of tag group '{}' on dataset '{}'",
                    if p.new_version {
                        "published"
                    } else {
                        "re-scoring"
                    },
                    p.version,
                    p.group,
                    p.job.1
                ))?,
                jobs: vec![p.job],
            }
        }
        TagStatement::Apply { group, dataset } => {
            let (v, job) = service.apply_to(group, dataset).await?;
            Outcome {
                batch: message(format!(
                    "applied version {v} of tag group '{group}' to dataset '{dataset}'"
                ))?,
                jobs: vec![job],
            }
        }
        TagStatement::Update { group, dataset } => {
            let (v, job) = service.update_on(group, dataset).await?;
            Outcome {
                batch: message(format!(
                    "dataset '{dataset}' moves to version {v} of tag group '{group}' (readers see the previous version until it is scored)"
                ))?,
                jobs: vec![job],
            }
        }
        TagStatement::Remove { group, dataset } => {
            service.remove_from(group, dataset).await?;
            message(format!(
                "dataset '{dataset}' no longer applies tag group '{group}'"
            ))?
            .into()
        }
        TagStatement::DropGroup { group } => {
            service.drop_group(group).await?;
            message(format!("dropped tag group '{group}'"))?.into()
        }
        TagStatement::ShowGroups { dataset: on } => {
            // A named dataset must be one the caller sees; the session's own may be none.
            let ds = match on {
                Some(d) => &view.dataset(d)?.name,
                None => dataset,
            };
            manage_groups(&view, ds)?.into()
        }
        TagStatement::ShowShareable { pattern } => {
            let pattern = pattern.as_deref().map(str::to_lowercase);
            let batch = table(&view, "tag_groups")?;
            let keep = column_str(&batch, "visibility")
                .zip(column_str(&batch, "group_name"))
                .zip(column_int(&batch, "latest_version"))
                .map(|((v, name), latest)| {
                    v == "shareable"
                        && latest > 0
                        && pattern
                            .as_deref()
                            .is_none_or(|p| like(&name.to_lowercase(), p))
                })
                .collect::<Vec<_>>();
            project(
                &filter(&batch, keep)?,
                &[
                    "group_name",
                    "group_slug",
                    "training_dataset",
                    "latest_version",
                    "tags",
                ],
            )?
            .into()
        }
        TagStatement::ShowTags { group } => {
            let g = view.group(group)?;
            show_tags(&g.doc)?.into()
        }
        TagStatement::ShowLabels { group } => {
            let slug = view.group(group)?.doc.slug.clone();
            rows_of(&view, "labels", "group_slug", &slug)?.into()
        }
        TagStatement::ShowVersions { group } => {
            let slug = view.group(group)?.doc.slug.clone();
            project(
                &rows_of(&view, "versions", "group_slug", &slug)?,
                &["version", "visibility", "tags", "published_at"],
            )?
            .into()
        }
        TagStatement::ShowDatasetAccess { group } => {
            let slug = view.group(group)?.doc.slug.clone();
            project(
                &rows_of(&view, "applications", "group_slug", &slug)?,
                &[
                    "dataset",
                    "is_training_dataset",
                    "applied_version",
                    "update_available",
                    "status",
                    "error",
                    "scored_version",
                ],
            )?
            .into()
        }
        TagStatement::ShowJobs => {
            let batch = table(&view, "applications")?;
            let keep = column_str(&batch, "status")
                .map(|s| s == "queued")
                .collect::<Vec<_>>();
            project(
                &filter(&batch, keep)?,
                &[
                    "dataset",
                    "group_slug",
                    "applied_version",
                    "job_id",
                    "job_attempt",
                    "job_enqueued_at",
                    "job_started_at",
                ],
            )?
            .into()
        }
        TagStatement::CreateUser {
            name,
            org_admin,
            read_only,
        } => {
            let role = if *org_admin {
                OrgRole::Admin
            } else {
                OrgRole::Member
            };
            let token = access.create_user(name, role, *read_only).await?;
            token_answer(name, role.as_str(), *read_only, token)?.into()
        }
        TagStatement::CreateToken { user, read_only } => {
            let token = access.create_token(user, *read_only).await?;
            let role = snapshot
                .access
                .users
                .get(user)
                .map_or("member", |u| u.org_role.as_str());
            token_answer(user, role, *read_only, token)?.into()
        }
        TagStatement::DropUser { name } => {
            access.drop_user(name).await?;
            message(format!("dropped user '{name}'"))?.into()
        }
        TagStatement::Grant {
            role,
            dataset,
            user,
        } => {
            access.grant(dataset, user, *role).await?;
            message(format!(
                "user '{user}' is now {} on dataset '{dataset}'",
                role.as_str()
            ))?
            .into()
        }
        TagStatement::Revoke { dataset, user } => {
            access.revoke(dataset, user).await?;
            message(format!(
                "user '{user}' no longer has a role on dataset '{dataset}'"
            ))?
            .into()
        }
        TagStatement::ShowUsers => table(&view, "users")?.into(),
        TagStatement::ShowRoles { dataset } => match dataset {
            Some(d) => {
                view.dataset(d)?;
                rows_of(&view, "roles", "dataset", d)?.into()
            }
            None => table(&view, "roles")?.into(),
        },
        TagStatement::Evaluate { group, tag, sample } => {
            let e = Evaluator::new(Arc::clone(catalog), caller.clone())
                .after_refresh()
                .start(group, tag, sample.unwrap_or(SAMPLE), None)
                .await?;
            evaluation_items(&e)?.into()
        }
        TagStatement::Suggest {
            group,
            tag,
            modality,
        } => {
            let s = service.suggest(group, tag, *modality).await?;
            RecordBatch::try_from_iter(vec![
                (
                    "modality",
                    strs(vec![modality.as_str().to_string(); s.len()]),
                ),
                ("prompt", strs(s.iter().map(|x| x.prompt.clone()).collect())),
                (
                    "source",
                    strs(s.iter().map(|x| x.source.to_string()).collect()),
                ),
            ])
            .map_err(|e| CatalogError::engine("SUGGEST PROMPTS", e))?
            .into()
        }
        TagStatement::ShowEvaluation { group, tag } => {
            let (_, e) = Evaluator::new(Arc::clone(catalog), caller.clone())
                .after_refresh()
                .current(group, tag)
                .await?;
            evaluation_items(&e)?.into()
        }
        TagStatement::LabelEvaluation { group, tag, labels } => {
            let ev = Evaluator::new(Arc::clone(catalog), caller.clone()).after_refresh();
            let text = match labels {
                EvaluationLabels::Items {
                    asset_ids,
                    positive,
                } => {
                    let l: Vec<(String, bool)> =
                        asset_ids.iter().map(|a| (a.clone(), *positive)).collect();
                    let total = ev.label(group, tag, &l, "user").await?;
                    format!(
                        "labelled {} item(s); {total} sampled items have labels",
                        l.len()
                    )
                }
                EvaluationLabels::Llm => {
                    let (labelled, skipped, total) = ev.label_with_llm(group, tag).await?;
                    format!(
                        "the LLM labelled {labelled} item(s){}; {total} sampled items have labels",
                        if skipped > 0 {
                            format!(" ({skipped} without a readable image were skipped)")
                        } else {
                            String::new()
                        }
                    )
                }
                EvaluationLabels::File { path } => {
                    let file = match door {
                        Door::Local => LabelsFile::Local(path.clone()),
                        Door::Remote => LabelsFile::stored(path)?,
                    };
                    let (matched, total) = ev.label_from_file(group, tag, &file).await?;
                    format!(
                        "labelled {matched} sampled item(s) from {path}; {total} sampled items have labels"
                    )
                }
                EvaluationLabels::Sent { file } => {
                    let (matched, total) = ev.label_from_file(group, tag, file).await?;
                    format!(
                        "labelled {matched} sampled item(s) from {}; {total} sampled items have labels",
                        file.name()
                    )
                }
            };
            message(text)?.into()
        }
        TagStatement::RemoveEvaluationItems {
            group,
            tag,
            asset_ids,
        } => {
            let removed = Evaluator::new(Arc::clone(catalog), caller.clone())
                .after_refresh()
                .remove(group, tag, asset_ids)
                .await?;
            message(format!(
                "removed {} item(s) from the evaluation ({removed} removed in all)",
                asset_ids.len()
            ))?
            .into()
        }
        TagStatement::SaveThreshold { group, tag, metric } => {
            let t = Evaluator::new(Arc::clone(catalog), caller.clone())
                .after_refresh()
                .save_threshold(group, tag, *metric)
                .await?;
            message(format!(
                "saved threshold {t} for tag '{tag}' (it maximises {} on the evaluation); threshold_decision follows at once",
                metric.as_str()
            ))?
            .into()
        }
        TagStatement::SetTarget { group, tag, target } => {
            let c = Evaluator::new(Arc::clone(catalog), caller.clone())
                .after_refresh()
                .set_target(group, tag, *target)
                .await?;
            message(format!(
                "threshold {} for tag '{tag}' meets {} (estimate {:.3}, lower bound {:.3})",
                c.threshold,
                target.describe(),
                c.estimate,
                c.lower_bound
            ))?
            .into()
        }
        TagStatement::Use { .. } | TagStatement::SetAuthorization { .. } => {
            return Err(CatalogError::Internal(
                "USE and SET SESSION AUTHORIZATION are handled by the session".into(),
            ));
        }
    };
    Ok(out)
}

/// A new token, shown once.
fn token_answer(user: &str, org_role: &str, read_only: bool, token: String) -> Result<RecordBatch> {
    RecordBatch::try_from_iter(vec![
        ("user_name", strs(vec![user.to_string()])),
        ("org_role", strs(vec![org_role.to_string()])),
        (
            "read_only",
            Arc::new(BooleanArray::from(vec![read_only])) as ArrayRef,
        ),
        ("token", strs(vec![token])),
    ])
    .map_err(|e| CatalogError::engine("CREATE USER", e))
}

/// The items of an evaluation as a table.
fn evaluation_items(e: &Evaluation) -> Result<RecordBatch> {
    let items = &e.items;
    RecordBatch::try_from_iter(vec![
        (
            "coactive_image_id",
            strs(items.iter().map(|i| i.asset_id.clone()).collect()),
        ),
        (
            "score",
            Arc::new(Float64Array::from(
                items.iter().map(|i| i.score).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "weight",
            Arc::new(Float64Array::from(
                items.iter().map(|i| i.weight).collect::<Vec<_>>(),
            )),
        ),
        (
            "label",
            Arc::new(BooleanArray::from(
                items.iter().map(|i| i.label).collect::<Vec<_>>(),
            )),
        ),
        (
            "source",
            Arc::new(StringArray::from(
                items.iter().map(|i| i.source.clone()).collect::<Vec<_>>(),
            )),
        ),
        (
            "removed",
            Arc::new(BooleanArray::from(
                items.iter().map(|i| i.removed).collect::<Vec<_>>(),
            )),
        ),
    ])
    .map_err(|e| CatalogError::engine("evaluation", e))
}

/// What an edit did, in words.
fn describe(edit: &GroupEdit) -> String {
    match edit {
        GroupEdit::AddTag { tag } => format!("added tag '{tag}'"),
        GroupEdit::DropTag { tag } => format!("dropped tag '{tag}'"),
        GroupEdit::RenameTag { tag, to } => format!("renamed tag '{tag}' to '{to}'"),
        GroupEdit::AddPrompt { tag, prompt } => format!(
            "added {} {} prompt '{}' to tag '{tag}'",
            prompt.polarity.as_str(),
            prompt.modality.as_str(),
            prompt.text
        ),
        GroupEdit::DropPrompt { tag, prompt } => format!(
            "dropped {} prompt '{}' of tag '{tag}'",
            prompt.polarity.as_str(),
            prompt.text
        ),
        GroupEdit::SetThreshold { tag, threshold } => {
            format!("set the threshold of tag '{tag}' to {threshold}")
        }
        GroupEdit::SetOption { key, value } => format!("set {key} = '{value}'"),
        GroupEdit::AddLabels {
            tag,
            asset_ids,
            positive,
        } => format!(
            "labelled {} item(s) {} for tag '{tag}'",
            asset_ids.len(),
            if *positive { "positive" } else { "negative" }
        ),
        GroupEdit::DropLabels { tag, asset_ids } => {
            format!("removed {} label(s) of tag '{tag}'", asset_ids.len())
        }
        GroupEdit::Reviewed { tag } => format!("reviewed tag '{tag}'"),
        GroupEdit::SetGuarantee { tag, guarantee } => format!(
            "set the threshold of tag '{tag}' to {} for {}",
            guarantee.threshold,
            guarantee.target.describe()
        ),
    }
}

fn table(view: &View<'_>, name: &str) -> Result<RecordBatch> {
    system_table(view, name)?
        .ok_or_else(|| CatalogError::Internal(format!("no system table '{name}'")))
}

/// The rows of system table `name` whose `column` equals `value`.
fn rows_of(view: &View<'_>, name: &str, column: &str, value: &str) -> Result<RecordBatch> {
    let batch = table(view, name)?;
    let keep = column_str(&batch, column)
        .map(|v| v == value)
        .collect::<Vec<_>>();
    filter(&batch, keep)
}

fn column_str<'a>(batch: &'a RecordBatch, name: &str) -> impl Iterator<Item = &'a str> + 'a {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .into_iter()
        .flat_map(|a| a.iter().map(|v| v.unwrap_or("")))
}

fn column_int<'a>(batch: &'a RecordBatch, name: &str) -> impl Iterator<Item = i64> + 'a {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .into_iter()
        .flat_map(|a| a.iter().map(|v| v.unwrap_or(0)))
}

/// The named columns of `batch`, in that order.
fn project(batch: &RecordBatch, names: &[&str]) -> Result<RecordBatch> {
    let schema = batch.schema();
    let idx = names
        .iter()
        .map(|n| {
            schema
                .index_of(n)
                .map_err(|e| CatalogError::engine("statement", e))
        })
        .collect::<Result<Vec<_>>>()?;
    batch
        .project(&idx)
        .map_err(|e| CatalogError::engine("statement", e))
}

fn filter(batch: &RecordBatch, keep: Vec<bool>) -> Result<RecordBatch> {
    filter_record_batch(batch, &BooleanArray::from(keep))
        .map_err(|e| CatalogError::engine("statement", e))
}

/// SQL `LIKE` with `%` and `_` (already lower-cased).
fn like(text: &str, pattern: &str) -> bool {
    fn go(t: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(&t[i..], rest)),
            Some(('_', rest)) => !t.is_empty() && go(&t[1..], rest),
            Some((c, rest)) => t.first() == Some(c) && go(&t[1..], rest),
        }
    }
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    go(&t, &p)
}

fn strs(v: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

/// The "manage groups" view of a dataset: every group it trains or applies, with the
/// version applied, whether an update is available and the scoring status.
fn manage_groups(view: &View<'_>, ds: &str) -> Result<RecordBatch> {
    let snapshot = view.snapshot;
    let groups = view.groups_of(ds);
    let applied = |slug: &str| snapshot.application(ds, slug);
    let s = |f: &dyn Fn(&dyntag_core::model::tags::TagGroup) -> String| -> ArrayRef {
        Arc::new(StringArray::from(
            groups.iter().map(|g| f(&g.doc)).collect::<Vec<_>>(),
        ))
    };
    RecordBatch::try_from_iter(vec![
        ("group_name", s(&|g| g.name.clone())),
        ("table_prefix", s(&|g| format!("dt_{}", g.slug))),
        ("training_dataset", s(&|g| g.training_dataset.clone())),
        (
            "is_training_dataset",
            Arc::new(BooleanArray::from(
                groups
                    .iter()
                    .map(|g| g.doc.training_dataset == ds)
                    .collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "status",
            s(&|g| snapshot.group_status(g).as_str().to_string()),
        ),
        ("visibility", s(&|g| g.visibility.as_str().to_string())),
        (
            "latest_version",
            Arc::new(Int64Array::from(
                groups
                    .iter()
                    .map(|g| i64::from(g.doc.latest_version))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "applied_version",
            Arc::new(Int64Array::from(
                groups
                    .iter()
                    .map(|g| applied(&g.doc.slug).map(|a| i64::from(a.version)))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "update_available",
            Arc::new(BooleanArray::from(
                groups
                    .iter()
                    .map(|g| applied(&g.doc.slug).is_some_and(|a| a.version < g.doc.latest_version))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "scoring_status",
            Arc::new(StringArray::from(
                groups
                    .iter()
                    .map(|g| applied(&g.doc.slug).map(|a| a.status.as_str()))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "error",
            Arc::new(StringArray::from(
                groups
                    .iter()
                    .map(|g| applied(&g.doc.slug).and_then(|a| a.error.clone()))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "tags",
            s(&|g| {
                g.tags
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        ),
    ])
    .map_err(|e| CatalogError::engine("SHOW TAG GROUPS", e))
}

/// The tags of a group with their status, threshold and prompts.
fn show_tags(g: &dyntag_core::model::tags::TagGroup) -> Result<RecordBatch> {
    let prompts =
        |t: &dyntag_core::model::tags::Tag, pol: dyntag_core::model::tags::Polarity| -> String {
            t.prompts
                .iter()
                .filter(|p| p.polarity == pol)
                .map(|p| {
                    if p.modality == dyntag_core::model::tags::PromptModality::Both {
                        p.text.clone()
                    } else {
                        format!("{} ({})", p.text, p.modality.as_str())
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
    RecordBatch::try_from_iter(vec![
        (
            "tag_name",
            Arc::new(StringArray::from(
                g.tags.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "status",
            Arc::new(StringArray::from(
                g.tags.iter().map(|t| t.status.as_str()).collect::<Vec<_>>(),
            )),
        ),
        (
            "threshold",
            Arc::new(Float64Array::from(
                g.tags.iter().map(|t| t.threshold).collect::<Vec<_>>(),
            )),
        ),
        (
            "positive_prompts",
            Arc::new(StringArray::from(
                g.tags
                    .iter()
                    .map(|t| prompts(t, dyntag_core::model::tags::Polarity::Positive))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "negative_prompts",
            Arc::new(StringArray::from(
                g.tags
                    .iter()
                    .map(|t| prompts(t, dyntag_core::model::tags::Polarity::Negative))
                    .collect::<Vec<_>>(),
            )),
        ),
    ])
    .map_err(|e| CatalogError::engine("SHOW TAGS", e))
}

/// A one-row, one-column answer.
pub fn message(text: String) -> Result<RecordBatch> {
    RecordBatch::try_from_iter(vec![(
        "result",
        Arc::new(StringArray::from(vec![text])) as ArrayRef,
    )])
    .map_err(|e| CatalogError::engine("statement", e))
}
