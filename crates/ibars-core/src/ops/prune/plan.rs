//! Prune's plan: which blobs are used, and what to do with each pack.
//!
//! What prune reads comes in an order that the safety of deletion rests on (docs/locking.md):
//! parity files, then packs, then locks, then index files, then snapshots. A pack listed before
//! the locks was uploaded by a process whose lock is among them or which has indexed it by the
//! time the index is read; a snapshot saved by a process whose lock is not among the locks was
//! saved before the snapshots are listed.
//!
//! Memory per blob: its index entry (48 bytes), one entry in the map of used blobs (about
//! 40 bytes) and a keep flag (1 byte). Tree blobs are also indexed in memory for the walk.

use std::collections::{HashMap, HashSet};

use super::PruneOptions;
use crate::error::{Error, Result};
use crate::id::{BlobId, PackId};
use crate::index::{marks, Index};
use crate::pack::{BlobKind, PackEntry};
use crate::repo::{parallel_map, Repository, TreeCache};
use crate::tree::{NodeType, Tree};

/// What happens to a pack. With a grace period (the default), "deleted" below means marked for
/// deletion, and a later prune deletes it; with none, it is deleted in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PackAction {
    /// Every blob in it is used (or it is only a little unused): it stays.
    Keep,
    /// No blob in it is used.
    Delete,
    /// Its used blobs move to new packs; then it is deleted.
    Repack,
    /// Stored but in no index: left by an interrupted backup or prune, or being uploaded by a
    /// backup that has not indexed it yet.
    DeleteUnindexed,
    /// Marked by an earlier prune, still unused, and safe to delete now: deleted in this run.
    Expire,
    /// Marked by an earlier prune and unused, but not yet safe to delete (the grace period
    /// runs, or a process that started before the mark is still at work): stays marked.
    Wait,
    /// Indexed but not stored, and nothing in it is used: dropped from the index.
    DropMissing,
}

/// One pack's plan.
#[derive(Debug, Clone)]
pub struct PackPlan {
    pub id: PackId,
    pub action: PackAction,
    pub size: u64,
    pub entries: Vec<PackEntry>,
    /// Parallel to `entries`: whether the blob is used (and this copy is the one kept).
    pub keep: Vec<bool>,
    /// When an earlier prune marked it for deletion (milliseconds since the epoch).
    pub marked: Option<i64>,
}

impl PackPlan {
    fn bytes_where(&self, kept: bool) -> u64 {
        self.entries
            .iter()
            .zip(&self.keep)
            .filter(|(_, k)| **k == kept)
            .map(|(e, _)| u64::from(e.length))
            .sum()
    }

    fn used_bytes(&self) -> u64 {
        self.bytes_where(true)
    }

    /// Bytes of blobs no snapshot needs from this pack (headers are not counted).
    fn unused_bytes(&self) -> u64 {
        self.bytes_where(false)
    }
}

/// Totals of the plan, as printed by `prune --dry-run`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PrunePlan {
    pub snapshots: usize,
    pub blobs_total: usize,
    pub blobs_used: usize,
    pub blobs_duplicate: usize,
    pub packs_total: usize,
    pub packs_keep: usize,
    pub packs_delete: usize,
    pub packs_repack: usize,
    pub packs_unindexed: usize,
    pub packs_missing_dropped: usize,
    /// Marked by earlier prunes and deleted now.
    pub packs_expired: usize,
    /// Marked by earlier prunes and kept marked for now.
    pub packs_waiting: usize,
    /// Marked by earlier prunes but in use again (a backup that started before the mark
    /// referenced them): back in use.
    pub packs_recovered: usize,
    pub bytes_total: u64,
    pub bytes_used: u64,
    /// Size of the unused and unindexed packs (marked, or deleted without a grace period).
    pub bytes_delete: u64,
    /// Size of the packs marked earlier that are deleted now.
    pub bytes_expired: u64,
    /// Size of the packs marked earlier that stay marked for now.
    pub bytes_waiting: u64,
    /// Size of the packs to repack.
    pub bytes_repack: u64,
    /// Of those, the used bytes copied into new packs.
    pub bytes_rewritten: u64,
    /// Unused bytes left in kept packs.
    pub bytes_unused_after: u64,
    pub index_files: usize,
}

