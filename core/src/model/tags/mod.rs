//! Tag groups: their definitions (a draft that changes), their published versions
//! (immutable), and the rules that govern both.
//!
//! ```text
//! groups/<slug>/_log/0000000007.json     the definition, one revision per change
//! groups/<slug>/versions/0000000002.json version 2 as published (never rewritten)
//! ```

pub mod names;

use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::model::Modality;
use crate::store::RevisionLog;
use crate::{CatalogError, Result};

/// Default threshold of a new tag, as in the product.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// Status of a tag (the product's tag statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagStatus {
    Creating,
    NeedsReview,
    Draft,
    Updating,
    Published,
    UnpublishedChanges,
    Error,
}

/// Status of a group (the product's group statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupStatus {
    Creating,
    Draft,
    Updating,
    Published,
    UnpublishedChanges,
    Error,
}

macro_rules! status_str {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            /// The snake-case name shown in tables and the API.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }
    };
}
status_str!(TagStatus { Creating => "creating", NeedsReview => "needs_review", Draft => "draft",
    Updating => "updating", Published => "published", UnpublishedChanges => "unpublished_changes",
    Error => "error" });
status_str!(GroupStatus { Creating => "creating", Draft => "draft", Updating => "updating",
    Published => "published", UnpublishedChanges => "unpublished_changes", Error => "error" });

/// Who may apply a published group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Only the training dataset.
    #[default]
    Secret,
    /// Any dataset of the organisation.
    Shareable,
}

impl Visibility {
    /// `secret` or `shareable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Shareable => "shareable",
        }
    }
}

/// Whether a prompt pulls toward the tag or away from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    Positive,
    Negative,
}

impl Polarity {
    /// `positive` or `negative`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Positive => "positive",
            Self::Negative => "negative",
        }
    }
}

/// Which classifiers a prompt feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptModality {
    Visual,
    Transcript,
    Both,
}

impl PromptModality {
    /// Whether the prompt applies to `m`.
    pub fn covers(self, m: Modality) -> bool {
        matches!(
            (self, m),
            (Self::Both, _)
                | (Self::Visual, Modality::Visual)
                | (Self::Transcript, Modality::Transcript)
        )
    }

    /// `visual`, `transcript` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Visual => "visual",
            Self::Transcript => "transcript",
            Self::Both => "both",
        }
    }
}

/// A text prompt of a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub text: String,
    pub polarity: Polarity,
    pub modality: PromptModality,
}

/// A visual label: an image or keyframe that is (or is not) an example of the tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// `coactive_image_id` of an image or keyframe of the training dataset.
    pub asset_id: String,
    pub positive: bool,
    /// The item's embedding when it was labelled (what the classifier trains on, so a
    /// version applied to other datasets keeps its classifier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<LabelEmbedding>,
}

/// An embedding kept with a label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelEmbedding {
    /// The model that made it.
    pub model: String,
    /// Little-endian f32, base64.
    pub values: String,
}

/// A tag of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    /// Letters, digits and spaces.
    pub name: String,
    /// Text prompts; the tag name is the first positive prompt when created.
    pub prompts: Vec<Prompt>,
    /// Visual labels.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Items scoring at or above it are tagged (`threshold_decision`).
    pub threshold: f64,
    pub status: TagStatus,
    /// The target the threshold was chosen to meet, when it was (cleared when the
    /// threshold is set by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guarantee: Option<Guarantee>,
}

/// What the user asks of a tag: a precision or recall with a confidence (see
/// `crate::service::evaluate::supg`, which finds the threshold that guarantees it).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "metric")]
pub enum Target {
    Precision { at_least: f64, delta: f64 },
    Recall { at_least: f64, delta: f64 },
}

impl Target {
    pub fn delta(&self) -> f64 {
        match self {
            Self::Precision { delta, .. } | Self::Recall { delta, .. } => *delta,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Precision { at_least, delta } => {
                format!("precision >= {at_least} with confidence {}", 1.0 - delta)
            }
            Self::Recall { at_least, delta } => {
                format!("recall >= {at_least} with confidence {}", 1.0 - delta)
            }
        }
    }
}

