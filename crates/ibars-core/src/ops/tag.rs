//! `tag`: change a snapshot's tags or protection. Snapshots are immutable objects named by
//! their hash, so a changed snapshot is saved anew (with `original` naming the first of its
//! line) and the old one removed.

use crate::error::{Error, Result};
use crate::id::SnapshotId;
use crate::ops::forget::remove_snapshots;
use crate::repo::{LockMode, Repository};
use crate::snapshot::Protection;

/// The changes to make.
#[derive(Debug, Clone, Default)]
pub struct TagChanges {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// Replace all tags with these (before `add` and `remove`).
    pub set: Option<Vec<String>>,
    /// Protect, giving the reason (e.g. "user").
    pub protect: Option<String>,
    pub unprotect: bool,
}

impl TagChanges {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty()
            && self.remove.is_empty()
            && self.set.is_none()
            && self.protect.is_none()
            && !self.unprotect
    }
}

/// One snapshot's fate: `new` is `None` when nothing changed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Retagged {
    pub old: SnapshotId,
    pub new: Option<SnapshotId>,
    pub tags: Vec<String>,
    pub protected: bool,
}

/// Apply `changes` to each snapshot in `ids`.
pub fn tag(repo: &Repository, ids: &[SnapshotId], changes: &TagChanges) -> Result<Vec<Retagged>> {
    if changes.protect.is_some() && changes.unprotect {
        return Err(Error::Invalid("protect and unprotect at once".into()));
    }
    let _lock = repo.lock(LockMode::Exclusive)?;
    let mut out = Vec::new();
    let mut replaced = Vec::new();
    for id in ids {
        let old = repo.load_snapshot(id)?;
        let mut s = old.clone();
        if let Some(set) = &changes.set {
            s.tags = set.clone();
        }
        s.tags.retain(|t| !changes.remove.contains(t));
        for t in &changes.add {
            if !s.tags.contains(t) {
                s.tags.push(t.clone());
            }
        }
        if let Some(reason) = &changes.protect {
            if s.protected.is_none() {
                s.protected = Some(Protection {
                    time: jiff::Timestamp::now(),
                    reason: reason.clone(),
                });
            }
        }
        if changes.unprotect {
            s.protected = None;
        }
        let new = if s == old {
            None
        } else {
            s.original = Some(old.original.unwrap_or(*id));
            replaced.push(*id);
            Some(repo.save_snapshot(&s)?)
        };
        out.push(Retagged {
            old: *id,
            new,
            tags: s.tags.clone(),
            protected: s.protected.is_some(),
        });
    }
    remove_snapshots(repo, &replaced)?;
    Ok(out)
}
