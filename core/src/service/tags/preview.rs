//! Previews of a tag (which review it) and prompt suggestions.

use super::{GroupEdit, PreviewRequest, TagService};
use crate::model::Modality;
use crate::model::access::{DatasetRole, View};
use crate::model::snapshot::Definition;
use crate::model::tags::{TagStatus, names};
use crate::scoring::scan::{self as preview, PreviewMode};
use crate::{CatalogError, Result};

impl TagService {
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
}
