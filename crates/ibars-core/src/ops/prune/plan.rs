//! Prune's plan: which blobs are used, and what to do with each pack.
//!
//! Memory per blob: its index entry (48 bytes), one entry in the map of used blobs (about
//! 40 bytes) and a keep flag (1 byte). Tree blobs are also indexed in memory for the walk.

use std::collections::{HashMap, HashSet};

use super::PruneOptions;
use crate::error::{Error, Result};
use crate::id::{BlobId, PackId};
use crate::index::Index;
use crate::pack::{BlobKind, PackEntry};
use crate::repo::{parallel_map, Repository, TreeCache};
use crate::tree::{NodeType, Tree};

/// What happens to a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PackAction {
    /// Every blob in it is used (or it is only a little unused): it stays.
    Keep,
    /// No blob in it is used.
    Delete,
    /// Its used blobs move to new packs; then it is deleted.
    Repack,
    /// Stored but in no index: left by an interrupted backup or prune.
    DeleteUnindexed,
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
    pub bytes_total: u64,
    pub bytes_used: u64,
    /// Freed by deleting unused and unindexed packs.
    pub bytes_delete: u64,
    /// Size of the packs to repack.
    pub bytes_repack: u64,
    /// Of those, the used bytes copied into new packs.
    pub bytes_rewritten: u64,
    /// Unused bytes left in kept packs.
    pub bytes_unused_after: u64,
    pub index_files: usize,
}

/// The full plan: the summary, each pack's plan, and the index files it replaces.
pub struct Planned {
    pub summary: PrunePlan,
    pub packs: Vec<PackPlan>,
    pub index_files: Vec<String>,
}

pub(super) fn plan(repo: &Repository, opts: &PruneOptions) -> Result<Planned> {
    let mut summary = PrunePlan::default();
    // Every index file must be readable: an entry missed here would look unused.
    let mut indexed: HashMap<PackId, Vec<PackEntry>> = HashMap::new();
    let mut index_files = Vec::new();
    for (name, file) in repo.index_files()? {
        let file = file.map_err(|e| {
            Error::Invalid(format!(
                "{e}; prune needs every index file (run `ibars repair index` first)"
            ))
        })?;
        for (pack, entries) in file {
            indexed.entry(pack).or_insert(entries);
        }
        index_files.push(name);
    }
    summary.index_files = index_files.len();
    let stored = repo.stored_packs()?;
    let snapshots = repo.snapshots()?;
    summary.snapshots = snapshots.len();
    let roots: Vec<BlobId> = snapshots.iter().map(|(_, s)| s.tree).collect();
    let mut used = used_blobs(repo, &indexed, &roots)?;

    // Claim each used blob once, in the packs most used first, so that duplicates are dropped
    // from the emptier packs.
    let mut order: Vec<(PackId, usize)> = indexed
        .iter()
        .map(|(id, es)| {
            let n = es.iter().filter(|e| used.contains_key(&e.id)).count();
            (*id, n * 1000 / es.len().max(1))
        })
        .collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut packs = Vec::with_capacity(order.len() + 8);
    for (id, _) in order {
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
        let size = stored.get(&id).copied();
        let mut p = PackPlan {
            id,
            action: PackAction::Keep,
            size: size.unwrap_or(0),
            entries,
            keep,
        };
        let n_used = p.keep.iter().filter(|k| **k).count();
        summary.blobs_used += n_used;
        p.action = match (size, n_used) {
            (None, 0) => PackAction::DropMissing,
            (None, _) => {
                return Err(Error::corrupt(
                    format!("pack {id}"),
                    "is indexed and holds data in use, but is missing; \
                     run `ibars check` and `ibars repair packs` first",
                ))
            }
            (Some(_), 0) => PackAction::Delete,
            (Some(_), n) if n == p.entries.len() => PackAction::Keep,
            _ => PackAction::Repack,
        };
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
    let indexed_ids: HashSet<PackId> = packs.iter().map(|p| p.id).collect();
    for (id, size) in &stored {
        if !indexed_ids.contains(id) {
            packs.push(PackPlan {
                id: *id,
                action: PackAction::DeleteUnindexed,
                size: *size,
                entries: vec![],
                keep: vec![],
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
            PackAction::DropMissing => summary.packs_missing_dropped += 1,
        }
    }
    Ok(Planned {
        summary,
        packs,
        index_files,
    })
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
