//! The `system` schema: datasets, tag groups, tags, prompts, versions and applications as
//! tables, built from the snapshot when a query names them.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::catalog::{MemTable, SchemaProvider};
use datafusion::common::Result as DFResult;
use datafusion::datasource::TableProvider;

use crate::Modality;
use crate::dataset::TableKind;
use crate::snapshot::Snapshot;
use crate::tags::Polarity;

/// The table names of the `system` schema.
pub const SYSTEM_TABLES: [&str; 6] = [
    "datasets",
    "tag_groups",
    "tags",
    "prompts",
    "versions",
    "applications",
];

/// The `system` schema over one snapshot.
#[derive(Debug)]
pub struct SystemSchema {
    snapshot: Arc<Snapshot>,
}

impl SystemSchema {
    /// The system tables of `snapshot`.
    pub fn new(snapshot: Arc<Snapshot>) -> Self {
        Self { snapshot }
    }

    fn build(&self, name: &str) -> DFResult<Option<RecordBatch>> {
        let s = &self.snapshot;
        let batch = match name {
            "datasets" => {
                let d: Vec<_> = s.datasets.values().map(|v| &v.doc).collect();
                let model = |m: Modality| -> Vec<Option<String>> {
                    d.iter()
                        .map(|x| x.models.get(&m).map(|e| e.id.clone()))
                        .collect()
                };
                let rows =
                    |k: TableKind| -> Vec<i64> { d.iter().map(|x| x.rows(k) as i64).collect() };
                RecordBatch::try_from_iter(vec![
                    ("dataset", strs(d.iter().map(|x| x.name.clone()))),
                    ("images_and_keyframes", ints(rows(TableKind::Images))),
                    ("videos", ints(rows(TableKind::Videos))),
                    ("shots", ints(rows(TableKind::Shots))),
                    ("transcript_segments", ints(rows(TableKind::Transcripts))),
                    ("visual_model", opt_strs(model(Modality::Visual))),
                    ("transcript_model", opt_strs(model(Modality::Transcript))),
                    (
                        "revision",
                        ints(s.datasets.values().map(|v| v.revision as i64).collect()),
                    ),
                    ("created_at", strs(d.iter().map(|x| x.created_at.clone()))),
                ])?
            }
            "tag_groups" => {
                let g: Vec<_> = s.groups.values().collect();
                RecordBatch::try_from_iter(vec![
                    ("group_name", strs(g.iter().map(|v| v.doc.name.clone()))),
                    ("group_slug", strs(g.iter().map(|v| v.doc.slug.clone()))),
                    (
                        "training_dataset",
                        strs(g.iter().map(|v| v.doc.training_dataset.clone())),
                    ),
                    (
                        "status",
                        strs(g.iter().map(|v| v.doc.status.as_str().to_string())),
                    ),
                    (
                        "visibility",
                        strs(g.iter().map(|v| v.doc.visibility.as_str().to_string())),
                    ),
                    (
                        "latest_version",
                        ints(g.iter().map(|v| i64::from(v.doc.latest_version)).collect()),
                    ),
                    (
                        "tags",
                        ints(g.iter().map(|v| v.doc.tags.len() as i64).collect()),
                    ),
                    (
                        "shot_aggregation",
                        strs(g.iter().map(|v| v.doc.options.shot_str())),
                    ),
                    (
                        "video_aggregation",
                        strs(g.iter().map(|v| v.doc.options.video_str())),
                    ),
                    (
                        "revision",
                        ints(g.iter().map(|v| v.revision as i64).collect()),
                    ),
                    (
                        "updated_at",
                        strs(g.iter().map(|v| v.doc.updated_at.clone())),
                    ),
                ])?
            }
            "tags" => {
                let t: Vec<_> = s
                    .groups
                    .values()
                    .flat_map(|g| g.doc.tags.iter().map(move |t| (g, t)))
                    .collect();
                let count = |p: Polarity| -> Vec<i64> {
                    t.iter()
                        .map(|(_, t)| t.prompts.iter().filter(|x| x.polarity == p).count() as i64)
                        .collect()
                };
                RecordBatch::try_from_iter(vec![
                    (
                        "group_slug",
                        strs(t.iter().map(|(g, _)| g.doc.slug.clone())),
                    ),
                    ("tag_name", strs(t.iter().map(|(_, t)| t.name.clone()))),
                    (
                        "status",
                        strs(t.iter().map(|(_, t)| t.status.as_str().to_string())),
                    ),
                    (
                        "threshold",
                        Arc::new(Float64Array::from(
                            t.iter().map(|(_, t)| t.threshold).collect::<Vec<_>>(),
                        )) as ArrayRef,
                    ),
                    ("positive_prompts", ints(count(Polarity::Positive))),
                    ("negative_prompts", ints(count(Polarity::Negative))),
                ])?
            }
            "prompts" => {
                let p: Vec<_> = s
                    .groups
                    .values()
                    .flat_map(|g| {
                        g.doc
                            .tags
                            .iter()
                            .flat_map(move |t| t.prompts.iter().map(move |p| (g, t, p)))
                    })
                    .collect();
                RecordBatch::try_from_iter(vec![
                    (
                        "group_slug",
                        strs(p.iter().map(|(g, _, _)| g.doc.slug.clone())),
                    ),
                    ("tag_name", strs(p.iter().map(|(_, t, _)| t.name.clone()))),
                    (
                        "polarity",
                        strs(p.iter().map(|(_, _, p)| p.polarity.as_str().to_string())),
                    ),
                    (
                        "modality",
                        strs(p.iter().map(|(_, _, p)| p.modality.as_str().to_string())),
                    ),
                    ("prompt", strs(p.iter().map(|(_, _, p)| p.text.clone()))),
                ])?
            }
            "versions" => {
                let v: Vec<_> = s.versions.values().collect();
                RecordBatch::try_from_iter(vec![
                    ("group_slug", strs(v.iter().map(|x| x.group.clone()))),
                    (
                        "version",
                        ints(v.iter().map(|x| i64::from(x.version)).collect()),
                    ),
                    (
                        "training_dataset",
                        strs(v.iter().map(|x| x.training_dataset.clone())),
                    ),
                    (
                        "visibility",
                        strs(v.iter().map(|x| x.visibility.as_str().to_string())),
                    ),
                    (
                        "tags",
                        ints(v.iter().map(|x| x.tags.len() as i64).collect()),
                    ),
                    (
                        "published_at",
                        strs(v.iter().map(|x| x.published_at.clone())),
                    ),
                ])?
            }
            "applications" => {
                let a: Vec<_> = s.applications.values().map(|v| &v.doc).collect();
                let latest = |slug: &str| s.groups.get(slug).map_or(0, |g| g.doc.latest_version);
                let training = |ds: &str, slug: &str| {
                    s.groups
                        .get(slug)
                        .is_some_and(|g| g.doc.training_dataset == ds)
                };
                RecordBatch::try_from_iter(vec![
                    ("dataset", strs(a.iter().map(|x| x.dataset.clone()))),
                    ("group_slug", strs(a.iter().map(|x| x.group.clone()))),
                    (
                        "is_training_dataset",
                        Arc::new(BooleanArray::from(
                            a.iter()
                                .map(|x| training(&x.dataset, &x.group))
                                .collect::<Vec<_>>(),
                        )) as ArrayRef,
                    ),
                    (
                        "applied_version",
                        ints(a.iter().map(|x| i64::from(x.version)).collect()),
                    ),
                    (
                        "update_available",
                        Arc::new(BooleanArray::from(
                            a.iter()
                                .map(|x| latest(&x.group) > x.version)
                                .collect::<Vec<_>>(),
                        )) as ArrayRef,
                    ),
                    (
                        "status",
                        strs(a.iter().map(|x| x.status.as_str().to_string())),
                    ),
                    (
                        "error",
                        opt_strs(a.iter().map(|x| x.error.clone()).collect()),
                    ),
                    (
                        "scored_version",
                        Arc::new(Int64Array::from(
                            a.iter()
                                .map(|x| x.run.as_ref().map(|r| i64::from(r.version)))
                                .collect::<Vec<_>>(),
                        )) as ArrayRef,
                    ),
                    (
                        "visual_model",
                        opt_strs(
                            a.iter()
                                .map(|x| {
                                    x.run
                                        .as_ref()
                                        .and_then(|r| r.models.get(&Modality::Visual).cloned())
                                })
                                .collect(),
                        ),
                    ),
                    (
                        "transcript_model",
                        opt_strs(
                            a.iter()
                                .map(|x| {
                                    x.run
                                        .as_ref()
                                        .and_then(|r| r.models.get(&Modality::Transcript).cloned())
                                })
                                .collect(),
                        ),
                    ),
                    ("updated_at", strs(a.iter().map(|x| x.updated_at.clone()))),
                ])?
            }
            _ => return Ok(None),
        };
        Ok(Some(batch))
    }
}

fn strs(v: impl Iterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from(v.collect::<Vec<_>>()))
}

fn opt_strs(v: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

fn ints(v: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(v))
}

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        SYSTEM_TABLES.iter().map(|s| s.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        let Some(batch) = self.build(&name.to_ascii_lowercase())? else {
            return Ok(None);
        };
        Ok(Some(Arc::new(MemTable::try_new(
            batch.schema(),
            vec![vec![batch]],
        )?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        SYSTEM_TABLES.contains(&name.to_ascii_lowercase().as_str())
    }
}
