//! Authentication: who is calling. `Handshake` checks a user name and password (the
//! `authorization: Basic …` header pyarrow sends, or a `BasicAuth` message as payload)
//! against Argon2 hashes and hands out a random bearer token; every other call must carry
//! `authorization: Bearer TOKEN`, either such a session token or a static token from the
//! configuration. Tokens are kept only as SHA-256 digests.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;

use super::config::AuthConfig;
use crate::error::ServerError;

/// The user anonymous calls act as, when the configuration allows them.
pub const ANONYMOUS: &str = "anonymous";

/// Hashes a password for the configuration file (Argon2id, random salt, PHC string).
pub fn hash_password(password: &str) -> Result<String, ServerError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServerError::Config(format!("hashing the password: {e}")))
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Checks credentials and tokens.
#[derive(Debug)]
pub struct Authenticator {
    users: HashMap<String, String>,
    tokens: HashMap<[u8; 32], String>,
    sessions: Mutex<HashMap<[u8; 32], (String, Instant)>>,
    ttl: Duration,
    allow_anonymous: bool,
    /// A hash checked when the user is unknown, so that the answer takes as long.
    decoy: String,
}

impl Authenticator {
    /// From the configuration (already checked).
    pub fn new(config: &AuthConfig) -> Result<Authenticator, ServerError> {
        let mut users = HashMap::new();
        for u in &config.users {
            PasswordHash::new(&u.password_hash).map_err(|e| {
                ServerError::Config(format!(
                    "user {}: password_hash is not a PHC string ({e}); make one with `dotation serve --hash-password`",
                    u.name
                ))
            })?;
            users.insert(u.name.clone(), u.password_hash.clone());
        }
        let mut tokens = HashMap::new();
        for t in &config.tokens {
            let bytes = hex::decode(&t.sha256)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    ServerError::Config(format!("token of user {}: bad sha256", t.user))
                })?;
            tokens.insert(bytes, t.user.clone());
        }
        Ok(Authenticator {
            users,
            tokens,
            sessions: Mutex::new(HashMap::new()),
            ttl: Duration::from_secs(config.token_ttl_secs),
            allow_anonymous: config.allow_anonymous,
            decoy: hash_password("decoy")?,
        })
    }

    /// Checks a user's password (slow on purpose: call it off the async runtime) and
    /// returns a new bearer token.
    pub fn login(&self, user: &str, password: &str) -> Result<String, ServerError> {
        let stored = self.users.get(user).unwrap_or(&self.decoy);
        let ok = PasswordHash::new(stored)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        if !ok || !self.users.contains_key(user) {
            return Err(ServerError::Unauthenticated(
                "wrong user name or password".into(),
            ));
        }
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let now = Instant::now();
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, (_, expires)| *expires > now);
        sessions.insert(digest(&token), (user.to_string(), now + self.ttl));
        Ok(token)
    }

    /// The user a bearer token acts as.
    pub fn bearer(&self, token: &str) -> Result<String, ServerError> {
        let d = digest(token);
        if let Some(user) = self.tokens.get(&d) {
            return Ok(user.clone());
        }
        let sessions = self.sessions.lock();
        match sessions.get(&d) {
            Some((user, expires)) if *expires > Instant::now() => Ok(user.clone()),
            Some(_) => Err(ServerError::Unauthenticated(
                "the bearer token has expired: log in again with Handshake".into(),
            )),
            None => Err(ServerError::Unauthenticated(
                "unknown bearer token: log in with Handshake".into(),
            )),
        }
    }

    /// The user of a call, from its `authorization` header.
    pub fn user(&self, metadata: &MetadataMap) -> Result<String, ServerError> {
        match authorization(metadata)? {
            Some(Credentials::Bearer(token)) => self.bearer(&token),
            Some(Credentials::Basic(..)) => Err(ServerError::Unauthenticated(
                "basic credentials are only accepted by Handshake; send the bearer token it returns".into(),
            )),
            None if self.allow_anonymous => Ok(ANONYMOUS.to_string()),
            None => Err(ServerError::Unauthenticated(
                "no credentials: log in with Handshake and send `authorization: Bearer TOKEN`"
                    .into(),
            )),
        }
    }
}

/// What an `authorization` header holds.
#[derive(Debug)]
pub enum Credentials {
    /// `Basic base64(user:password)`.
    Basic(String, String),
    /// `Bearer TOKEN`.
    Bearer(String),
}

/// Reads the `authorization` header, if any.
pub fn authorization(metadata: &MetadataMap) -> Result<Option<Credentials>, ServerError> {
    let Some(value) = metadata.get("authorization") else {
        return Ok(None);
    };
    let bad = || ServerError::Unauthenticated("malformed authorization header".into());
    let value = value.to_str().map_err(|_| bad())?.trim();
    let (scheme, rest) = value.split_once(' ').ok_or_else(bad)?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Ok(Some(Credentials::Bearer(rest.trim().to_string()))),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .map_err(|_| bad())?;
            let text = String::from_utf8(decoded).map_err(|_| bad())?;
            let (user, password) = text.split_once(':').ok_or_else(bad)?;
            Ok(Some(Credentials::Basic(
                user.to_string(),
                password.to_string(),
            )))
        }
        _ => Err(bad()),
    }
}
