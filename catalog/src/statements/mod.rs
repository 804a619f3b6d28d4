//! The tag statements: parsed here ([`parser`]), carried out by the service layer, and
//! answered with a small table so that every SQL client can run them.

pub mod parser;

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};

pub use parser::{GRAMMAR, TagStatement, parse, split_statements};

use crate::import::Progress;
use crate::tags::{GroupEdit, TagService};
use crate::{Catalog, CatalogError, Result};

/// Carries out `stmt`. `dataset` is the session's current dataset (for `SHOW TAG GROUPS`).
/// `USE` is the caller's to handle (it changes the session), so it is rejected here.
pub async fn execute(
    catalog: &Arc<Catalog>,
    stmt: &TagStatement,
    dataset: &str,
    progress: &dyn Progress,
) -> Result<RecordBatch> {
    let service = TagService::new(Arc::clone(catalog));
    match stmt {
        TagStatement::CreateGroup {
            name,
            dataset,
            tags,
            options,
        } => {
            let g = service.create_group(name, dataset, tags, options).await?;
            message(format!(
                "created tag group '{}' on dataset '{}' with {} tag(s); publish it to create dt_{}_visual, _transcript, _shot and _video",
                g.name,
                g.training_dataset,
                g.tags.len(),
                g.slug
            ))
        }
        TagStatement::Edit { group, edit } => {
            let (rev, g) = service.edit(group, edit, None).await?;
            let what = match edit {
                GroupEdit::AddTag { tag } => format!("added tag '{tag}'"),
                GroupEdit::DropTag { tag } => format!("dropped tag '{tag}'"),
                GroupEdit::RenameTag { tag, to } => format!("renamed tag '{tag}' to '{to}'"),
                GroupEdit::AddPrompt { tag, prompt } => format!(
                    "added {} {} prompt '{}' to tag '{tag}'",
                    prompt.polarity.as_str(),
                    prompt.modality.as_str(),
                    prompt.text
                ),
                GroupEdit::DropPrompt { tag, prompt } => {
                    format!(
                        "dropped {} prompt '{}' of tag '{tag}'",
                        prompt.polarity.as_str(),
                        prompt.text
                    )
                }
                GroupEdit::SetThreshold { tag, threshold } => {
                    format!("set the threshold of tag '{tag}' to {threshold}")
                }
                GroupEdit::SetOption { key, value } => format!("set {key} = '{value}'"),
            };
            message(format!(
                "{what} in tag group '{}' (revision {rev}, status {})",
                g.name,
                g.status.as_str()
            ))
        }
        TagStatement::Publish { group, visibility } => {
            let p = service.publish(group, *visibility, progress).await?;
            let rows: u64 = p.run.tables.values().flatten().map(|f| f.rows).sum();
            message(format!(
                "{} version {} of tag group '{}' and scored it: {rows} score rows",
                if p.new_version {
                    "published"
                } else {
                    "re-scored"
                },
                p.version,
                p.group
            ))
        }
        TagStatement::DropGroup { group } => {
            service.drop_group(group).await?;
            message(format!("dropped tag group '{group}'"))
        }
        TagStatement::ShowGroups { dataset: on } => {
            let snapshot = catalog.refresh().await?;
            let ds = on.as_deref().unwrap_or(dataset);
            let groups = snapshot.groups_of(ds);
            let col = |f: &dyn Fn(&crate::snapshot::Versioned<crate::tags::TagGroup>) -> String| -> ArrayRef {
                Arc::new(StringArray::from(groups.iter().map(|g| f(g)).collect::<Vec<_>>()))
            };
            let applied = |g: &crate::snapshot::Versioned<crate::tags::TagGroup>| {
                snapshot.application(ds, &g.doc.slug)
            };
            RecordBatch::try_from_iter(vec![
                ("group_name", col(&|g| g.doc.name.clone())),
                ("table_prefix", col(&|g| format!("dt_{}", g.doc.slug))),
                ("training_dataset", col(&|g| g.doc.training_dataset.clone())),
                ("status", col(&|g| g.doc.status.as_str().to_string())),
                (
                    "visibility",
                    col(&|g| g.doc.visibility.as_str().to_string()),
                ),
                (
                    "latest_version",
                    Arc::new(Int64Array::from(
                        groups
                            .iter()
                            .map(|g| i64::from(g.doc.latest_version))
                            .collect::<Vec<_>>(),
                    )) as ArrayRef,
                ),
                (
                    "applied_version",
                    Arc::new(Int64Array::from(
                        groups
                            .iter()
                            .map(|g| applied(g).map(|a| i64::from(a.version)))
                            .collect::<Vec<_>>(),
                    )) as ArrayRef,
                ),
                (
                    "scoring_status",
                    Arc::new(StringArray::from(
                        groups
                            .iter()
                            .map(|g| applied(g).map(|a| a.status.as_str()))
                            .collect::<Vec<_>>(),
                    )) as ArrayRef,
                ),
                (
                    "tags",
                    col(&|g| {
                        g.doc
                            .tags
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }),
                ),
            ])
            .map_err(|e| CatalogError::engine("SHOW TAG GROUPS", e))
        }
        TagStatement::ShowTags { group } => {
            let snapshot = catalog.refresh().await?;
            let g = &snapshot.group(group)?.doc;
            let prompts = |t: &crate::tags::Tag, pol: crate::tags::Polarity| -> String {
                t.prompts
                    .iter()
                    .filter(|p| p.polarity == pol)
                    .map(|p| {
                        if p.modality == crate::tags::PromptModality::Both {
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
                            .map(|t| prompts(t, crate::tags::Polarity::Positive))
                            .collect::<Vec<_>>(),
                    )),
                ),
                (
                    "negative_prompts",
                    Arc::new(StringArray::from(
                        g.tags
                            .iter()
                            .map(|t| prompts(t, crate::tags::Polarity::Negative))
                            .collect::<Vec<_>>(),
                    )),
                ),
            ])
            .map_err(|e| CatalogError::engine("SHOW TAGS", e))
        }
        TagStatement::Use { .. } => {
            Err(CatalogError::State("USE is handled by the session".into()))
        }
    }
}

/// A one-row, one-column answer.
pub fn message(text: String) -> Result<RecordBatch> {
    RecordBatch::try_from_iter(vec![(
        "result",
        Arc::new(StringArray::from(vec![text])) as ArrayRef,
    )])
    .map_err(|e| CatalogError::engine("statement", e))
}
