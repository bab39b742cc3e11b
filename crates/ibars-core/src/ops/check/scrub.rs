//! What checks leave behind in the repository: when each pack was last verified (the scrub
//! state, `scrub/`), and a record of every check (`history/`). See docs/format.md.

use std::collections::{HashMap, HashSet};

use super::CheckReport;
use crate::backend::FileKind;
use crate::error::{Error, Result};
use crate::id::{PackId, SnapshotId};
use crate::repo::Repository;
use crate::sealed::ObjectKind;

/// When a pack was first seen by a check and last verified, in seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackState {
    pub seen: i64,
    pub verified: Option<i64>,
}

/// The scrub state: every known pack's [`PackState`], and when the last `auto` scrub ran.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScrubState {
    pub packs: HashMap<PackId, PackState>,
    pub last_auto: Option<i64>,
    /// Snapshots that existed at the last check. One missing now, and not removed through
    /// [`note_removed_snapshots`], was lost.
    pub snapshots: HashSet<SnapshotId>,
    /// Snapshots removed on purpose, with when (seconds since the epoch): a check that listed
    /// one before `forget` (which runs beside checks) removed it must not bring it back into
    /// `snapshots`, where the next check would call it lost. Kept for [`REMOVED_KEPT_FOR`].
    pub removed: HashMap<SnapshotId, i64>,
}

const NONE: i64 = i64::MIN;
const RECORD: usize = 32 + 8 + 8;
/// How long a removal is remembered: far longer than any check runs, and short enough that a
/// snapshot whose removal was interrupted is tracked again within a week.
const REMOVED_KEPT_FOR: i64 = 7 * 24 * 3600;

impl ScrubState {
    /// The time a pack's next verification counts from.
    pub fn due_key(&self, id: &PackId) -> Option<i64> {
        self.packs.get(id).map(|p| p.verified.unwrap_or(p.seen))
    }

    /// Note packs that exist now; packs not among them are forgotten.
    pub fn observe(&mut self, ids: impl IntoIterator<Item = PackId>, now: i64) {
        let mut next = HashMap::new();
        for id in ids {
            let st = self.packs.get(&id).copied().unwrap_or(PackState {
                seen: now,
                verified: None,
            });
            next.insert(id, st);
        }
        self.packs = next;
    }

    pub fn mark_verified(&mut self, ids: impl IntoIterator<Item = PackId>, now: i64) {
        for id in ids {
            let e = self.packs.entry(id).or_insert(PackState {
                seen: now,
                verified: None,
            });
            e.verified = Some(now);
        }
    }

    /// Combine with another state (from a concurrent check): earliest sighting, latest
    /// verification.
    fn merge(&mut self, other: ScrubState) {
        for (id, o) in other.packs {
            let e = self.packs.entry(id).or_insert(o);
            e.seen = e.seen.min(o.seen);
            e.verified = e.verified.max(o.verified);
        }
        self.last_auto = self.last_auto.max(other.last_auto);
        self.snapshots.extend(other.snapshots);
        for (id, t) in other.removed {
            let e = self.removed.entry(id).or_insert(t);
            *e = (*e).max(t);
        }
        self.snapshots.retain(|id| !self.removed.contains_key(id));
    }

    /// Note snapshots that exist now, except those removed on purpose meanwhile.
    pub fn note_snapshots(&mut self, ids: impl IntoIterator<Item = SnapshotId>) {
        let removed = &self.removed;
        self.snapshots
            .extend(ids.into_iter().filter(|id| !removed.contains_key(id)));
    }

