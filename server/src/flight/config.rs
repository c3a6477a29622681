//! The server's configuration: a TOML file whose every key has a default
//! (`server/dotation-server.example.toml` documents them), read once at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ServerError;

/// Everything `dotation serve` can be told.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Where datasets, results and the job catalogue live.
    pub data_dir: PathBuf,
    /// Sizes and counts the server accepts.
    pub limits: Limits,
    /// Who may call the server.
    pub auth: AuthConfig,
    /// TLS, when a certificate is given.
    pub tls: Option<TlsConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: PathBuf::from("dotation-data"),
            limits: Limits::default(),
            auth: AuthConfig::default(),
            tls: None,
        }
    }
}

/// Sizes and counts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest gRPC message received or sent, in bytes (one record batch of an upload
    /// must fit; downloads are cut into messages of `max_flight_data_bytes`).
    pub max_message_bytes: usize,
    /// Target size of the messages that carry a result table, in bytes.
    pub max_flight_data_bytes: usize,
    /// Largest upload (one table, all its batches), in bytes. Uploads are streamed to disk
    /// (never held in memory), so the default admits a national visits table.
    pub max_upload_bytes: u64,
    /// Largest job spec, in bytes.
    pub max_spec_bytes: usize,
    /// Jobs waiting to run, over all users; a submission beyond is refused with
    /// `ResourceExhausted`.
    pub max_queued_jobs: usize,
    /// Jobs running at once.
    pub max_running_jobs: usize,
    /// Jobs waiting or running per user.
    pub max_jobs_per_user: usize,
    /// How many times a job interrupted by a server stop is run again before it is
    /// marked failed.
    pub max_restarts: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 << 20,
            max_flight_data_bytes: 2 << 20,
            max_upload_bytes: 64 << 30,
            max_spec_bytes: 1 << 20,
            max_queued_jobs: 256,
            max_running_jobs: 2,
            max_jobs_per_user: 64,
            max_restarts: 2,
        }
    }
}

/// Who may call the server: users with a password (basic authentication through
/// `Handshake`, which returns a bearer token) and static bearer tokens.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Accept calls without credentials, as the user `anonymous`. Meant for a server
    /// bound to loopback on a single-user machine; refused with a non-loopback address.
    pub allow_anonymous: bool,
    /// Lifetime of the bearer tokens handed out by `Handshake`, in seconds.
    pub token_ttl_secs: u64,
    /// Users and their password hashes (PHC strings from `dotation serve --hash-password`).
    pub users: Vec<UserConfig>,
    /// Static bearer tokens, by their SHA-256 (so the file holds no usable secret).
    pub tokens: Vec<TokenConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            allow_anonymous: false,
            token_ttl_secs: 12 * 3600,
            users: Vec::new(),
            tokens: Vec::new(),
        }
    }
}

/// A user who logs in with a password.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The user name.
    pub name: String,
    /// Argon2 hash of the password, as a PHC string (`$argon2id$v=19$...`).
    pub password_hash: String,
}

/// A static bearer token.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The user the token acts as.
    pub user: String,
    /// SHA-256 of the token, hex (`printf %s "$TOKEN" | sha256sum`).
    pub sha256: String,
}

/// TLS: a certificate chain and its private key, PEM files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// The private key (PEM).
    pub key: PathBuf,
}

impl Config {
    /// Reads a configuration file; relative paths in it are taken from the file's folder.
    pub fn from_file(path: &Path) -> Result<Config, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|e| ServerError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let mut config: Config = toml::from_str(&text)
            .map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut config.data_dir);
        if let Some(tls) = &mut config.tls {
            resolve(&mut tls.cert);
            resolve(&mut tls.key);
        }
        Ok(config)
    }

    /// Checks what can be checked before starting.
    pub fn check(&self) -> Result<(), ServerError> {
        let a = &self.auth;
        if a.users.is_empty() && a.tokens.is_empty() && !a.allow_anonymous {
            return Err(ServerError::Config(
                "no users and no tokens: add [[auth.users]] or [[auth.tokens]], or set auth.allow_anonymous = true on a loopback address".into(),
            ));
        }
        if a.allow_anonymous && !self.listen.ip().is_loopback() {
            return Err(ServerError::Config(format!(
                "auth.allow_anonymous is only allowed on a loopback address, not {}",
                self.listen
            )));
        }
        for t in &a.tokens {
            if t.sha256.len() != 64 || hex::decode(&t.sha256).is_err() {
                return Err(ServerError::Config(format!(
                    "token of user {}: sha256 must be 64 hex digits",
                    t.user
                )));
            }
        }
        let l = &self.limits;
        if l.max_running_jobs == 0 || l.max_message_bytes < (1 << 16) {
            return Err(ServerError::Config(
                "limits: max_running_jobs must be ≥ 1 and max_message_bytes ≥ 65536".into(),
            ));
        }
        Ok(())
    }
}
