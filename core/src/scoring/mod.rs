//! Scoring: tags compile into heads ([`head`]), heads score embeddings in batches
//! ([`kernel`]), and publishing materialises the `dt_` tables ([`materialize`]).

pub mod cache;
pub mod classifier;
pub mod head;
pub mod kernel;
pub mod materialize;
mod resources;
pub mod scan;
pub mod schema;

pub use resources::Resources;
