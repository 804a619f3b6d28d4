//! One SQL schema per dataset: the `coactive_*` tables and the `dt_<group>_*` tables of
//! every group the dataset applies (or trains and has scored).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::common::{JoinType, Result as DFResult};
use datafusion::datasource::{TableProvider, provider_as_source};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};

use super::file_table::FileTable;
use super::qualified;
use super::score_table;
use dyntag_core::Catalog;
use dyntag_core::Modality;
use dyntag_core::model::applications::ScoreTable;
use dyntag_core::model::dataset::schema::{self, col as c, embedding_field};
use dyntag_core::model::dataset::{DatasetManifest, TableKind};
use dyntag_core::model::snapshot::Snapshot;

/// The table names every dataset has.
pub const BASE_TABLES: [&str; 5] = [
    "coactive_table",
    "coactive_table_adv",
    "coactive_shots",
    "coactive_transcripts",
    "coactive_videos",
];

/// A dataset as a DataFusion schema, over one snapshot.
#[derive(Debug)]
pub struct DatasetSchema {
    catalog: Arc<Catalog>,
    snapshot: Arc<Snapshot>,
    manifest: Arc<DatasetManifest>,
}

impl DatasetSchema {
    /// The schema of `manifest` as seen in `snapshot`.
    pub fn new(
        catalog: Arc<Catalog>,
        snapshot: Arc<Snapshot>,
        manifest: Arc<DatasetManifest>,
    ) -> Self {
        Self {
            catalog,
            snapshot,
            manifest,
        }
    }

    /// The `dt_` table names of the dataset, with their group slug and kind.
    fn score_tables(&self) -> Vec<(String, String, ScoreTable)> {
        let mut out = Vec::new();
        for ((dataset, slug), _) in self.snapshot.applications.iter() {
            if dataset != &self.manifest.name || !self.snapshot.groups.contains_key(slug) {
                continue;
            }
            for kind in ScoreTable::ALL {
                out.push((format!("dt_{slug}_{}", kind.suffix()), slug.clone(), kind));
            }
        }
        out
    }

    fn file_table(&self, kind: TableKind) -> FileTable {
        let modality = match kind {
            TableKind::Images => Some(Modality::Visual),
            TableKind::Transcripts => Some(Modality::Transcript),
            _ => None,
        };
        let embedding = modality.and_then(|m| self.embedding(m));
        let schema = match kind {
            TableKind::VideoMetadata | TableKind::ImageMetadata => {
                super::metadata_schema(kind, self.manifest.metadata_columns.get(&kind))
            }
            _ => schema::table_schema(kind, embedding.clone()),
        };
        let table = FileTable::new(
            schema,
            self.manifest.files(kind).to_vec(),
            self.catalog.store().clone(),
        );
        if embedding.is_some() {
            table.resident(Arc::clone(self.catalog.table_cache()), c::EMBEDDING)
        } else {
            table
        }
    }

    fn embedding(&self, modality: Modality) -> Option<datafusion::arrow::datatypes::Field> {
        self.manifest
            .models
            .get(&modality)
            .map(|m| embedding_field(&m.id, modality.as_str(), m.dimension, m.numeric()))
    }

    fn has_metadata(&self, kind: TableKind) -> bool {
        self.manifest
            .metadata_columns
            .get(&kind)
            .is_some_and(|c| !c.is_empty())
            && !self.manifest.files(kind).is_empty()
    }

    /// `base` LEFT JOIN each metadata table on its key, keeping the base columns and the
    /// metadata columns (not the metadata keys). `drop` names base columns to leave out.
    fn with_metadata(
        &self,
        base: TableKind,
        joins: &[(TableKind, &str)],
        drop: &[&str],
    ) -> DFResult<Arc<dyn TableProvider>> {
        let base_table = Arc::new(self.file_table(base));
        let base_name = base.dir_name();
        let mut columns: Vec<Expr> = base_table
            .schema()
            .fields()
            .iter()
            .filter(|f| !drop.contains(&f.name().as_str()))
            .map(|f| qualified(base_name, f.name()))
            .collect();
        let mut plan = LogicalPlanBuilder::scan(base_name, provider_as_source(base_table), None)?;
        for (kind, key) in joins {
            if !self.has_metadata(*kind) {
                continue;
            }
            let meta = Arc::new(self.file_table(*kind));
            let name = kind.dir_name();
            columns.extend(
                meta.schema()
                    .fields()
                    .iter()
                    .filter(|f| f.name() != key)
                    .map(|f| qualified(name, f.name()).alias(f.name())),
            );
            let right = LogicalPlanBuilder::scan(name, provider_as_source(meta), None)?.build()?;
            plan = plan.join(
                right,
                JoinType::Left,
                (
                    vec![format!("{base_name}.{key}")],
                    vec![format!("{name}.{key}")],
                ),
                None,
            )?;
        }
        let plan = plan.project(columns)?.build()?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }

    fn base_table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        let image_joins = [
            (TableKind::VideoMetadata, c::VIDEO_ID),
            (TableKind::ImageMetadata, c::IMAGE_ID),
        ];
        let table: Arc<dyn TableProvider> = match name {
            "coactive_table" => {
                self.with_metadata(TableKind::Images, &image_joins, &[c::EMBEDDING])?
            }
            "coactive_table_adv" => {
                if self.has_metadata(TableKind::VideoMetadata)
                    || self.has_metadata(TableKind::ImageMetadata)
                {
                    self.with_metadata(TableKind::Images, &image_joins, &[])?
                } else {
                    Arc::new(self.file_table(TableKind::Images))
                }
            }
            "coactive_shots" => Arc::new(self.file_table(TableKind::Shots)),
            "coactive_transcripts" => Arc::new(self.file_table(TableKind::Transcripts)),
            "coactive_videos" => self.with_metadata(
                TableKind::Videos,
                &[(TableKind::VideoMetadata, c::VIDEO_ID)],
                &[],
            )?,
            _ => return Ok(None),
        };
        Ok(Some(table))
    }
}

#[async_trait]
impl SchemaProvider for DatasetSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = BASE_TABLES.iter().map(|s| s.to_string()).collect();
        names.extend(self.score_tables().into_iter().map(|(n, _, _)| n));
        names
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        let name = name.to_ascii_lowercase();
        if let Some(t) = self.base_table(&name)? {
            return Ok(Some(t));
        }
        let Some((_, slug, kind)) = self.score_tables().into_iter().find(|(n, _, _)| *n == name)
        else {
            return Ok(None);
        };
        let group = &self.snapshot.groups[&slug].doc;
        let run = self
            .snapshot
            .application(&self.manifest.name, &slug)
            .and_then(|a| a.run.clone());
        Ok(Some(score_table::provider(
            kind,
            run.as_ref(),
            group,
            self.catalog.store().clone(),
            Arc::clone(self.catalog.table_cache()),
        )?))
    }

    fn table_exist(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        BASE_TABLES.contains(&name.as_str())
            || self.score_tables().iter().any(|(n, _, _)| *n == name)
    }
}
