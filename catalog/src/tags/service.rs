//! The service layer of tag groups: every operation on a group goes through here, whether
//! it comes from a SQL statement or an HTTP request. Each edit is a read-modify-commit of
//! the group's revision log; when another writer commits first, the edit is re-applied
//! on top of theirs (edits of different fields merge), unless the caller pinned the
//! revision it edited, in which case it gets a conflict naming the current revision.

use std::sync::Arc;

use super::{
    GroupOptions, GroupStatus, GroupVersion, Polarity, Prompt, PromptModality, Tag, TagGroup,
    TagStatus, Visibility, group_log, names, version_path,
};
use crate::applications::{Application, ScoreRun, ScoringStatus, application_log};
use crate::dataset::now;
use crate::import::Progress;
use crate::scoring::materialize::score_dataset;
use crate::snapshot::Definition;
use crate::store::RevisionLog;
use crate::{Catalog, CatalogError, Result};

const MAX_RETRIES: usize = 64;

/// Waits a little before retrying a commit that lost a race: a few milliseconds growing with
/// the attempt, with jitter so that writers that collided do not collide again in step.
async fn backoff(attempt: usize) {
    let jitter = uuid::Uuid::new_v4().as_u128() % 5;
    let ms = (attempt.min(10) as u64) * 2 + jitter as u64;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// A change to a group's definition.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupEdit {
    AddTag { tag: String },
    DropTag { tag: String },
    RenameTag { tag: String, to: String },
    AddPrompt { tag: String, prompt: Prompt },
    DropPrompt { tag: String, prompt: Prompt },
    SetThreshold { tag: String, threshold: f64 },
    SetOption { key: String, value: String },
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub group: String,
    pub version: u32,
    /// Whether a new version was frozen (false: the latest version was scored again).
    pub new_version: bool,
    pub run: ScoreRun,
}

/// Operations on tag groups.
pub struct TagService {
    catalog: Arc<Catalog>,
}