/// The full plan: the summary, each pack's plan, the index files it replaces, and the parity
/// files whose pack is gone.
pub struct Planned {
    pub summary: PrunePlan,
    pub packs: Vec<PackPlan>,
    pub index_files: Vec<String>,
    pub orphan_parity: Vec<PackId>,
}

/// When a pack marked at `marked` may be deleted: the grace period has passed, and no process
/// that may have loaded the index before the mark became visible still holds a lock. The mark
/// is visible within the grace period of its time (execute.rs makes sure of that), so every
/// such process took its lock before `marked + grace`.
pub(super) struct Deadline {
    pub now: i64,
    pub grace: i64,
    /// The earliest `time` of the locks that may belong to a process reading or adding data.
    pub oldest_lock: Option<i64>,
    /// Delete unused packs at once (the exclusive lock keeps every other process out).
    pub immediate: bool,
}

impl Deadline {
    fn expired(&self, marked: i64) -> bool {
        let horizon = marked.saturating_add(self.grace);
        self.immediate || (self.now >= horizon && self.oldest_lock.is_none_or(|l| l >= horizon))
    }
}

/// The earliest `time` of the locks that may stand for a process using data: every lock that
/// is not stale, not waiting for its turn and not a prune lock (this prune's own, or one
/// waiting for it). An unreadable lock counts as older than any mark.
pub(super) fn oldest_lock(repo: &Repository) -> Result<Option<i64>> {
    let mut oldest = None;
    for (_, info) in repo.locks()? {
        let t = match info {
            Some(l) if l.is_stale() || l.waiting || l.pruning => continue,
            Some(l) => l.time.as_millisecond(),
            None => i64::MIN,
        };
        oldest = Some(oldest.map_or(t, |o: i64| o.min(t)));
    }
    Ok(oldest)
}

