//! Walking a snapshot's trees, for `ls`, and comparing two snapshots, for `diff`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::BlobId;
use crate::index::Index;
use crate::repo::{Repository, TreeCache};
use crate::tree::{ContentPart, Node, NodeType, Tree};

/// Visit every node under `root` in pre-order, by name, with its full path in the snapshot.
/// With `start`, only that path and what is below it.
pub fn walk(
    repo: &Repository,
    index: &Index,
    cache: &TreeCache,
    root: &BlobId,
    start: Option<&Path>,
    recursive: bool,
    visit: &mut dyn FnMut(&Path, &Node) -> Result<()>,
) -> Result<()> {
    let mut tree = repo.load_tree(index, cache, root)?;
    let mut dir = PathBuf::from("/");
    if let Some(start) = start {
        let comps: Vec<_> = start
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        for (i, c) in comps.iter().enumerate() {
            let node = tree
                .find(std::os::unix::ffi::OsStrExt::as_bytes(*c))
                .ok_or_else(|| Error::NoSuchPath(start.display().to_string()))?
                .clone();
            dir.push(c);
            if i + 1 == comps.len() {
                visit(&dir, &node)?;
                if node.kind != NodeType::Dir {
                    return Ok(());
                }
            }
            match node.subtree {
                Some(id) if node.kind == NodeType::Dir => {
                    tree = repo.load_tree(index, cache, &id)?
                }
                _ => return Err(Error::NoSuchPath(start.display().to_string())),
            }
        }
    }
    walk_tree(repo, index, cache, &tree, &dir, recursive, visit)
}

fn walk_tree(
    repo: &Repository,
    index: &Index,
    cache: &TreeCache,
    tree: &Tree,
    dir: &Path,
    recursive: bool,
    visit: &mut dyn FnMut(&Path, &Node) -> Result<()>,
) -> Result<()> {
    for n in &tree.nodes {
        let p = dir.join(n.name.as_os_str());
        visit(&p, n)?;
        if recursive && n.kind == NodeType::Dir {
            if let Some(id) = n.subtree {
                let sub = repo.load_tree(index, cache, &id)?;
                walk_tree(repo, index, cache, &sub, &p, recursive, visit)?;
            }
        }
    }
    Ok(())
}

/// How a path differs between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    /// Content changed.
    Modified,
    /// Only metadata changed.
    Metadata,
    /// The entry changed type (file to directory, ...).
    Type,
}

impl Change {
    /// One-letter code as restic prints it.
    pub fn code(self) -> char {
        match self {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Modified => 'M',
            Change::Metadata => 'U',
            Change::Type => 'T',
        }
    }
}

/// One difference.
#[derive(Debug, Clone, Serialize)]
pub struct DiffEntry {
    pub path: PathBuf,
    pub change: Change,
    pub kind: NodeType,
    pub old_size: u64,
    pub new_size: u64,
}

/// Totals of a diff.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiffStats {
    pub added_files: u64,
    pub added_bytes: u64,
    pub removed_files: u64,
    pub removed_bytes: u64,
    pub modified_files: u64,
    pub metadata_changed: u64,
}

fn content_eq(a: &[ContentPart], b: &[ContentPart]) -> bool {
    a == b
}

/// Compare the trees `a` and `b`. Identical subtrees are skipped without being read.
pub fn diff(
    repo: &Repository,
    index: &Index,
    cache: &TreeCache,
    a: &BlobId,
    b: &BlobId,
    out: &mut Vec<DiffEntry>,
) -> Result<DiffStats> {
    let mut st = DiffStats::default();
    diff_trees(
        repo,
        index,
        cache,
        Some(*a),
        Some(*b),
        Path::new("/"),
        out,
        &mut st,
    )?;
    Ok(st)
}

#[allow(clippy::too_many_arguments)]
fn diff_trees(
    repo: &Repository,
    index: &Index,
    cache: &TreeCache,
    a: Option<BlobId>,
    b: Option<BlobId>,
    dir: &Path,
    out: &mut Vec<DiffEntry>,
    st: &mut DiffStats,
) -> Result<()> {
    if a == b {
        return Ok(());
    }
    let ta = match a {
        Some(id) => repo.load_tree(index, cache, &id)?,
        None => Tree::default(),
    };
    let tb = match b {
        Some(id) => repo.load_tree(index, cache, &id)?,
        None => Tree::default(),
    };
    let (mut i, mut j) = (0, 0);
    while i < ta.nodes.len() || j < tb.nodes.len() {
        let na = ta.nodes.get(i);
        let nb = tb.nodes.get(j);
        let ord = match (na, nb) {
            (Some(x), Some(y)) => x.name.cmp(&y.name),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        let (old, new) = match ord {
            std::cmp::Ordering::Less => {
                i += 1;
                (na, None)
            }
            std::cmp::Ordering::Greater => {
                j += 1;
                (None, nb)
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
                (na, nb)
            }
        };
        let name = old.or(new).expect("one side exists").name.as_os_str();
        let path = dir.join(name);
        let entry = |change, n: &Node, o: u64, s: u64| DiffEntry {
            path: path.clone(),
            change,
            kind: n.kind,
            old_size: o,
            new_size: s,
        };
        match (old, new) {
            (Some(o), None) => {
                out.push(entry(Change::Removed, o, o.size, 0));
                if o.kind == NodeType::File {
                    st.removed_files += 1;
                    st.removed_bytes += o.size;
                }
                if o.kind == NodeType::Dir {
                    diff_trees(repo, index, cache, o.subtree, None, &path, out, st)?;
                }
            }
            (None, Some(n)) => {
                out.push(entry(Change::Added, n, 0, n.size));
                if n.kind == NodeType::File {
                    st.added_files += 1;
                    st.added_bytes += n.size;
                }
                if n.kind == NodeType::Dir {
                    diff_trees(repo, index, cache, None, n.subtree, &path, out, st)?;
                }
            }
            (Some(o), Some(n)) => {
                if o.kind != n.kind {
                    out.push(entry(Change::Type, n, o.size, n.size));
                } else if n.kind == NodeType::File && !content_eq(&o.content, &n.content) {
                    out.push(entry(Change::Modified, n, o.size, n.size));
                    st.modified_files += 1;
                } else if n.kind != NodeType::Dir
                    && (o.mode != n.mode
                        || o.uid != n.uid
                        || o.gid != n.gid
                        || o.mtime != n.mtime
                        || o.target != n.target
                        || o.xattrs != n.xattrs)
                {
                    out.push(entry(Change::Metadata, n, o.size, n.size));
                    st.metadata_changed += 1;
                }
                let sa = if o.kind == NodeType::Dir {
                    o.subtree
                } else {
                    None
                };
                let sb = if n.kind == NodeType::Dir {
                    n.subtree
                } else {
                    None
                };
                if sa.is_some() || sb.is_some() {
                    diff_trees(repo, index, cache, sa, sb, &path, out, st)?;
                }
            }
            (None, None) => unreachable!("loop condition"),
        }
    }
    Ok(())
}
