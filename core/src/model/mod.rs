//! What the catalog is made of, as documents on the store: datasets and their manifests,
//! tag groups and their versions, applications of a group to a dataset, users and grants,
//! the audit trail, and the [`snapshot`] that reads them all into one consistent picture.

pub mod access;
pub mod applications;
pub mod audit;
pub mod dataset;
mod modality;
pub mod snapshot;
pub mod tags;

pub use modality::Modality;