impl TagService {
    /// The service over `catalog`.
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self { catalog }
    }

    /// Creates a group on `dataset` from a list of tag names (each its first positive
    /// prompt). Fails if the name is taken or breaks the naming rules.
    pub async fn create_group(
        &self,
        name: &str,
        dataset: &str,
        tags: &[String],
        options: &[(String, String)],
    ) -> Result<TagGroup> {
        let name = names::group_name(name)?;
        let slug = names::slug(&name);
        let snapshot = self.catalog.refresh().await?;
        snapshot.dataset(dataset)?;
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
        let log = group_log(&slug);
        let latest = log.latest::<TagGroup>(self.catalog.store()).await?;
        let expected = match latest {
            Some((_, g)) if !g.deleted => {
                return Err(CatalogError::AlreadyExists {
                    kind: "tag group",
                    name: g.name,
                });
            }
            Some((rev, g)) => {
                // Re-creating a dropped group continues its log and its version numbers.
                let mut group = group.clone();
                group.latest_version = 0;
                let _ = g;
                log.commit(self.catalog.store(), rev, &group).await?;
                self.catalog.refresh().await?;
                return Ok(group);
            }
            None => 0,
        };
        log.commit(self.catalog.store(), expected, &group)
            .await
            .map_err(|e| match e {
                CatalogError::Conflict { .. } => CatalogError::AlreadyExists {
                    kind: "tag group",
                    name: name.clone(),
                },
                e => e,
            })?;
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
        for attempt in 0..MAX_RETRIES {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let (log, rev, mut g) = self.live(group).await?;
            if let Some(expected) = expected_revision
                && expected != rev
            {
                return Err(CatalogError::Conflict {
                    what: format!("tag group '{}'", g.name),
                    current: rev,
                });
            }
            apply(&mut g, edit)?;
            g.updated_at = now();
            match log.commit(self.catalog.store(), rev, &g).await {
                Ok(next) => {
                    self.catalog.refresh().await?;
                    return Ok((next, g));
                }
                Err(CatalogError::Conflict { .. }) if expected_revision.is_none() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(CatalogError::Conflict {
            what: format!("tag group '{group}'"),
            current: self.live(group).await?.1,
        })
    }

    /// The revision log of a live (not dropped) group, its latest revision and definition.
    async fn live(&self, group: &str) -> Result<(RevisionLog, u64, TagGroup)> {
        let log = group_log(&names::slug(group));
        match log.latest::<TagGroup>(self.catalog.store()).await? {
            Some((rev, g)) if !g.deleted => Ok((log, rev, g)),
            _ => Err(CatalogError::not_found("tag group", group)),
        }
    }

    /// Drops a group: its tables disappear; its history stays on the store.
    pub async fn drop_group(&self, group: &str) -> Result<()> {
        let (log, rev, mut g) = self.live(group).await?;
        g.deleted = true;
        g.updated_at = now();
        log.commit(self.catalog.store(), rev, &g).await?;
        self.catalog.refresh().await?;
        Ok(())
    }

    /// Publishes `group`: freezes its definition as a new immutable version (or, with no
    /// change since the latest version, keeps that one), then scores its training dataset
    /// and makes the new `dt_` tables visible in one commit.
    pub async fn publish(
        &self,
        group: &str,
        visibility: Option<Visibility>,
        progress: &dyn Progress,
    ) -> Result<Published> {
        let store = self.catalog.store();
        let (log, rev, g) = self.live(group).await?;
        let slug = g.slug.clone();
        let snapshot = self.catalog.refresh().await?;
        let manifest = snapshot.dataset(&g.training_dataset)?;
        if manifest.models.is_empty() {
            return Err(CatalogError::State(format!(
                "dataset '{}' has no embeddings to score yet: import images, keyframes or transcripts first",
                g.training_dataset
            )));
        }
        let visibility = visibility.unwrap_or(g.visibility);
        let unchanged = g.latest_version > 0
            && g.status == GroupStatus::Published
            && visibility == g.visibility;
        let (version, frozen) = if unchanged {
            let v = g.latest_version;
            let doc = store
                .get_json::<GroupVersion>(&version_path(&slug, v))
                .await?
                .ok_or_else(|| {
                    CatalogError::State(format!("version {v} of '{}' is missing", g.name))
                })?;
            (v, doc)
        } else {
            let mut v = g.latest_version + 1;
            loop {
                let doc = GroupVersion::freeze(&g, v, visibility);
                if store
                    .put_json_if_absent(&version_path(&slug, v), &doc)
                    .await?
                {
                    break (v, doc);
                }
                v += 1;
            }
        };
        if !unchanged {
            let mut next = g.clone();
            next.latest_version = version;
            next.visibility = visibility;
            next.status = GroupStatus::Published;
            for t in &mut next.tags {
                t.status = TagStatus::Published;
            }
            next.updated_at = now();
            log.commit(store, rev, &next).await.map_err(|e| match e {
                CatalogError::Conflict { current, .. } => CatalogError::Conflict {
                    what: format!(
                        "tag group '{}' (edited while publishing; publish again)",
                        g.name
                    ),
                    current,
                },
                e => e,
            })?;
        }
        let dataset = g.training_dataset.clone();
        self.update_application(&slug, &dataset, |a| {
            a.version = version;
            a.status = ScoringStatus::Queued;
            a.error = None;
        })
        .await?;
        self.catalog.refresh().await?;
        let definition = Definition {
            group: slug.clone(),
            version: Some(version),
            revision: rev,
            tags: frozen.tags.clone(),
        };
        match score_dataset(
            &self.catalog,
            &dataset,
            &definition,
            &frozen.options,
            progress,
        )
        .await
        {
            Ok(run) => {
                let committed = run.clone();
                self.update_application(&slug, &dataset, move |a| {
                    if let Some(prev) = a.run.take() {
                        a.history.insert(0, prev);
                    }
                    a.run = Some(committed.clone());
                    a.status = ScoringStatus::Scored;
                    a.error = None;
                })
                .await?;
                self.catalog.refresh().await?;
                Ok(Published {
                    group: slug,
                    version,
                    new_version: !unchanged,
                    run,
                })
            }
            Err(e) => {
                let message = e.to_string();
                self.update_application(&slug, &dataset, |a| {
                    a.status = ScoringStatus::Error;
                    a.error = Some(message.clone());
                })
                .await?;
                self.catalog.refresh().await?;
                Err(e)
            }
        }
    }

    /// Read-modify-commit of an application, retried on concurrent commits.
    async fn update_application(
        &self,
        group: &str,
        dataset: &str,
        f: impl Fn(&mut Application),
    ) -> Result<Application> {
        let log = application_log(group, dataset);
        for attempt in 0..MAX_RETRIES {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let (rev, mut app) = match log.latest::<Application>(self.catalog.store()).await? {
                Some(x) => x,
                None => (
                    0,
                    Application {
                        dataset: dataset.to_string(),
                        group: group.to_string(),
                        version: 0,
                        status: ScoringStatus::Unscored,
                        error: None,
                        run: None,
                        history: Vec::new(),
                        updated_at: now(),
                    },
                ),
            };
            f(&mut app);
            app.updated_at = now();
            match log.commit(self.catalog.store(), rev, &app).await {
                Ok(_) => return Ok(app),
                Err(CatalogError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(CatalogError::Conflict {
            what: format!("application of '{group}' to '{dataset}'"),
            current: log.latest_revision(self.catalog.store()).await?,
        })
    }
}

/// Applies an edit to a definition, updating statuses as the product does: prompt and tag
/// changes after publishing are "unpublished changes"; threshold changes are not.
fn apply(g: &mut TagGroup, edit: &GroupEdit) -> Result<()> {
    let changes_definition = !matches!(edit, GroupEdit::SetThreshold { .. });
    match edit {
        GroupEdit::AddTag { tag } => {
            let name = names::tag_name(tag)?;
            if g.tag(&name).is_some() {
                return Err(CatalogError::AlreadyExists { kind: "tag", name });
            }
            let mut t = Tag::new(name);
            if g.latest_version > 0 {
                t.status = TagStatus::UnpublishedChanges;
            }
            g.tags.push(t);
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
            if t.prompts_for(crate::Modality::Visual, Polarity::Positive)
                .is_empty()
                && t.prompts_for(crate::Modality::Transcript, Polarity::Positive)
                    .is_empty()
            {
                tracing::info!(tag = %t.name, "tag has no positive prompt left; its name stands in");
            }
        }
        GroupEdit::SetThreshold { tag, threshold } => {
            let th = names::threshold(*threshold)?;
            g.tag_mut(tag)?.threshold = th;
        }
        GroupEdit::SetOption { key, value } => g.options.set(key, value)?,
    }
    if changes_definition && g.latest_version > 0 {
        g.status = GroupStatus::UnpublishedChanges;
        let touched = match edit {
            GroupEdit::AddPrompt { tag, .. } | GroupEdit::DropPrompt { tag, .. } => {
                Some(tag.as_str())
            }
            GroupEdit::RenameTag { to, .. } => Some(to.as_str()),
            _ => None,
        };
        for t in &mut g.tags {
            if touched.is_some_and(|n| t.name.eq_ignore_ascii_case(n)) {
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
