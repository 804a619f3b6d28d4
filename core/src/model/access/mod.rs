//! Who may do what: users with API tokens (stored as SHA-256 hashes), the organisation role
//! (`admin | member`) and per-dataset roles (`admin | editor | viewer`), all in one
//! revision-logged document, and [`View`]: the catalog as one caller may see it.
//!
//! ```text
//! access/_log/0000000003.json    users and dataset roles, one revision per change
//! ```
//!
//! Rules (the product's): viewers query; editors create and edit tag groups on datasets
//! they edit; only dataset admins (and organisation admins) change roles; only
//! organisation admins create users. A dataset the caller holds no role on does not exist
//! for them, and neither do the secret groups trained on it.

mod view;

use std::collections::BTreeMap;

use object_store::path::Path;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use view::View;

use crate::store::RevisionLog;
use crate::{CatalogError, Result};

/// Role in the organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    /// Creates users; holds every dataset role everywhere.
    Admin,
    Member,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

/// Role on one dataset; each includes the rights of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetRole {
    /// Queries the dataset and previews its tags.
    Viewer,
    /// Creates and edits tag groups on the dataset, applies shareable groups to it.
    Editor,
    /// Assigns roles on the dataset.
    Admin,
}

impl DatasetRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }

    /// `viewer`, `editor` or `admin` (any case).
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "viewer" => Ok(Self::Viewer),
            "editor" => Ok(Self::Editor),
            "admin" => Ok(Self::Admin),
            other => Err(CatalogError::Invalid(format!(
                "unknown dataset role '{other}' (roles: admin, editor, viewer)"
            ))),
        }
    }
}

/// A user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub org_role: OrgRole,
    /// SHA-256 of the API token, hex (the token itself is shown once, at creation).
    pub token_sha256: String,
    /// The API token may only read (queries and `SHOW`s), whatever the user's roles.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// More tokens of the user (`CREATE READ ONLY TOKEN FOR USER`): for BI tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<Token>,
    pub created_at: String,
}

/// An additional API token of a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// SHA-256 of the token, hex.
    pub sha256: String,
    pub read_only: bool,
    pub created_at: String,
}

/// Who a token signs in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub user: String,
    pub read_only: bool,
}

/// Users and dataset roles.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessDoc {
    /// By user name.
    pub users: BTreeMap<String, User>,
    /// dataset → user → role.
    pub roles: BTreeMap<String, BTreeMap<String, DatasetRole>>,
}

impl AccessDoc {
    /// The user whose token this is, compared by hash, and whether the token is read-only.
    pub fn user_by_token(&self, token: &str) -> Option<TokenOwner> {
        let hash = token_hash(token);
        let same = |h: &str| constant_time_eq(h.as_bytes(), hash.as_bytes());
        self.users.values().find_map(|u| {
            let read_only = if same(&u.token_sha256) {
                u.read_only
            } else {
                u.tokens.iter().find(|t| same(&t.sha256))?.read_only
            };
            Some(TokenOwner {
                user: u.name.clone(),
                read_only,
            })
        })
    }
}

/// The revision log of the access document.
pub fn access_log() -> RevisionLog {
    RevisionLog::new(Path::from("access"), "users and roles")
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// Whoever runs dyntag on the data folder itself (the CLI), or holds the token the
    /// server printed at start: an organisation admin.
    LocalAdmin,
    /// A user of the access document, by name.
    User(String),
    /// Someone signed in with a read-only token: they see what the inner principal sees,
    /// as a viewer at most, and change nothing.
    ReadOnly(Box<Principal>),
}

impl Principal {
    /// The name shown in logs and the running-queries list.
    pub fn name(&self) -> &str {
        match self {
            Self::LocalAdmin => "admin",
            Self::User(u) => u,
            Self::ReadOnly(p) => p.name(),
        }
    }

    /// The same principal, limited to reading.
    pub fn read_only(self) -> Self {
        match self {
            p @ Self::ReadOnly(_) => p,
            p => Self::ReadOnly(Box::new(p)),
        }
    }

    /// Whether the principal may only read.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Self::ReadOnly(_))
    }
}

/// The principal a session acts as, shared by the session and the providers and functions
/// registered in it (`SET SESSION AUTHORIZATION` changes it for all of them).
#[derive(Debug, Clone)]
pub struct SessionUser(std::sync::Arc<std::sync::RwLock<Principal>>);

impl SessionUser {
    pub fn new(p: Principal) -> Self {
        Self(std::sync::Arc::new(std::sync::RwLock::new(p)))
    }

    /// The principal now.
    pub fn get(&self) -> Principal {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Acts as `p` from now on.
    pub fn set(&self, p: Principal) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = p;
    }
}

/// Hex SHA-256 of a token.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 256 random bits, hex.
pub fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// User names: letters, digits, `_`, `-`, `.`, 1–64 characters.
pub fn user_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty()
        || n.len() > 64
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(CatalogError::Invalid(format!(
            "invalid user name '{name}': use 1 to 64 letters, digits, '_', '-' or '.'"
        )));
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_by_hash_only() {
        let token = new_token();
        let mut doc = AccessDoc::default();
        doc.users.insert(
            "ann".into(),
            User {
                name: "ann".into(),
                org_role: OrgRole::Member,
                token_sha256: token_hash(&token),
                read_only: false,
                tokens: vec![Token {
                    sha256: token_hash("bi-token"),
                    read_only: true,
                    created_at: String::new(),
                }],
                created_at: String::new(),
            },
        );
        let owner = doc.user_by_token(&token).unwrap();
        assert_eq!((owner.user.as_str(), owner.read_only), ("ann", false));
        let bi = doc.user_by_token("bi-token").unwrap();
        assert_eq!((bi.user.as_str(), bi.read_only), ("ann", true));
        assert!(doc.user_by_token("other").is_none());
        assert_eq!(
            Principal::User("ann".into()).read_only().read_only(),
            Principal::ReadOnly(Box::new(Principal::User("ann".into())))
        );
        let stored = serde_json::to_string(&doc).unwrap();
        assert!(!stored.contains(&token), "the token itself is never stored");
        assert!(user_name("bad name").is_err());
        assert!(DatasetRole::Viewer < DatasetRole::Editor);
        assert!(DatasetRole::parse("owner").is_err());
    }
}
