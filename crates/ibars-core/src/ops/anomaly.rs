//! Anomaly findings: listing them, and dismissing a false alarm. A finding lives in its
//! flagged snapshot (`Snapshot::anomaly`); a dismissal rewrites that snapshot (as `tag`
//! does) and leaves a record in the history, from which the model's baseline learns.

use ibars_insight::record::{Dismissal, Record, RunKind};

use crate::error::{Error, Result};
use crate::history;
use crate::id::SnapshotId;
use crate::ops::forget::remove_snapshots;
use crate::repo::{hostname, LockMode, Repository};
use crate::snapshot::{Dismissed, Snapshot};

/// One finding, as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub id: SnapshotId,
    pub snapshot: Snapshot,
    /// The clean point's current id, if that snapshot still exists.
    pub clean_point: Option<SnapshotId>,
}

/// Every snapshot that carries a finding (dismissed ones too), oldest first.
pub fn findings(all: &[(SnapshotId, Snapshot)]) -> Vec<Finding> {
    all.iter()
        .filter_map(|(id, s)| {
            let a = s.anomaly.as_ref()?;
            let clean_point = a
                .clean_point
                .and_then(|cp| all.iter().find(|(i, c)| c.line(i) == cp).map(|(i, _)| *i));
            Some(Finding {
                id: *id,
                snapshot: s.clone(),
                clean_point,
            })
        })
        .collect()
}

/// Mark the finding of snapshot `id` a false alarm: its snapshot is saved anew with the
/// dismissal and without the protection the finding gave it (the clean point's protection
/// ends with it), and a dismissal record is written. Returns the snapshot's new id.
pub fn dismiss(
    repo: &Repository,
    id: &SnapshotId,
    reason: Option<String>,
    by: &str,
) -> Result<SnapshotId> {
    let _lock = repo.lock(LockMode::Exclusive)?;
    let old = repo.load_snapshot(id)?;
    let mut s = old.clone();
    let Some(a) = &mut s.anomaly else {
        return Err(Error::Invalid(format!(
            "snapshot {} was not flagged as an anomaly",
            id.short()
        )));
    };
    if a.dismissed.is_some() {
        return Err(Error::Invalid(format!(
            "the finding of snapshot {} was dismissed already",
            id.short()
        )));
    }
    a.dismissed = Some(Dismissed {
        time: jiff::Timestamp::now(),
        by: by.to_string(),
        reason: reason.clone(),
    });
    if s.protected
        .as_ref()
        .is_some_and(|p| p.reason.starts_with("anomaly:"))
    {
        s.protected = None;
    }
    let line = old.line(id);
    s.original = Some(line);
    let new = repo.save_snapshot(&s)?;
    remove_snapshots(repo, &[*id])?;
    let mut rec = Record::new(RunKind::Dismissal, jiff::Timestamp::now(), hostname());
    rec.snapshots = vec![line.to_hex()];
    rec.dismissal = Some(Dismissal {
        snapshot: line.to_hex(),
        reason,
        by: by.to_string(),
    });
    history::save(repo, &rec)?;
    Ok(new)
}
