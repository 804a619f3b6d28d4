//! The `dyntag` binary's library: the SQL [`engine::Engine`] every front end runs
//! statements through, and the command line ([`cli`]).
//!
//! ```text
//! src/engine.rs   DataFusion session over the dyntag catalog + functions + tag statements
//! src/ingest/     media files → dataset rows (pixels via the vision tower, ffmpeg for video)
//! src/server/     dyntag serve: Flight SQL + HTTP API over one server state
//! src/cluster/    queries executed on a Ballista cluster: codecs, scheduler, executor
//! src/export/     dyntag export: a dataset's tables as Delta Lake tables
//! src/cli/        dyntag sql | ingest | serve | demo | bench | export | scheduler | executor
//! src/output.rs   answers as table, CSV, JSON
//! ```

pub mod cli;
pub mod cluster;
pub mod engine;
pub mod error;
pub mod export;
pub mod ingest;
pub mod output;
pub mod server;