    /// Serialize; see docs/format.md.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.packs.len() * RECORD);
        out.extend_from_slice(&self.last_auto.unwrap_or(NONE).to_le_bytes());
        out.extend_from_slice(&(self.packs.len() as u32).to_le_bytes());
        let mut ids: Vec<_> = self.packs.iter().collect();
        ids.sort_by_key(|(id, _)| **id);
        for (id, st) in ids {
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(&st.seen.to_le_bytes());
            out.extend_from_slice(&st.verified.unwrap_or(NONE).to_le_bytes());
        }
        let mut snaps: Vec<_> = self.snapshots.iter().collect();
        snaps.sort();
        out.extend_from_slice(&(snaps.len() as u32).to_le_bytes());
        for id in snaps {
            out.extend_from_slice(id.as_bytes());
        }
        if !self.removed.is_empty() {
            let mut removed: Vec<_> = self.removed.iter().collect();
            removed.sort();
            out.extend_from_slice(&(removed.len() as u32).to_le_bytes());
            for (id, t) in removed {
                out.extend_from_slice(id.as_bytes());
                out.extend_from_slice(&t.to_le_bytes());
            }
        }
        out
    }

    /// Parse a scrub state payload; see docs/format.md.
    pub fn decode(b: &[u8], what: &str) -> Result<Self> {
        let bad = |r: &str| Error::corrupt(what, r.to_string());
        if b.len() < 12 {
            return Err(bad("truncated"));
        }
        let i64_at = |at: usize| i64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let opt = |v: i64| (v != NONE).then_some(v);
        let n = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes")) as usize;
        let packs_end = n
            .checked_mul(RECORD)
            .and_then(|x| x.checked_add(12))
            .filter(|&end| end.saturating_add(4) <= b.len())
            .ok_or_else(|| bad("size does not match the count"))?;
        let ns =
            u32::from_le_bytes(b[packs_end..packs_end + 4].try_into().expect("4 bytes")) as usize;
        let snaps_end = ns
            .checked_mul(32)
            .and_then(|x| x.checked_add(packs_end + 4))
            .filter(|&end| end <= b.len())
            .ok_or_else(|| bad("size does not match the count"))?;
        let snapshots = b[packs_end + 4..snaps_end]
            .chunks_exact(32)
            .map(|c| SnapshotId::from_slice(c).expect("32 bytes"))
            .collect();
        // Removals follow in newer states; older ones end here.
        let mut removed = HashMap::new();
        if snaps_end < b.len() {
            let rest = &b[snaps_end..];
            if rest.len() < 4 {
                return Err(bad("size does not match the count"));
            }
            let nr = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            if Some(rest.len() - 4) != nr.checked_mul(40) {
                return Err(bad("size does not match the count"));
            }
            for rec in rest[4..].chunks_exact(40) {
                let id = SnapshotId::from_slice(&rec[..32]).expect("32 bytes");
                removed.insert(
                    id,
                    i64::from_le_bytes(rec[32..].try_into().expect("8 bytes")),
                );
            }
        }
        let mut packs = HashMap::with_capacity(n);
        for rec in b[12..packs_end].chunks_exact(RECORD) {
            let id = PackId::from_slice(&rec[..32]).expect("32 bytes");
            let seen = i64::from_le_bytes(rec[32..40].try_into().expect("8 bytes"));
            let verified = opt(i64::from_le_bytes(rec[40..48].try_into().expect("8 bytes")));
            packs.insert(id, PackState { seen, verified });
        }
        Ok(Self {
            packs,
            last_auto: opt(i64_at(0)),
            snapshots,
            removed,
        })
    }
}

/// A loaded scrub state and the objects it came from, to be replaced on save.
pub struct LoadedState {
    pub state: ScrubState,
    names: Vec<String>,
}

/// Load and merge every scrub state object. Unreadable ones are skipped with a warning: the
/// state only steers which packs are read first, so losing it costs time, never data.
pub fn load_state(repo: &Repository) -> Result<LoadedState> {
    let mut state = ScrubState::default();
    let mut names = Vec::new();
    for e in repo.backend().list(FileKind::Scrub)? {
        match repo
            .load_sealed(FileKind::Scrub, ObjectKind::ScrubState, &e.name)
            .and_then(|p| ScrubState::decode(&p, &format!("scrub/{}", e.name)))
        {
            Ok(s) => state.merge(s),
            Err(err) => tracing::warn!("ignoring scrub state {}: {err}", e.name),
        }
        names.push(e.name);
    }
    Ok(LoadedState { state, names })
}

/// Write the state as one new object, then remove the ones it was loaded from. Removals
/// older than [`REMOVED_KEPT_FOR`] are forgotten.
pub fn save_state(repo: &Repository, loaded: &mut LoadedState) -> Result<()> {
    let now = jiff::Timestamp::now().as_second();
    loaded
        .state
        .removed
        .retain(|_, t| now.saturating_sub(*t) < REMOVED_KEPT_FOR);
    let id = repo.save_sealed(
        FileKind::Scrub,
        ObjectKind::ScrubState,
        &loaded.state.encode(),
        true,
    )?;
    let new = hex::encode(id);
    // Old state objects are merged on load, so one left behind (append-only access) is
    // harmless.
    for n in loaded.names.iter().filter(|n| **n != new) {
        if let Err(e) = repo.backend().remove(FileKind::Scrub, n) {
            tracing::info!("scrub state {n} not removed: {e}");
        }
    }
    Ok(())
}

