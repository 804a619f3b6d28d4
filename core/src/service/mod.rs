//! What users do, one service per resource, over the [`Catalog`] handle: tag groups and
//! their lifecycle ([`tags`]), users and grants ([`access`]), the Tag Evaluator
//! ([`evaluate`]), background scoring jobs ([`jobs`]), imports ([`import`]), semantic search
//! and uncertain assets ([`search`]), and prompt suggestions with the LLM client
//! ([`suggest`]).

pub mod access;
mod catalog;
pub mod evaluate;
pub mod import;
pub mod jobs;
pub mod search;
pub mod suggest;
pub mod tags;

pub use catalog::{
    Catalog, CatalogConfig, default_cache_bytes, default_models_dir, sample_data_dir,
};
