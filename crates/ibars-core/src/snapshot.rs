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
}

/// A snapshot. See docs/format.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// Why and since when a snapshot is protected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protection {
    pub time: jiff::Timestamp,
    /// Who or what protected it, e.g. "user" or an anomaly detector's finding.
    pub reason: String,
}

impl Snapshot {
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
}

impl SnapshotFilter {
    pub fn matches(&self, s: &Snapshot) -> bool {
        if !self.hosts.is_empty() && !self.hosts.contains(&s.host) {
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

/// Resolve `latest`, a full id or an id prefix among `all`, after filtering.
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
    let spec_l = spec.to_ascii_lowercase();
    if spec_l.is_empty() || !spec_l.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Snapshot(format!(
            "{spec}: not 'latest' or a snapshot id"
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
