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

/// What `stats --mode` measures over a set of snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The size the snapshots take when restored: every file of every snapshot counted.
    RestoreSize,
    /// The unique data they reference, before and after compression: what deduplication
    /// and compression leave.
    RawData,
}

/// The contents of a set of snapshots, as restic's `stats` reports them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContentStats {
    pub snapshots: u64,
    /// Files (regular files; each hard link counts) over all the snapshots.
    pub files: u64,
    /// Their bytes, as restored.
    pub restore_size: u64,
    /// Raw data only: unique blobs (data and trees) the snapshots reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blobs: Option<u64>,
    /// Raw data only: their bytes before compression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_bytes: Option<u64>,
    /// Raw data only: their bytes as stored (compressed and encrypted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_bytes: Option<u64>,
    /// Raw data only: restore size over raw bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deduplication_ratio: Option<f64>,
    /// Raw data only: raw bytes over stored bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression_ratio: Option<f64>,
}

/// Measure the snapshots with these root trees. Only trees are read; each distinct tree once.
pub fn content(
    repo: &Repository,
    index: &crate::index::Index,
    cache: &crate::repo::TreeCache,
    roots: &[crate::id::BlobId],
    mode: Mode,
) -> Result<ContentStats> {
    use crate::id::BlobId;
    use std::collections::{HashMap, HashSet};
    /// Files and bytes below a tree, by tree id; and with raw data, every blob met.
    struct Walk<'a> {
        repo: &'a Repository,
        index: &'a crate::index::Index,
        cache: &'a crate::repo::TreeCache,
        sums: HashMap<BlobId, (u64, u64)>,
        blobs: Option<HashSet<BlobId>>,
    }
    impl Walk<'_> {
        fn tree(&mut self, id: &BlobId) -> Result<(u64, u64)> {
            if let Some(s) = self.sums.get(id) {
                return Ok(*s);
            }
            let tree = self.repo.load_tree(self.index, self.cache, id)?;
            if let Some(b) = &mut self.blobs {
                b.insert(*id);
            }
            let (mut files, mut size) = (0, 0);
            for n in &tree.nodes {
                match (n.kind, n.subtree) {
                    (crate::tree::NodeType::Dir, Some(sub)) => {
                        let (f, s) = self.tree(&sub)?;
                        files += f;
                        size += s;
                    }
                    (crate::tree::NodeType::File, _) => {
                        files += 1;
                        size += n.size;
                        if let Some(b) = &mut self.blobs {
                            b.extend(n.blobs().copied());
                        }
                    }
                    _ => {}
                }
            }
            self.sums.insert(*id, (files, size));
            Ok((files, size))
        }
    }
    let mut w = Walk {
        repo,
        index,
        cache,
        sums: HashMap::new(),
        blobs: (mode == Mode::RawData).then(HashSet::new),
    };
    let mut out = ContentStats {
        snapshots: roots.len() as u64,
        ..ContentStats::default()
    };
    for r in roots {
        let (f, s) = w.tree(r)?;
        out.files += f;
        out.restore_size += s;
    }
    if let Some(blobs) = w.blobs {
        let (mut raw, mut stored) = (0u64, 0u64);
        for b in &blobs {
            let (_, e) = index.entry(b).ok_or_else(|| {
                crate::error::Error::corrupt(format!("blob {b}"), "not in the index")
            })?;
            raw += u64::from(e.raw_length);
            stored += u64::from(e.length);
        }
        let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        out.blobs = Some(blobs.len() as u64);
        out.raw_bytes = Some(raw);
        out.stored_bytes = Some(stored);
        out.deduplication_ratio = Some(ratio(out.restore_size, raw));
        out.compression_ratio = Some(ratio(raw, stored));
    }
    Ok(out)
}
