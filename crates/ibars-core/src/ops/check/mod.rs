//! `check`: prove that a repository is whole, or say exactly what is not.
//!
//! The structure pass reads index files, pack listings, snapshots, trees and locks. With
//! `read_data`, the data pass reads packs (all, or a [`Subset`]), checks each against its name,
//! its header against the index, and decrypts and verifies every blob; parity files are
//! checked on the way, and a damaged pack is marked repairable when its parity suffices.
//! Damage is traced to every snapshot and path it touches. Each check leaves a record in
//! `history/`, and the packs it verified in the scrub state.

mod affected;
mod data;
pub mod scrub;
mod structure;
pub mod subset;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

pub use subset::Subset;

use crate::error::Result;
use crate::id::{BlobId, PackId, SnapshotId};
use crate::progress::Progress;
use crate::repo::Repository;

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Read packs and verify every blob in them.
    pub read_data: bool,
    /// Which packs to read (with `read_data`).
    pub subset: Subset,
    /// Packs read at once.
    pub threads: usize,
    /// Save a check record and the scrub state (off for read-only use).
    pub record: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            read_data: false,
            subset: Subset::All,
            threads: 3,
            record: true,
        }
    }
}

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    IndexUnreadable,
    IndexEntries,
    PackMissing,
    PackSize,
    PackDamaged,
    PackHeader,
    BlobDamaged,
    BlobMissing,
    SnapshotUnreadable,
    /// A snapshot seen by the last check is gone, and nothing removed it on purpose.
    SnapshotLost,
    TreeMissing,
    TreeUnreadable,
    LockUnreadable,
    // Warnings: nothing is lost, but something deserves attention.
    PackUnindexed,
    LockStale,
    ParityMissing,
    ParityDamaged,
    ParityOrphan,
    /// A history record that does not decrypt or parse: restores lose nothing, the models
    /// lose that run.
    HistoryUnreadable,
}

impl FindingKind {
    /// Whether this finding means data is damaged or unreachable.
    pub fn is_error(self) -> bool {
        !matches!(
            self,
            FindingKind::PackUnindexed
                | FindingKind::LockStale
                | FindingKind::ParityMissing
                | FindingKind::ParityDamaged
                | FindingKind::ParityOrphan
                | FindingKind::HistoryUnreadable
        )
    }
}

/// One problem, naming the object it is about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The object: `pack <id>`, `index/<id>`, `snapshot <id>`, `tree <id>`, `lock <id>`.
    pub object: String,
    pub message: String,
}

/// Whether parity can rebuild a damaged pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParityStatus {
    /// The pack has no parity file.
    None,
    /// `repair packs` can rebuild it.
    Repairable,
    /// The damage exceeds the parity, or the parity file is damaged too.
    Unrepairable,
}

/// A pack with damage, and the blobs lost with it (until repaired).
#[derive(Debug, Clone, Serialize)]
pub struct DamagedPack {
    pub pack: PackId,
    pub reason: String,
    pub blobs: Vec<BlobId>,
    pub parity: ParityStatus,
}

/// A snapshot touched by damage, and the paths in it that cannot be restored whole.
#[derive(Debug, Clone, Serialize)]
pub struct Affected {
    pub snapshot: SnapshotId,
    pub time: jiff::Timestamp,
    pub host: String,
    /// Paths in the snapshot; a directory whose tree is lost ends with `/`.
    pub paths: Vec<String>,
}

/// How much a check covered.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scope {
    pub read_data: bool,
    pub subset: Option<String>,
    pub packs_total: usize,
    pub packs_read: usize,
    pub bytes_read: u64,
    pub snapshots: usize,
    pub trees: usize,
    pub blobs: usize,
}

/// The result of a check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub started: jiff::Timestamp,
    pub duration_ms: u64,
    pub scope: Scope,
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
    pub damaged_packs: Vec<DamagedPack>,
    pub affected: Vec<Affected>,
    /// The name of the record saved in `history/`, if one was.
    pub record: Option<String>,
}

