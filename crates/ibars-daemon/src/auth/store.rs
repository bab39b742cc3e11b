//! The API's principals: tokens and dashboard users, kept in `STATE_DIR/auth.json` (mode
//! 0600). Only hashes are stored: a token's SHA-256 (tokens are 256 random bits, so a fast
//! hash is enough), a password's argon2id PHC string. The CLI edits the file (`ibars token`,
//! `ibars user`) under an exclusive lock and replaces it whole; the daemon rereads it when it
//! changes, so a revocation takes effect at the next request.

use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use subtle::ConstantTimeEq;

/// What a principal may do. Each role includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read only.
    #[default]
    Viewer,
    /// Also: run jobs, restore, download, start checks, dismiss anomalies.
    Operator,
    /// Everything: forget, prune, keys, tokens and users too.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err(AuthError::Invalid(format!(
                "role {s:?}: expected viewer, operator or admin"
            ))),
        }
    }
}

/// An API token, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Public part of the token, shown in lists and audit records.
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The `[[repository]]` names it may touch; all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
    /// Hex SHA-256 of the secret part.
    pub hash: String,
    pub created: jiff::Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<jiff::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<jiff::Timestamp>,
}

/// A dashboard user, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
    /// argon2id, PHC string format.
    pub password_hash: String,
    pub created: jiff::Timestamp,
}

/// The file's contents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    #[serde(default)]
    pub tokens: Vec<Token>,
    #[serde(default)]
    pub users: Vec<User>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a valid auth file: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
}

/// Prefix of every token: easy to spot in a leaked log, and for secret scanners.
pub const TOKEN_PREFIX: &str = "ibt_";

/// Who a token or login turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `token:NAME`, `user:NAME`, or `socket:UID` for the local control socket.
    pub name: String,
    pub role: Role,
    /// The repositories it may touch; all when empty.
    pub repositories: Vec<String>,
}

impl Principal {
    /// May it act on `repository` at all?
    pub fn may_use(&self, repository: &str) -> bool {
        self.repositories.is_empty() || self.repositories.iter().any(|r| r == repository)
    }
}

/// Why a bearer token was refused (all give 401; the reason goes to the audit log only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    Unknown,
    Expired,
    Revoked,
}

impl Refused {
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Malformed => "malformed token",
            Refused::Unknown => "unknown token",
            Refused::Expired => "expired token",
            Refused::Revoked => "revoked token",
        }
    }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

impl AuthFile {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("auth.json")
    }

    /// Read the file; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(AuthError::Io {
                    path: path.into(),
                    source,
                })
            }
        };
        serde_json::from_slice(&text).map_err(|e| AuthError::Corrupt {
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// Write the file whole (mode 0600, through a temporary file and a rename).
    pub fn save(&self, path: &Path) -> Result<(), AuthError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| AuthError::Io {
            path: path.into(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        let body = serde_json::to_vec_pretty(self).expect("auth file serializes");
        f.write_all(&body).and_then(|_| f.sync_all()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Run `f` on the file under an exclusive lock (`auth.json.lock`), then save it.
    pub fn edit<T>(
        path: &Path,
        f: impl FnOnce(&mut AuthFile) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        let io = |source| AuthError::Io {
            path: path.into(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let lock_path = path.with_extension("json.lock");
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io)?;
        let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| io(std::io::Error::from(e)))?;
        let mut file = Self::load(path)?;
        let out = f(&mut file)?;
        file.save(path)?;
        Ok(out)
    }

    /// Add a token; returns the secret, which is shown once and never stored.
    pub fn create_token(
        &mut self,
        name: &str,
        role: Role,
        repositories: Vec<String>,
        expires: Option<jiff::Timestamp>,
        now: jiff::Timestamp,
    ) -> Result<(Token, String), AuthError> {
        check_name(name)?;
        if self.live_token(name, now).is_some() {
            return Err(AuthError::Invalid(format!(
                "a token named {name:?} exists; revoke it first or choose another name"
            )));
        }
        let mut rng = rand::rngs::OsRng;
        let mut id = [0u8; 6];
        rng.fill_bytes(&mut id);
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let id = hex::encode(id);
        let secret = hex::encode(secret);
        let token = Token {
            id: id.clone(),
            name: name.into(),
            role,
            repositories,
            hash: sha256_hex(secret.as_bytes()),
            created: now,
            expires,
            revoked: None,
        };
        self.tokens.push(token.clone());
        Ok((token, format!("{TOKEN_PREFIX}{id}_{secret}")))
    }

    fn live_token(&self, name: &str, now: jiff::Timestamp) -> Option<&Token> {
        self.tokens
            .iter()
            .find(|t| t.name == name && t.revoked.is_none() && t.expires.is_none_or(|e| e > now))
    }

    /// Revoke every live token called `name_or_id` (a name or an id); returns how many.
    pub fn revoke_token(
        &mut self,
        name_or_id: &str,
        now: jiff::Timestamp,
    ) -> Result<usize, AuthError> {
        let mut n = 0;
        for t in &mut self.tokens {
            if (t.name == name_or_id || t.id == name_or_id) && t.revoked.is_none() {
                t.revoked = Some(now);
                n += 1;
            }
        }
        if n == 0 {
            return Err(AuthError::NotFound(format!(
                "no live token named {name_or_id:?}"
            )));
        }
        Ok(n)
    }

    /// Who `bearer` is, or why it is refused. The secret's hash is compared in constant time.
    pub fn authenticate_token(
        &self,
        bearer: &str,
        now: jiff::Timestamp,
    ) -> Result<Principal, Refused> {
        let rest = bearer
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(Refused::Malformed)?;
        let (id, secret) = rest.split_once('_').ok_or(Refused::Malformed)?;
        let t = self
            .tokens
            .iter()
            .find(|t| t.id == id)
            .ok_or(Refused::Unknown)?;
        let given = sha256_hex(secret.as_bytes());
        if !bool::from(given.as_bytes().ct_eq(t.hash.as_bytes())) {
            return Err(Refused::Unknown);
        }
        if t.revoked.is_some() {
            return Err(Refused::Revoked);
        }
        if t.expires.is_some_and(|e| e <= now) {
            return Err(Refused::Expired);
        }
        Ok(Principal {
            name: format!("token:{}", t.name),
            role: t.role,
            repositories: t.repositories.clone(),
        })
    }

    /// Add a user, or give an existing one this role, repositories and password.
    pub fn set_user(
        &mut self,
        name: &str,
        role: Role,
        repositories: Vec<String>,
        password: &[u8],
        now: jiff::Timestamp,
    ) -> Result<(), AuthError> {
        check_name(name)?;
        if password.len() < 8 {
            return Err(AuthError::Invalid(
                "password too short: use at least 8 characters".into(),
            ));
        }
        let hash = hash_password(password)?;
        match self.users.iter_mut().find(|u| u.name == name) {
            Some(u) => {
                u.password_hash = hash;
                u.role = role;
                u.repositories = repositories;
            }
            None => self.users.push(User {
                name: name.into(),
                role,
                repositories,
                password_hash: hash,
                created: now,
            }),
        }
        Ok(())
    }

    pub fn remove_user(&mut self, name: &str) -> Result<(), AuthError> {
        let before = self.users.len();
        self.users.retain(|u| u.name != name);
        if self.users.len() == before {
            return Err(AuthError::NotFound(format!("no user named {name:?}")));
        }
        Ok(())
    }

    /// Check a login. An unknown user costs as much as a wrong password, so that timing
    /// does not tell which names exist.
    pub fn authenticate_user(&self, name: &str, password: &[u8]) -> Option<Principal> {
        use argon2::PasswordVerifier;
        let user = self.users.iter().find(|u| u.name == name);
        let hash = user.map_or(DUMMY_HASH.as_str(), |u| u.password_hash.as_str());
        let parsed = argon2::PasswordHash::new(hash).ok()?;
        let ok = argon2::Argon2::default()
            .verify_password(password, &parsed)
            .is_ok();
        let user = user.filter(|_| ok)?;
        Some(Principal {
            name: format!("user:{}", user.name),
            role: user.role,
            repositories: user.repositories.clone(),
        })
    }
}

/// A hash nobody's password matches, verified for unknown users.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_password(b"no user has this password").expect("hashing a constant")
});

fn hash_password(password: &[u8]) -> Result<String, AuthError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2::Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Invalid(format!("hashing the password: {e}")))
}

