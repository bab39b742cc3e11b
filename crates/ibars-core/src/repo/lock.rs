//! Repository locks: shared (backup, restore, read) and exclusive (prune, key removal).
//! A lock is a sealed object under `locks/`, refreshed every few minutes by a background
//! thread. A lock is stale when it was not refreshed for [`STALE_AFTER`], or when it belongs
//! to this host and its process no longer runs. See docs/locking.md.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{hostname, username, Repository};
use crate::backend::{Backend, FileKind};
use crate::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::sealed::{self, ObjectKind};

/// A lock not refreshed for this long is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(30 * 60);
/// How often a held lock is refreshed.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

/// The content of a lock object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    pub version: u32,
    pub time: jiff::Timestamp,
    pub refreshed: jiff::Timestamp,
    pub exclusive: bool,
    pub host: String,
    pub username: String,
    pub pid: u32,
}

impl LockInfo {
    /// Parse a lock's payload (JSON).
    pub fn parse(bytes: &[u8], what: &str) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::corrupt(what, e.to_string()))
    }

    /// Whether this lock can be ignored and removed.
    pub fn is_stale(&self) -> bool {
        let age = jiff::Timestamp::now().duration_since(self.refreshed);
        if age.as_secs() > STALE_AFTER.as_secs() as i64 {
            return true;
        }
        if self.host == hostname() {
            let pid = nix::unistd::Pid::from_raw(self.pid as i32);
            return matches!(
                nix::sys::signal::kill(pid, None),
                Err(nix::errno::Errno::ESRCH)
            );
        }
        false
    }

    fn describe(&self) -> String {
        format!(
            "{} lock held by pid {} on {} ({}), since {}",
            if self.exclusive {
                "exclusive"
            } else {
                "shared"
            },
            self.pid,
            self.host,
            self.username,
            self.time
        )
    }
}

fn write_lock(backend: &dyn Backend, key: &MasterKey, info: &LockInfo) -> Result<String> {
    let payload = serde_json::to_vec(info).expect("lock serializes");
    let bytes = sealed::seal(key, ObjectKind::Lock, &payload, false);
    let name = blake3::hash(&bytes).to_hex().to_string();
    backend.write(FileKind::Lock, &name, bytes.into())?;
    Ok(name)
}

/// A held lock. Dropping it stops the refresher and removes the lock object.
pub struct LockGuard {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Repository {
    /// All locks with their content; unreadable ones are returned as `None`.
    pub fn locks(&self) -> Result<Vec<(String, Option<LockInfo>)>> {
        let mut out = Vec::new();
        for e in self.backend.list(FileKind::Lock)? {
            let info = self
                .load_sealed(FileKind::Lock, ObjectKind::Lock, &e.name)
                .ok()
                .and_then(|p| LockInfo::parse(&p, &e.name).ok());
            out.push((e.name, info));
        }
        Ok(out)
    }

    /// Remove stale locks (all locks with `all`). Returns how many were removed.
    pub fn remove_locks(&self, all: bool) -> Result<usize> {
        let mut n = 0;
        for (name, info) in self.locks()? {
            if all || info.as_ref().is_some_and(LockInfo::is_stale) {
                self.backend.remove(FileKind::Lock, &name)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Take a lock, or fail with [`Error::Locked`] naming the holder of a conflicting one.
    pub fn lock(&self, mode: LockMode) -> Result<LockGuard> {
        let now = jiff::Timestamp::now();
        let mut info = LockInfo {
            version: 1,
            time: now,
            refreshed: now,
            exclusive: mode == LockMode::Exclusive,
            host: hostname(),
            username: username(),
            pid: std::process::id(),
        };
        let mine = write_lock(self.backend.as_ref(), &self.key, &info)?;
        for (name, other) in self.locks()? {
            if name == mine {
                continue;
            }
            let conflict = match &other {
                Some(o) if o.is_stale() => {
                    let _ = self.backend.remove(FileKind::Lock, &name);
                    None
                }
                Some(o) if o.exclusive || mode == LockMode::Exclusive => Some(o.describe()),
                Some(_) => None,
                None if mode == LockMode::Exclusive => Some(format!("unreadable lock {name}")),
                None => None,
            };
            if let Some(c) = conflict {
                let _ = self.backend.remove(FileKind::Lock, &mine);
                return Err(Error::Locked(c));
            }
        }
        let backend: Arc<dyn Backend> = Arc::clone(&self.backend);
        let key = self.key.clone();
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ibars-lock".into())
            .spawn(move || {
                let mut current = mine;
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(REFRESH_EVERY) {
                    info.refreshed = jiff::Timestamp::now();
                    match write_lock(backend.as_ref(), &key, &info) {
                        Ok(new) => {
                            let _ = backend.remove(FileKind::Lock, &current);
                            current = new;
                        }
                        Err(e) => tracing::warn!("could not refresh lock: {e}"),
                    }
                }
                let _ = backend.remove(FileKind::Lock, &current);
            })
            .map_err(|e| Error::io("lock refresher thread", e))?;
        Ok(LockGuard {
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}
