//! Scoring: tags compile into heads ([`head`], with the label [`classifier`]), heads score
//! embeddings in batches ([`kernel`]), [`scan`] reads and scores a dataset's rows through the
//! resident [`cache`] and samples them, and publishing materialises the `dt_` tables
//! ([`materialize`]). [`Resources`] is what all of it keeps resident.

pub mod ann;
pub mod cache;
pub mod classifier;
mod fused;
pub mod head;
pub mod kernel;
pub mod materialize;
pub mod nearest;
mod resources;
pub mod rollup;
pub mod scan;
pub mod schema;

pub use resources::Resources;
