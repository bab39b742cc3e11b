//! `repair snapshots`: cut files whose data is irrecoverably gone out of snapshots.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::backend::FileKind;
use crate::error::Result;
use crate::id::{BlobId, PackId, SnapshotId};
use crate::index::Index;
use crate::pack::BlobKind;
use crate::repo::{LockMode, PackSink, Repository, TreeCache};
use crate::tree::{NodeType, Tree};

/// What to repair.
#[derive(Debug, Clone, Default)]
pub struct RepairSnapshotsOptions {
    /// Remove the damaged originals once their repaired versions are saved.
    pub forget: bool,
    /// Only report what would be cut.
    pub dry_run: bool,
    /// Only these snapshots (default: all).
    pub only: Option<Vec<SnapshotId>>,
}

/// One damaged snapshot and its repaired version.
#[derive(Debug, Clone, Serialize)]
pub struct RepairedSnapshot {
    pub original: SnapshotId,
    /// The repaired snapshot (absent in a dry run).
    pub repaired: Option<SnapshotId>,
    /// Paths cut out; a directory whose tree was lost ends with `/`.
    pub removed: Vec<String>,
    pub original_forgotten: bool,
}

/// What `repair snapshots` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairSnapshotsReport {
    pub checked: usize,
    pub repaired: Vec<RepairedSnapshot>,
    /// Snapshots an earlier check saw that are gone.
    pub lost: Vec<SnapshotId>,
    /// Those whose loss was acknowledged, so that check no longer reports them: all of
    /// `lost`, or none in a dry run.
    pub lost_acknowledged: Vec<SnapshotId>,
}

/// A tree after repair.
#[derive(Clone)]
enum Fixed {
    Unchanged,
    /// The new tree's id and the paths removed under it.
    Changed(BlobId, Vec<String>),
    Lost,
}

struct Fixer<'a> {
    repo: &'a Repository,
    index: &'a Index,
    stored: HashSet<PackId>,
    cache: TreeCache,
    memo: HashMap<BlobId, Fixed>,
    /// Where new trees go; `None` in a dry run.
    sink: Option<PackSink<'a>>,
    new_trees: HashSet<BlobId>,
}

/// Rewrite every snapshot that references a blob the index lacks, or whose pack is gone,
/// without the files and directories that cannot be restored. Repaired snapshots carry the
/// tag `repaired` and name their original; originals are kept unless `forget` is set.
pub fn repair_snapshots(
    repo: &Repository,
    opts: &RepairSnapshotsOptions,
) -> Result<RepairSnapshotsReport> {
    let _lock = repo.lock(LockMode::Exclusive)?;
    let index = repo.load_index()?;
    let stored = repo.stored_packs()?.into_keys().collect();
    let mut f = Fixer {
        repo,
        index: &index,
        stored,
        cache: TreeCache::new(64 << 20),
        memo: HashMap::new(),
        sink: (!opts.dry_run).then(|| PackSink::new(repo)),
        new_trees: HashSet::new(),
    };
    let mut report = RepairSnapshotsReport::default();
    let mut pending = Vec::new();
    let snapshots = repo.snapshots()?;
    let present: HashSet<SnapshotId> = snapshots.iter().map(|(id, _)| *id).collect();
    for (id, snap) in snapshots {
        if opts.only.as_ref().is_some_and(|o| !o.contains(&id)) {
            continue;
        }
        report.checked += 1;
        let (root, removed) = match f.fix(&snap.tree)? {
            Fixed::Unchanged => continue,
            Fixed::Changed(root, removed) => {
                (root, removed.into_iter().map(|p| format!("/{p}")).collect())
            }
            Fixed::Lost => (f.store_tree(&Tree::new(vec![]))?, vec!["/".to_string()]),
        };
        pending.push((id, snap, root, removed));
    }
    if let Some(mut sink) = f.sink.take() {
        sink.flush()?;
        sink.index_untaken()?;
    }
    let mut scrub = crate::ops::check::scrub::load_state(repo)?;
    let known = &scrub.state.snapshots;
    report.lost = known.difference(&present).copied().collect();
    report.lost.sort();
    if !opts.dry_run {
        report.lost_acknowledged = report.lost.clone();
    }
    let mut forgotten = report.lost_acknowledged.clone();
    if opts.forget {
        forgotten.extend(pending.iter().map(|p| p.0));
    }
    if opts.dry_run {
        forgotten.clear(); // nothing is removed in a dry run
    }
    // Before removing: a crash in between leaves a snapshot the next check re-learns, never
    // one it reports lost.
    crate::ops::check::scrub::note_removed_snapshots(repo, &mut scrub, &forgotten)?;
    for (id, snap, root, removed) in pending {
        let mut out = RepairedSnapshot {
            original: id,
            repaired: None,
            removed,
            original_forgotten: false,
        };
        if !opts.dry_run {
            let mut new = snap.clone();
            new.tree = root;
            new.original = Some(id);
            if !new.tags.iter().any(|t| t == "repaired") {
                new.tags.push("repaired".into());
            }
            out.repaired = Some(repo.save_snapshot(&new)?);
            if opts.forget {
                repo.backend().remove(FileKind::Snapshot, &id.to_hex())?;
                out.original_forgotten = true;
            }
        }
        report.repaired.push(out);
    }
    Ok(report)
}

