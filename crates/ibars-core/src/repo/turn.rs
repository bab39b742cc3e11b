//! The commit turn: a short mutual exclusion between backups that are about to index their
//! packs, so that the second of two simultaneous backups sees the first one's index and can
//! drop the blobs they both uploaded (see `ops/backup/commit.rs` and docs/locking.md).
//!
//! It is a lock object marked `committing`, taken like any lock: write, then list. A process
//! that sees another live turn removes its own and tries again after a random pause, so two
//! that race both see each other and neither proceeds unseen. Nothing depends on the turn for
//! safety, only for dedup: after [`TURN_WAIT`] without one, a backup commits anyway.

use std::time::{Duration, Instant};

use super::lock::write_lock;
use super::{LockMode, Repository};
use crate::backend::FileKind;

/// How long a backup waits for its turn before it commits without one.
pub const TURN_WAIT: Duration = Duration::from_secs(60);
/// A turn older than this is ignored: its holder died, or could not remove it.
pub const TURN_STALE: Duration = Duration::from_secs(120);

/// A held commit turn; dropping it gives the turn up.
pub struct CommitTurn<'a> {
    repo: &'a Repository,
    name: String,
}

impl Drop for CommitTurn<'_> {
    fn drop(&mut self) {
        if self
            .repo
            .backend
            .remove(FileKind::Lock, &self.name)
            .is_err()
        {
            // A store that cannot delete: this process at least knows the turn is over.
            self.repo
                .abandoned_turns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(std::mem::take(&mut self.name));
        }
    }
}

impl Repository {
    /// Wait for the commit turn, up to [`TURN_WAIT`]. `None` when it could not be had (the
    /// wait ran out, or the store refused): the caller commits anyway, without dedup against
    /// a backup committing at the same moment.
    pub fn commit_turn(&self) -> Option<CommitTurn<'_>> {
        let deadline = Instant::now() + TURN_WAIT;
        let mut pause = Duration::from_millis(50);
        loop {
            match self.try_turn() {
                Ok(Some(turn)) => return Some(turn),
                Ok(None) if Instant::now() < deadline => {
                    let jitter = rand::random::<u64>() % (pause.as_millis() as u64 * 4 + 1);
                    std::thread::sleep(Duration::from_millis(jitter));
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Ok(None) => {
                    tracing::warn!(
                        "no commit turn after {} s; indexing without it",
                        TURN_WAIT.as_secs()
                    );
                    return None;
                }
                Err(e) => {
                    tracing::warn!("could not take the commit turn ({e}); indexing without it");
                    return None;
                }
            }
        }
    }

    fn try_turn(&self) -> crate::error::Result<Option<CommitTurn<'_>>> {
        let mut info = self.lock_info(LockMode::Shared, jiff::Timestamp::now());
        info.committing = true;
        let turn = CommitTurn {
            repo: self,
            name: write_lock(self.backend.as_ref(), &self.key, &info)?,
        };
        let abandoned = self
            .abandoned_turns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let now = jiff::Timestamp::now();
        let taken = self.locks()?.into_iter().any(|(name, other)| {
            other.is_some_and(|o| {
                o.committing
                    && name != turn.name
                    && !abandoned.contains(&name)
                    && !o.is_stale()
                    && now.duration_since(o.refreshed).as_secs() < TURN_STALE.as_secs() as i64
            })
        });
        Ok((!taken).then_some(turn))
    }
}
