//! Who is calling: bearer tokens on every call, basic credentials exchanged for a session
//! token (the Flight SQL handshake, `POST /api/login`).
//!
//! Two kinds of credentials: the local admin token printed at start (user `admin`, an
//! organisation admin), and the API tokens of users (`CREATE USER`, `dyntag users
//! create`), stored as SHA-256 hashes in the catalog. A user signs in with their name and
//! token as the password, or sends the token as a bearer token. Tokens are compared in
//! constant time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use dyntag_catalog::Catalog;
use dyntag_catalog::access::{Principal, constant_time_eq};

use super::errors::ServeError;
use super::lock;

/// The user name of the local admin.
pub const ADMIN: &str = "admin";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    /// The bearer token the caller presented (sessions are keyed by it).
    pub token: String,
    pub principal: Principal,
}

/// Tokens the server accepts.
pub struct Auth {
    admin_token: String,
    catalog: Option<Arc<Catalog>>,
    sessions: Mutex<HashMap<String, Principal>>,
}

impl Auth {
    /// With the given admin token (or a fresh random one) and the users of `catalog`.
    pub fn with_users(
        admin_token: Option<String>,
        catalog: Arc<Catalog>,
    ) -> Result<Self, ServeError> {
        let mut auth = Self::new(admin_token)?;
        auth.catalog = Some(catalog);
        Ok(auth)
    }

    /// With the given admin token, or a fresh random one, and no other users.
    pub fn new(admin_token: Option<String>) -> Result<Self, ServeError> {
        let admin_token = match admin_token {
            Some(t) if t.len() < 16 => {
                return Err(ServeError::invalid(
                    "the access token must be at least 16 characters long",
                ));
            }
            Some(t) => t,
            None => random_token(),
        };
        Ok(Self {
            admin_token,
            catalog: None,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// The token printed at start.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Checks an `authorization` header value (`Bearer …` or `Basic …`).
    pub fn check_header(&self, header: Option<&str>) -> Result<Caller, ServeError> {
        let header = header.ok_or_else(|| {
            ServeError::unauthenticated(
                "no credentials: send 'authorization: Bearer <token>' (the token `dyntag serve` printed)",
            )
        })?;
        if let Some(token) = strip_scheme(header, "bearer") {
            return self.bearer(token.trim());
        }
        if let Some(basic) = strip_scheme(header, "basic") {
            let (user, password) = decode_basic(basic.trim())?;
            return self.login(&user, &password);
        }
        Err(ServeError::unauthenticated(
            "unsupported authorization scheme: use 'Bearer <token>' or 'Basic <user:password>'",
        ))
    }

    /// A bearer token: the admin token, a user's API token or a session token.
    pub fn bearer(&self, token: &str) -> Result<Caller, ServeError> {
        let principal = if constant_time_eq(token.as_bytes(), self.admin_token.as_bytes()) {
            Some(Principal::LocalAdmin)
        } else {
            let session = lock(&self.sessions).get(token).cloned();
            session.or_else(|| self.user_token(token))
        };
        match principal {
            Some(principal) => Ok(Caller {
                user: principal.name().to_string(),
                token: token.into(),
                principal,
            }),
            None => Err(ServeError::unauthenticated("invalid or expired token")),
        }
    }

    /// The user whose API token this is (looked up by hash in the catalog).
    fn user_token(&self, token: &str) -> Option<Principal> {
        let snapshot = self.catalog.as_ref()?.snapshot();
        let user = snapshot.access.user_by_token(token)?;
        Some(Principal::User(user.name.clone()))
    }

    /// Basic credentials (a user name and their token as the password): a new session
    /// token for the user.
    pub fn login(&self, user: &str, password: &str) -> Result<Caller, ServeError> {
        let principal = if user == ADMIN {
            constant_time_eq(password.as_bytes(), self.admin_token.as_bytes())
                .then_some(Principal::LocalAdmin)
        } else {
            self.user_token(password).filter(|p| p.name() == user)
        };
        let Some(principal) = principal else {
            return Err(ServeError::unauthenticated("wrong user name or password"));
        };
        let token = random_token();
        lock(&self.sessions).insert(token.clone(), principal.clone());
        Ok(Caller {
            user: principal.name().to_string(),
            token,
            principal,
        })
    }
}

fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = header.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then_some(rest)
}

fn decode_basic(encoded: &str) -> Result<(String, String), ServeError> {
    let bad = || ServeError::unauthenticated("malformed basic credentials");
    // Clients differ on padding (Go's Flight client sends none).
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine.decode(encoded).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (user, password) = text.split_once(':').ok_or_else(bad)?;
    Ok((user.to_string(), password.to_string()))
}

/// 256 random bits, hex.
pub fn random_token() -> String {
    dyntag_catalog::access::new_token()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_basic_and_sessions() {
        let auth = Auth::new(Some("0123456789abcdef0123".into())).unwrap();
        assert_eq!(
            auth.check_header(Some("Bearer 0123456789abcdef0123"))
                .unwrap()
                .user,
            "admin"
        );
        assert!(auth.check_header(Some("Bearer nope")).is_err());
        assert!(auth.check_header(None).is_err());
        let basic = base64::engine::general_purpose::STANDARD.encode("admin:0123456789abcdef0123");
        let session = auth.check_header(Some(&format!("Basic {basic}"))).unwrap();
        assert_ne!(session.token, "0123456789abcdef0123");
        assert_eq!(auth.bearer(&session.token).unwrap().user, "admin");
        let unpadded =
            base64::engine::general_purpose::STANDARD_NO_PAD.encode("admin:0123456789abcdef0123");
        assert!(
            auth.check_header(Some(&format!("Basic {unpadded}")))
                .is_ok()
        );
        let wrong = base64::engine::general_purpose::STANDARD.encode("admin:wrong");
        assert!(auth.check_header(Some(&format!("Basic {wrong}"))).is_err());
        assert!(Auth::new(Some("short".into())).is_err());
    }
}