impl Fixer<'_> {
    fn available(&self, b: &BlobId) -> bool {
        self.index
            .get(b)
            .is_some_and(|l| self.stored.contains(self.index.pack_id_at(l.pack)))
    }

    /// Repair the tree `id` (recursively; trees are memoized, so each is visited once).
    fn fix(&mut self, id: &BlobId) -> Result<Fixed> {
        if let Some(r) = self.memo.get(id) {
            return Ok(r.clone());
        }
        let r = self.fix_uncached(id)?;
        self.memo.insert(*id, r.clone());
        Ok(r)
    }

    fn fix_uncached(&mut self, id: &BlobId) -> Result<Fixed> {
        if !self.available(id) {
            return Ok(Fixed::Lost);
        }
        let Ok(tree) = self.repo.load_tree(self.index, &self.cache, id) else {
            return Ok(Fixed::Lost);
        };
        let mut removed = Vec::new();
        let mut changed = false;
        let mut nodes = Vec::with_capacity(tree.nodes.len());
        for mut node in tree.nodes {
            let name = node.name.lossy().into_owned();
            match (node.kind, node.subtree) {
                (NodeType::Dir, Some(sub)) => match self.fix(&sub)? {
                    Fixed::Unchanged => nodes.push(node),
                    Fixed::Changed(new, rm) => {
                        changed = true;
                        removed.extend(rm.into_iter().map(|p| format!("{name}/{p}")));
                        node.subtree = Some(new);
                        nodes.push(node);
                    }
                    Fixed::Lost => removed.push(format!("{name}/")),
                },
                _ => {
                    if node.blobs().all(|b| self.available(b)) {
                        nodes.push(node);
                    } else {
                        removed.push(name);
                    }
                }
            }
        }
        if removed.is_empty() && !changed {
            return Ok(Fixed::Unchanged);
        }
        let new_id = self.store_tree(&Tree::new(nodes))?;
        Ok(Fixed::Changed(new_id, removed))
    }

    /// Add a tree blob to the tree packs being written (unless the repository has it);
    /// returns its id.
    fn store_tree(&mut self, tree: &Tree) -> Result<BlobId> {
        let bytes = tree.to_bytes();
        let id = self.repo.key().blob_id(&bytes);
        if self.available(&id) || !self.new_trees.insert(id) {
            return Ok(id);
        }
        if let Some(sink) = self.sink.as_mut() {
            sink.add_plain(BlobKind::Tree, id, &bytes)?;
        }
        Ok(id)
    }
}
