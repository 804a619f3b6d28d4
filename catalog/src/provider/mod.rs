//! DataFusion integration: the `dyntag` catalog, one schema per dataset, and the `system`
//! schema of catalog tables. Every provider works from one snapshot; none touches the
//! store while planning.

mod dataset_schema;
pub mod file_table;
mod score_table;
mod system;

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, SchemaProvider};

pub use dataset_schema::{BASE_TABLES, DatasetSchema};
pub use system::SystemSchema;

use crate::Catalog;
use crate::dataset::schema::table_schema;
use crate::dataset::{ColumnSpec, TableKind};

/// The name of the DataFusion catalog.
pub const CATALOG_NAME: &str = "dyntag";
/// The name of the schema of catalog tables.
pub const SYSTEM_SCHEMA: &str = "system";

/// `relation.column`, taken literally (no identifier normalisation: metadata columns keep
/// their case, e.g. `SeriesName`).
pub(crate) fn qualified(relation: &str, column: &str) -> datafusion::logical_expr::Expr {
    datafusion::logical_expr::Expr::Column(datafusion::common::Column::new(Some(relation), column))
}

/// The schema of a metadata table: its key, then the user's columns.
pub fn metadata_schema(kind: TableKind, columns: Option<&Vec<ColumnSpec>>) -> SchemaRef {
    let key = table_schema(kind, None);
    let mut fields: Vec<Field> = key.fields().iter().map(|f| f.as_ref().clone()).collect();
    for c in columns.into_iter().flatten() {
        fields.push(Field::new(&c.name, c.arrow_type(), true));
    }
    Arc::new(Schema::new(fields))
}

/// The `dyntag` catalog: datasets as schemas, plus `system`.
#[derive(Debug)]
pub struct DyntagCatalogProvider {
    catalog: Arc<Catalog>,
}

impl DyntagCatalogProvider {
    /// The catalog provider over `catalog`'s current snapshot.
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self { catalog }
    }
}

impl CatalogProvider for DyntagCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.catalog.snapshot().datasets.keys().cloned().collect();
        names.push(SYSTEM_SCHEMA.to_string());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let snapshot = self.catalog.snapshot();
        if name == SYSTEM_SCHEMA {
            return Some(Arc::new(SystemSchema::new(snapshot)));
        }
        let manifest = Arc::clone(&snapshot.datasets.get(name)?.doc);
        Some(Arc::new(DatasetSchema::new(
            Arc::clone(&self.catalog),
            snapshot,
            manifest,
        )))
    }
}
