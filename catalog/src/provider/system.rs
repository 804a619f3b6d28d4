//! The `system` schema: datasets, tag groups, tags, prompts, labels, versions,
//! applications (with their scoring jobs), users and roles as tables, built from the
//! snapshot as one caller sees it (see [`View`]): what they may not see is not a row.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::catalog::{MemTable, SchemaProvider};
use datafusion::common::Result as DFResult;
use datafusion::datasource::TableProvider;

use dyntag_core::Modality;
use dyntag_core::model::access::{DatasetRole, Principal, View};
use dyntag_core::model::audit::AuditTable;
use dyntag_core::model::dataset::TableKind;
use dyntag_core::model::snapshot::Snapshot;
use dyntag_core::model::tags::Polarity;
use dyntag_core::store::Store;

/// The table names of the `system` schema.
pub const SYSTEM_TABLES: [&str; 9] = [
    "datasets",
    "tag_groups",
    "tags",
    "prompts",
    "labels",
    "versions",
    "applications",
    "users",
    "roles",
];

/// The table of the audit trail, seen by organisation admins only.
pub const AUDIT_TABLE: &str = "audit";

/// The `system` schema over one snapshot, for one caller.
#[derive(Debug)]
pub struct SystemSchema {
    snapshot: Arc<Snapshot>,
    principal: Principal,
    store: Store,
}

impl SystemSchema {
    /// The system tables of `snapshot` as `principal` sees them (`store` holds the audit
    /// trail).
    pub fn new(snapshot: Arc<Snapshot>, principal: Principal, store: Store) -> Self {
        Self {
            snapshot,
            principal,
            store,
        }
    }

    fn sees_audit(&self) -> bool {
        View::new(&self.snapshot, &self.principal).org_admin()
    }
}