pub(super) fn plan(repo: &Repository, opts: &PruneOptions, deadline: &Deadline) -> Result<Planned> {
    let mut summary = PrunePlan::default();
    // The order of these listings matters; see the module doc.
    let parity = repo.parity_packs()?;
    let stored = repo.stored_packs()?;
    let deadline = Deadline {
        oldest_lock: if deadline.immediate {
            None
        } else {
            oldest_lock(repo)?
        },
        ..*deadline
    };
    // Every index file must be readable: an entry missed here would look unused.
    let mut files = Vec::new();
    let mut index_files = Vec::new();
    for (name, file) in repo.index_files()? {
        files.push(file.map_err(|e| {
            Error::Invalid(format!(
                "{e}; prune needs every index file (run `ibars repair index` first)"
            ))
        })?);
        index_files.push(name);
    }
    summary.index_files = index_files.len();
    let marked = marks(&files);
    let mut indexed: HashMap<PackId, Vec<PackEntry>> = HashMap::new();
    for file in files {
        let with_entries = file.marked.into_iter().filter(|m| !m.entries.is_empty());
        for (pack, entries) in file
            .packs
            .into_iter()
            .chain(with_entries.map(|m| (m.id, m.entries)))
        {
            match indexed.entry(pack) {
                std::collections::hash_map::Entry::Occupied(mut o) if o.get().is_empty() => {
                    o.insert(entries);
                }
                std::collections::hash_map::Entry::Occupied(_) => {}
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(entries);
                }
            }
        }
    }
    let snapshots = repo.snapshots()?;
    summary.snapshots = snapshots.len();
    let roots: Vec<BlobId> = snapshots.iter().map(|(_, s)| s.tree).collect();
    let mut used = used_blobs(repo, &indexed, &roots)?;

    // Claim each used blob once, in packs in use before marked ones (so that a marked pack
    // holds nothing that is needed if a copy is in use), the packs most used first, so that
    // duplicates are dropped from the emptier packs.
    let mut order: Vec<(bool, PackId, usize)> = indexed
        .iter()
        .map(|(id, es)| {
            let n = es.iter().filter(|e| used.contains_key(&e.id)).count();
            (marked.contains_key(id), *id, n * 1000 / es.len().max(1))
        })
        .collect();
    order.sort_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)).then(a.1.cmp(&b.1)));
    let mut packs = Vec::with_capacity(order.len() + 8);
    for (_, id, _) in order {
        let entries = indexed.remove(&id).expect("listed");
        summary.blobs_total += entries.len();
        let keep: Vec<bool> = entries
            .iter()
            .map(|e| match used.get_mut(&e.id) {
                Some(claimed) if !*claimed => {
                    *claimed = true;
                    true
                }
                Some(_) => {
                    summary.blobs_duplicate += 1;
                    false
                }
                None => false,
            })
            .collect();
        let size = match stored.get(&id) {
            Some(size) => Some(*size),
            None => size_now(repo, &id)?,
        };
        let mut p = PackPlan {
            id,
            action: PackAction::Keep,
            size: size.unwrap_or(0),
            entries,
            keep,
            marked: marked.get(&id).copied(),
        };
        let n_used = p.keep.iter().filter(|k| **k).count();
        summary.blobs_used += n_used;
        p.action = match (size, n_used, p.marked) {
            (None, 0, _) => PackAction::DropMissing,
            (None, _, _) => {
                return Err(Error::corrupt(
                    format!("pack {id}"),
                    "is indexed and holds data in use, but is missing; \
                     run `ibars check` and `ibars repair packs` first",
                ))
            }
            (Some(_), 0, Some(t)) if deadline.expired(t) => PackAction::Expire,
            (Some(_), 0, Some(_)) => PackAction::Wait,
            (Some(_), 0, None) => PackAction::Delete,
            (Some(_), n, _) if n == p.entries.len() => PackAction::Keep,
            _ => PackAction::Repack,
        };
        if p.marked.is_some() && n_used > 0 {
            // A process that started before the mark made a snapshot that needs it.
            summary.packs_recovered += 1;
        }
        packs.push(p);
    }
    let mut missing = used.iter().filter(|(_, c)| !**c).map(|(b, _)| b);
    if let Some(b) = missing.next() {
        return Err(Error::corrupt(
            format!("blob {b}"),
            format!(
                "{} blob(s) in use are in no index; run `ibars check`, then `ibars repair \
                 index` or `ibars repair snapshots`",
                1 + missing.count()
            ),
        ));
    }
    drop(used);
    // Stored packs no index names with entries: marked earlier while unindexed, or new.
    let indexed_ids: HashSet<PackId> = packs.iter().map(|p| p.id).collect();
    for (id, size) in &stored {
        if !indexed_ids.contains(id) {
            let earlier = marked.get(id).copied();
            packs.push(PackPlan {
                id: *id,
                action: match earlier {
                    Some(t) if deadline.expired(t) => PackAction::Expire,
                    Some(_) => PackAction::Wait,
                    None => PackAction::DeleteUnindexed,
                },
                size: *size,
                entries: vec![],
                keep: vec![],
                marked: earlier,
            });
        }
    }
    // Marks of unindexed packs that are gone (their backup dropped them at its commit).
    for id in marked.keys() {
        if !indexed_ids.contains(id) && !stored.contains_key(id) {
            packs.push(PackPlan {
                id: *id,
                action: PackAction::DropMissing,
                size: 0,
                entries: vec![],
                keep: vec![],
                marked: marked.get(id).copied(),
            });
        }
    }
    choose_repacks(&mut packs, opts, repo.config().pack_size as u64);
    for p in &packs {
        summary.packs_total += 1;
        summary.bytes_total += p.size;
        let used = p.used_bytes();
        summary.bytes_used += used;
        match p.action {
            PackAction::Keep => {
                summary.packs_keep += 1;
                summary.bytes_unused_after += p.unused_bytes();
            }
            PackAction::Delete => {
                summary.packs_delete += 1;
                summary.bytes_delete += p.size;
            }
            PackAction::DeleteUnindexed => {
                summary.packs_unindexed += 1;
                summary.bytes_delete += p.size;
            }
            PackAction::Repack => {
                summary.packs_repack += 1;
                summary.bytes_repack += p.size;
                summary.bytes_rewritten += used;
            }
            PackAction::Expire => {
                summary.packs_expired += 1;
                summary.bytes_expired += p.size;
            }
            PackAction::Wait => {
                summary.packs_waiting += 1;
                summary.bytes_waiting += p.size;
            }
            PackAction::DropMissing => summary.packs_missing_dropped += 1,
        }
    }
    // Parity was listed before the packs: a pack is written before its parity, so parity whose
    // pack was not listed belongs to a pack that was removed.
    let mut orphan_parity: Vec<PackId> = parity
        .into_iter()
        .filter(|p| !stored.contains_key(p))
        .collect();
    orphan_parity.sort();
    Ok(Planned {
        summary,
        packs,
        index_files,
        orphan_parity,
    })
}

