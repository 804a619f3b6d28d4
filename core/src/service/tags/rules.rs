//! How one edit changes a group: the product's rules for tag and group statuses.

use super::GroupEdit;
use crate::model::Modality;
use crate::model::tags::{
    GroupStatus, Label, Polarity, Prompt, PromptModality, Tag, TagGroup, TagStatus, names,
};
use crate::{CatalogError, Result};

/// The live (not dropped) group of a log's latest revision.
pub(super) fn live(group: &str, latest: Option<(u64, TagGroup)>) -> Result<(u64, TagGroup)> {
    match latest {
        Some((rev, g)) if !g.deleted => Ok((rev, g)),
        _ => Err(CatalogError::not_found("tag group", group)),
    }
}

/// Applies an edit to a definition, updating statuses as the product does: prompt and tag
/// changes after publishing are "unpublished changes"; threshold changes are not.
pub(super) fn apply(g: &mut TagGroup, edit: &GroupEdit) -> Result<()> {
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
    use crate::model::dataset::now;
    use crate::model::tags::{GroupOptions, Visibility};

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
