//! DataFusion integration: the `dyntag` catalog, one schema per dataset, and the `system`
//! schema of catalog tables. Every provider works from one snapshot; none touches the
//! store while planning.

pub mod codec;
mod dataset_schema;
pub mod decode_exec;
pub mod file_table;
pub mod resident_scan;
pub mod score_table;
mod system;

use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, SchemaProvider};

pub use dataset_schema::{BASE_TABLES, DatasetSchema};
pub use system::{SYSTEM_TABLES, SystemSchema, system_table};

use dyntag_core::Catalog;
use dyntag_core::model::access::{SessionUser, View};

/// The name of the DataFusion catalog.
pub const CATALOG_NAME: &str = "dyntag";
/// The name of the schema of catalog tables.
pub use dyntag_core::model::dataset::SYSTEM_SCHEMA;
/// The schema of a metadata table.
pub use dyntag_core::model::dataset::schema::metadata_schema;

/// `relation.column`, taken literally (no identifier normalisation: metadata columns keep
/// their case, e.g. `SeriesName`).
pub(crate) fn qualified(relation: &str, column: &str) -> datafusion::logical_expr::Expr {
    datafusion::logical_expr::Expr::Column(datafusion::common::Column::new(Some(relation), column))
}

/// The `dyntag` catalog as the session's user sees it: the datasets they hold a role on,
/// as schemas, plus `system`.
#[derive(Debug)]
pub struct DyntagCatalogProvider {
    catalog: Arc<Catalog>,
    user: SessionUser,
}

impl DyntagCatalogProvider {
    /// The catalog provider over `catalog`'s current snapshot, for `user`.
    pub fn new(catalog: Arc<Catalog>, user: SessionUser) -> Self {
        Self { catalog, user }
    }
}

impl CatalogProvider for DyntagCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        let snapshot = self.catalog.snapshot();
        let principal = self.user.get();
        let mut names: Vec<String> = View::new(&snapshot, &principal)
            .datasets()
            .into_iter()
            .cloned()
            .collect();
        names.push(SYSTEM_SCHEMA.to_string());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let snapshot = self.catalog.snapshot();
        let principal = self.user.get();
        if name == SYSTEM_SCHEMA {
            return Some(Arc::new(SystemSchema::new(
                snapshot,
                principal,
                self.catalog.store().clone(),
            )));
        }
        if !View::new(&snapshot, &principal).sees_dataset(name) {
            return None;
        }
        let manifest = Arc::clone(&snapshot.datasets.get(name)?.doc);
        Some(Arc::new(DatasetSchema::new(
            Arc::clone(&self.catalog),
            snapshot,
            manifest,
        )))
    }
}