/// A threshold chosen to meet a precision or recall target with a confidence, on an
/// evaluation of a published version (see `crate::service::evaluate::supg`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guarantee {
    pub target: Target,
    pub threshold: f64,
    /// The metric's estimate at the threshold, and the lower bound that met the target.
    pub estimate: f64,
    pub lower_bound: f64,
    /// The version whose scores were evaluated.
    pub version: u32,
    /// Labelled items the choice rests on.
    pub labelled: usize,
    pub evaluated_at: String,
}

impl Tag {
    /// A new tag whose name is its first positive prompt for both modalities.
    pub fn new(name: String) -> Self {
        Self {
            prompts: vec![Prompt {
                text: name.clone(),
                polarity: Polarity::Positive,
                modality: PromptModality::Both,
            }],
            name,
            labels: Vec::new(),
            threshold: DEFAULT_THRESHOLD,
            status: TagStatus::NeedsReview,
            guarantee: None,
        }
    }

    /// The prompts of one polarity that apply to `modality`.
    pub fn prompts_for(&self, modality: Modality, polarity: Polarity) -> Vec<&str> {
        self.prompts
            .iter()
            .filter(|p| p.polarity == polarity && p.modality.covers(modality))
            .map(|p| p.text.as_str())
            .collect()
    }
}

/// How keyframe scores roll up into a shot score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum ShotAggregation {
    /// The best keyframe.
    #[default]
    Max,
    /// The mean of the keyframes.
    Mean,
    /// The mean of the `k` best keyframes.
    TopKMean { k: u32 },
}

/// How shot scores roll up into a video score.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum VideoAggregation {
    /// The best shot.
    #[default]
    Max,
    /// The share of the video's duration in shots scoring at least `min_score`.
    Coverage { min_score: f64 },
}

/// Options of a group that shape its scores (frozen with each version).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupOptions {
    #[serde(default)]
    pub shot_aggregation: ShotAggregation,
    #[serde(default)]
    pub video_aggregation: VideoAggregation,
}

impl GroupOptions {
    /// Sets one option from its SQL/JSON spelling:
    /// `shot_aggregation = max | mean | top<k>_mean`,
    /// `video_aggregation = max | coverage | coverage(<min score>)`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let v = value.trim().to_ascii_lowercase();
        match key.to_ascii_lowercase().as_str() {
            "shot_aggregation" => {
                self.shot_aggregation = match v.as_str() {
                    "max" => ShotAggregation::Max,
                    "mean" => ShotAggregation::Mean,
                    other => match other
                        .strip_prefix("top")
                        .and_then(|r| r.strip_suffix("_mean"))
                        .and_then(|k| k.parse::<u32>().ok())
                    {
                        Some(k) if k >= 1 => ShotAggregation::TopKMean { k },
                        _ => {
                            return Err(CatalogError::Invalid(format!(
                                "invalid shot_aggregation '{value}' (use max, mean or top<k>_mean, e.g. top3_mean)"
                            )));
                        }
                    },
                }
            }
            "video_aggregation" => {
                self.video_aggregation = if v == "max" {
                    VideoAggregation::Max
                } else if v == "coverage" {
                    VideoAggregation::Coverage { min_score: 0.5 }
                } else if let Some(s) = v
                    .strip_prefix("coverage(")
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .filter(|s| (0.0..=1.0).contains(s))
                {
                    VideoAggregation::Coverage { min_score: s }
                } else {
                    return Err(CatalogError::Invalid(format!(
                        "invalid video_aggregation '{value}' (use max, coverage or coverage(<min score 0..1>))"
                    )));
                }
            }
            other => {
                return Err(CatalogError::Invalid(format!(
                    "unknown group option '{other}' (options: shot_aggregation, video_aggregation)"
                )));
            }
        }
        Ok(())
    }

    /// `shot_aggregation`'s SQL spelling.
    pub fn shot_str(&self) -> String {
        match self.shot_aggregation {
            ShotAggregation::Max => "max".into(),
            ShotAggregation::Mean => "mean".into(),
            ShotAggregation::TopKMean { k } => format!("top{k}_mean"),
        }
    }

    /// `video_aggregation`'s SQL spelling.
    pub fn video_str(&self) -> String {
        match self.video_aggregation {
            VideoAggregation::Max => "max".into(),
            VideoAggregation::Coverage { min_score } => format!("coverage({min_score})"),
        }
    }
}

