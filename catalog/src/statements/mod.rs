//! The tag statements: parsed here ([`parser`]), carried out by the service layers
//! ([`TagService`], [`AccessService`]) for one caller, and answered with a small table so
//! that every SQL client can run them. The HTTP API builds the same [`TagStatement`]s.

mod answers;
mod display;
pub mod grammar;
mod parser;
pub mod policy;
mod script;
mod tag_statement;

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;

pub use answers::message;
pub use parser::parse;
pub use policy::{Classified, Door, StatementKind, authorize, classify_sql};
pub use script::split_statements;
pub use tag_statement::{EvaluationLabels, TagStatement};

use answers::{
    column_int, column_str, describe, evaluation_items, filter, like, manage_groups, project,
    rows_of, show_tags, strs, table, token_answer,
};
use dyntag_core::model::access::{OrgRole, Principal, View};
use dyntag_core::model::tags::names;
use dyntag_core::scoring::scan::PreviewMode;
use dyntag_core::service::access::AccessService;
use dyntag_core::service::evaluate::{Evaluator, LabelsFile, SAMPLE};
use dyntag_core::service::jobs::JobKey;
use dyntag_core::service::tags::{PreviewRequest, TagService};
use dyntag_core::{Catalog, CatalogError, Result};

/// Default number of items of a preview.
pub const PREVIEW_LIMIT: usize = 40;

/// What a statement did: its answer (a table, or a one-cell message for a change), the
/// facts of a change as typed fields (`group`, `version`, `revision`, `job`, …, which the
/// HTTP API answers beside the message), and the scoring jobs it queued.
#[derive(Debug)]
pub struct Outcome {
    pub batch: RecordBatch,
    pub facts: serde_json::Map<String, serde_json::Value>,
    pub jobs: Vec<JobKey>,
}

impl From<RecordBatch> for Outcome {
    fn from(batch: RecordBatch) -> Self {
        Self {
            batch,
            facts: serde_json::Map::new(),
            jobs: Vec::new(),
        }
    }
}

impl Outcome {
    /// With one more fact.
    fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.facts.insert(key.to_string(), value.into());
        self
    }

    /// With the scoring job it queued, as a job and as a fact.
    fn queued(mut self, job: JobKey) -> Self {
        let fact = serde_json::json!({ "group": job.0, "dataset": job.1, "status": "queued" });
        self.jobs.push(job);
        self.with("job", fact)
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
            Outcome::from(message(format!(
                "created tag group '{}' on dataset '{}' with {} tag(s), each needing review: open each tag's preview (PREVIEW TAG ...), then publish to create dt_{}_visual, _transcript, _shot and _video",
                g.name,
                g.training_dataset,
                g.tags.len(),
                g.slug
            ))?)
            .with("group", g.slug.as_str())
            .with("name", g.name.as_str())
            .with("dataset", g.training_dataset.as_str())
            .with("tags", g.tags.len())
        }
        TagStatement::Edit {
            group,
            edit,
            expected_revision,
        } => {
            let (rev, g) = service.edit(group, edit, *expected_revision).await?;
            Outcome::from(message(format!(
                "{} in tag group '{}' (revision {rev}, status {})",
                describe(edit),
                g.name,
                g.status.as_str()
            ))?)
            .with("group", g.slug.as_str())
            .with("revision", rev)
            .with("status", g.status.as_str())
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
            Outcome::from(message(format!(
                "{} version {} of tag group '{}' on dataset '{}'",
                if p.new_version {
                    "published"
                } else {
                    "re-scoring"
                },
                p.version,
                p.group,
                p.job.1
            ))?)
            .with("group", p.job.0.as_str())
            .with("version", p.version)
            .with("new_version", p.new_version)
            .queued(p.job)
        }
        TagStatement::Apply { group, dataset } => {
            let (v, job) = service.apply_to(group, dataset).await?;
            Outcome::from(message(format!(
                "applied version {v} of tag group '{group}' to dataset '{dataset}'"
            ))?)
            .with("group", job.0.as_str())
            .with("dataset", dataset.as_str())
            .with("version", v)
            .queued(job)
        }
        TagStatement::Update { group, dataset } => {
            let (v, job) = service.update_on(group, dataset).await?;
            Outcome::from(message(format!(
                "dataset '{dataset}' moves to version {v} of tag group '{group}' (readers see the previous version until it is scored)"
            ))?)
            .with("group", job.0.as_str())
            .with("dataset", dataset.as_str())
            .with("version", v)
            .queued(job)
        }
        TagStatement::Remove { group, dataset } => {
            service.remove_from(group, dataset).await?;
            Outcome::from(message(format!(
                "dataset '{dataset}' no longer applies tag group '{group}'"
            ))?)
            .with("group", names::slug(group))
            .with("dataset", dataset.as_str())
        }
        TagStatement::DropGroup { group } => {
            service.drop_group(group).await?;
            Outcome::from(message(format!("dropped tag group '{group}'"))?)
                .with("group", names::slug(group))
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
            Outcome::from(message(format!(
                "saved threshold {t} for tag '{tag}' (it maximises {} on the evaluation); threshold_decision follows at once",
                metric.as_str()
            ))?)
            .with("tag", tag.as_str())
            .with("threshold", t)
            .with("metric", metric.as_str())
        }
        TagStatement::SetTarget { group, tag, target } => {
            let c = Evaluator::new(Arc::clone(catalog), caller.clone())
                .after_refresh()
                .set_target(group, tag, *target)
                .await?;
            Outcome::from(message(format!(
                "threshold {} for tag '{tag}' meets {} (estimate {:.3}, lower bound {:.3})",
                c.threshold,
                target.describe(),
                c.estimate,
                c.lower_bound
            ))?)
            .with("tag", tag.as_str())
            .with("threshold", c.threshold)
            .with("estimate", c.estimate)
            .with("lower_bound", c.lower_bound)
        }
        TagStatement::Use { .. } | TagStatement::SetAuthorization { .. } => {
            return Err(CatalogError::Internal(
                "USE and SET SESSION AUTHORIZATION are handled by the session".into(),
            ));
        }
    };
    Ok(out)
}
