use std::path::PathBuf;

/// Errors of media decoding; each names the file and what was wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// `ffmpeg` or `ffprobe` is not installed.
    #[error("{program} is not installed or not on PATH (install it with: apt-get install ffmpeg)")]
    MissingProgram { program: &'static str },

    /// The file could not be read as media.
    #[error("{path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
}

impl MediaError {
    pub(crate) fn unreadable(path: &std::path::Path, reason: impl Into<String>) -> Self {
        Self::Unreadable {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}