/// A group's current definition (the draft being edited, plus its publishing state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagGroup {
    /// The name as given ("Celebrities").
    pub name: String,
    /// The table-name form ("celebrities").
    pub slug: String,
    /// The dataset whose editors own the definition.
    pub training_dataset: String,
    pub status: GroupStatus,
    #[serde(default)]
    pub visibility: Visibility,
    #[serde(default)]
    pub options: GroupOptions,
    pub tags: Vec<Tag>,
    /// The latest published version (0: never published).
    #[serde(default)]
    pub latest_version: u32,
    pub created_at: String,
    pub updated_at: String,
    /// Set when the group is dropped (its log keeps the history).
    #[serde(default)]
    pub deleted: bool,
}

impl TagGroup {
    /// The tags as a version would freeze them (what determines their scores).
    pub fn version_tags(&self) -> Vec<VersionTag> {
        self.tags
            .iter()
            .map(|t| VersionTag {
                name: t.name.clone(),
                prompts: t.prompts.clone(),
                labels: t.labels.clone(),
            })
            .collect()
    }

    /// The tag with this name (case-insensitive).
    pub fn tag(&self, name: &str) -> Option<&Tag> {
        self.tags.iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// The tag with this name, mutably, or a not-found error naming the group.
    pub fn tag_mut(&mut self, name: &str) -> Result<&mut Tag> {
        let group = self.name.clone();
        self.tags
            .iter_mut()
            .find(|t| t.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| CatalogError::NotFound {
                kind: "tag",
                name: name.to_string(),
                hint: format!(" in tag group '{group}'"),
            })
    }
}

/// A tag as frozen in a version: what determines its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionTag {
    pub name: String,
    pub prompts: Vec<Prompt>,
    #[serde(default)]
    pub labels: Vec<Label>,
}

/// A published, immutable version of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupVersion {
    pub group: String,
    pub name: String,
    pub version: u32,
    pub training_dataset: String,
    pub visibility: Visibility,
    pub options: GroupOptions,
    pub tags: Vec<VersionTag>,
    pub published_at: String,
}

impl GroupVersion {
    /// Freezes the definition of `group` as `version`.
    pub fn freeze(group: &TagGroup, version: u32, visibility: Visibility) -> Self {
        Self {
            group: group.slug.clone(),
            name: group.name.clone(),
            version,
            training_dataset: group.training_dataset.clone(),
            visibility,
            options: group.options,
            tags: group.version_tags(),
            published_at: crate::model::dataset::now(),
        }
    }
}

/// `groups/<slug>`.
pub fn group_dir(slug: &str) -> Path {
    Path::from("groups").join(slug)
}

/// The revision log of a group's definition.
pub fn group_log(slug: &str) -> RevisionLog {
    RevisionLog::new(group_dir(slug), format!("tag group '{slug}'"))
}

/// Where version `v` of a group is stored.
pub fn version_path(slug: &str, v: u32) -> Path {
    group_dir(slug)
        .join("versions")
        .join(format!("{v:010}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_their_sql_spelling() {
        let mut o = GroupOptions::default();
        o.set("shot_aggregation", "top3_mean").unwrap();
        o.set("video_aggregation", "coverage(0.7)").unwrap();
        assert_eq!(o.shot_aggregation, ShotAggregation::TopKMean { k: 3 });
        assert_eq!(
            o.video_aggregation,
            VideoAggregation::Coverage { min_score: 0.7 }
        );
        assert_eq!(
            (o.shot_str(), o.video_str()),
            ("top3_mean".into(), "coverage(0.7)".into())
        );
        assert!(
            o.set("shot_aggregation", "median")
                .unwrap_err()
                .to_string()
                .contains("top<k>_mean")
        );
        assert!(
            o.set("colour", "red")
                .unwrap_err()
                .to_string()
                .contains("unknown group option")
        );
    }

    #[test]
    fn a_new_tag_prompts_with_its_name_for_both_modalities() {
        let t = Tag::new("goal keeper".into());
        assert_eq!(
            t.prompts_for(Modality::Visual, Polarity::Positive),
            vec!["goal keeper"]
        );
        assert_eq!(
            t.prompts_for(Modality::Transcript, Polarity::Positive),
            vec!["goal keeper"]
        );
        assert!(
            t.prompts_for(Modality::Visual, Polarity::Negative)
                .is_empty()
        );
        assert_eq!(t.threshold, DEFAULT_THRESHOLD);
    }
}
