//! `find`: which snapshots hold a path matching a pattern. Only trees are read, through the
//! tree cache; data packs never are.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::{BlobId, SnapshotId};
use crate::index::Index;
use crate::repo::{Repository, TreeCache};
use crate::snapshot::Snapshot;
use crate::tree::{Bytes, NodeType, Tree};

/// Glob patterns; an entry matches when any does. A pattern without a `/` matches an entry's
/// name (`*.conf`); with one, the whole path from the snapshot's root (`/etc/**/*.conf`),
/// where `*` stays within one directory.
pub struct Pattern {
    matchers: Vec<(globset::GlobMatcher, bool)>,
}

impl Pattern {
    pub fn new(pattern: &str, ignore_case: bool) -> Result<Self> {
        Self::any(&[pattern], ignore_case)
    }

    /// Any of `patterns`.
    pub fn any(patterns: &[impl AsRef<str>], ignore_case: bool) -> Result<Self> {
        let mut matchers = Vec::with_capacity(patterns.len());
        for p in patterns {
            let p = p.as_ref();
            let glob = globset::GlobBuilder::new(p)
                .literal_separator(true)
                .case_insensitive(ignore_case)
                .backslash_escape(true)
                .build()
                .map_err(|e| Error::Invalid(format!("pattern {p:?}: {e}")))?;
            matchers.push((glob.compile_matcher(), p.contains('/')));
        }
        Ok(Pattern { matchers })
    }

    fn matches(&self, path: &Path, name: &[u8]) -> bool {
        let name = Path::new(std::ffi::OsStr::from_bytes(name));
        self.matchers
            .iter()
            .any(|(m, full_path)| m.is_match(if *full_path { path } else { name }))
    }
}

/// One matching entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub path: Bytes,
    #[serde(rename = "type")]
    pub kind: NodeType,
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub mtime: i64,
    pub mode: u32,
}

/// The hits in one snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub snapshot: SnapshotId,
    pub time: jiff::Timestamp,
    pub host: String,
    pub hits: Vec<Hit>,
}

/// Search `snapshots` in the order given; `visit` gets each snapshot with at least one hit.
/// A subtree met again at the same place without a hit is skipped (snapshots share most of
/// their trees), so a search of many snapshots costs little more than one.
pub fn find(
    repo: &Repository,
    index: &Index,
    cache: &TreeCache,
    snapshots: &[(SnapshotId, Snapshot)],
    pattern: &Pattern,
    visit: &mut dyn FnMut(Found) -> Result<()>,
) -> Result<()> {
    let mut barren = HashSet::new();
    for (id, snap) in snapshots {
        let mut hits = Vec::new();
        let mut s = Search {
            repo,
            index,
            cache,
            pattern,
            barren: &mut barren,
            hits: &mut hits,
        };
        s.tree(&snap.tree, &PathBuf::from("/"))?;
        if !hits.is_empty() {
            visit(Found {
                snapshot: *id,
                time: snap.time,
                host: snap.host.clone(),
                hits,
            })?;
        }
    }
    Ok(())
}

struct Search<'a> {
    repo: &'a Repository,
    index: &'a Index,
    cache: &'a TreeCache,
    pattern: &'a Pattern,
    /// Subtrees, with the path they were met at, that hold no hit.
    barren: &'a mut HashSet<(BlobId, PathBuf)>,
    hits: &'a mut Vec<Hit>,
}

impl Search<'_> {
    fn tree(&mut self, id: &BlobId, dir: &Path) -> Result<()> {
        let key = (*id, dir.to_path_buf());
        if self.barren.contains(&key) {
            return Ok(());
        }
        let before = self.hits.len();
        let tree: Tree = self.repo.load_tree(self.index, self.cache, id)?;
        for n in &tree.nodes {
            let p = dir.join(n.name.as_os_str());
            if self.pattern.matches(&p, &n.name.0) {
                self.hits.push(Hit {
                    path: Bytes(p.as_os_str().as_bytes().to_vec()),
                    kind: n.kind,
                    size: n.size,
                    mtime: n.mtime,
                    mode: n.mode,
                });
            }
            if let (NodeType::Dir, Some(sub)) = (n.kind, n.subtree) {
                self.tree(&sub, &p)?;
            }
        }
        if self.hits.len() == before {
            self.barren.insert(key);
        }
        Ok(())
    }
}
