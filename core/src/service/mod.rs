//! What users do, one service per resource, over the [`Catalog`] handle: tag groups and
//! their lifecycle ([`tags`]), users and grants ([`access`]), the Tag Evaluator
//! ([`evaluate`]), background scoring jobs ([`jobs`]), imports ([`import`]), semantic search
//! and uncertain assets ([`search`]), and prompt suggestions with the LLM client
//! ([`suggest`]).

pub mod access;
mod catalog;
pub mod evaluate;
pub mod import;
pub mod index;
pub mod jobs;
pub mod search;
pub mod suggest;
pub mod tags;

use std::sync::Arc;

use crate::Result;
use crate::model::snapshot::Snapshot;

/// How a service reads the catalog: right after its caller (a statement) refreshed it, from
/// that snapshot; otherwise it catches up with the store first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Freshness {
    #[default]
    CatchUp,
    Refreshed,
}

impl Freshness {
    /// The snapshot to work on.
    pub(crate) async fn snapshot(self, catalog: &Catalog) -> Result<Arc<Snapshot>> {
        match self {
            Self::Refreshed => Ok(catalog.snapshot()),
            Self::CatchUp => catalog.refresh().await,
        }
    }
}

pub use catalog::{
    Catalog, CatalogConfig, DEFAULT_KEEP_REPLACED_SECS, default_cache_bytes, default_models_dir,
    sample_data_dir,
};
