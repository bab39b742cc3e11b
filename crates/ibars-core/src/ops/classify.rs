//! `classify`: a class for every path of a snapshot (`ibars_insight::classify`), from what its
//! trees hold and the history. Only trees are read, and the few `CACHEDIR.TAG` files (to check
//! their signature); the secrets come from the tree nodes, where the backup that read each file
//! put them.
//!
//! The history signals: how many of the earlier snapshots of the same source differ at a path
//! (a subtree shared with an earlier snapshot is not walked twice), and how many partial
//! restores (with `--include`) took it.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ibars_insight::classify::rules::{marker, Markers, Rules};
use ibars_insight::classify::secrets::{Finding, SecretKind};
use ibars_insight::classify::{classify, PathFacts, Summary, Verdict};

use crate::error::Result;
use crate::id::BlobId;
use crate::index::Index;
use crate::ops::filter::PathFilter;
use crate::repo::{Repository, TreeCache};
use crate::snapshot::Snapshot;
use crate::tree::{Node, NodeType, Tree};

/// What to classify a snapshot with.
pub struct Options<'a> {
    pub rules: &'a Rules,
    /// Earlier snapshots of the same source, to count changes over.
    pub earlier: &'a [Snapshot],
    /// The include patterns of each partial restore in the history.
    pub restores: &'a [Vec<String>],
}

/// The secrets a backup recorded in a file's tree node (`secrets`, by kind name), as
/// findings; names this version does not know are left out.
pub fn findings(kinds: &[String]) -> Vec<Finding> {
    kinds
        .iter()
        .filter_map(|k| serde_json::from_value::<SecretKind>(k.as_str().into()).ok())
        .map(|kind| Finding { kind, offset: 0 })
        .collect()
}

/// Whether `rules` flag the file `n` at `path` (absolute, as in the snapshot) sensitive: for
/// the secrets its backup found in it, or for its path (the user's `sensitive` patterns,
/// names such as `id_ed25519` or `.env`). What `classify --list --sensitive` lists.
pub fn is_sensitive(path: &str, n: &Node, rules: &Rules) -> bool {
    let found = findings(&n.secrets);
    let facts = PathFacts {
        is_dir: n.kind == NodeType::Dir,
        size: n.size,
        magic: n.class.as_deref(),
        findings: &found,
        ..PathFacts::default()
    };
    classify(path, &facts, rules).sensitive
}

/// One path's verdict, as [`classify_snapshot`] hands it out.
pub struct Seen<'a> {
    pub path: &'a str,
    pub node: &'a Node,
    pub facts: &'a PathFacts<'a>,
    pub verdict: &'a Verdict,
}

/// Classify every path of `snap`; `visit` gets each one (directories too), and the summary of
/// the files comes back.
pub fn classify_snapshot(
    repo: &Repository,
    index: &Index,
    cache: &TreeCache,
    snap: &Snapshot,
    opts: &Options<'_>,
    visit: &mut dyn FnMut(Seen<'_>),
) -> Result<Summary> {
    let restores = opts
        .restores
        .iter()
        .map(|p| PathFilter::new(p))
        .collect::<Result<Vec<_>>>()?;
    let mut w = Walk {
        repo,
        index,
        cache,
        rules: opts.rules,
        restores,
        summary: Summary::new(),
        visit,
    };
    let others: Vec<Option<BlobId>> = opts.earlier.iter().map(|s| Some(s.tree)).collect();
    let restored = vec![false; w.restores.len()];
    let root: Tree = repo.load_tree(index, cache, &snap.tree)?;
    let markers = w.markers_of(&root, "/", Markers::default())?;
    w.dir(
        &snap.tree,
        &root,
        Path::new("/"),
        markers,
        &others,
        &restored,
    )?;
    Ok(w.summary)
}

struct Walk<'a, 'v> {
    repo: &'a Repository,
    index: &'a Index,
    cache: &'a TreeCache,
    rules: &'a Rules,
    restores: Vec<PathFilter>,
    summary: Summary,
    visit: &'v mut dyn FnMut(Seen<'_>),
}

/// An earlier snapshot at one directory: the same subtree, another one, or none there.
enum Other {
    Same,
    Differs(Tree),
    Absent,
}

