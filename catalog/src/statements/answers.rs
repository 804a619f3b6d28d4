//! The small tables the tag statements answer with: a one-cell message for a change, the
//! rows of a system table for a `SHOW`, a new token, an evaluation's items.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::filter_record_batch;

use crate::provider::system_table;
use dyntag_core::model::access::View;
use dyntag_core::service::evaluate::Evaluation;
use dyntag_core::service::tags::GroupEdit;
use dyntag_core::{CatalogError, Result};

/// A new token, shown once.
pub(super) fn token_answer(
    user: &str,
    org_role: &str,
    read_only: bool,
    token: String,
) -> Result<RecordBatch> {
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
pub(super) fn evaluation_items(e: &Evaluation) -> Result<RecordBatch> {
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
pub(super) fn describe(edit: &GroupEdit) -> String {
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

pub(super) fn table(view: &View<'_>, name: &str) -> Result<RecordBatch> {
    system_table(view, name)?
        .ok_or_else(|| CatalogError::Internal(format!("no system table '{name}'")))
}

/// The rows of system table `name` whose `column` equals `value`.
pub(super) fn rows_of(
    view: &View<'_>,
    name: &str,
    column: &str,
    value: &str,
) -> Result<RecordBatch> {
    let batch = table(view, name)?;
    let keep = column_str(&batch, column)
        .map(|v| v == value)
        .collect::<Vec<_>>();
    filter(&batch, keep)
}

pub(super) fn column_str<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> impl Iterator<Item = &'a str> + 'a {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .into_iter()
        .flat_map(|a| a.iter().map(|v| v.unwrap_or("")))
}

pub(super) fn column_int<'a>(batch: &'a RecordBatch, name: &str) -> impl Iterator<Item = i64> + 'a {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .into_iter()
        .flat_map(|a| a.iter().map(|v| v.unwrap_or(0)))
}

/// The named columns of `batch`, in that order.
pub(super) fn project(batch: &RecordBatch, names: &[&str]) -> Result<RecordBatch> {
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

pub(super) fn filter(batch: &RecordBatch, keep: Vec<bool>) -> Result<RecordBatch> {
    filter_record_batch(batch, &BooleanArray::from(keep))
        .map_err(|e| CatalogError::engine("statement", e))
}

/// SQL `LIKE` with `%` and `_` (already lower-cased).
pub(super) fn like(text: &str, pattern: &str) -> bool {
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

pub(super) fn strs(v: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

/// The "manage groups" view of a dataset: every group it trains or applies, with the
/// version applied, whether an update is available and the scoring status.
pub(super) fn manage_groups(view: &View<'_>, ds: &str) -> Result<RecordBatch> {
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
pub(super) fn show_tags(g: &dyntag_core::model::tags::TagGroup) -> Result<RecordBatch> {
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