/// The size of a pack that an index names and the listing lacked: a backup may have uploaded
/// and indexed it after the packs were listed, so only a pack the storage does not have now is
/// missing.
fn size_now(repo: &Repository, id: &PackId) -> Result<Option<u64>> {
    match repo
        .backend()
        .size(crate::backend::FileKind::Pack, &id.to_hex())
    {
        Ok(size) => Ok(Some(size)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Turn partly used packs back into kept ones while the unused space stays within the
/// tolerance; repack the rest, emptiest first. Small packs are repacked with `repack_small`.
fn choose_repacks(packs: &mut [PackPlan], opts: &PruneOptions, target: u64) {
    let used_total: u64 = packs.iter().map(PackPlan::used_bytes).sum();
    let limit = (used_total as f64 * opts.max_unused_percent / 100.0) as u64;
    let mut partial: Vec<usize> = (0..packs.len())
        .filter(|&i| packs[i].action == PackAction::Repack)
        .collect();
    // Fullest first: those are kept while the budget lasts.
    partial.sort_by_cached_key(|&i| {
        let p = &packs[i];
        (p.unused_bytes() * 1000 / p.size.max(1), p.size)
    });
    let mut unused = 0u64;
    for i in partial {
        let p = &mut packs[i];
        let waste = p.unused_bytes();
        if unused + waste <= limit {
            unused += waste;
            p.action = PackAction::Keep;
        }
    }
    if opts.repack_small {
        let small: Vec<usize> = (0..packs.len())
            .filter(|&i| packs[i].action == PackAction::Keep && packs[i].size < target / 4)
            .collect();
        if small.len() > 1 {
            for i in small {
                packs[i].action = PackAction::Repack;
            }
        }
    }
}

/// Every blob reachable from `roots`: the trees themselves and every data blob of every file,
/// each mapped to `false` (not yet claimed by a pack). An unreadable tree stops prune: what it
/// references cannot be known.
fn used_blobs(
    repo: &Repository,
    indexed: &HashMap<PackId, Vec<PackEntry>>,
    roots: &[BlobId],
) -> Result<HashMap<BlobId, bool>> {
    let mut trees = Index::default();
    for (id, es) in indexed {
        if es.first().is_some_and(|e| e.kind == BlobKind::Tree) {
            trees.add_pack(*id, es);
        }
    }
    // Trees are read level by level, pack by pack: a small cache keeps that to one read per
    // tree pack without holding many.
    let cache = TreeCache::new(16 << 20);
    let mut used: HashMap<BlobId, bool> = HashMap::new();
    let mut level: Vec<BlobId> = roots
        .iter()
        .copied()
        .filter(|r| used.insert(*r, false).is_none())
        .collect();
    while !level.is_empty() {
        let mut next = Vec::new();
        // A few trees at a time, so that a wide level is never held in memory at once.
        for chunk in level.chunks(32) {
            let loaded: Vec<Tree> =
                parallel_map(chunk, 4, |id| repo.load_tree(&trees, &cache, id))?;
            for tree in loaded {
                for node in &tree.nodes {
                    if node.kind == NodeType::Dir {
                        if let Some(sub) = node.subtree {
                            if used.insert(sub, false).is_none() {
                                next.push(sub);
                            }
                        }
                    } else {
                        used.extend(node.blobs().map(|b| (*b, false)));
                    }
                }
            }
        }
        level = next;
    }
    Ok(used)
}
