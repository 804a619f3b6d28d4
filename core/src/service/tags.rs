//! The service layer of tag groups: every operation on a group goes through here, whether
//! it comes from a SQL statement or an HTTP request, and every one checks the caller's role
//! first (see [`crate::model::access`]). Each edit is a read-modify-commit of the group's revision
//! log; when another writer commits first, the edit is re-applied on top of theirs (edits
//! of different fields merge), unless the caller pinned the revision it edited, in which
//! case it gets a conflict naming the current revision. Publishing, applying and updating
//! only queue scoring jobs ([`crate::service::jobs`]); they return at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::AsArray;

use crate::model::Modality;
use crate::model::access::{DatasetRole, Principal, View};
use crate::model::applications::{Application, ScoringStatus, application_log};
use crate::model::dataset::schema::col;
use crate::model::dataset::{TableKind, now};
use crate::model::snapshot::{Definition, Snapshot};
use crate::model::tags::{
    GroupOptions, GroupStatus, GroupVersion, Label, LabelEmbedding, Polarity, Prompt,
    PromptModality, Tag, TagGroup, TagStatus, Visibility, group_log, names, version_path,
};
use crate::scoring::scan::{self as preview, PreviewMode};
use crate::service::Catalog;
use crate::service::jobs::JobKey;
use crate::store::Step;
use crate::{CatalogError, Result};

/// A change to a group's definition.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupEdit {
    AddTag {
        tag: String,
    },
    DropTag {
        tag: String,
    },
    RenameTag {
        tag: String,
        to: String,
    },
    AddPrompt {
        tag: String,
        prompt: Prompt,
    },
    DropPrompt {
        tag: String,
        prompt: Prompt,
    },
    SetThreshold {
        tag: String,
        threshold: f64,
    },
    SetOption {
        key: String,
        value: String,
    },
    /// Labels images or keyframes as examples (or counter-examples) of a tag.
    AddLabels {
        tag: String,
        asset_ids: Vec<String>,
        positive: bool,
    },
    /// Removes labels.
    DropLabels {
        tag: String,
        asset_ids: Vec<String>,
    },
    /// The tag's preview was opened: `needs_review` → `draft`.
    Reviewed {
        tag: String,
    },
    /// A threshold chosen for a target (by the Evaluator), with its guarantee.
    SetGuarantee {
        tag: String,
        guarantee: crate::model::tags::Guarantee,
    },
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub group: String,
    pub version: u32,
    /// Whether a new version was frozen (false: the latest version is scored again).
    pub new_version: bool,
    /// The scoring job queued for the training dataset.
    pub job: JobKey,
}

/// A preview request.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewRequest {
    pub group: String,
    pub tag: String,
    pub modality: Modality,
    pub mode: Option<PreviewMode>,
    /// Default: the tag's saved threshold.
    pub threshold: Option<f64>,
    pub limit: usize,
    /// Score the published version rather than the draft.
    pub published: bool,
    pub seed: Option<u64>,
}

/// Operations on tag groups, for one caller.
pub struct TagService {
    catalog: Arc<Catalog>,
    caller: Principal,
    fresh: bool,
}

impl TagService {
    /// The service over `catalog` acting for `caller`; each operation first catches up with
    /// the store.
    pub fn new(catalog: Arc<Catalog>, caller: Principal) -> Self {
        Self {
            catalog,
            caller,
            fresh: false,
        }
    }

