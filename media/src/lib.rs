//! Media decoding for ingestion: probing and decoding videos with the `ffprobe`/`ffmpeg`
//! programs (run as subprocesses), shot detection, keyframe planning and extraction, and
//! JPEG thumbnails.
//!
//! ```no_run
//! # fn main() -> Result<(), dyntag_media::MediaError> {
//! use dyntag_media::{ShotDetector, probe, keyframes};
//! let path = std::path::Path::new("clip.mp4");
//! let info = probe(path)?;
//! let shots = ShotDetector::default().detect(path, &info)?;
//! let plan = keyframes::plan(&shots, 5_000);
//! let frames = keyframes::extract(path, &info, &plan, 384)?;
//! # Ok(()) }
//! ```

mod error;
mod ffmpeg;
pub mod keyframes;
mod probe;
mod shots;
pub mod thumbnail;

pub use error::MediaError;
pub use ffmpeg::require_ffmpeg;
pub use probe::{VideoInfo, probe};
pub use shots::{Shot, ShotDetector};

/// Result type of this crate.
pub type Result<T, E = MediaError> = std::result::Result<T, E>;
