//! Tracing damage to the snapshots and paths it touches.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::structure::Structure;
use super::Affected;
use crate::error::Result;
use crate::id::BlobId;
use crate::repo::Repository;
use crate::tree::{NodeType, Tree};

/// Every snapshot with a file that references a bad blob, or a directory whose tree is lost,
/// with those paths.
pub(super) fn trace(
    repo: &Repository,
    s: &Structure,
    bad: &HashSet<BlobId>,
) -> Result<Vec<Affected>> {
    let mut t = Tracer {
        repo,
        s,
        bad,
        memo: HashMap::new(),
    };
    let mut out = Vec::new();
    for (id, snap) in &s.snapshots {
        let paths: Vec<String> = if s.bad_trees.contains(&snap.tree) {
            vec!["/".into()]
        } else {
            t.damaged_under(snap.tree)
                .iter()
                .map(|p| format!("/{p}"))
                .collect()
        };
        if !paths.is_empty() {
            out.push(Affected {
                snapshot: *id,
                time: snap.time,
                host: snap.host.clone(),
                paths,
            });
        }
    }
    Ok(out)
}

struct Tracer<'a> {
    repo: &'a Repository,
    s: &'a Structure,
    bad: &'a HashSet<BlobId>,
    /// Damaged paths under each tree already visited, relative to it.
    memo: HashMap<BlobId, Arc<Vec<String>>>,
}

/// A tree being visited: the next node to look at and what was found so far.
struct Frame {
    id: BlobId,
    tree: Tree,
    next: usize,
    found: Vec<String>,
}

impl Tracer<'_> {
    fn load(&self, id: &BlobId) -> Option<Tree> {
        if self.s.bad_trees.contains(id) {
            return None;
        }
        self.repo.load_tree(&self.s.index, &self.s.cache, id).ok()
    }

    /// Damaged paths under the tree `root`, relative to it. Iterative, so that deep trees
    /// cannot overflow the stack; each tree is visited once across all snapshots.
    fn damaged_under(&mut self, root: BlobId) -> Arc<Vec<String>> {
        if let Some(r) = self.memo.get(&root) {
            return r.clone();
        }
        let Some(tree) = self.load(&root) else {
            return Arc::new(vec![String::new()]);
        };
        let mut stack = vec![Frame {
            id: root,
            tree,
            next: 0,
            found: vec![],
        }];
        loop {
            let f = stack.last_mut().expect("stack is not empty");
            if f.next == f.tree.nodes.len() {
                let done = stack.pop().expect("stack is not empty");
                let res = Arc::new(done.found);
                self.memo.insert(done.id, res.clone());
                match stack.last_mut() {
                    Some(parent) => {
                        let name = parent.tree.nodes[parent.next - 1].name.lossy().into_owned();
                        parent
                            .found
                            .extend(res.iter().map(|p| format!("{name}/{p}")));
                    }
                    None => return res,
                }
                continue;
            }
            let node = &f.tree.nodes[f.next];
            f.next += 1;
            let name = node.name.lossy().into_owned();
            match (node.kind, node.subtree) {
                (NodeType::Dir, Some(sub)) => {
                    if let Some(r) = self.memo.get(&sub) {
                        f.found.extend(r.iter().map(|p| format!("{name}/{p}")));
                    } else if let Some(tree) = self.load(&sub) {
                        stack.push(Frame {
                            id: sub,
                            tree,
                            next: 0,
                            found: vec![],
                        });
                    } else {
                        f.found.push(format!("{name}/"));
                    }
                }
                _ => {
                    if node.blobs().any(|b| self.bad.contains(b)) {
                        f.found.push(name);
                    }
                }
            }
        }
    }
}
