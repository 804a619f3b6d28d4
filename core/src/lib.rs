//! dyntag's domain: datasets, tag groups, versions, scores, users and jobs on an object
//! store, in four layers, each a folder:
//!
//! ```text
//! store/    the object store, revision logs and the journal, Parquet files, input files,
//!           the random source and fault points                     (depends on nothing here)
//! model/    datasets, tag groups and versions, applications, users and grants, the audit
//!           trail, and the snapshot that reads them                (depends on store)
//! scoring/  tags compiled into heads, the kernel, the classifier, the resident table cache,
//!           the scan-and-sample of scored rows, materialised dt_ tables
//!                                                                  (depends on model, store)
//! service/  the Catalog handle and one service per resource: tags, access, evaluation,
//!           jobs, import, search, suggestions and the LLM client  (depends on all below)
//! ```
//!
//! **The layer rule:** a module imports only from its own layer or from the layers listed
//! before it (and from `error`, which every layer shares). `tests/layers.rs` reads every
//! `crate::` path in the sources and fails on one that runs back up.
//!
//! The SQL dialect (tag statements) and the DataFusion catalog built on this crate live in
//! `dyntag-catalog`; the SQL functions in `dyntag-udfs`.

mod error;
pub mod model;
pub mod scoring;
pub mod service;
pub mod store;

pub use error::{CatalogError, Result};
pub use model::Modality;
pub use service::{
    Catalog, CatalogConfig, DEFAULT_KEEP_REPLACED_SECS, default_cache_bytes, default_models_dir,
    sample_data_dir,
};
