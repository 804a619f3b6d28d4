//! Which version of a group a dataset applies, its scoring status, and the score files
//! readers see.
//!
//! ```text
//! applications/<group>/<dataset>/_log/0000000004.json   one revision per status change
//! scores/<dataset>/<group>/v<version>-<run>/<table>/<n>.parquet
//! ```
//!
//! A scoring run writes all its files first and then commits a revision whose `run` points
//! at them, so readers see the previous run until the new one is complete.

use std::collections::BTreeMap;

use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::model::dataset::DataFile;
use crate::store::RevisionLog;

/// Per-dataset scoring status of a group (the product's statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoringStatus {
    Queued,
    Unscored,
    Scored,
    Error,
}

impl ScoringStatus {
    /// The snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Unscored => "unscored",
            Self::Scored => "scored",
            Self::Error => "error",
        }
    }
}

/// The four score tables of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreTable {
    Visual,
    Transcript,
    Shot,
    Video,
}

impl ScoreTable {
    /// All four, in table order.
    pub const ALL: [ScoreTable; 4] = [Self::Visual, Self::Transcript, Self::Shot, Self::Video];

    /// `visual`, `transcript`, `shot`, `video`: the suffix of `dt_<group>_<suffix>`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Visual => "visual",
            Self::Transcript => "transcript",
            Self::Shot => "shot",
            Self::Video => "video",
        }
    }
}

/// A complete set of score files for one version of a group on one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRun {
    pub version: u32,
    /// Unique id of the run (names its folder).
    pub id: String,
    /// The model of each scored modality (every score row is pinned to it).
    pub models: BTreeMap<crate::Modality, String>,
    pub tables: BTreeMap<ScoreTable, Vec<DataFile>>,
    pub scored_at: String,
}

/// A group applied to a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub dataset: String,
    /// Group slug.
    pub group: String,
    /// The version the dataset asked for (being scored while `status` is `queued`).
    pub version: u32,
    pub status: ScoringStatus,
    #[serde(default)]
    pub error: Option<String>,
    /// The complete run readers see (`None` until the first run completes).
    #[serde(default)]
    pub run: Option<ScoreRun>,
    /// Earlier complete runs, newest first (each still readable by version).
    #[serde(default)]
    pub history: Vec<ScoreRun>,
    /// The scoring job while `status` is `queued`.
    #[serde(default)]
    pub job: Option<Job>,
    /// Set when the dataset stopped applying the group (its log keeps the history).
    #[serde(default)]
    pub removed: bool,
    pub updated_at: String,
}

impl Application {
    /// A new application of `group` (slug) to `dataset`, not scored yet.
    pub fn new(group: &str, dataset: &str) -> Self {
        Self {
            dataset: dataset.to_string(),
            group: group.to_string(),
            version: 0,
            status: ScoringStatus::Unscored,
            error: None,
            run: None,
            history: Vec::new(),
            job: None,
            removed: false,
            updated_at: crate::model::dataset::now(),
        }
    }

    /// Asks for `version` to be scored: status `queued` with a new job.
    pub fn enqueue(&mut self, version: u32) {
        self.version = version;
        self.status = ScoringStatus::Queued;
        self.error = None;
        self.removed = false;
        self.job = Some(Job {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            version,
            enqueued_at: crate::model::dataset::now(),
            attempt: 0,
            owner: None,
            started_at: None,
        });
    }

    /// The complete run of `version`, current or earlier.
    pub fn run_of(&self, version: u32) -> Option<&ScoreRun> {
        self.run
            .iter()
            .chain(self.history.iter())
            .find(|r| r.version == version)
    }
}

/// A scoring job: the version to score, and who runs it (a worker that claimed it and then
/// died leaves it to be claimed again; see [`crate::service::jobs`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub version: u32,
    pub enqueued_at: String,
    /// How many times a worker claimed it.
    pub attempt: u32,
    /// `host:pid:worker` of the worker running it.
    pub owner: Option<String>,
    pub started_at: Option<String>,
}

/// The revision log of the application of `group` to `dataset`.
pub fn application_log(group: &str, dataset: &str) -> RevisionLog {
    RevisionLog::new(
        Path::from("applications").join(group).join(dataset),
        format!("application of tag group '{group}' to dataset '{dataset}'"),
    )
}

/// The folder of a new scoring run.
pub fn run_dir(dataset: &str, group: &str, version: u32, run: &str) -> Path {
    Path::from("scores")
        .join(dataset)
        .join(group)
        .join(format!("v{version}-{run}"))
}