/// Tell the scrub state (as loaded by [`load_state`]) that snapshots were removed on purpose
/// (forget, repair), so that no check reports them as lost, including one running now that
/// listed them before they were removed: the removal is remembered, and a state object even
/// written where there was none.
pub fn note_removed_snapshots(
    repo: &Repository,
    loaded: &mut LoadedState,
    ids: &[SnapshotId],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let now = jiff::Timestamp::now().as_second();
    for id in ids {
        loaded.state.snapshots.remove(id);
        loaded.state.removed.insert(*id, now);
    }
    save_state(repo, loaded)
}

const RECORD_FINDINGS: usize = 100;

/// Save the history record of a finished check; returns its name.
pub fn save_record(repo: &Repository, r: &CheckReport) -> Result<String> {
    use crate::history::{Record, RunKind, RunResult};
    use ibars_insight::record::{CheckRun, Finding as RecFinding};
    let mut rec = Record::new(RunKind::Check, r.started, crate::repo::hostname());
    rec.duration_ms = r.duration_ms;
    rec.errors = r.errors.len() as u64;
    rec.result = if r.errors.is_empty() {
        RunResult::Ok
    } else {
        RunResult::Partial
    };
    rec.bytes = r.scope.bytes_read;
    rec.check = Some(CheckRun {
        read_data: r.scope.read_data,
        subset: r.scope.subset.clone(),
        packs_total: r.scope.packs_total as u64,
        packs_read: r.scope.packs_read as u64,
        bytes_read: r.scope.bytes_read,
        snapshots: r.scope.snapshots as u64,
        warnings: r.warnings.len() as u64,
        damaged_packs: r.damaged_packs.iter().map(|d| d.pack.to_hex()).collect(),
        damaged_blobs: r.damaged_packs.iter().map(|d| d.blobs.len() as u64).sum(),
        affected_snapshots: r.affected.len() as u64,
        affected_paths: r.affected.iter().map(|a| a.paths.len() as u64).sum(),
        findings: r
            .errors
            .iter()
            .take(RECORD_FINDINGS)
            .map(|f| RecFinding {
                kind: serde_json::to_value(f.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                object: f.object.clone(),
                message: f.message.clone(),
            })
            .collect(),
    });
    crate::history::save(repo, &rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trip_and_merge() {
        let mut a = ScrubState::default();
        let (p, q) = (PackId([1; 32]), PackId([2; 32]));
        a.observe([p, q], 100);
        a.mark_verified([p], 200);
        a.last_auto = Some(200);
        a.snapshots.insert(SnapshotId([9; 32]));
        let bytes = a.encode();
        assert_eq!(ScrubState::decode(&bytes, "s").unwrap(), a);
        for cut in 0..bytes.len() {
            assert!(ScrubState::decode(&bytes[..cut], "s").is_err());
        }
        // With removals (a newer state): read back, and every truncation refused.
        let mut r = a.clone();
        r.removed.insert(SnapshotId([8; 32]), 1234);
        let more = r.encode();
        assert_eq!(ScrubState::decode(&more, "s").unwrap(), r);
        for cut in bytes.len() + 1..more.len() {
            assert!(ScrubState::decode(&more[..cut], "s").is_err());
        }
        // A check that listed a snapshot before it was removed does not bring it back.
        let mut listed = a.clone();
        listed.note_snapshots([SnapshotId([8; 32])]);
        listed.merge(r.clone());
        assert!(!listed.snapshots.contains(&SnapshotId([8; 32])));
        assert!(listed.snapshots.contains(&SnapshotId([9; 32])));
        let mut b = ScrubState::default();
        b.observe([q], 50);
        b.mark_verified([q], 300);
        a.merge(b);
        assert_eq!(
            a.packs[&q],
            PackState {
                seen: 50,
                verified: Some(300)
            }
        );
        assert_eq!(a.due_key(&p), Some(200));
    }
}
