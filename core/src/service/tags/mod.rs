//! The service layer of tag groups: every operation on a group goes through here, whether
//! it comes from a SQL statement or an HTTP request, and every one checks the caller's role
//! first (see [`crate::model::access`]). Each edit is a read-modify-commit of the group's revision
//! log; when another writer commits first, the edit is re-applied on top of theirs (edits
//! of different fields merge), unless the caller pinned the revision it edited, in which
//! case it gets a conflict naming the current revision. Publishing, applying and updating
//! only queue scoring jobs ([`crate::service::jobs`]); they return at once.
//!
//! By operation family: [`edit`] (creating, editing and dropping groups), [`rules`] (how
//! one edit changes a group and its statuses), [`lifecycle`] (publishing, applying,
//! updating, removing) and [`preview`] (previews and prompt suggestions).

mod edit;
mod lifecycle;
mod preview;
mod rules;

use std::sync::Arc;

use crate::model::Modality;
use crate::model::access::{DatasetRole, Principal, View};
use crate::model::snapshot::Snapshot;
use crate::model::tags::{Prompt, TagGroup};
use crate::scoring::scan::PreviewMode;
use crate::service::jobs::JobKey;
use crate::service::{Catalog, Freshness};
use crate::{CatalogError, Result};

/// A change to a group's definition.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupEdit {
    AddTag {
        tag: String,
    },
    DropTag {
        tag: String,
    },
    RenameTag {
        tag: String,
        to: String,
    },
    AddPrompt {
        tag: String,
        prompt: Prompt,
    },
    DropPrompt {
        tag: String,
        prompt: Prompt,
    },
    SetThreshold {
        tag: String,
        threshold: f64,
    },
    SetOption {
        key: String,
        value: String,
    },
    /// Labels images or keyframes as examples (or counter-examples) of a tag.
    AddLabels {
        tag: String,
        asset_ids: Vec<String>,
        positive: bool,
    },
    /// Removes labels.
    DropLabels {
        tag: String,
        asset_ids: Vec<String>,
    },
    /// The tag's preview was opened: `needs_review` → `draft`.
    Reviewed {
        tag: String,
    },
    /// A threshold chosen for a target (by the Evaluator), with its guarantee.
    SetGuarantee {
        tag: String,
        guarantee: crate::model::tags::Guarantee,
    },
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub group: String,
    pub version: u32,
    /// Whether a new version was frozen (false: the latest version is scored again).
    pub new_version: bool,
    /// The scoring job queued for the training dataset.
    pub job: JobKey,
}

/// A preview request.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewRequest {
    pub group: String,
    pub tag: String,
    pub modality: Modality,
    pub mode: Option<PreviewMode>,
    /// Default: the tag's saved threshold.
    pub threshold: Option<f64>,
    pub limit: usize,
    /// Score the published version rather than the draft.
    pub published: bool,
    pub seed: Option<u64>,
}

/// Operations on tag groups, for one caller.
pub struct TagService {
    catalog: Arc<Catalog>,
    caller: Principal,
    fresh: Freshness,
}

impl TagService {
    /// The service over `catalog` acting for `caller`; each operation first catches up with
    /// the store.
    pub fn new(catalog: Arc<Catalog>, caller: Principal) -> Self {
        Self {
            catalog,
            caller,
            fresh: Freshness::CatchUp,
        }
    }

    /// For a caller that has just refreshed the catalog (a statement): operations work on
    /// the catalog's current snapshot.
    pub fn after_refresh(mut self) -> Self {
        self.fresh = Freshness::Refreshed;
        self
    }

    /// With the freshness of the service that calls it.
    pub(crate) fn with_freshness(mut self, fresh: Freshness) -> Self {
        self.fresh = fresh;
        self
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>> {
        self.fresh.snapshot(&self.catalog).await
    }

    /// Fails unless the caller edits the definition of `g`: an editor of its training
    /// dataset.
    fn require_training_editor(view: &View<'_>, g: &TagGroup, action: &str) -> Result<()> {
        if !view.sees_dataset(&g.training_dataset) {
            return Err(CatalogError::Denied(format!(
                "permission denied: tag group '{}' is edited only on its training dataset; datasets that apply it cannot change its definition",
                g.name
            )));
        }
        view.require(&g.training_dataset, DatasetRole::Editor, action)
    }
}