/// Columns of a table under construction.
#[derive(Default)]
struct Cols(Vec<(&'static str, ArrayRef)>);

impl Cols {
    fn s(mut self, name: &'static str, v: impl IntoIterator<Item = String>) -> Self {
        let v: Vec<String> = v.into_iter().collect();
        self.0.push((name, Arc::new(StringArray::from(v))));
        self
    }
    fn os(mut self, name: &'static str, v: impl IntoIterator<Item = Option<String>>) -> Self {
        let v: Vec<Option<String>> = v.into_iter().collect();
        self.0.push((name, Arc::new(StringArray::from(v))));
        self
    }
    fn i(mut self, name: &'static str, v: impl IntoIterator<Item = i64>) -> Self {
        let v: Vec<i64> = v.into_iter().collect();
        self.0.push((name, Arc::new(Int64Array::from(v))));
        self
    }
    fn oi(mut self, name: &'static str, v: impl IntoIterator<Item = Option<i64>>) -> Self {
        let v: Vec<Option<i64>> = v.into_iter().collect();
        self.0.push((name, Arc::new(Int64Array::from(v))));
        self
    }
    fn f(mut self, name: &'static str, v: impl IntoIterator<Item = f64>) -> Self {
        let v: Vec<f64> = v.into_iter().collect();
        self.0.push((name, Arc::new(Float64Array::from(v))));
        self
    }
    fn b(mut self, name: &'static str, v: impl IntoIterator<Item = bool>) -> Self {
        let v: Vec<bool> = v.into_iter().collect();
        self.0.push((name, Arc::new(BooleanArray::from(v))));
        self
    }
    fn build(self) -> DFResult<RecordBatch> {
        Ok(RecordBatch::try_from_iter(self.0)?)
    }
}

/// Builds system table `name` (lower case) for `view`; `None` if there is no such table.
pub fn system_table(view: &View<'_>, name: &str) -> DFResult<Option<RecordBatch>> {
    let s = view.snapshot;
    let batch = match name {
        "datasets" => {
            let d: Vec<_> = view
                .datasets()
                .into_iter()
                .filter_map(|n| s.datasets.get(n))
                .collect();
            let model = |m: Modality| {
                d.iter()
                    .map(move |x| x.doc.models.get(&m).map(|e| e.id.clone()))
            };
            let rows = |k: TableKind| d.iter().map(move |x| x.doc.rows(k) as i64);
            Cols::default()
                .s("dataset", d.iter().map(|x| x.doc.name.clone()))
                .i("images_and_keyframes", rows(TableKind::Images))
                .i("videos", rows(TableKind::Videos))
                .i("shots", rows(TableKind::Shots))
                .i("transcript_segments", rows(TableKind::Transcripts))
                .os("visual_model", model(Modality::Visual))
                .os("transcript_model", model(Modality::Transcript))
                .os(
                    "your_role",
                    d.iter()
                        .map(|x| view.role(&x.doc.name).map(|r| r.as_str().to_string())),
                )
                .i("revision", d.iter().map(|x| x.revision as i64))
                .s("created_at", d.iter().map(|x| x.doc.created_at.clone()))
                .build()?
        }
        "tag_groups" => {
            let g = view.groups();
            Cols::default()
                .s("group_name", g.iter().map(|v| v.doc.name.clone()))
                .s("group_slug", g.iter().map(|v| v.doc.slug.clone()))
                .s(
                    "training_dataset",
                    g.iter().map(|v| v.doc.training_dataset.clone()),
                )
                .s(
                    "status",
                    g.iter()
                        .map(|v| s.group_status(&v.doc).as_str().to_string()),
                )
                .s(
                    "visibility",
                    g.iter().map(|v| v.doc.visibility.as_str().to_string()),
                )
                .i(
                    "latest_version",
                    g.iter().map(|v| i64::from(v.doc.latest_version)),
                )
                .i("tags", g.iter().map(|v| v.doc.tags.len() as i64))
                .s(
                    "shot_aggregation",
                    g.iter().map(|v| v.doc.options.shot_str()),
                )
                .s(
                    "video_aggregation",
                    g.iter().map(|v| v.doc.options.video_str()),
                )
                .i("revision", g.iter().map(|v| v.revision as i64))
                .s("updated_at", g.iter().map(|v| v.doc.updated_at.clone()))
                .build()?
        }
        "tags" => {
            let t: Vec<_> = view
                .groups()
                .into_iter()
                .flat_map(|g| g.doc.tags.iter().map(move |t| (g, t)))
                .collect();
            let count = |p: Polarity| {
                t.iter()
                    .map(move |(_, t)| t.prompts.iter().filter(|x| x.polarity == p).count() as i64)
            };
            Cols::default()
                .s("group_slug", t.iter().map(|(g, _)| g.doc.slug.clone()))
                .s("tag_name", t.iter().map(|(_, t)| t.name.clone()))
                .s(
                    "status",
                    t.iter().map(|(_, t)| t.status.as_str().to_string()),
                )
                .f("threshold", t.iter().map(|(_, t)| t.threshold))
                .i("positive_prompts", count(Polarity::Positive))
                .i("negative_prompts", count(Polarity::Negative))
                .i("labels", t.iter().map(|(_, t)| t.labels.len() as i64))
                .build()?
        }
        "prompts" => {
            let p: Vec<_> = view
                .groups()
                .into_iter()
                .flat_map(|g| {
                    g.doc
                        .tags
                        .iter()
                        .flat_map(move |t| t.prompts.iter().map(move |p| (g, t, p)))
                })
                .collect();
            Cols::default()
                .s("group_slug", p.iter().map(|(g, _, _)| g.doc.slug.clone()))
                .s("tag_name", p.iter().map(|(_, t, _)| t.name.clone()))
                .s(
                    "polarity",
                    p.iter().map(|(_, _, p)| p.polarity.as_str().to_string()),
                )
                .s(
                    "modality",
                    p.iter().map(|(_, _, p)| p.modality.as_str().to_string()),
                )
                .s("prompt", p.iter().map(|(_, _, p)| p.text.clone()))
                .build()?
        }
        "labels" => {
            let l: Vec<_> = view
                .groups()
                .into_iter()
                .flat_map(|g| {
                    g.doc
                        .tags
                        .iter()
                        .flat_map(move |t| t.labels.iter().map(move |l| (g, t, l)))
                })
                .collect();
            Cols::default()
                .s("group_slug", l.iter().map(|(g, _, _)| g.doc.slug.clone()))
                .s("tag_name", l.iter().map(|(_, t, _)| t.name.clone()))
                .s(
                    "coactive_image_id",
                    l.iter().map(|(_, _, l)| l.asset_id.clone()),
                )
                .s(
                    "label",
                    l.iter().map(|(_, _, l)| {
                        if l.positive { "positive" } else { "negative" }.to_string()
                    }),
                )
                .build()?
        }
        "versions" => {
            let v: Vec<_> = s
                .versions
                .values()
                .filter(|x| view.group(&x.group).is_ok())
                .collect();
            Cols::default()
                .s("group_slug", v.iter().map(|x| x.group.clone()))
                .i("version", v.iter().map(|x| i64::from(x.version)))
                .s(
                    "training_dataset",
                    v.iter().map(|x| x.training_dataset.clone()),
                )
                .s(
                    "visibility",
                    v.iter().map(|x| x.visibility.as_str().to_string()),
                )
                .i("tags", v.iter().map(|x| x.tags.len() as i64))
                .s("published_at", v.iter().map(|x| x.published_at.clone()))
                .build()?
        }
        "applications" => {
            let a: Vec<_> = s
                .applications
                .values()
                .map(|v| &v.doc)
                .filter(|x| view.sees_dataset(&x.dataset))
                .collect();
            let latest = |slug: &str| s.groups.get(slug).map_or(0, |g| g.doc.latest_version);
            let training = |ds: &str, slug: &str| {
                s.groups
                    .get(slug)
                    .is_some_and(|g| g.doc.training_dataset == ds)
            };
            let model = |m: Modality| {
                a.iter()
                    .map(move |x| x.run.as_ref().and_then(|r| r.models.get(&m).cloned()))
            };
            Cols::default()
                .s("dataset", a.iter().map(|x| x.dataset.clone()))
                .s("group_slug", a.iter().map(|x| x.group.clone()))
                .b(
                    "is_training_dataset",
                    a.iter().map(|x| training(&x.dataset, &x.group)),
                )
                .i("applied_version", a.iter().map(|x| i64::from(x.version)))
                .b(
                    "update_available",
                    a.iter().map(|x| latest(&x.group) > x.version),
                )
                .s("status", a.iter().map(|x| x.status.as_str().to_string()))
                .os("error", a.iter().map(|x| x.error.clone()))
                .oi(
                    "scored_version",
                    a.iter()
                        .map(|x| x.run.as_ref().map(|r| i64::from(r.version))),
                )
                .os("visual_model", model(Modality::Visual))
                .os("transcript_model", model(Modality::Transcript))
                .os(
                    "job_id",
                    a.iter().map(|x| x.job.as_ref().map(|j| j.id.clone())),
                )
                .oi(
                    "job_attempt",
                    a.iter()
                        .map(|x| x.job.as_ref().map(|j| i64::from(j.attempt))),
                )
                .os(
                    "job_enqueued_at",
                    a.iter()
                        .map(|x| x.job.as_ref().map(|j| j.enqueued_at.clone())),
                )
                .os(
                    "job_started_at",
                    a.iter()
                        .map(|x| x.job.as_ref().and_then(|j| j.started_at.clone())),
                )
                .s("updated_at", a.iter().map(|x| x.updated_at.clone()))
                .build()?
        }
        "users" => {
            let admin = view.org_admin();
            let u: Vec<_> = s
                .access
                .users
                .values()
                .filter(|u| admin || view.principal.name() == u.name)
                .collect();
            Cols::default()
                .s("user_name", u.iter().map(|u| u.name.clone()))
                .s(
                    "org_role",
                    u.iter().map(|u| u.org_role.as_str().to_string()),
                )
                .b("read_only", u.iter().map(|u| u.read_only))
                .i(
                    "read_only_tokens",
                    u.iter()
                        .map(|u| u.tokens.iter().filter(|t| t.read_only).count() as i64),
                )
                .i(
                    "other_tokens",
                    u.iter()
                        .map(|u| u.tokens.iter().filter(|t| !t.read_only).count() as i64),
                )
                .s("created_at", u.iter().map(|u| u.created_at.clone()))
                .build()?
        }
        "roles" => {
            let me = view.principal.name();
            let r: Vec<_> = s
                .access
                .roles
                .iter()
                .filter(|(d, _)| view.sees_dataset(d))
                .flat_map(|(d, users)| users.iter().map(move |(u, r)| (d, u, r)))
                .filter(|(d, u, _)| view.role(d) == Some(DatasetRole::Admin) || u.as_str() == me)
                .collect();
            Cols::default()
                .s("dataset", r.iter().map(|(d, _, _)| (*d).clone()))
                .s("user_name", r.iter().map(|(_, u, _)| (*u).clone()))
                .s("role", r.iter().map(|(_, _, r)| r.as_str().to_string()))
                .build()?
        }
        _ => return Ok(None),
    };
    Ok(Some(batch))
}

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = SYSTEM_TABLES.iter().map(|s| s.to_string()).collect();
        if self.sees_audit() {
            names.push(AUDIT_TABLE.to_string());
        }
        names
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        if name.eq_ignore_ascii_case(AUDIT_TABLE) {
            return Ok(self
                .sees_audit()
                .then(|| Arc::new(AuditTable::new(self.store.clone())) as Arc<dyn TableProvider>));
        }
        let view = View::new(&self.snapshot, &self.principal);
        let Some(batch) = system_table(&view, &name.to_ascii_lowercase())? else {
            return Ok(None);
        };
        Ok(Some(Arc::new(MemTable::try_new(
            batch.schema(),
            vec![vec![batch]],
        )?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        SYSTEM_TABLES.contains(&name.as_str()) || (name == AUDIT_TABLE && self.sees_audit())
    }
}
