//! Operations on users and roles, each a read-modify-commit of the access document,
//! retried when another writer commits first.

use std::sync::Arc;

use crate::model::access::{
    AccessDoc, DatasetRole, OrgRole, Principal, Token, User, View, access_log, new_token,
    token_hash, user_name,
};
use crate::model::dataset::now;
use crate::service::Catalog;
use crate::store::Step;
use crate::{CatalogError, Result};

/// Users and roles, for one caller.
pub struct AccessService {
    catalog: Arc<Catalog>,
    caller: Principal,
}

impl AccessService {
    pub fn new(catalog: Arc<Catalog>, caller: Principal) -> Self {
        Self { catalog, caller }
    }

    /// Creates a user and returns their API token (shown only now; stored hashed); a
    /// `read_only` token may only read, whatever roles the user is given. Organisation
    /// admins only.
    pub async fn create_user(
        &self,
        name: &str,
        org_role: OrgRole,
        read_only: bool,
    ) -> Result<String> {
        let name = user_name(name)?;
        let token = new_token();
        let hash = token_hash(&token);
        self.update(&format!("creating user '{name}'"), |view, doc| {
            view.require_org_admin("creating users")?;
            if name == Principal::LocalAdmin.name() || doc.users.contains_key(&name) {
                return Err(CatalogError::AlreadyExists {
                    kind: "user",
                    name: name.clone(),
                });
            }
            doc.users.insert(
                name.clone(),
                User {
                    name: name.clone(),
                    org_role,
                    token_sha256: hash.clone(),
                    read_only,
                    tokens: Vec::new(),
                    created_at: now(),
                },
            );
            Ok(())
        })
        .await?;
        Ok(token)
    }

    /// A further API token for an existing user (shown only now; stored hashed): by an
    /// organisation admin, or by the user for themselves.
    pub async fn create_token(&self, user: &str, read_only: bool) -> Result<String> {
        let token = new_token();
        let hash = token_hash(&token);
        self.update(
            &format!("creating a token for user '{user}'"),
            |view, doc| {
                let own = matches!(view.principal, Principal::User(u) if u == user);
                if !own {
                    view.require_org_admin("creating tokens for other users")?;
                }
                let u = doc
                    .users
                    .get_mut(user)
                    .ok_or_else(|| CatalogError::not_found("user", user))?;
                u.tokens.push(Token {
                    sha256: hash.clone(),
                    read_only,
                    created_at: now(),
                });
                Ok(())
            },
        )
        .await?;
        Ok(token)
    }

    /// Removes a user and all their roles. Organisation admins only.
    pub async fn drop_user(&self, name: &str) -> Result<()> {
        self.update(&format!("dropping user '{name}'"), |view, doc| {
            view.require_org_admin("dropping users")?;
            if doc.users.remove(name).is_none() {
                return Err(CatalogError::not_found("user", name));
            }
            for roles in doc.roles.values_mut() {
                roles.remove(name);
            }
            Ok(())
        })
        .await
    }

    /// Gives `user` `role` on `dataset` (replacing their role there). Dataset admins only.
    pub async fn grant(&self, dataset: &str, user: &str, role: DatasetRole) -> Result<()> {
        self.update("granting a role", |view, doc| {
            view.require(dataset, DatasetRole::Admin, "changing roles")?;
            if !doc.users.contains_key(user) {
                return Err(CatalogError::not_found("user", user));
            }
            doc.roles
                .entry(dataset.to_string())
                .or_default()
                .insert(user.to_string(), role);
            Ok(())
        })
        .await
    }

    /// Takes `user`'s role on `dataset` away. Dataset admins only.
    pub async fn revoke(&self, dataset: &str, user: &str) -> Result<()> {
        self.update("revoking a role", |view, doc| {
            view.require(dataset, DatasetRole::Admin, "changing roles")?;
            let removed = doc
                .roles
                .get_mut(dataset)
                .and_then(|r| r.remove(user))
                .is_some();
            if !removed {
                return Err(CatalogError::NotFound {
                    kind: "role of user",
                    name: user.to_string(),
                    hint: format!(" on dataset '{dataset}'"),
                });
            }
            Ok(())
        })
        .await
    }

    async fn update(
        &self,
        what: &str,
        f: impl Fn(&View<'_>, &mut AccessDoc) -> Result<()>,
    ) -> Result<()> {
        access_log()
            .update(self.catalog.store(), |latest: Option<(u64, AccessDoc)>| {
                // The caller's roles as of the statement's refresh.
                let snapshot = self.catalog.snapshot();
                let (_, mut doc) = latest.unwrap_or_default();
                f(&View::new(&snapshot, &self.caller), &mut doc)?;
                Ok(Step::Commit(doc, ()))
            })
            .await
            .map_err(|e| match e {
                CatalogError::Conflict { what: log, current } => CatalogError::Conflict {
                    what: format!("{log} while {what}"),
                    current,
                },
                e => e,
            })?;
        self.catalog.refresh().await?;
        Ok(())
    }
}
