//! Access control of the API: who is calling ([`Auth::authenticate`]) and what they may do
//! ([`require`]). Tokens and users are in [`store`]; sessions and the login brake in
//! [`session`].
//!
//! Who a request is:
//! - on the Unix control socket: the socket's user, as `admin` (the socket is mode 0600, or
//!   0660 for `socket_group`: reaching it is the credential);
//! - `Authorization: Bearer ibt_...`: that token;
//! - the session cookie of a dashboard login; a mutating request must also carry the
//!   session's CSRF token in `X-CSRF-Token`.

pub mod session;
pub mod store;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

pub use store::{AuthFile, Principal, Role};

/// Why a request is refused, with the HTTP status it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// 401: no credentials, or credentials that are not (or no longer) valid.
    Unauthenticated(&'static str),
    /// 403: authenticated, but not allowed this.
    Forbidden(String),
}

impl Denied {
    pub fn status(&self) -> u16 {
        match self {
            Denied::Unauthenticated(_) => 401,
            Denied::Forbidden(_) => 403,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Denied::Unauthenticated(m) => format!("not authenticated: {m}"),
            Denied::Forbidden(m) => format!("forbidden: {m}"),
        }
    }
}

/// Whether `p` may do what needs `role`, on `repository` when it names one.
pub fn require(p: &Principal, role: Role, repository: Option<&str>) -> Result<(), Denied> {
    if p.role < role {
        return Err(Denied::Forbidden(format!(
            "{} has role {}, this needs {}",
            p.name,
            p.role.as_str(),
            role.as_str()
        )));
    }
    if let Some(r) = repository {
        if !p.may_use(r) {
            return Err(Denied::Forbidden(format!(
                "{} may not use repository {r:?}",
                p.name
            )));
        }
    }
    Ok(())
}

/// The auth file as last read, and when it changed.
struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    file: AuthFile,
}

/// The daemon's view of tokens, users and sessions.
pub struct Auth {
    path: PathBuf,
    loaded: Mutex<Loaded>,
    pub sessions: Mutex<session::Sessions>,
    pub limiter: Mutex<session::LoginLimiter>,
}

fn guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Auth {
    /// The auth file in `state_dir`, read at first use and whenever it changes.
    pub fn new(state_dir: &std::path::Path) -> Self {
        Auth {
            path: AuthFile::path(state_dir),
            loaded: Mutex::new(Loaded {
                stamp: None,
                file: AuthFile::default(),
            }),
            sessions: Default::default(),
            limiter: Default::default(),
        }
    }

    /// The auth file now. A file that cannot be read counts as empty (nobody gets in by
    /// token or password) and is logged each time it changes.
    pub fn file(&self) -> AuthFile {
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        let mut g = guard(&self.loaded);
        if g.stamp != stamp || stamp.is_none() {
            g.file = match AuthFile::load(&self.path) {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!("{e}; refusing every token and login until it is fixed");
                    AuthFile::default()
                }
            };
            g.stamp = stamp;
        }
        g.file.clone()
    }

    /// Who a bearer token is.
    pub fn token(&self, bearer: &str) -> Result<Principal, Denied> {
        self.file()
            .authenticate_token(bearer, jiff::Timestamp::now())
            .map_err(|r| Denied::Unauthenticated(r.as_str()))
    }

    /// The session of a cookie, if live.
    pub fn session(&self, cookie: &str) -> Option<session::Session> {
        guard(&self.sessions).get(cookie, Instant::now())
    }
}