impl Walk<'_, '_> {
    /// The entries of directory `id` (loaded as `tree`) at `dir`, whose `markers` include
    /// its own.
    fn dir(
        &mut self,
        id: &BlobId,
        tree: &Tree,
        dir: &Path,
        markers: Markers,
        others: &[Option<BlobId>],
        restored: &[bool],
    ) -> Result<()> {
        let earlier: Vec<Other> = others
            .iter()
            .map(|o| match o {
                Some(o) if o == id => Ok(Other::Same),
                Some(o) => Ok(Other::Differs(
                    self.repo.load_tree(self.index, self.cache, o)?,
                )),
                None => Ok(Other::Absent),
            })
            .collect::<Result<_>>()?;
        for n in &tree.nodes {
            let path: PathBuf = dir.join(std::ffi::OsStr::from_bytes(&n.name.0));
            let path_str = path.to_string_lossy();
            let mut changes = 0u32;
            let mut below: Vec<Option<BlobId>> = Vec::with_capacity(earlier.len());
            for e in &earlier {
                let old = match e {
                    Other::Same => {
                        below.push(n.subtree);
                        continue;
                    }
                    Other::Differs(t) => t.nodes.iter().find(|o| o.name == n.name),
                    Other::Absent => None,
                };
                let same = old.is_some_and(|o| o.kind == n.kind && o.content == n.content);
                let same = same && old.is_some_and(|o| o.subtree == n.subtree);
                changes += u32::from(!same);
                below.push(old.and_then(|o| o.subtree));
            }
            let now_restored: Vec<bool> = restored
                .iter()
                .zip(&self.restores)
                .map(|(r, f)| *r || f.matches(&path))
                .collect();
            let findings = findings(&n.secrets);
            let is_dir = n.kind == NodeType::Dir;
            // A directory's markers count for itself too (a `target/` holding CACHEDIR.TAG).
            let mut own = markers;
            let subtree = match (is_dir, n.subtree) {
                (true, Some(sub)) => {
                    let t: Tree = self.repo.load_tree(self.index, self.cache, &sub)?;
                    own = self.markers_of(&t, &path_str, markers)?;
                    Some((sub, t))
                }
                _ => None,
            };
            let facts = PathFacts {
                is_dir,
                size: n.size,
                magic: n.class.as_deref(),
                markers: own,
                findings: &findings,
                changes,
                snapshots: earlier.len() as u32,
                restores: now_restored.iter().filter(|r| **r).count() as u32,
            };
            let verdict = classify(&path_str, &facts, self.rules);
            self.summary.record(&path_str, &facts, &verdict);
            (self.visit)(Seen {
                path: &path_str,
                node: n,
                facts: &facts,
                verdict: &verdict,
            });
            if let Some((sub, t)) = subtree {
                self.dir(&sub, &t, &path, own, &below, &now_restored)?;
            }
        }
        Ok(())
    }

    /// `markers` with those the directory `tree` at `path` holds.
    fn markers_of(&self, tree: &Tree, path: &str, mut markers: Markers) -> Result<Markers> {
        for n in &tree.nodes {
            let name = String::from_utf8_lossy(&n.name.0);
            let cachedir = name == "CACHEDIR.TAG" && n.kind == NodeType::File;
            let head = match n.blobs().next() {
                Some(b) if cachedir => Some(self.repo.read_blob(self.index, b)?),
                _ => None,
            };
            if let Some(m) = marker(&name, head.as_deref()) {
                markers.set(m, path);
            }
        }
        Ok(markers)
    }
}

/// The roots of `class` in `snap` (`ibars_insight::classify::roots::roots`): the fewest paths
/// that hold exactly the files `opts` puts in that class.
pub fn class_roots(
    repo: &Repository,
    snap: &Snapshot,
    opts: &Options<'_>,
    class: ibars_insight::classify::Class,
) -> Result<Vec<String>> {
    let index = repo.load_index()?;
    let cache = TreeCache::new(64 << 20);
    let mut files: Vec<(String, bool)> = Vec::new();
    classify_snapshot(repo, &index, &cache, snap, opts, &mut |seen| {
        if !seen.facts.is_dir {
            files.push((seen.path.to_string(), seen.verdict.class == class));
        }
    })?;
    Ok(ibars_insight::classify::roots::roots(
        files.iter().map(|(p, c)| (p.as_str(), *c)),
    ))
}
