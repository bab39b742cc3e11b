//! `stats`: what a repository holds and how well it is verified, from listings, the scrub
//! state and the history alone (no lock, no pack read): what the daemon exports as
//! per-repository metrics.

use serde::Serialize;

use crate::backend::FileKind;
use crate::error::Result;
use crate::history::{self, RunKind, RunResult};
use crate::repo::Repository;

/// The window of the scrub coverage.
pub const SCRUB_WINDOW_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub snapshots: u64,
    pub packs: u64,
    /// Bytes of packs in storage.
    pub pack_bytes: u64,
    /// Bytes of parity files.
    pub parity_bytes: u64,
    /// Everything stored, metadata included.
    pub total_bytes: u64,
    pub index_files: u64,
    pub history_records: u64,
    /// Share of the packs (by bytes) verified by a `check --read-data` within the last
    /// [`SCRUB_WINDOW_DAYS`] days, 0 to 1.
    pub scrub_coverage: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_check: Option<LastCheck>,
}

/// The newest check in the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastCheck {
    pub time: jiff::Timestamp,
    /// It ran and found nothing wrong.
    pub ok: bool,
    pub errors: u64,
    pub read_data: bool,
}

/// Measure `repo` at `now` (seconds since the epoch, for the scrub window).
pub fn stats(repo: &Repository, now: i64) -> Result<Stats> {
    let b = repo.backend();
    let packs = b.list(FileKind::Pack)?;
    let sum = |k: FileKind| -> Result<(u64, u64)> {
        let l = b.list(k)?;
        Ok((l.len() as u64, l.iter().map(|e| e.size).sum()))
    };
    let (_, parity_bytes) = sum(FileKind::Parity)?;
    let (snapshots, snapshot_bytes) = sum(FileKind::Snapshot)?;
    let (index_files, index_bytes) = sum(FileKind::Index)?;
    let (history_records, history_bytes) = sum(FileKind::History)?;
    let pack_bytes: u64 = packs.iter().map(|e| e.size).sum();
    let scrub = crate::ops::check::scrub::load_state(repo)?.state;
    let since = now - SCRUB_WINDOW_DAYS * 86_400;
    let verified: u64 = packs
        .iter()
        .filter(|e| {
            e.name
                .parse()
                .ok()
                .and_then(|id| scrub.packs.get(&id))
                .is_some_and(|p| p.verified.is_some_and(|v| v >= since))
        })
        .map(|e| e.size)
        .sum();
    let h = history::load_all(repo)?;
    let last_check = h
        .records
        .iter()
        .rev()
        .find(|(_, r)| r.kind == RunKind::Check)
        .map(|(_, r)| LastCheck {
            time: r.time,
            ok: r.result == RunResult::Ok,
            errors: r.errors,
            read_data: r.check.as_ref().is_some_and(|c| c.read_data),
        });
    Ok(Stats {
        snapshots,
        packs: packs.len() as u64,
        pack_bytes,
        parity_bytes,
        total_bytes: pack_bytes + parity_bytes + snapshot_bytes + index_bytes + history_bytes,
        index_files,
        history_records,
        scrub_coverage: if pack_bytes == 0 {
            1.0
        } else {
            verified as f64 / pack_bytes as f64
        },
        last_check,
    })
}
