//! `rewrite`: remove paths from existing snapshots, e.g. to honour an erasure request in the
//! history too. Matching files and directories are cut from the trees; the changed trees are
//! stored anew and the snapshot saved under a new id (its `original` naming the first of its
//! line). The originals are removed unless kept; `prune` then frees the data.

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::id::{BlobId, SnapshotId};
use crate::index::Index;
use crate::ops::classify::is_sensitive;
use crate::ops::filter::PathFilter;
use crate::ops::forget::remove_snapshots;
use crate::pack::BlobKind;
use crate::repo::{LockMode, PackSink, Repository, TreeCache};
use crate::tree::{NodeType, Tree};
use ibars_insight::classify::rules::Rules;

/// What to remove.
#[derive(Debug, Clone, Default)]
pub struct RewriteOptions {
    /// Patterns as for `backup --exclude`, matched against absolute paths in the snapshot.
    pub excludes: Vec<String>,
    /// Also cut every file these rules flag sensitive (`ibars classify --sensitive`): for the
    /// secrets its backup found in it, or for its path.
    pub sensitive: Option<Rules>,
    /// Keep the original snapshots beside the rewritten ones.
    pub keep_original: bool,
    pub dry_run: bool,
}

/// One snapshot's rewrite.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rewritten {
    pub original: SnapshotId,
    /// The new snapshot; `None` when nothing matched, or in a dry run.
    pub new: Option<SnapshotId>,
    /// Paths cut, directories ending with `/`.
    pub removed: Vec<String>,
    /// Size of the files cut.
    pub bytes_removed: u64,
}

#[derive(Clone)]
enum Outcome {
    Unchanged,
    Changed {
        id: BlobId,
        removed: Vec<String>,
        bytes: u64,
    },
}

struct Rewriter<'a> {
    repo: &'a Repository,
    index: &'a Index,
    cache: TreeCache,
    filter: PathFilter,
    sensitive: Option<&'a Rules>,
    sink: PackSink<'a>,
    dry_run: bool,
    stored: HashSet<BlobId>,
    /// Keyed by path and tree: patterns depend on where a tree is.
    memo: HashMap<(PathBuf, BlobId), Outcome>,
}

/// Rewrite `ids` without the paths `opts.excludes` matches (and the sensitive files, with
/// `opts.sensitive`).
pub fn rewrite(
    repo: &Repository,
    ids: &[SnapshotId],
    opts: &RewriteOptions,
) -> Result<Vec<Rewritten>> {
    let filter = PathFilter::new(&opts.excludes)?;
    let lock = repo.lock(LockMode::Exclusive)?;
    let index = repo.load_index()?;
    let mut rw = Rewriter {
        repo,
        index: &index,
        cache: TreeCache::new(64 << 20),
        filter,
        sensitive: opts.sensitive.as_ref(),
        sink: PackSink::new(repo),
        dry_run: opts.dry_run,
        stored: HashSet::new(),
        memo: HashMap::new(),
    };
    let mut out = Vec::new();
    let mut new_snaps = Vec::new();
    for id in ids {
        let snap = repo.load_snapshot(id)?;
        let mut r = Rewritten {
            original: *id,
            new: None,
            removed: vec![],
            bytes_removed: 0,
        };
        if let Outcome::Changed {
            id: root,
            removed,
            bytes,
        } = rw.tree(Path::new("/"), &snap.tree)?
        {
            r.removed = removed;
            r.bytes_removed = bytes;
            let mut s = snap.clone();
            s.tree = root;
            s.original = Some(snap.original.unwrap_or(*id));
            s.summary.bytes_total = s.summary.bytes_total.saturating_sub(bytes);
            for p in &opts.excludes {
                if !s.excludes.contains(p) {
                    s.excludes.push(p.clone());
                }
            }
            new_snaps.push((out.len(), s));
        }
        out.push(r);
    }
    if opts.dry_run {
        return Ok(out);
    }
    // Trees first, then their index, then the snapshots, then the originals go.
    rw.sink.flush()?;
    rw.sink.index_untaken()?;
    lock.check()?;
    let mut replaced = Vec::new();
    for (i, s) in new_snaps {
        out[i].new = Some(repo.save_snapshot(&s)?);
        replaced.push(out[i].original);
    }
    if !opts.keep_original {
        remove_snapshots(repo, &replaced)?;
    }
    Ok(out)
}

impl Rewriter<'_> {
    fn tree(&mut self, path: &Path, id: &BlobId) -> Result<Outcome> {
        let key = (path.to_path_buf(), *id);
        if let Some(o) = self.memo.get(&key) {
            return Ok(o.clone());
        }
        let tree = self.repo.load_tree(self.index, &self.cache, id)?;
        let (mut nodes, mut removed, mut bytes, mut changed) = (Vec::new(), Vec::new(), 0, false);
        for mut node in tree.nodes {
            let full = path.join(std::ffi::OsStr::from_bytes(&node.name.0));
            let secret = node.kind != NodeType::Dir
                && self
                    .sensitive
                    .is_some_and(|r| is_sensitive(&full.to_string_lossy(), &node, r));
            if secret || self.filter.matches(&full) {
                let shown = full.display().to_string();
                if node.kind == NodeType::Dir {
                    bytes += self.size_of(node.subtree.as_ref())?;
                    removed.push(format!("{shown}/"));
                } else {
                    bytes += node.size;
                    removed.push(shown);
                }
                continue;
            }
            if let (NodeType::Dir, Some(sub)) = (node.kind, node.subtree) {
                if let Outcome::Changed {
                    id,
                    removed: r,
                    bytes: b,
                } = self.tree(&full, &sub)?
                {
                    node.subtree = Some(id);
                    removed.extend(r);
                    bytes += b;
                    changed = true;
                }
            }
            nodes.push(node);
        }
        let outcome = if removed.is_empty() && !changed {
            Outcome::Unchanged
        } else {
            Outcome::Changed {
                id: self.store(&Tree::new(nodes))?,
                removed,
                bytes,
            }
        };
        self.memo.insert(key, outcome.clone());
        Ok(outcome)
    }

    /// Total file size under a tree that is being cut.
    fn size_of(&mut self, id: Option<&BlobId>) -> Result<u64> {
        let Some(id) = id else { return Ok(0) };
        let tree = self.repo.load_tree(self.index, &self.cache, id)?;
        let mut n = 0;
        for node in &tree.nodes {
            n += match node.kind {
                NodeType::Dir => self.size_of(node.subtree.as_ref())?,
                _ => node.size,
            };
        }
        Ok(n)
    }

    fn store(&mut self, tree: &Tree) -> Result<BlobId> {
        let bytes = tree.to_bytes();
        let id = self.repo.key().blob_id(&bytes);
        if !self.dry_run && !self.index.contains(&id) && self.stored.insert(id) {
            self.sink.add_plain(BlobKind::Tree, id, &bytes)?;
        }
        Ok(id)
    }
}