impl CheckReport {
    /// No errors (warnings allowed).
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    fn push(&mut self, f: Finding) {
        if f.kind.is_error() {
            self.errors.push(f);
        } else {
            self.warnings.push(f);
        }
    }
}

pub(crate) fn finding(
    kind: FindingKind,
    object: impl Into<String>,
    message: impl Into<String>,
) -> Finding {
    Finding {
        kind,
        object: object.into(),
        message: message.into(),
    }
}

/// Check the repository. Errors are returned only when the check itself cannot run; damage is
/// reported in the [`CheckReport`].
pub fn check(
    repo: &Repository,
    opts: &CheckOptions,
    progress: &dyn Progress,
) -> Result<CheckReport> {
    let _lock = repo.lock(crate::repo::LockMode::Shared)?;
    let started = jiff::Timestamp::now();
    let clock = std::time::Instant::now();
    let mut report = CheckReport {
        started,
        duration_ms: 0,
        scope: Scope {
            read_data: opts.read_data,
            subset: opts.read_data.then(|| opts.subset.to_string()),
            ..Scope::default()
        },
        errors: vec![],
        warnings: vec![],
        damaged_packs: vec![],
        affected: vec![],
        record: None,
    };
    let s = structure::run(repo, &mut report)?;
    let mut bad_blobs: HashSet<BlobId> = s.missing_blobs.clone();
    for d in &s.damaged {
        bad_blobs.extend(d.blobs.iter().copied());
    }
    report.damaged_packs.extend(s.damaged.iter().cloned());

    let now = started.as_second();
    let mut loaded = if opts.record {
        Some(scrub::load_state(repo)?)
    } else {
        None
    };
    if let Some(l) = &mut loaded {
        l.state.observe(s.packs.keys().copied(), now);
        let mut lost: Vec<_> = l.state.snapshots.difference(&s.snapshot_names).collect();
        lost.sort();
        for id in lost {
            report.push(finding(
                FindingKind::SnapshotLost,
                format!("snapshot {id}"),
                "existed at an earlier check and is gone, though nothing removed it on purpose (`repair snapshots` acknowledges the loss)",
            ));
        }
        // Lost snapshots stay known, and reported, until `repair snapshots` acknowledges them.
        l.state.note_snapshots(s.snapshot_names.iter().copied());
    }
    if opts.read_data {
        let mut candidates: Vec<(PackId, u64)> = s
            .packs
            .iter()
            .filter(|(id, _)| s.stored.contains_key(*id))
            .map(|(id, p)| (*id, p.expected_size.unwrap_or(s.stored[id])))
            .collect();
        candidates.sort();
        let empty = scrub::ScrubState::default();
        let state = loaded.as_ref().map(|l| &l.state).unwrap_or(&empty);
        let chosen = subset::select(&opts.subset, &candidates, state, now);
        let outcome = data::run(repo, &s, &chosen, opts.threads, progress, &mut report)?;
        for d in &outcome.damaged {
            bad_blobs.extend(d.blobs.iter().copied());
        }
        report.damaged_packs.extend(outcome.damaged);
        if let Some(l) = &mut loaded {
            l.state.mark_verified(outcome.verified, now);
            if matches!(opts.subset, Subset::Auto { .. }) {
                l.state.last_auto = Some(now);
            }
        }
    }
    if !bad_blobs.is_empty() || !s.bad_trees.is_empty() {
        report.affected = affected::trace(repo, &s, &bad_blobs)?;
    }
    report.duration_ms = clock.elapsed().as_millis() as u64;
    if let Some(l) = &mut loaded {
        // A check that cannot write (a read-only mount) still reports what it found.
        if let Err(e) = scrub::save_state(repo, l) {
            tracing::warn!("could not save the scrub state: {e}");
        }
        match scrub::save_record(repo, &report) {
            Ok(name) => report.record = Some(name),
            Err(e) => tracing::warn!("could not save the check record: {e}"),
        }
    }
    Ok(report)
}