    /// For a caller that has just refreshed the catalog (a statement): operations work on
    /// the catalog's current snapshot.
    pub fn after_refresh(mut self) -> Self {
        self.fresh = true;
        self
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>> {
        if self.fresh {
            return Ok(self.catalog.snapshot());
        }
        self.catalog.refresh().await
    }

    /// Fails unless the caller edits the definition of `g`: an editor of its training
    /// dataset.
    fn require_training_editor(view: &View<'_>, g: &TagGroup, action: &str) -> Result<()> {
        if !view.sees_dataset(&g.training_dataset) {
            return Err(CatalogError::Denied(format!(
                "permission denied: tag group '{}' is edited only on its training dataset; datasets that apply it cannot change its definition",
                g.name
            )));
        }
        view.require(&g.training_dataset, DatasetRole::Editor, action)
    }

    /// Creates a group on `dataset` from a list of tag names (each its first positive
    /// prompt; a string may hold several, one per line). Every tag starts in
    /// `needs_review`. Fails if the name is taken or breaks the naming rules.
    pub async fn create_group(
        &self,
        name: &str,
        dataset: &str,
        tags: &[String],
        options: &[(String, String)],
    ) -> Result<TagGroup> {
        let name = names::group_name(name)?;
        let slug = names::slug(&name);
        let snapshot = self.snapshot().await?;
        let view = View::new(&snapshot, &self.caller);
        view.require(dataset, DatasetRole::Editor, "creating tag groups")?;
        let mut seen: Vec<String> = Vec::new();
        let mut list = Vec::new();
        for raw in tags
            .iter()
            .flat_map(|t| t.lines())
            .filter(|t| !t.trim().is_empty())
        {
            let t = names::tag_name(raw)?;
            if seen.iter().any(|s| s.eq_ignore_ascii_case(&t)) {
                return Err(CatalogError::Invalid(format!("tag '{t}' is listed twice")));
            }
            seen.push(t.clone());
            list.push(Tag::new(t));
        }
        if list.is_empty() {
            return Err(CatalogError::Invalid(
                "a tag group needs at least one tag".into(),
            ));
        }
        let mut opts = GroupOptions::default();
        for (k, v) in options {
            opts.set(k, v)?;
        }
        let at = now();
        let group = TagGroup {
            name: name.clone(),
            slug: slug.clone(),
            training_dataset: dataset.to_string(),
            status: GroupStatus::Draft,
            visibility: Visibility::Secret,
            options: opts,
            tags: list,
            latest_version: 0,
            created_at: at.clone(),
            updated_at: at,
            deleted: false,
        };
        // The name is taken: say so if the caller may see the group that has it; of another
        // dataset's secret group say no more than that the name is not available.
        let taken = |g: &TagGroup| {
            if view.sees_group(g) {
                CatalogError::AlreadyExists {
                    kind: "tag group",
                    name: g.name.clone(),
                }
            } else {
                CatalogError::Invalid(format!(
                    "the tag group name '{name}' is not available; choose another"
                ))
            }
        };
        let log = group_log(&slug);
        let store = self.catalog.store();
        let expected = match log.latest::<TagGroup>(store).await? {
            Some((_, g)) if !g.deleted => return Err(taken(&g)),
            // Re-creating a dropped group continues its log and its version numbers.
            Some((rev, _)) => rev,
            None => 0,
        };
        match log.commit(store, expected, &group).await {
            Ok(_) => {}
            Err(CatalogError::Conflict { .. }) => {
                return Err(match log.latest::<TagGroup>(store).await? {
                    Some((_, g)) => taken(&g),
                    None => CatalogError::Conflict {
                        what: format!("tag group '{name}'"),
                        current: 0,
                    },
                });
            }
            Err(e) => return Err(e),
        }
        self.catalog.refresh().await?;
        Ok(group)
    }

    /// Applies `edit` to `group`. With `expected_revision`, fails with a conflict if the
    /// group moved past that revision; without, re-applies on top of concurrent edits.
    pub async fn edit(
        &self,
        group: &str,
        edit: &GroupEdit,
        expected_revision: Option<u64>,
    ) -> Result<(u64, TagGroup)> {
        let snapshot = self.snapshot().await?;
        let view = View::new(&snapshot, &self.caller);
        let g = &view.group(group)?.doc;
        Self::require_training_editor(&view, g, &format!("editing tag group '{}'", g.name))?;
        let embeddings = match edit {
            GroupEdit::AddLabels { tag, asset_ids, .. } => {
                self.label_embeddings(&g.training_dataset, tag, asset_ids)
                    .await?
            }
            _ => HashMap::new(),
        };
        let log = group_log(&names::slug(group));
        let (next, g) = log
            .update(self.catalog.store(), |latest: Option<(u64, TagGroup)>| {
                let (rev, mut g) = live(group, latest)?;
                if let Some(expected) = expected_revision
                    && expected != rev
                {
                    return Err(CatalogError::Conflict {
                        what: format!("tag group '{}'", g.name),
                        current: rev,
                    });
                }
                apply(&mut g, edit)?;
                if let GroupEdit::AddLabels { tag, .. } = edit {
                    for l in &mut g.tag_mut(tag)?.labels {
                        if l.embedding.is_none() {
                            l.embedding = embeddings.get(&l.asset_id).cloned();
                        }
                    }
                }
                g.updated_at = now();
                Ok(Step::Commit(g.clone(), g))
            })
            .await?;
        self.catalog.refresh().await?;
        Ok((next, g))
    }

    /// The visual embeddings of images or keyframes of `dataset`, by id; fails unless every
    /// id is one.
    async fn label_embeddings(
        &self,
        dataset: &str,
        tag: &str,
        ids: &[String],
    ) -> Result<HashMap<String, LabelEmbedding>> {
        if ids.is_empty() {
            return Err(CatalogError::Invalid(format!(
                "no asset ids given to label tag '{tag}'"
            )));
        }
        let snapshot = self.catalog.snapshot();
        let manifest = Arc::clone(snapshot.dataset(dataset)?);
        let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let model = manifest.models.get(&Modality::Visual).map(|m| m.id.clone());
        let mut found: HashMap<String, LabelEmbedding> = HashMap::new();
        for file in manifest.files(TableKind::Images) {
            for b in crate::scoring::materialize::batches(&self.catalog, file)
                .await?
                .iter()
            {
                let Some(c) = b
                    .column_by_name(col::IMAGE_ID)
                    .and_then(|c| c.as_string_opt::<i32>())
                else {
                    continue;
                };
                let emb = b
                    .column_by_name(col::EMBEDDING)
                    .and_then(|e| e.as_fixed_size_list_opt());
                for (r, id) in c.iter().enumerate() {
                    let Some(id) = id.filter(|id| wanted.contains(id)) else {
                        continue;
                    };
                    let values = emb
                        .and_then(|e| {
                            crate::scoring::materialize::embedding_values(e)
                                .ok()
                                .map(|v| (e, v))
                        })
                        .map(|(e, v)| {
                            let d = e.value_length() as usize;
                            crate::scoring::classifier::encode(&v[r * d..(r + 1) * d])
                        });
                    if let (Some(values), Some(model)) = (values, &model) {
                        found.insert(
                            id.to_string(),
                            LabelEmbedding {
                                model: model.clone(),
                                values,
                            },
                        );
                    }
                }
            }
        }
        let unknown: Vec<&str> = ids
            .iter()
            .filter(|i| !found.contains_key(i.as_str()))
            .map(String::as_str)
            .collect();
        if unknown.is_empty() {
            Ok(found)
        } else {
            Err(CatalogError::NotFound {
                kind: "image or keyframe",
                name: unknown[..unknown.len().min(5)].join("', '"),
                hint: format!(
                    " in dataset '{dataset}'{} (labels are coactive_image_id values)",
                    if unknown.len() > 5 {
                        format!(" and {} more", unknown.len() - 5)
                    } else {
                        String::new()
                    }
                ),
            })
        }
    }

    /// Drops a group: its tables disappear everywhere; its history stays on the store.
    pub async fn drop_group(&self, group: &str) -> Result<()> {
        let snapshot = self.snapshot().await?;
        let view = View::new(&snapshot, &self.caller);
        let g = &view.group(group)?.doc;
        Self::require_training_editor(&view, g, &format!("dropping tag group '{}'", g.name))?;
        group_log(&names::slug(group))
            .update(self.catalog.store(), |latest: Option<(u64, TagGroup)>| {
                let (_, mut g) = live(group, latest)?;
                g.deleted = true;
                g.updated_at = now();
                Ok(Step::Commit(g, ()))
            })
            .await?;
        self.catalog.refresh().await?;
        Ok(())
    }

    /// A preview of one tag: its items scored on the fly under the draft definition (or
    /// the published version) on the training dataset, sampled by `mode` (default:
    /// compare for keyframes, top for transcripts; stratified keyframes once published).
    /// Opening a preview moves a tag out of `needs_review` when the caller may edit it.
    pub async fn preview(
        &self,
        req: &PreviewRequest,
    ) -> Result<datafusion::arrow::array::RecordBatch> {
        let snapshot = self.snapshot().await?;
        let view = View::new(&snapshot, &self.caller);
        let versioned = view.group(&req.group)?;
        let g = &versioned.doc;
        view.require(&g.training_dataset, DatasetRole::Viewer, "previewing tags")?;
        let tag = g.tag(&req.tag).ok_or_else(|| CatalogError::NotFound {
            kind: "tag",
            name: req.tag.clone(),
            hint: format!(" in tag group '{}'", g.name),
        })?;
        let definition = if req.published {
            let v = g.latest_version;
            let frozen = snapshot.versions.get(&(g.slug.clone(), v)).ok_or_else(|| {
                CatalogError::State(format!(
                    "tag group '{}' has no published version yet",
                    g.name
                ))
            })?;
            Definition {
                group: g.slug.clone(),
                version: Some(v),
                revision: 0,
                tags: frozen.tags.clone(),
            }
        } else {
            Definition {
                group: g.slug.clone(),
                version: None,
                revision: versioned.revision,
                tags: g.version_tags(),
            }
        };
        let threshold = names::threshold(req.threshold.unwrap_or(tag.threshold))?;
        let mode = req.mode.unwrap_or(match req.modality {
            Modality::Transcript => PreviewMode::Top,
            Modality::Visual if req.published => PreviewMode::Stratified { per_bucket: 10 },
            Modality::Visual => PreviewMode::Compare,
        });
        let seed = req.seed.unwrap_or_else(crate::store::random::fresh_seed);
        let sampled = preview::sampled_items(
            &self.catalog,
            &self.catalog.snapshot(),
            &g.training_dataset,
            &definition,
            req.modality,
            &tag.name,
            |refs| preview::sample(refs, mode, threshold, req.limit, seed),
        )
        .await?;
        if tag.status == TagStatus::NeedsReview
            && view.role(&g.training_dataset) >= Some(DatasetRole::Editor)
        {
            self.edit(
                &g.slug,
                &GroupEdit::Reviewed {
                    tag: tag.name.clone(),
                },
                None,
            )
            .await?;
        }
        preview::to_batch(&sampled, threshold)
    }

    /// Prompt suggestions for a tag and modality: from the configured LLM, else offline
    /// (templates, or the training dataset's transcript sentences nearest the tag).
    pub async fn suggest(
        &self,
        group: &str,
        tag: &str,
        modality: Modality,
    ) -> Result<Vec<crate::service::suggest::Suggestion>> {
        let snapshot = self.snapshot().await?;
        let view = View::new(&snapshot, &self.caller);
        let g = &view.group(group)?.doc;
        view.require(
            &g.training_dataset,
            DatasetRole::Viewer,
            "suggesting prompts",
        )?;
        let t = g.tag(tag).ok_or_else(|| CatalogError::NotFound {
            kind: "tag",
            name: tag.to_string(),
            hint: format!(" in tag group '{}'", g.name),
        })?;
        match crate::service::suggest::LlmConfig::from_env() {
            Some(llm) => crate::service::suggest::from_llm(&llm, &t.name, modality).await,
            None => {
                crate::service::suggest::offline(
                    &self.catalog,
                    &g.training_dataset,
                    &t.name,
                    modality,
                )
                .await
            }
        }
    }

    /// Publishes `group`: freezes its definition as a new immutable version (or, with no
    /// change since the latest version, keeps that one) and queues scoring of its training
    /// dataset. Readers see the previous version until the new one is scored.
    pub async fn publish(&self, group: &str, visibility: Option<Visibility>) -> Result<Published> {
        let store = self.catalog.store();
        let snapshot = self.snapshot().await?;
        let view = View::new(&snapshot, &self.caller);
        let seen = &view.group(group)?.doc;
        Self::require_training_editor(
            &view,
            seen,
            &format!("publishing tag group '{}'", seen.name),
        )?;
        // Edits that land while publishing do not fail it: the latest definition is frozen
        // again (under the version number this publish wrote, if nobody took it since).
        // 0: none yet.
        let ours = std::sync::atomic::AtomicU32::new(0);
        let log = group_log(&names::slug(group));
        let (_, (g, version, unchanged)) = log
            .update_async(store, |latest: Option<(u64, TagGroup)>| {
            let (ours, snapshot) = (&ours, &snapshot);
            async move {
            let (_, g) = live(group, latest)?;
            let slug = g.slug.clone();
            let manifest = snapshot.dataset(&g.training_dataset)?;
            if manifest.models.is_empty() {
                return Err(CatalogError::State(format!(
                    "dataset '{}' has no embeddings to score yet: import images, keyframes or transcripts first",
                    g.training_dataset
                )));
            }
            let waiting: Vec<&str> = g
                .tags
                .iter()
                .filter(|t| t.status == TagStatus::NeedsReview)
                .map(|t| t.name.as_str())
                .collect();
            if !waiting.is_empty() {
                return Err(CatalogError::State(format!(
                    "cannot publish tag group '{}': these tags still need review (open their preview first): {}",
                    g.name,
                    waiting.join(", ")
                )));
            }
            let visibility = visibility.unwrap_or(g.visibility);
            let elsewhere = snapshot
                .applications
                .keys()
                .filter(|(d, s)| s == &slug && d != &g.training_dataset)
                .count();
            if visibility == Visibility::Secret && elsewhere > 0 {
                return Err(CatalogError::State(format!(
                    "cannot publish tag group '{}' as secret: {elsewhere} other dataset(s) apply it; they must remove it first",
                    g.name
                )));
            }
            let unchanged = g.latest_version > 0
                && g.status == GroupStatus::Published
                && visibility == g.visibility;
            if unchanged {
                let latest = g.latest_version;
                return Ok(Step::Keep((g, latest, true)));
            }
            let version = match Some(ours.load(std::sync::atomic::Ordering::Acquire)).filter(|v| *v > 0) {
                // Nothing references the document this publish wrote before: freeze the
                // latest definition into it.
                Some(v) if v > g.latest_version => {
                    let doc = GroupVersion::freeze(&g, v, visibility);
                    store
                        .put(&version_path(&slug, v), crate::store::to_json(&doc)?)
                        .await?;
                    v
                }
                _ => {
                    let mut v = g.latest_version + 1;
                    loop {
                        let doc = GroupVersion::freeze(&g, v, visibility);
                        if store
                            .put_json_if_absent(&version_path(&slug, v), &doc)
                            .await?
                        {
                            break v;
                        }
                        v += 1;
                    }
                }
            };
            ours.store(version, std::sync::atomic::Ordering::Release);
            let mut next = g.clone();
            next.latest_version = version;
            next.visibility = visibility;
            next.status = GroupStatus::Published;
            for t in &mut next.tags {
                t.status = TagStatus::Published;
            }
            next.updated_at = now();
            Ok(Step::Commit(next, (g, version, false)))
            }
        })
        .await?;
        let slug = g.slug.clone();
        let dataset = g.training_dataset.clone();
        self.update_application(&slug, &dataset, |a| a.enqueue(version))
            .await?;
        self.catalog.refresh().await?;
        Ok(Published {
            group: slug.clone(),
            version,
            new_version: !unchanged,
            job: (slug, dataset),
        })
    }

    /// Applies a shareable group to `dataset` at its latest version and queues scoring.
    pub async fn apply_to(&self, group: &str, dataset: &str) -> Result<(u32, JobKey)> {
        let snapshot = self.snapshot().await?;
        let view = View::new(&snapshot, &self.caller);
        view.require(dataset, DatasetRole::Editor, "applying tag groups")?;
        let g = &view.group(group)?.doc;
        if g.training_dataset == dataset {
            return Err(CatalogError::State(format!(
                "dataset '{dataset}' is the training dataset of tag group '{}': publishing it scores the dataset",
                g.name
            )));
        }
        if g.visibility == Visibility::Secret {
            return Err(CatalogError::State(format!(
                "tag group '{}' is secret: only its training dataset may use it (publish it with VISIBILITY SHAREABLE to apply it elsewhere)",
                g.name
            )));
        }
        if g.latest_version == 0 {
            return Err(CatalogError::State(format!(
                "tag group '{}' has no published version to apply",
                g.name
            )));
        }
        if snapshot.application(dataset, &g.slug).is_some() {
            return Err(CatalogError::AlreadyExists {
                kind: "application of tag group",
                name: format!("{}' to dataset '{dataset}", g.name),
            });
        }
        let v = g.latest_version;
        self.update_application(&g.slug, dataset, |a| a.enqueue(v))
            .await?;
        self.catalog.refresh().await?;
        Ok((v, (g.slug.clone(), dataset.to_string())))
    }

    /// Moves `dataset` to the latest version of `group` and queues scoring (also re-runs a
    /// job that ended in error).
    pub async fn update_on(&self, group: &str, dataset: &str) -> Result<(u32, JobKey)> {
        let snapshot = self.snapshot().await?;
        let view = View::new(&snapshot, &self.caller);
        view.require(dataset, DatasetRole::Editor, "updating tag groups")?;
        let g = &view.group(group)?.doc;
        if snapshot.application(dataset, &g.slug).is_none() {
            return Err(CatalogError::NotFound {
                kind: "tag group",
                name: g.name.clone(),
                hint: format!(" on dataset '{dataset}' (apply it first)"),
            });
        }
        let v = g.latest_version;
        self.update_application(&g.slug, dataset, |a| a.enqueue(v))
            .await?;
        self.catalog.refresh().await?;
        Ok((v, (g.slug.clone(), dataset.to_string())))
    }

    /// Stops applying `group` to `dataset` (its tables disappear there).
    pub async fn remove_from(&self, group: &str, dataset: &str) -> Result<()> {
        let snapshot = self.snapshot().await?;
        let view = View::new(&snapshot, &self.caller);
        view.require(dataset, DatasetRole::Editor, "removing tag groups")?;
        let g = &view.group(group)?.doc;
        if g.training_dataset == dataset {
            return Err(CatalogError::State(format!(
                "dataset '{dataset}' trains tag group '{}': drop the group instead",
                g.name
            )));
        }
        if snapshot.application(dataset, &g.slug).is_none() {
            return Err(CatalogError::NotFound {
                kind: "tag group",
                name: g.name.clone(),
                hint: format!(" on dataset '{dataset}'"),
            });
        }
        self.update_application(&g.slug, dataset, |a| {
            a.removed = true;
            a.job = None;
            if a.status == ScoringStatus::Queued {
                a.status = ScoringStatus::Unscored;
            }
        })
        .await?;
        self.catalog.refresh().await?;
        Ok(())
    }

    /// Read-modify-commit of an application, retried on concurrent commits.
    async fn update_application(
        &self,
        group: &str,
        dataset: &str,
        f: impl Fn(&mut Application),
    ) -> Result<Application> {
        let (_, app) = application_log(group, dataset)
            .update(
                self.catalog.store(),
                |latest: Option<(u64, Application)>| {
                    let mut app =
                        latest.map_or_else(|| Application::new(group, dataset), |(_, a)| a);
                    f(&mut app);
                    app.updated_at = now();
                    Ok(Step::Commit(app.clone(), app))
                },
            )
            .await?;
        Ok(app)
    }
}

/// The live (not dropped) group of a log's latest revision.
fn live(group: &str, latest: Option<(u64, TagGroup)>) -> Result<(u64, TagGroup)> {
    match latest {
        Some((rev, g)) if !g.deleted => Ok((rev, g)),
        _ => Err(CatalogError::not_found("tag group", group)),
    }
}

/// Applies an edit to a definition, updating statuses as the product does: prompt and tag
/// changes after publishing are "unpublished changes"; threshold changes are not.
fn apply(g: &mut TagGroup, edit: &GroupEdit) -> Result<()> {
    let changes_definition = !matches!(
        edit,
        GroupEdit::SetThreshold { .. }
            | GroupEdit::Reviewed { .. }
            | GroupEdit::SetGuarantee { .. }
    );
    match edit {
        GroupEdit::AddTag { tag } => {
            let name = names::tag_name(tag)?;
            if g.tag(&name).is_some() {
                return Err(CatalogError::AlreadyExists { kind: "tag", name });
            }
            g.tags.push(Tag::new(name));
        }
        GroupEdit::DropTag { tag } => {
            let before = g.tags.len();
            g.tags.retain(|t| !t.name.eq_ignore_ascii_case(tag));
            if g.tags.len() == before {
                return Err(CatalogError::NotFound {
                    kind: "tag",
                    name: tag.clone(),
                    hint: format!(" in tag group '{}'", g.name),
                });
            }
            if g.tags.is_empty() {
                return Err(CatalogError::Invalid(format!(
                    "cannot drop '{tag}': it is the last tag of '{}' (drop the group instead)",
                    g.name
                )));
            }
        }
        GroupEdit::RenameTag { tag, to } => {
            let to = names::tag_name(to)?;
            if !to.eq_ignore_ascii_case(tag) && g.tag(&to).is_some() {
                return Err(CatalogError::AlreadyExists {
                    kind: "tag",
                    name: to,
                });
            }
            g.tag_mut(tag)?.name = to;
        }
        GroupEdit::AddPrompt { tag, prompt } => {
            let text = names::prompt(&prompt.text)?;
            let t = g.tag_mut(tag)?;
            let p = Prompt {
                text,
                ..prompt.clone()
            };
            if t.prompts.contains(&p) {
                return Err(CatalogError::AlreadyExists {
                    kind: "prompt",
                    name: p.text,
                });
            }
            t.prompts.push(p);
        }
        GroupEdit::DropPrompt { tag, prompt } => {
            let t = g.tag_mut(tag)?;
            let before = t.prompts.len();
            t.prompts.retain(|p| {
                !(p.text == prompt.text
                    && p.polarity == prompt.polarity
                    && (prompt.modality == PromptModality::Both || p.modality == prompt.modality))
            });
            if t.prompts.len() == before {
                return Err(CatalogError::NotFound {
                    kind: "prompt",
                    name: prompt.text.clone(),
                    hint: format!(
                        " ({} prompts of tag '{}')",
                        prompt.polarity.as_str(),
                        t.name
                    ),
                });
            }
            if t.prompts_for(Modality::Visual, Polarity::Positive)
                .is_empty()
                && t.prompts_for(Modality::Transcript, Polarity::Positive)
                    .is_empty()
            {
                tracing::info!(tag = %t.name, "tag has no positive prompt left; its name stands in");
            }
        }
        GroupEdit::SetThreshold { tag, threshold } => {
            let th = names::threshold(*threshold)?;
            let t = g.tag_mut(tag)?;
            t.threshold = th;
            t.guarantee = None;
        }
        GroupEdit::SetOption { key, value } => g.options.set(key, value)?,
        GroupEdit::AddLabels {
            tag,
            asset_ids,
            positive,
        } => {
            let t = g.tag_mut(tag)?;
            for id in asset_ids {
                t.labels.retain(|l| &l.asset_id != id);
                t.labels.push(Label {
                    asset_id: id.clone(),
                    positive: *positive,
                    embedding: None,
                });
            }
        }
        GroupEdit::DropLabels { tag, asset_ids } => {
            let t = g.tag_mut(tag)?;
            let before = t.labels.len();
            t.labels.retain(|l| !asset_ids.contains(&l.asset_id));
            if t.labels.len() == before {
                return Err(CatalogError::NotFound {
                    kind: "label of",
                    name: asset_ids.join("', '"),
                    hint: format!(" on tag '{}'", t.name),
                });
            }
        }
        GroupEdit::SetGuarantee { tag, guarantee } => {
            let th = names::threshold(guarantee.threshold)?;
            let t = g.tag_mut(tag)?;
            t.threshold = th;
            t.guarantee = Some(guarantee.clone());
        }
        GroupEdit::Reviewed { tag } => {
            let t = g.tag_mut(tag)?;
            if t.status == TagStatus::NeedsReview {
                t.status = TagStatus::Draft;
            }
        }
    }
    if changes_definition && g.latest_version > 0 {
        g.status = GroupStatus::UnpublishedChanges;
        let touched = match edit {
            GroupEdit::AddPrompt { tag, .. }
            | GroupEdit::DropPrompt { tag, .. }
            | GroupEdit::AddLabels { tag, .. }
            | GroupEdit::DropLabels { tag, .. } => Some(tag.as_str()),
            GroupEdit::RenameTag { to, .. } => Some(to.as_str()),
            _ => None,
        };
        for t in &mut g.tags {
            if touched.is_some_and(|n| t.name.eq_ignore_ascii_case(n))
                && t.status != TagStatus::NeedsReview
            {
                t.status = TagStatus::UnpublishedChanges;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> TagGroup {
        TagGroup {
            name: "News".into(),
            slug: "news".into(),
            training_dataset: "d".into(),
            status: GroupStatus::Published,
            visibility: Visibility::Secret,
            options: GroupOptions::default(),
            tags: vec![Tag::new("sports".into()), Tag::new("weather".into())],
            latest_version: 1,
            created_at: now(),
            updated_at: now(),
            deleted: false,
        }
    }

    #[test]
    fn threshold_changes_do_not_unpublish() {
        let mut g = group();
        apply(
            &mut g,
            &GroupEdit::SetThreshold {
                tag: "Sports".into(),
                threshold: 0.7,
            },
        )
        .unwrap();
        assert_eq!(g.status, GroupStatus::Published);
        assert_eq!(g.tag("sports").unwrap().threshold, 0.7);
    }

    #[test]
    fn prompt_changes_unpublish_the_tag_and_group() {
        let mut g = group();
        g.tags[0].status = TagStatus::Published;
        g.tags[1].status = TagStatus::Published;
        let prompt = Prompt {
            text: "football match".into(),
            polarity: Polarity::Positive,
            modality: PromptModality::Visual,
        };
        apply(
            &mut g,
            &GroupEdit::AddPrompt {
                tag: "sports".into(),
                prompt: prompt.clone(),
            },
        )
        .unwrap();
        assert_eq!(g.status, GroupStatus::UnpublishedChanges);
        assert_eq!(g.tags[0].status, TagStatus::UnpublishedChanges);
        assert_eq!(g.tags[1].status, TagStatus::Published);
        let err = apply(
            &mut g,
            &GroupEdit::AddPrompt {
                tag: "sports".into(),
                prompt,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
    }

    #[test]
    fn reviews_labels_and_new_tags_follow_the_product_statuses() {
        let mut g = group();
        for t in &mut g.tags {
            t.status = TagStatus::Published;
        }
        // A review of a published tag changes nothing.
        apply(
            &mut g,
            &GroupEdit::Reviewed {
                tag: "sports".into(),
            },
        )
        .unwrap();
        assert_eq!(g.status, GroupStatus::Published);
        assert_eq!(g.tags[0].status, TagStatus::Published);
        // A label is an unpublished change of its tag; relabelling replaces the polarity.
        let label = |positive| GroupEdit::AddLabels {
            tag: "sports".into(),
            asset_ids: vec!["img_1".into()],
            positive,
        };
        apply(&mut g, &label(true)).unwrap();
        apply(&mut g, &label(false)).unwrap();
        assert_eq!(g.tags[0].labels.len(), 1);
        assert!(!g.tags[0].labels[0].positive);
        assert_eq!(g.tags[0].status, TagStatus::UnpublishedChanges);
        assert_eq!(g.tags[1].status, TagStatus::Published);
        assert_eq!(g.status, GroupStatus::UnpublishedChanges);
        let err = apply(
            &mut g,
            &GroupEdit::DropLabels {
                tag: "weather".into(),
                asset_ids: vec!["img_1".into()],
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("not found"), "{err}");
        // A tag added after publishing needs review; its review makes it a draft.
        apply(
            &mut g,
            &GroupEdit::AddTag {
                tag: "traffic".into(),
            },
        )
        .unwrap();
        assert_eq!(g.tags[2].status, TagStatus::NeedsReview);
        apply(
            &mut g,
            &GroupEdit::Reviewed {
                tag: "traffic".into(),
            },
        )
        .unwrap();
        assert_eq!(g.tags[2].status, TagStatus::Draft);
    }

    #[test]
    fn edits_name_what_is_wrong() {
        let mut g = group();
        let err = apply(
            &mut g,
            &GroupEdit::AddTag {
                tag: "test_v1".into(),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("letters, digits and spaces"), "{err}");
        let err = apply(
            &mut g,
            &GroupEdit::SetThreshold {
                tag: "nope".into(),
                threshold: 0.5,
            },
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "tag 'nope' not found in tag group 'News'");
        apply(
            &mut g,
            &GroupEdit::DropTag {
                tag: "sports".into(),
            },
        )
        .unwrap();
        let err = apply(
            &mut g,
            &GroupEdit::DropTag {
                tag: "weather".into(),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("last tag"), "{err}");
    }
}
