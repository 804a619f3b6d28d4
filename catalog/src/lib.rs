//! dyntag's catalog: datasets, tag groups, versions and scores on an object store, and
//! their presentation to DataFusion as the `dyntag` catalog.
//!
//! ```text
//! access/       users, roles, and the catalog as one caller may see it
//! audit.rs      the audit trail of tag and access statements (system.audit)
//! store/        the object store and revision logs (create-if-absent commits)
//! dataset/      dataset manifests and table schemas
//! import/       importing embeddings, shots, transcripts and metadata into a dataset
//! jobs.rs       background scoring jobs (an application in status queued)
//! evaluate/     the Tag Evaluator: stratified samples, metrics over thresholds, SUPG targets
//! tags/         tag groups: definitions, versions, naming rules, the service layer
//! search.rs     semantic search and uncertain assets (what to label next)
//! suggest.rs    prompt suggestions (an LLM, or offline templates and transcript sentences)
//! scoring/      compiling tags into heads, the scoring kernel, materialising dt_ tables
//! provider/     DataFusion catalog, schema and table providers
//! statements/   the tag statements (parsed with sqlparser before DataFusion sees them)
//! ```

pub mod access;
pub mod applications;
pub mod audit;
pub mod cache;
mod catalog;
pub mod dataset;
mod error;
pub mod evaluate;
pub mod fault;
pub mod import;
pub mod jobs;
mod modality;
pub mod provider;
pub mod random;
pub mod scoring;
pub mod search;
pub mod snapshot;
pub mod statements;
pub mod store;
pub mod suggest;
pub mod tags;

pub use catalog::{
    Catalog, CatalogConfig, default_cache_bytes, default_models_dir, sample_data_dir,
};
pub use error::{CatalogError, Result};
pub use modality::Modality;
