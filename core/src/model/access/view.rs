//! [`View`]: the catalog as one caller may see it. Every lookup a caller's request makes
//! goes through here, so that what the caller may not see answers exactly as what does not
//! exist, and what they may see but not do is a clear denial.

use std::sync::Arc;

use super::{DatasetRole, OrgRole, Principal};
use crate::model::dataset::DatasetManifest;
use crate::model::snapshot::{Snapshot, Versioned, list_or_none};
use crate::model::tags::{TagGroup, Visibility};
use crate::{CatalogError, Result};

/// A snapshot seen by a principal.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub snapshot: &'a Snapshot,
    pub principal: &'a Principal,
}

impl<'a> View<'a> {
    pub fn new(snapshot: &'a Snapshot, principal: &'a Principal) -> Self {
        Self {
            snapshot,
            principal,
        }
    }

    /// Whether the caller is an organisation admin (never through a read-only login).
    pub fn org_admin(&self) -> bool {
        match self.principal {
            Principal::LocalAdmin => true,
            Principal::User(u) => self
                .snapshot
                .access
                .users
                .get(u)
                .is_some_and(|u| u.org_role == OrgRole::Admin),
            Principal::ReadOnly(_) => false,
        }
    }

    /// Whether the principal is a known user (or the local admin).
    pub fn known(&self) -> bool {
        match self.principal {
            Principal::LocalAdmin => true,
            Principal::User(u) => self.snapshot.access.users.contains_key(u),
            Principal::ReadOnly(inner) => View::new(self.snapshot, inner).known(),
        }
    }

    /// The caller's role on `dataset` (organisation admins are admins everywhere; a
    /// read-only login is a viewer at most).
    pub fn role(&self, dataset: &str) -> Option<DatasetRole> {
        if !self.snapshot.datasets.contains_key(dataset) {
            return None;
        }
        match self.principal {
            Principal::ReadOnly(inner) => View::new(self.snapshot, inner)
                .role(dataset)
                .map(|r| r.min(DatasetRole::Viewer)),
            _ if self.org_admin() => Some(DatasetRole::Admin),
            Principal::User(u) => self.snapshot.access.roles.get(dataset)?.get(u).copied(),
            _ => None,
        }
    }

    /// Whether the caller sees `dataset` at all.
    pub fn sees_dataset(&self, dataset: &str) -> bool {
        self.role(dataset).is_some()
    }

    /// The datasets the caller sees.
    pub fn datasets(&self) -> Vec<&'a String> {
        let view = *self;
        self.snapshot
            .datasets
            .keys()
            .filter(move |d| view.sees_dataset(d))
            .collect()
    }

    /// A dataset the caller sees (else "not found", listing only what they see).
    pub fn dataset(&self, name: &str) -> Result<&'a Arc<DatasetManifest>> {
        if self.sees_dataset(name) {
            return self.snapshot.dataset(name);
        }
        Err(CatalogError::NotFound {
            kind: "dataset",
            name: name.to_string(),
            hint: format!(" (datasets: {})", list_or_none(self.datasets().into_iter())),
        })
    }

    /// Fails unless the caller holds at least `needed` on `dataset`; `action` says what
    /// they tried ("editing tag group 'News'"). A dataset they do not see is "not found".
    pub fn require(&self, dataset: &str, needed: DatasetRole, action: &str) -> Result<()> {
        self.dataset(dataset)?;
        match self.role(dataset) {
            Some(r) if r >= needed => Ok(()),
            Some(r) => Err(CatalogError::Denied(format!(
                "permission denied: {action} needs the {} role on dataset '{dataset}' (you are {} {} there)",
                needed.as_str(),
                if r == DatasetRole::Viewer { "a" } else { "an" },
                r.as_str()
            ))),
            None => Err(CatalogError::not_found("dataset", dataset)),
        }
    }

    /// Fails unless the caller is an organisation admin.
    pub fn require_org_admin(&self, action: &str) -> Result<()> {
        if self.org_admin() {
            Ok(())
        } else {
            Err(CatalogError::Denied(format!(
                "permission denied: {action} needs the organisation admin role"
            )))
        }
    }

    /// Whether the caller sees `group`: they see its training dataset, or it is published
    /// shareable (any member of the organisation may find and apply it), or a dataset they
    /// see applies it.
    pub fn sees_group(&self, group: &TagGroup) -> bool {
        if self.sees_dataset(&group.training_dataset) {
            return true;
        }
        if !self.known() {
            return false;
        }
        (group.visibility == Visibility::Shareable && group.latest_version > 0)
            || self
                .snapshot
                .applications
                .keys()
                .any(|(d, g)| g == &group.slug && self.sees_dataset(d))
    }

    /// A group the caller sees (else "not found", the same words as for no such group).
    pub fn group(&self, name: &str) -> Result<&'a Versioned<TagGroup>> {
        match self.snapshot.group(name) {
            Ok(g) if self.sees_group(&g.doc) => Ok(g),
            _ => Err(CatalogError::not_found("tag group", name)),
        }
    }

    /// The groups the caller sees.
    pub fn groups(&self) -> Vec<&'a Versioned<TagGroup>> {
        let view = *self;
        self.snapshot
            .groups
            .values()
            .filter(move |g| view.sees_group(&g.doc))
            .collect()
    }

    /// The groups of `dataset` (trained or applied there), if the caller sees it.
    pub fn groups_of(&self, dataset: &str) -> Vec<&'a Versioned<TagGroup>> {
        if self.sees_dataset(dataset) {
            self.snapshot.groups_of(dataset)
        } else {
            Vec::new()
        }
    }
}