fn check_name(name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "name {name:?}: use 1 to 64 letters, digits, '-', '_', '.' or '@'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2026-12-03T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn tokens_authenticate_until_revoked_or_expired() {
        let mut f = AuthFile::default();
        let (t, secret) = f
            .create_token("ci", Role::Operator, vec![], None, now())
            .unwrap();
        assert!(secret.starts_with("ibt_") && !secret.contains(&t.hash));
        let p = f.authenticate_token(&secret, now()).unwrap();
        assert_eq!((p.name.as_str(), p.role), ("token:ci", Role::Operator));
        // One character off, another id, no prefix.
        let mut wrong = secret.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == '0' { '1' } else { '0' });
        assert_eq!(f.authenticate_token(&wrong, now()), Err(Refused::Unknown));
        assert_eq!(
            f.authenticate_token(&secret[4..], now()),
            Err(Refused::Malformed)
        );
        assert!(f
            .create_token("ci", Role::Viewer, vec![], None, now())
            .is_err());
        f.revoke_token("ci", now()).unwrap();
        assert_eq!(f.authenticate_token(&secret, now()), Err(Refused::Revoked));
        assert!(f.revoke_token("ci", now()).is_err());
        // A revoked name may be used again.
        let later = now() + jiff::SignedDuration::from_hours(1);
        let (_, s2) = f
            .create_token("ci", Role::Viewer, vec!["main".into()], Some(later), now())
            .unwrap();
        let p = f.authenticate_token(&s2, now()).unwrap();
        assert!(p.may_use("main") && !p.may_use("other"));
        assert_eq!(f.authenticate_token(&s2, later), Err(Refused::Expired));
    }

    #[test]
    fn users_log_in_with_their_password_only() {
        let mut f = AuthFile::default();
        assert!(f
            .set_user("ann", Role::Admin, vec![], b"short", now())
            .is_err());
        f.set_user("ann", Role::Admin, vec![], b"correct horse", now())
            .unwrap();
        assert!(!f.users[0].password_hash.contains("correct"));
        assert_eq!(
            f.authenticate_user("ann", b"correct horse").map(|p| p.role),
            Some(Role::Admin)
        );
        assert!(f.authenticate_user("ann", b"wrong horse").is_none());
        assert!(f.authenticate_user("bob", b"correct horse").is_none());
        f.remove_user("ann").unwrap();
        assert!(f.authenticate_user("ann", b"correct horse").is_none());
    }

    #[test]
    fn the_file_round_trips_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = AuthFile::path(dir.path());
        let secret = AuthFile::edit(&p, |f| {
            Ok(f.create_token("x", Role::Admin, vec![], None, now())?.1)
        })
        .unwrap();
        let f = AuthFile::load(&p).unwrap();
        assert!(f.authenticate_token(&secret, now()).is_ok());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&p, "{not json").unwrap();
        assert!(matches!(AuthFile::load(&p), Err(AuthError::Corrupt { .. })));
    }
}
