//! The two things dyntag scores: pixels (images, keyframes, shots, videos) and speech
//! (transcript segments).

use serde::{Deserialize, Serialize};

use crate::{CatalogError, Result};

/// A scored modality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// Images and video keyframes (and, by roll-up, shots and videos).
    Visual,
    /// Transcript segments.
    Transcript,
}

impl Modality {
    /// Both modalities, visual first.
    pub const ALL: [Modality; 2] = [Modality::Visual, Modality::Transcript];

    /// The lower-case name used in SQL, JSON and field metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visual => "visual",
            Self::Transcript => "transcript",
        }
    }

    /// Parses `visual` or `transcript` (any case).
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "visual" => Ok(Self::Visual),
            "transcript" => Ok(Self::Transcript),
            _ => Err(CatalogError::Invalid(format!(
                "unknown modality '{s}' (use visual or transcript)"
            ))),
        }
    }
}

impl std::fmt::Display for Modality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
