//! Publishing a group, applying it to other datasets, updating and removing those: each
//! commits and queues a scoring job.

use super::rules::live;
use super::{Published, TagService};
use crate::model::access::{DatasetRole, View};
use crate::model::applications::{Application, ScoringStatus, application_log};
use crate::model::dataset::now;
use crate::model::tags::{
    GroupStatus, GroupVersion, TagGroup, TagStatus, Visibility, group_log, names, version_path,
};
use crate::service::jobs::JobKey;
use crate::store::Step;
use crate::{CatalogError, Result};

impl TagService {
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
