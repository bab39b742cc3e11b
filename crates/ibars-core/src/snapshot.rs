//! Snapshots: what was backed up, when, from where, and the statistics of the run.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::{BlobId, SnapshotId};
use crate::tree::Bytes;

/// How the parent of a backup was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupType {
    /// Re-read everything.
    Full,
    /// Parent: the latest snapshot of the same host and paths.
    #[default]
    Incremental,
    /// Parent: the latest full snapshot of the same host and paths.
    Differential,
}

impl std::str::FromStr for BackupType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "full" => Ok(Self::Full),
            "incremental" => Ok(Self::Incremental),
            "differential" => Ok(Self::Differential),
            _ => Err(Error::Invalid(format!(
                "unknown backup type '{s}' (use full, incremental or differential)"
            ))),
        }
    }
}

impl std::fmt::Display for BackupType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Full => "full",
            Self::Incremental => "incremental",
            Self::Differential => "differential",
        })
    }
}

/// Statistics of the backup run that made a snapshot. Forecasting and anomaly detection read
/// these, so every field is counted exactly, never estimated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub started: Option<jiff::Timestamp>,
    pub finished: Option<jiff::Timestamp>,
    pub duration_ms: u64,
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unchanged: u64,
    pub dirs_new: u64,
    pub dirs_changed: u64,
    pub dirs_unchanged: u64,
    /// Bytes of file content read from the source.
    pub bytes_read: u64,
    /// Total size of all files in the snapshot.
    pub bytes_total: u64,
    pub blobs_added: u64,
    /// Plaintext bytes of blobs new to the repository.
    pub bytes_added: u64,
    /// What those blobs took in packs, after compression and encryption.
    pub bytes_stored: u64,
    pub errors: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_paths: Vec<Bytes>,
    /// Files whose size or mtime changed while they were read.
    #[serde(default)]
    pub files_changed_while_read: u64,
    /// Files and directories of the parent that are gone, and the size of those files.
    #[serde(default)]
    pub files_deleted: u64,
    #[serde(default)]
    pub dirs_deleted: u64,
    #[serde(default)]
    pub bytes_deleted: u64,
    /// New files whose content vanished at another path (counted in `files_new` and
    /// `files_deleted` too).
    #[serde(default)]
    pub files_moved: u64,
}

/// A snapshot. See docs/format.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub time: jiff::Timestamp,
    pub host: String,
    pub username: String,
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub tags: Vec<String>,
    pub paths: Vec<Bytes>,
    pub tree: BlobId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<SnapshotId>,
    #[serde(default)]
    pub backup_type: BackupType,
    pub program_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
    #[serde(default)]
    pub summary: Summary,
    /// For a snapshot rewritten by a repair: the snapshot it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<SnapshotId>,
    /// Set on a protected snapshot, which `forget` never removes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected: Option<Protection>,
    /// Set when the backup was flagged as an anomaly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<Anomaly>,
}

/// The anomaly finding of a flagged snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub verdict: ibars_insight::record::Verdict,
    /// The last clean snapshot of the source before this one (the first id of its line),
    /// which stays protected while the finding stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_point: Option<SnapshotId>,
    /// Set when an operator called it a false alarm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dismissed: Option<Dismissed>,
}

/// Who dismissed a finding, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dismissed {
    pub time: jiff::Timestamp,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why and since when a snapshot is protected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protection {
    pub time: jiff::Timestamp,
    /// Who or what protected it, e.g. "user" or an anomaly detector's finding.
    pub reason: String,
}

impl Snapshot {
    /// The first id of this snapshot's line: the id it was saved under before any rewrite.
    pub fn line(&self, id: &SnapshotId) -> SnapshotId {
        self.original.unwrap_or(*id)
    }

    /// Whether it carries an anomaly finding that was not dismissed.
    pub fn flagged(&self) -> bool {
        self.anomaly.as_ref().is_some_and(|a| a.dismissed.is_none())
    }

    /// Whether `other` is of the same source: host and set of paths.
    pub fn same_source(&self, other: &Snapshot) -> bool {
        SnapshotFilter {
            hosts: vec![self.host.clone()],
            tags: vec![],
            paths: self.paths.clone(),
            ..SnapshotFilter::default()
        }
        .matches(other)
    }

