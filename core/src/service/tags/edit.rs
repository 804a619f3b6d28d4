//! Creating, editing and dropping tag groups: each a read-modify-commit of the group's
//! revision log.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::AsArray;

use super::rules::{apply, live};
use super::{GroupEdit, TagService};
use crate::model::Modality;
use crate::model::access::{DatasetRole, View};
use crate::model::dataset::schema::col;
use crate::model::dataset::{TableKind, now};
use crate::model::tags::{
    GroupOptions, GroupStatus, LabelEmbedding, Tag, TagGroup, Visibility, group_log, names,
};
use crate::store::Step;
use crate::{CatalogError, Result};

impl TagService {
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
            for b in crate::scoring::scan::batches(&self.catalog, file)
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
                    .and_then(|e| crate::scoring::scan::embedding_vectors(e.as_ref()).ok());
                for (r, id) in c.iter().enumerate() {
                    let Some(id) = id.filter(|id| wanted.contains(id)) else {
                        continue;
                    };
                    let values = emb
                        .as_ref()
                        .map(|(v, d)| crate::scoring::classifier::encode(&v.row(r, *d)));
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
}
