//! A backup's history record, and its judgement against the earlier records of its source.

use ibars_insight::anomaly::{judge, Params};
use ibars_insight::record::{BackupRun, Features, Record, RunKind, RunResult, Status, Verdict};

use crate::history;
use crate::id::SnapshotId;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::snapshot::{latest_clean, Anomaly, Protection, Snapshot, SnapshotFilter};

/// The record of a backup that made `snap`; the snapshot id is filled in once it is saved.
pub(crate) fn record(snap: &Snapshot, features: Option<Features>) -> Record {
    let s = &snap.summary;
    let mut r = Record::new(RunKind::Backup, snap.time, snap.host.clone());
    r.duration_ms = s.duration_ms;
    r.errors = s.errors;
    r.result = if s.errors > 0 {
        RunResult::Partial
    } else {
        RunResult::Ok
    };
    r.files = s.files_new + s.files_changed + s.files_unchanged;
    r.bytes = s.bytes_total;
    r.backup = Some(BackupRun {
        snapshot: String::new(),
        parent: snap.parent.map(|p| p.to_hex()),
        paths: snap.paths.iter().map(|p| p.lossy().into_owned()).collect(),
        backup_type: snap.backup_type.to_string(),
        tags: snap.tags.clone(),
        files_new: s.files_new,
        files_changed: s.files_changed,
        files_unchanged: s.files_unchanged,
        files_deleted: s.files_deleted,
        files_moved: s.files_moved,
        dirs_new: s.dirs_new,
        dirs_changed: s.dirs_changed,
        dirs_unchanged: s.dirs_unchanged,
        dirs_deleted: s.dirs_deleted,
        bytes_read: s.bytes_read,
        bytes_total: s.bytes_total,
        bytes_deleted: s.bytes_deleted,
        bytes_added: s.bytes_added,
        bytes_stored: s.bytes_stored,
        features,
        verdict: None,
    });
    r
}

/// Judge the backup `rec` describes against the repository's history. When it is suspect,
/// the finding for its snapshot: the verdict, and the last clean snapshot of the source
/// before it, which `snapshots` (loaded when the backup started) must hold.
pub(crate) fn assess(
    repo: &Repository,
    rec: &Record,
    snap: &Snapshot,
    snapshots: &[(SnapshotId, Snapshot)],
    progress: &dyn Progress,
) -> (Option<Verdict>, Option<Anomaly>) {
    let hist = match history::load_all(repo) {
        Ok(h) => h,
        Err(e) => {
            progress.warn(&format!("anomaly detection skipped: {e}"));
            return (None, None);
        }
    };
    for (name, e) in &hist.unreadable {
        progress.warn(&format!(
            "history/{name} left out of the anomaly baseline: {e}"
        ));
    }
    let records: Vec<Record> = hist.records.into_iter().map(|(_, r)| r).collect();
    let Some(verdict) = judge(&records, rec, &Params::default()) else {
        return (None, None);
    };
    if verdict.status != Status::Suspect {
        return (Some(verdict), None);
    }
    let earlier: Vec<(SnapshotId, Snapshot)> = snapshots
        .iter()
        .filter(|(_, s)| s.time < snap.time)
        .cloned()
        .collect();
    let source = SnapshotFilter {
        hosts: vec![snap.host.clone()],
        tags: vec![],
        paths: snap.paths.clone(),
        ..SnapshotFilter::default()
    };
    let clean_point = latest_clean(&earlier, &source).map(|(id, s)| s.line(id));
    let anomaly = Anomaly {
        verdict: verdict.clone(),
        clean_point,
        dismissed: None,
    };
    (Some(verdict), Some(anomaly))
}

/// The protection a flagged snapshot is saved with.
pub(crate) fn protection(a: &Anomaly) -> Protection {
    let first = a
        .verdict
        .reasons
        .first()
        .cloned()
        .unwrap_or_else(|| "suspected".into());
    Protection {
        time: jiff::Timestamp::now(),
        reason: format!("anomaly: {first}"),
    }
}