    /// Parse a snapshot's payload (JSON); `what` names it in errors.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Self> {
        let s: Snapshot =
            serde_json::from_slice(bytes).map_err(|e| Error::corrupt(what, e.to_string()))?;
        if s.version != 1 {
            return Err(Error::corrupt(
                what,
                format!("unsupported version {}", s.version),
            ));
        }
        Ok(s)
    }
}

/// Narrows which snapshots a reference like `latest` may match, as restic's --host/--tag/--path.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    pub hosts: Vec<String>,
    /// Each entry is a comma-separated set of tags that must all be present; any entry may match.
    pub tags: Vec<String>,
    /// The snapshot's paths must equal this set (when not empty).
    pub paths: Vec<Bytes>,
    /// No snapshot carrying one of these tags matches.
    pub exclude_tags: Vec<String>,
}

impl SnapshotFilter {
    pub fn matches(&self, s: &Snapshot) -> bool {
        if !self.hosts.is_empty() && !self.hosts.contains(&s.host) {
            return false;
        }
        if s.tags.iter().any(|t| self.exclude_tags.contains(t)) {
            return false;
        }
        if !self.tags.is_empty()
            && !self.tags.iter().any(|set| {
                set.split(',')
                    .filter(|t| !t.is_empty())
                    .all(|t| s.tags.iter().any(|x| x == t))
            })
        {
            return false;
        }
        if !self.paths.is_empty() {
            let mut a = self.paths.clone();
            let mut b = s.paths.clone();
            a.sort();
            b.sort();
            if a != b {
                return false;
            }
        }
        true
    }
}

/// Mark the clean points of standing findings protected, as `forget` and listings see them:
/// a snapshot named as the clean point of a flagged one keeps that protection until the
/// finding is dismissed or the flagged snapshot is gone.
pub fn protect_clean_points(all: &mut [(SnapshotId, Snapshot)]) {
    let points: std::collections::HashMap<SnapshotId, (SnapshotId, jiff::Timestamp)> = all
        .iter()
        .filter(|(_, s)| s.flagged())
        .filter_map(|(id, s)| Some((s.anomaly.as_ref()?.clean_point?, (*id, s.time))))
        .collect();
    for (id, s) in all.iter_mut() {
        if s.protected.is_some() {
            continue;
        }
        if let Some((flagged, time)) = points.get(&s.line(id)) {
            s.protected = Some(Protection {
                time: *time,
                reason: format!("anomaly: last clean snapshot before {}", flagged.short()),
            });
        }
    }
}

/// The newest snapshot matching `filter` that is clean: not flagged itself, and older than
/// every standing finding of its source.
pub fn latest_clean<'a>(
    all: &'a [(SnapshotId, Snapshot)],
    filter: &SnapshotFilter,
) -> Option<&'a (SnapshotId, Snapshot)> {
    let flagged: Vec<&Snapshot> = all.iter().map(|(_, s)| s).filter(|s| s.flagged()).collect();
    all.iter()
        .filter(|(_, s)| filter.matches(s) && !s.flagged())
        .filter(|(_, s)| !flagged.iter().any(|f| f.time <= s.time && f.same_source(s)))
        .max_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)))
}

/// Resolve `latest`, `latest-clean`, a full id or an id prefix among `all`, after filtering.
pub fn resolve<'a>(
    all: &'a [(SnapshotId, Snapshot)],
    spec: &str,
    filter: &SnapshotFilter,
) -> Result<&'a (SnapshotId, Snapshot)> {
    let candidates = all.iter().filter(|(_, s)| filter.matches(s));
    if spec == "latest" {
        return candidates
            .max_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)))
            .ok_or_else(|| Error::Snapshot("latest: no snapshot matches".into()));
    }
    if spec == "latest-clean" {
        return latest_clean(all, filter)
            .ok_or_else(|| Error::Snapshot("latest-clean: no clean snapshot matches".into()));
    }
    let spec_l = spec.to_ascii_lowercase();
    if spec_l.is_empty() || !spec_l.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Snapshot(format!(
            "{spec}: not 'latest', 'latest-clean' or a snapshot id"
        )));
    }
    let found: Vec<_> = candidates
        .filter(|(id, _)| id.to_hex().starts_with(&spec_l))
        .collect();
    match found.len() {
        0 => Err(Error::Snapshot(format!("{spec}: no snapshot matches"))),
        1 => Ok(found[0]),
        n => Err(Error::Snapshot(format!(
            "{spec}: prefix is ambiguous ({n} snapshots match)"
        ))),
    }
}
