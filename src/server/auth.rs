//! Who is calling: bearer tokens on every call, basic credentials exchanged for a session
//! token (the Flight SQL handshake, `POST /api/login`).
//!
//! Two kinds of credentials: the local admin token printed at start (user `admin`, an
//! organisation admin), and the API tokens of users (`CREATE USER`, `dyntag users
//! create`), stored as SHA-256 hashes in the catalog. A user signs in with their name and
//! token as the password, or sends the token as a bearer token. Tokens are compared in
//! constant time. A read-only token signs in as a read-only principal.
//!
//! A session token is signed, not remembered: `dts1:<user>:<read-only>:<expiry>:<nonce>:<mac>`
//! where the MAC (HMAC-SHA256 under the server's session key, a file outside the data root:
//! `--session-key-file`, default `~/.local/share/dyntag/session.key`) also covers the hash of
//! the token the user signed in with. So sessions outlive a restart of the server (and work on
//! every server given the same key), and end when they expire (7 days), when the token they
//! were signed in with is gone (the user dropped) or when the admin token changes.
//!
//! Failed sign-ins are counted per client address: past the limit within a minute, that
//! client is refused (`RESOURCE_EXHAUSTED` / HTTP 429) until the minute is over, whatever it
//! sends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use dyntag_core::Catalog;
use dyntag_core::model::access::{Principal, constant_time_eq, token_hash};
use sha2::{Digest, Sha256};

use super::errors::ServeError;
use super::lock;

/// The user name of the local admin.
pub const ADMIN: &str = "admin";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    /// The bearer token the caller presented.
    pub token: String,
    pub principal: Principal,
    /// The connection (or HTTP session) the call came on: `USE` and `SET` last as long as
    /// it does. Set by the protocol.
    pub connection: String,
}

/// Failed sign-ins a client may make per minute before it is refused for the rest of it.
pub const DEFAULT_LOGIN_ATTEMPTS_PER_MINUTE: u32 = 30;

