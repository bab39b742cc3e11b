//! Repository locks: shared (backup, restore, check, copy), prune (forget and prune: exclusive
//! among themselves and towards exclusive locks, but beside shared ones) and exclusive (rewrite,
//! tag, repairs, a prune that deletes at once). A lock is a sealed object under `locks/`,
//! refreshed every few minutes by a background thread. A lock is stale when it was not
//! refreshed for [`STALE_AFTER`], or when it belongs to this host and its process no longer
//! runs. See docs/locking.md.

use std::sync::atomic::{AtomicI64, Ordering};
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
    /// Adds or reads data: runs beside other shared locks and beside prune locks.
    Shared,
    /// Forget and prune: one at a time, and not beside exclusive locks; shared locks are not
    /// held off, because prune deletes only what no shared holder can still need (see
    /// docs/locking.md).
    Prune,
    /// Alone.
    Exclusive,
}

/// The content of a lock object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    pub version: u32,
    pub time: jiff::Timestamp,
    pub refreshed: jiff::Timestamp,
    pub exclusive: bool,
    /// An exclusive lock not yet held: its owner waits for the others to finish.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub waiting: bool,
    /// A backup's commit turn (see `repo/turn.rs`), held for seconds while it indexes its
    /// packs; to every other rule it is a shared lock.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub committing: bool,
    /// A prune lock (forget, prune). Written with `exclusive` set as well, so that versions
    /// that do not know it keep away as from an exclusive lock.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pruning: bool,
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

    /// Whether this lock keeps shared locks away: an exclusive lock, but not a prune lock.
    pub fn excludes_shared(&self) -> bool {
        self.exclusive && !self.pruning
    }

    fn describe(&self) -> String {
        format!(
            "{} lock held by pid {} on {} ({}), since {}",
            match (self.exclusive, self.pruning, self.waiting, self.committing) {
                (true, true, true, _) => "waiting prune",
                (true, true, false, _) => "prune",
                (true, false, true, _) => "waiting exclusive",
                (true, false, false, _) => "exclusive",
                (false, _, _, true) => "commit turn",
                _ => "shared",
            },
            self.pid,
            self.host,
            self.username,
            self.time
        )
    }
}

pub(super) fn write_lock(
    backend: &dyn Backend,
    key: &MasterKey,
    info: &LockInfo,
) -> Result<String> {
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
    /// When the lock object was last written, in Unix seconds.
    refreshed: Arc<AtomicI64>,
}

