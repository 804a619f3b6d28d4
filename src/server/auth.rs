//! Who is calling: bearer tokens on every call, basic credentials exchanged for a session
//! token (the Flight SQL handshake, `POST /api/login`).
//!
//! Until users and roles exist, the server has one user, `admin`, whose password is the
//! access token printed at start. Tokens are compared in constant time.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;

use super::errors::ServeError;
use super::lock;

/// The one user of a server without user management.
pub const ADMIN: &str = "admin";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    /// The bearer token the caller presented (sessions are keyed by it).
    pub token: String,
}

/// Tokens the server accepts.
pub struct Auth {
    admin_token: String,
    sessions: Mutex<HashMap<String, String>>,
}

impl Auth {
    /// With the given admin token, or a fresh random one.
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

    /// A bearer token: the admin token or a session token.
    pub fn bearer(&self, token: &str) -> Result<Caller, ServeError> {
        if constant_time_eq(token.as_bytes(), self.admin_token.as_bytes()) {
            return Ok(Caller {
                user: ADMIN.into(),
                token: token.into(),
            });
        }
        let sessions = lock(&self.sessions);
        match sessions.get(token) {
            Some(user) => Ok(Caller {
                user: user.clone(),
                token: token.into(),
            }),
            None => Err(ServeError::unauthenticated("invalid or expired token")),
        }
    }

    /// Basic credentials: a new session token for the user.
    pub fn login(&self, user: &str, password: &str) -> Result<Caller, ServeError> {
        let ok =
            user == ADMIN && constant_time_eq(password.as_bytes(), self.admin_token.as_bytes());
        if !ok {
            return Err(ServeError::unauthenticated("wrong user name or password"));
        }
        let token = random_token();
        lock(&self.sessions).insert(token.clone(), user.to_string());
        Ok(Caller {
            user: user.to_string(),
            token,
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
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