/// How long a session token is valid.
const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Tokens the server accepts.
pub struct Auth {
    admin_token: String,
    catalog: Option<Arc<Catalog>>,
    /// Signs session tokens.
    session_key: [u8; 32],
    /// Failed sign-ins per client in the current minute.
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    attempts_per_minute: u32,
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
            session_key: random_key(),
            failures: Mutex::new(HashMap::new()),
            attempts_per_minute: DEFAULT_LOGIN_ATTEMPTS_PER_MINUTE,
        })
    }

    /// Signs sessions with the key in `path` (made on first use, readable by its owner
    /// only), so that they outlive a restart and work on every server given the same key.
    /// It is kept apart from the data root: whoever reads the data root sees the token
    /// hashes a session's MAC covers, and must not be able to sign sessions.
    pub fn with_session_key_file(mut self, path: &std::path::Path) -> Result<Self, ServeError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let failed = |what: &str, e: std::io::Error| {
            ServeError::internal(format!("{what} the session key {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| failed("creating the folder of", e))?;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut f) => {
                let hex: String = random_key().iter().map(|b| format!("{b:02x}")).collect();
                f.write_all(hex.as_bytes())
                    .map_err(|e| failed("writing", e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed("creating", e)),
        }
        let text = std::fs::read_to_string(path).map_err(|e| failed("reading", e))?;
        let hex = text.trim();
        let bytes: Option<Vec<u8>> = (hex.len() == 64 && hex.is_ascii())
            .then(|| {
                (0..32)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                    .collect()
            })
            .flatten();
        let Some(bytes) = bytes else {
            return Err(ServeError::internal(format!(
                "the session key {} is not 64 hexadecimal digits",
                path.display()
            )));
        };
        self.session_key.copy_from_slice(&bytes);
        Ok(self)
    }

    /// Sets how many failed sign-ins a client may make per minute.
    pub fn with_attempts_per_minute(mut self, n: u32) -> Self {
        self.attempts_per_minute = n.max(1);
        self
    }

    /// Checks an `authorization` header from `client`. Valid credentials always pass;
    /// wrong ones count against the client, and past the limit within a minute are
    /// answered "too many failed sign-ins" (429 / `RESOURCE_EXHAUSTED`) instead.
    pub fn check_from(&self, header: Option<&str>, client: IpAddr) -> Result<Caller, ServeError> {
        let result = self.check_header(header);
        match result {
            Err(e) if header.is_some() && e.code == super::errors::Code::Unauthenticated => {
                Err(self.failed(client).unwrap_or(e))
            }
            other => other,
        }
    }

    /// Basic credentials from `client`, with the same limit.
    pub fn login_from(
        &self,
        user: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<Caller, ServeError> {
        self.login(user, password)
            .map_err(|e| self.failed(client).unwrap_or(e))
    }

    /// Counts a failed sign-in of `client` (IPv6 clients by their /64); the refusal to give
    /// instead of "unauthenticated" once the client is past the limit.
    fn failed(&self, client: IpAddr) -> Option<ServeError> {
        let client = match client {
            IpAddr::V6(v6) => {
                let mut o = v6.octets();
                o[8..].fill(0);
                IpAddr::from(o)
            }
            v4 => v4,
        };
        let mut failures = lock(&self.failures);
        if failures.len() >= MAX_CLIENTS_TRACKED && !failures.contains_key(&client) {
            failures.retain(|_, (since, _)| since.elapsed() < MINUTE);
            if failures.len() >= MAX_CLIENTS_TRACKED {
                // Still full of clients failing right now: forget one of them.
                if let Some(k) = failures.keys().next().copied() {
                    failures.remove(&k);
                }
            }
        }
        let entry = failures.entry(client).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= MINUTE {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        let (since, n) = *entry;
        (n > self.attempts_per_minute).then(|| {
            ServeError::new(
                super::errors::Code::ResourceExhausted,
                format!(
                    "too many failed sign-ins from {client} ({n} in a minute); wait {} s",
                    MINUTE.saturating_sub(since.elapsed()).as_secs().max(1)
                ),
            )
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
        } else if token.starts_with(SESSION_PREFIX) {
            self.session(token)
        } else {
            self.user_token(token)
        };
        match principal {
            Some(principal) => Ok(Caller {
                user: principal.name().to_string(),
                token: token.into(),
                principal,
                connection: String::new(),
            }),
            None => Err(ServeError::unauthenticated("invalid or expired token")),
        }
    }

    /// The user whose API token this is (looked up by hash in the catalog), read-only if
    /// the token is.
    fn user_token(&self, token: &str) -> Option<Principal> {
        let snapshot = self.catalog.as_ref()?.snapshot();
        let owner = snapshot.access.user_by_token(token)?;
        let user = Principal::User(owner.user);
        Some(if owner.read_only {
            user.read_only()
        } else {
            user
        })
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
        let expiry = unix_now() + SESSION_LIFETIME.as_secs();
        let nonce = &random_token()[..16];
        let fields = format!(
            "{SESSION_PREFIX}{}:{}:{expiry}:{nonce}",
            principal.name(),
            u8::from(principal.is_read_only())
        );
        let mac = self.mac(&fields, &token_hash(password));
        Ok(Caller {
            user: principal.name().to_string(),
            token: format!("{fields}:{mac}"),
            principal,
            connection: String::new(),
        })
    }

    /// The principal of a signed session token that is valid now: signed by this data
    /// root's key, not expired, and its user still holds the token they signed in with.
    fn session(&self, token: &str) -> Option<Principal> {
        let (fields, mac) = token.rsplit_once(':')?;
        let mut parts = fields.strip_prefix(SESSION_PREFIX)?.split(':');
        let (user, read_only, expiry) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_none() || expiry.parse::<u64>().ok()? < unix_now() {
            return None;
        }
        let signed_with =
            |hash: &str| constant_time_eq(self.mac(fields, hash).as_bytes(), mac.as_bytes());
        let principal = if user == ADMIN {
            signed_with(&token_hash(&self.admin_token)).then_some(Principal::LocalAdmin)?
        } else {
            let snapshot = self.catalog.as_ref()?.snapshot();
            let u = snapshot.access.users.get(user)?;
            let still_held = std::iter::once(u.token_sha256.as_str())
                .chain(u.tokens.iter().map(|t| t.sha256.as_str()))
                .any(signed_with);
            still_held.then(|| Principal::User(user.to_string()))?
        };
        Some(match read_only {
            "0" => principal,
            "1" => principal.read_only(),
            _ => return None,
        })
    }

    /// HMAC-SHA256 of a session's fields and the hash of the token it was signed in with.
    fn mac(&self, fields: &str, token_hash: &str) -> String {
        let message = format!("{fields}|{token_hash}");
        let mut inner = [0x36u8; 64];
        let mut outer = [0x5cu8; 64];
        for (i, k) in self.session_key.iter().enumerate() {
            inner[i] ^= k;
            outer[i] ^= k;
        }
        let h = Sha256::new()
            .chain_update(inner)
            .chain_update(message.as_bytes())
            .finalize();
        Sha256::new()
            .chain_update(outer)
            .chain_update(h)
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// How a session token starts.
const SESSION_PREFIX: &str = "dts1:";

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// 32 random bytes.
fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key
}

const MINUTE: Duration = Duration::from_secs(60);

/// Clients whose failed sign-ins are counted at once.
const MAX_CLIENTS_TRACKED: usize = 10_000;

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
    dyntag_core::model::access::new_token()
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

    #[test]
    fn session_tokens_are_signed_and_expire() {
        let auth = Auth::new(Some("0123456789abcdef0123".into())).unwrap();
        let session = auth.login("admin", "0123456789abcdef0123").unwrap();
        assert!(session.token.starts_with("dts1:admin:0:"));
        // Another server of the same data root (same key) accepts it; another key does not.
        let mut twin = Auth::new(Some("0123456789abcdef0123".into())).unwrap();
        twin.session_key = auth.session_key;
        assert_eq!(
            twin.bearer(&session.token).unwrap().principal,
            Principal::LocalAdmin
        );
        let stranger = Auth::new(Some("0123456789abcdef0123".into())).unwrap();
        assert!(stranger.bearer(&session.token).is_err());
        // A new admin token ends the admin's sessions.
        let mut rotated = Auth::new(Some("another-admin-token-0123".into())).unwrap();
        rotated.session_key = auth.session_key;
        assert!(rotated.bearer(&session.token).is_err());
        // Tampering with the fields (read-only flag, expiry) breaks the MAC.
        let forged = session.token.replacen("dts1:admin:0:", "dts1:admin:1:", 1);
        assert!(auth.bearer(&forged).is_err());
        let (fields, mac) = session.token.rsplit_once(':').unwrap();
        let mut parts: Vec<&str> = fields.split(':').collect();
        parts[3] = "1";
        let expired = format!("{}:{mac}", parts.join(":"));
        assert!(auth.bearer(&expired).is_err());
    }

    #[test]
    fn failed_sign_ins_are_limited_per_client() {
        let auth = Auth::new(Some("0123456789abcdef0123".into()))
            .unwrap()
            .with_attempts_per_minute(3);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            let e = auth.check_from(Some("Bearer wrong"), a).unwrap_err();
            assert_eq!(e.code, super::super::errors::Code::Unauthenticated);
        }
        let e = auth.check_from(Some("Bearer wrong"), a).unwrap_err();
        assert_eq!(e.code, super::super::errors::Code::ResourceExhausted);
        assert!(
            e.message.contains("too many failed sign-ins"),
            "{}",
            e.message
        );
        assert!(
            auth.check_from(Some("Bearer 0123456789abcdef0123"), a)
                .is_ok(),
            "a valid token still signs in: nobody is locked out by someone else's guesses"
        );
        let e = auth.check_from(Some("Bearer wrong"), b).unwrap_err();
        assert_eq!(
            e.code,
            super::super::errors::Code::Unauthenticated,
            "another client"
        );
        assert!(auth.login_from("admin", "nope", a).is_err());
        // IPv6 clients count by their /64.
        for i in 0..4u16 {
            let ip = IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, i]);
            let _ = auth.check_from(Some("Bearer wrong"), ip);
        }
        let e = auth
            .check_from(
                Some("Bearer wrong"),
                IpAddr::from([0x2001, 0xdb8, 0, 1, 9, 9, 9, 9]),
            )
            .unwrap_err();
        assert_eq!(e.code, super::super::errors::Code::ResourceExhausted);
    }
}