impl LockGuard {
    /// Fail if the lock may have been taken for stale by others: it was not refreshed for
    /// nearly [`STALE_AFTER`] (storage unreachable, or the machine was suspended). Call before
    /// committing work that relies on the lock, such as a backup's snapshot: a prune may have
    /// removed data this process counted on.
    pub fn check(&self) -> Result<()> {
        let age = jiff::Timestamp::now().as_second() - self.refreshed.load(Ordering::Relaxed);
        if age >= (STALE_AFTER - REFRESH_EVERY).as_secs() as i64 {
            return Err(Error::Locked(format!(
                "this process's lock was not refreshed for {age} s and may have been removed \
                 as stale; stopping without committing"
            )));
        }
        Ok(())
    }
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
    ///
    /// A lock listed and gone when read was released or refreshed (which writes the new lock
    /// before it removes the old one), so `locks/` is listed again, a few times, until every
    /// lock listed could be read: a refreshed lock is never missed. After that, vanished locks
    /// are returned as unreadable.
    pub fn locks(&self) -> Result<Vec<(String, Option<LockInfo>)>> {
        let mut out = Vec::new();
        for attempt in 0..4 {
            out.clear();
            let mut vanished = false;
            for e in self.backend.list(FileKind::Lock)? {
                let info = match self.load_sealed(FileKind::Lock, ObjectKind::Lock, &e.name) {
                    Ok(p) => LockInfo::parse(&p, &e.name).ok(),
                    Err(err) if err.is_not_found() && attempt < 3 => {
                        vanished = true;
                        continue;
                    }
                    Err(_) => None,
                };
                out.push((e.name, info));
            }
            if !vanished {
                break;
            }
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

    /// Take a lock. A conflicting lock fails with [`Error::Locked`] naming its holder, at once
    /// or, after [`Repository::set_lock_wait`], once the wait is over. An exclusive lock that
    /// waits announces itself (see docs/locking.md), so that new shared locks queue behind it
    /// and a stream of backups cannot starve a prune.
    pub fn lock(&self, mode: LockMode) -> Result<LockGuard> {
        let deadline = std::time::Instant::now() + self.lock_wait;
        let mut delay = Duration::from_millis(200);
        let mut intent: Option<(String, LockInfo)> = None;
        let announces = mode != LockMode::Shared && !self.lock_wait.is_zero();
        loop {
            if announces {
                self.announce(mode, &mut intent)?;
            }
            let attempt = self.try_lock(mode, intent.as_ref());
            let now = std::time::Instant::now();
            match attempt {
                Err(Error::Locked(_)) if now < deadline => {
                    let jitter = rand::random::<u64>() % (delay.as_millis() as u64 / 2 + 1);
                    let nap = (delay + Duration::from_millis(jitter)).min(deadline - now);
                    std::thread::sleep(nap);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                other => {
                    if let Some((name, _)) = intent {
                        let _ = self.backend.remove(FileKind::Lock, &name);
                    }
                    return other;
                }
            }
        }
    }

    /// Write or refresh this process's announcement that it waits for an exclusive (or prune)
    /// lock.
    fn announce(&self, mode: LockMode, intent: &mut Option<(String, LockInfo)>) -> Result<()> {
        let now = jiff::Timestamp::now();
        let fresh = intent.as_ref().is_some_and(|(_, i)| {
            now.duration_since(i.refreshed).as_secs() < REFRESH_EVERY.as_secs() as i64
        });
        if fresh {
            return Ok(());
        }
        let mut info = match intent.take() {
            Some((old, info)) => {
                let _ = self.backend.remove(FileKind::Lock, &old);
                info
            }
            None => self.lock_info(mode, now),
        };
        info.waiting = true;
        info.refreshed = now;
        let name = write_lock(self.backend.as_ref(), &self.key, &info)?;
        *intent = Some((name, info));
        Ok(())
    }

    pub(super) fn lock_info(&self, mode: LockMode, now: jiff::Timestamp) -> LockInfo {
        LockInfo {
            version: 1,
            time: now,
            refreshed: now,
            exclusive: mode != LockMode::Shared,
            waiting: false,
            committing: false,
            pruning: mode == LockMode::Prune,
            host: hostname(),
            username: username(),
            pid: std::process::id(),
        }
    }

    /// One attempt: write the lock, then list. Shared locks give way to every exclusive one,
    /// waiting or held, but not to prune locks; prune locks give way to exclusive and prune
    /// locks, exclusive ones to every other lock, except (both) waiters that started waiting
    /// after this one (`intent`).
    fn try_lock(&self, mode: LockMode, intent: Option<&(String, LockInfo)>) -> Result<LockGuard> {
        let now = jiff::Timestamp::now();
        let mut info = self.lock_info(mode, now);
        if let Some((_, i)) = intent {
            info.time = i.time;
        }
        let mine = write_lock(self.backend.as_ref(), &self.key, &info)?;
        let my_intent = intent.map(|(n, _)| n.as_str());
        for (name, other) in self.locks()? {
            if name == mine || Some(name.as_str()) == my_intent {
                continue;
            }
            let conflict = match &other {
                Some(o) if o.is_stale() => {
                    let _ = self.backend.remove(FileKind::Lock, &name);
                    None
                }
                Some(o) if mode == LockMode::Shared => o.excludes_shared().then(|| o.describe()),
                Some(o) if o.waiting && (o.time, &name) > (info.time, &mine) => None,
                Some(o) if mode == LockMode::Prune && !o.exclusive => None,
                Some(o) => Some(o.describe()),
                None if mode != LockMode::Shared => Some(format!("unreadable lock {name}")),
                None => None,
            };
            if let Some(c) = conflict {
                let _ = self.backend.remove(FileKind::Lock, &mine);
                return Err(Error::Locked(c));
            }
        }
        self.hold(mine, info)
    }

    /// Keep a written lock refreshed until the guard is dropped.
    fn hold(&self, mine: String, mut info: LockInfo) -> Result<LockGuard> {
        let refreshed = Arc::new(AtomicI64::new(info.refreshed.as_second()));
        let last = Arc::clone(&refreshed);
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
                            last.store(info.refreshed.as_second(), Ordering::Relaxed);
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
            refreshed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::OpendalBackend;
    use crate::crypto::keyfile::KdfParams;
    use crate::repo::InitOptions;

    #[test]
    fn a_lock_not_refreshed_for_too_long_fails_its_check() {
        let opts = InitOptions {
            kdf: KdfParams {
                m_cost: 64,
                t_cost: 1,
                p_cost: 1,
            },
            ..Default::default()
        };
        let repo =
            Repository::init(Arc::new(OpendalBackend::memory().unwrap()), b"pw", &opts).unwrap();
        let guard = repo.lock(LockMode::Shared).unwrap();
        guard.check().unwrap();
        let long_ago = jiff::Timestamp::now().as_second() - STALE_AFTER.as_secs() as i64;
        guard.refreshed.store(long_ago, Ordering::Relaxed);
        assert!(matches!(guard.check(), Err(Error::Locked(_))));
    }
}
