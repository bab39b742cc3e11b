//! The front half of the backup pipeline: walk the sources in name order, compare each entry
//! with the parent snapshot, queue files that must be read, and hand each finished directory
//! (post-order) to the finisher, which assembles and stores its tree.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{bounded, Receiver, Sender};

use super::reader::{FileJob, ReadFile};
use super::saver::{BlobJob, Saver};
use super::scan::{list, Entry, Feed, Listing, Rules};
use crate::error::{Error, Result};
use crate::features::collect::{Collector, Prev, Seen};
use crate::id::BlobId;
use crate::index::Index;
use crate::pack::BlobKind;
use crate::progress::Progress;
use crate::repo::{Repository, TreeCache};
use crate::source::fs::{node_from_metadata, NameCache};
use crate::source::longpath::reach;
use crate::tree::{Bytes, Node, NodeType, Tree};

/// How a node compares with the parent snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    New,
    Changed,
    Unchanged,
}

/// A node whose content or subtree may still be on its way.
pub(crate) enum Pending {
    Ready(Node, Status),
    File(
        Node,
        Status,
        PathBuf,
        Receiver<Result<ReadFile>>,
        Option<Prev>,
    ),
    Dir(Node, Receiver<BlobId>),
}

/// A directory whose entries are all listed.
pub(crate) struct DirItem {
    nodes: Vec<Pending>,
    parent_subtree: Option<BlobId>,
    reply: Sender<BlobId>,
}

/// A source path, or a directory on the way to source paths.
pub(crate) enum VEntry {
    Real(PathBuf),
    Virtual(BTreeMap<Vec<u8>, VEntry>),
}

/// Arrange absolute source paths into the tree of their components.
pub(crate) fn virtual_root(paths: &[PathBuf]) -> VEntry {
    let mut root = BTreeMap::new();
    for p in paths {
        let comps: Vec<&OsStr> = p
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        if comps.is_empty() {
            return VEntry::Real(PathBuf::from("/"));
        }
        let mut cur = &mut root;
        for (i, c) in comps.iter().enumerate() {
            let key = c.as_bytes().to_vec();
            if i + 1 == comps.len() {
                cur.insert(key, VEntry::Real(p.clone()));
                break;
            }
            let e = cur
                .entry(key)
                .or_insert_with(|| VEntry::Virtual(BTreeMap::new()));
            match e {
                VEntry::Virtual(m) => cur = m,
                VEntry::Real(_) => break, // an ancestor is backed up whole already
            }
        }
    }
    VEntry::Virtual(root)
}

pub(crate) struct Walker<'a> {
    pub repo: &'a Repository,
    pub index: &'a Index,
    pub cache: &'a TreeCache,
    pub saver: &'a Saver<'a>,
    pub rules: &'a Rules,
    /// The scanner's listings, in walk order; `None` after a mismatch (then it lists itself).
    pub scan: Option<Feed>,
    pub reread_all: bool,
    pub names: NameCache,
    pub file_tx: Sender<FileJob>,
    pub dir_tx: Sender<DirItem>,
    pub cancel: &'a AtomicBool,
    pub progress: &'a dyn Progress,
    /// Entries that could not be read, with the reason.
    pub errors: Vec<(PathBuf, String)>,
    /// Whether the anomaly features are measured.
    pub features: bool,
    /// What the parent had that is gone now.
    pub deleted: Deleted,
}

/// Entries of the parent snapshot missing from the source now.
#[derive(Debug, Default)]
pub(crate) struct Deleted {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    /// Content signatures of the deleted files, with how many had each, to find moves.
    pub sigs: HashMap<u128, u32>,
}

/// A signature of a file's content (its size and blob list), for telling moves from new
/// files; `None` for an empty file, whose content says nothing.
pub(crate) fn content_sig(n: &Node) -> Option<u128> {
    if n.size == 0 {
        return None;
    }
    let mut h = blake3::Hasher::new();
    h.update(&n.size.to_le_bytes());
    for p in &n.content {
        match p {
            crate::tree::ContentPart::Blob(b) => h.update(&b.0),
            crate::tree::ContentPart::Hole(len) => h.update(&len.to_le_bytes()),
        };
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    Some(u128::from_le_bytes(out))
}

fn unchanged(old: &Node, new: &Node) -> bool {
    old.kind == NodeType::File
        && old.size == new.size
        && old.mtime == new.mtime
        && old.ctime == new.ctime
        && old.inode == new.inode
}

impl Walker<'_> {
    fn check(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        if self.saver.failed() {
            return Err(Error::Invalid("backup pipeline stopped".into()));
        }
        Ok(())
    }

    fn parent_tree(&self, node: Option<&Node>) -> Result<Option<(BlobId, Tree)>> {
        match node.and_then(|n| n.subtree) {
            Some(id) if n_is_dir(node) => Ok(Some((
                id,
                self.repo.load_tree(self.index, self.cache, &id)?,
            ))),
            _ => Ok(None),
        }
    }

    fn send_dir(
        &self,
        nodes: Vec<Pending>,
        parent_subtree: Option<BlobId>,
    ) -> Result<Receiver<BlobId>> {
        let (reply, rx) = bounded(1);
        self.dir_tx
            .send(DirItem {
                nodes,
                parent_subtree,
                reply,
            })
            .map_err(|_| Error::Invalid("backup pipeline stopped".into()))?;
        Ok(rx)
    }

    /// Walk the tree of source paths built by [`virtual_root`].
    pub fn walk_root(
        &mut self,
        root: &VEntry,
        parent: Option<(BlobId, Tree)>,
    ) -> Result<Receiver<BlobId>> {
        match root {
            VEntry::Real(p) => {
                let md = std::fs::symlink_metadata(p).map_err(|e| Error::io(p, e))?;
                let listing = self.listing(p, false);
                self.walk_dir(listing, md.dev(), parent)
            }
            VEntry::Virtual(children) => self.walk_virtual(Path::new("/"), children, parent),
        }
    }

    fn walk_virtual(
        &mut self,
        dir: &Path,
        children: &BTreeMap<Vec<u8>, VEntry>,
        parent: Option<(BlobId, Tree)>,
    ) -> Result<Receiver<BlobId>> {
        let (parent_id, parent_tree) = split(parent);
        let mut nodes = Vec::new();
        for (name, entry) in children {
            let full = dir.join(OsStr::from_bytes(name));
            let old = parent_tree.as_ref().and_then(|t| t.find(name));
            let md = reach(&full)
                .and_then(|r| std::fs::symlink_metadata(&*r))
                .map_err(|e| Error::io(&full, e))?;
            match entry {
                VEntry::Real(_) => {
                    if let Some(p) =
                        self.entry(Bytes(name.clone()), &full, md.clone(), old, md.dev())?
                    {
                        nodes.push(p);
                    }
                }
                VEntry::Virtual(m) => {
                    let node =
                        node_from_metadata(Bytes(name.clone()), &full, &md, &self.names, old)
                            .map_err(|e| Error::io(&full, e))?;
                    let sub = self.parent_tree(old)?;
                    let rx = self.walk_virtual(&full, m, sub)?;
                    nodes.push(Pending::Dir(node, rx));
                }
            }
        }
        self.send_dir(nodes, parent_id)
    }

    /// The listing of `dir`: the scanner's next one, which must be for `dir`, or made here.
    fn listing(&mut self, dir: &Path, check_marker: bool) -> Listing {
        if let Some(feed) = &self.scan {
            match feed.next() {
                Some(l) if l.dir == dir => return l,
                Some(l) => {
                    // A bug, never wrong data: the walk goes on without the scanner.
                    debug_assert!(
                        false,
                        "scanner listed {l:?} where {dir:?} was due",
                        l = l.dir
                    );
                    tracing::warn!(
                        "backup scanner listed {} where {} was due; listing here from now on",
                        l.dir.display(),
                        dir.display()
                    )
                }
                None => {}
            }
            self.scan = None;
        }
        list(dir, self.rules, check_marker)
    }

    fn walk_dir(
        &mut self,
        listing: Listing,
        dev: u64,
        parent: Option<(BlobId, Tree)>,
    ) -> Result<Receiver<BlobId>> {
        self.check()?;
        let dir = listing.dir;
        let (parent_id, parent_tree) = split(parent);
        let entries = match listing.entries {
            Ok(entries) => entries,
            Err(e) => {
                self.error(&dir, &e);
                return self.send_dir(Vec::new(), parent_id);
            }
        };
        if let Some(t) = &parent_tree {
            for old in &t.nodes {
                let gone = entries
                    .binary_search_by(|(n, _)| n.as_bytes().cmp(&old.name.0[..]))
                    .is_err();
                if gone {
                    self.count_deleted(old);
                }
            }
        }
        let mut nodes = Vec::with_capacity(entries.len());
        for (name, entry) in entries {
            let full = dir.join(&name);
            let md = match entry {
                Entry::Skipped => continue,
                Entry::Meta(md) => md,
                Entry::Failed(e) => {
                    self.error(&full, &e);
                    continue;
                }
            };
            let old = parent_tree.as_ref().and_then(|t| t.find(name.as_bytes()));
            if let Some(p) = self.entry(Bytes::from_os(&name), &full, md, old, dev)? {
                nodes.push(p);
            }
        }
        self.send_dir(nodes, parent_id)
    }

    /// Count a node of the parent that is gone, with everything below it.
    fn count_deleted(&mut self, n: &Node) {
        match n.kind {
            NodeType::File => {
                self.deleted.files += 1;
                self.deleted.bytes += n.size;
                if let Some(sig) = content_sig(n) {
                    *self.deleted.sigs.entry(sig).or_default() += 1;
                }
            }
            NodeType::Dir => {
                self.deleted.dirs += 1;
                let Some(id) = n.subtree else { return };
                match self.repo.load_tree(self.index, self.cache, &id) {
                    Ok(t) => t.nodes.iter().for_each(|c| self.count_deleted(c)),
                    // Only statistics are lost; the backup itself does not need the tree.
                    Err(e) => tracing::warn!("counting deleted files: {e}"),
                }
            }
            _ => {}
        }
    }

    fn error(&mut self, path: &Path, msg: &str) {
        self.progress.warn(&format!("{}: {msg}", path.display()));
        self.errors.push((path.to_path_buf(), msg.to_string()));
    }

    /// One directory entry. `None` when it is skipped.
    fn entry(
        &mut self,
        name: Bytes,
        full: &Path,
        md: Metadata,
        old: Option<&Node>,
        dev: u64,
    ) -> Result<Option<Pending>> {
        let mut node = match node_from_metadata(name, full, &md, &self.names, old) {
            Ok(n) => n,
            Err(e) => {
                self.error(full, &e.to_string());
                if md.is_dir() && !self.rules.other_fs(&md, dev) {
                    // The scanner listed it: take its listing, to stay in step.
                    self.listing(full, true);
                }
                return Ok(None);
            }
        };
        let status = if old.is_some() {
            Status::Changed
        } else {
            Status::New
        };
        match node.kind {
            NodeType::File => {
                if let Some(o) = old {
                    if !self.reread_all
                        && unchanged(o, &node)
                        && o.blobs().all(|b| self.index.contains(b))
                    {
                        node.content = o.content.clone();
                        node.class = o.class.clone();
                        node.secrets = o.secrets.clone();
                        return Ok(Some(Pending::Ready(node, Status::Unchanged)));
                    }
                }
                let prev = old
                    .filter(|o| self.features && o.kind == NodeType::File)
                    .map(|o| Prev {
                        class: o.class.clone(),
                        size: o.size,
                        content: o.content.clone(),
                    });
                let (reply, rx) = bounded(1);
                self.file_tx
                    .send(FileJob {
                        path: full.to_path_buf(),
                        reply,
                    })
                    .map_err(|_| Error::Invalid("backup pipeline stopped".into()))?;
                Ok(Some(Pending::File(
                    node,
                    status,
                    full.to_path_buf(),
                    rx,
                    prev,
                )))
            }
            NodeType::Dir => {
                // In the scanner's order (see scan::Scanner::dir): it does not list another
                // file system's directories.
                let listing = if self.rules.other_fs(&md, dev) {
                    if self.rules.has_marker(full) {
                        return Ok(None);
                    }
                    None
                } else {
                    let l = self.listing(full, true);
                    if l.excluded {
                        return Ok(None);
                    }
                    Some(l)
                };
                let sub = self.parent_tree(old)?;
                let rx = match listing {
                    None => self.send_dir(Vec::new(), sub.map(|s| s.0))?,
                    Some(l) => self.walk_dir(l, dev, sub)?,
                };
                Ok(Some(Pending::Dir(node, rx)))
            }
            _ => {
                let same = old.is_some_and(|o| {
                    o.kind == node.kind && o.mtime == node.mtime && o.ctime == node.ctime
                });
                Ok(Some(Pending::Ready(
                    node,
                    if same { Status::Unchanged } else { status },
                )))
            }
        }
    }
}

fn n_is_dir(n: Option<&Node>) -> bool {
    n.is_some_and(|n| n.kind == NodeType::Dir)
}

fn split(p: Option<(BlobId, Tree)>) -> (Option<BlobId>, Option<Tree>) {
    match p {
        Some((id, t)) => (Some(id), Some(t)),
        None => (None, None),
    }
}

/// What the finisher counted.
#[derive(Default, Debug)]
pub(crate) struct FinishStats {
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unchanged: u64,
    pub dirs_new: u64,
    pub dirs_changed: u64,
    pub dirs_unchanged: u64,
    pub bytes_read: u64,
    pub bytes_total: u64,
    pub changed_while_read: Vec<PathBuf>,
    pub errors: Vec<(PathBuf, String)>,
    /// Content signatures of the new files, to find moves.
    pub new_sigs: Vec<u128>,
    /// The features gathered, when they are measured.
    pub collector: Option<Collector>,
}

/// Assemble trees in post-order as their entries complete, and store them.
pub(crate) fn finisher(
    saver: &Saver<'_>,
    work_tx: Sender<BlobJob>,
    dir_rx: Receiver<DirItem>,
    progress: &dyn Progress,
    features: bool,
) -> Result<FinishStats> {
    let mut st = FinishStats {
        collector: features.then(Collector::default),
        ..Default::default()
    };
    let stopped = || Error::Invalid("backup pipeline stopped".into());
    for item in dir_rx {
        let mut nodes = Vec::with_capacity(item.nodes.len());
        for p in item.nodes {
            match p {
                Pending::Ready(n, status) => {
                    if n.kind == NodeType::File {
                        match status {
                            Status::New => st.files_new += 1,
                            Status::Changed => st.files_changed += 1,
                            Status::Unchanged => st.files_unchanged += 1,
                        }
                        st.bytes_total += n.size;
                        progress.bytes_done(n.size);
                        progress.file_done(Path::new(n.name.as_os_str()), n.size);
                    }
                    nodes.push(n);
                }
                Pending::File(mut n, status, path, rx, prev) => {
                    match rx.recv().map_err(|_| stopped())? {
                        Ok(r) => {
                            if let Some(c) = &mut st.collector {
                                c.file(Seen {
                                    path: &path,
                                    name: &n.name.0,
                                    prev: prev.as_ref(),
                                    dir_existed: item.parent_subtree.is_some(),
                                    sample: &r.sample,
                                    size: r.size,
                                    content: &r.content,
                                });
                                n.class = Some(r.sample.class().to_string());
                                n.secrets = r.secrets;
                            }
                            n.content = r.content;
                            n.size = r.size;
                            st.bytes_read += r.bytes_read;
                            st.bytes_total += r.size;
                            if status == Status::New {
                                st.files_new += 1;
                                st.new_sigs.extend(content_sig(&n));
                            } else {
                                st.files_changed += 1;
                            }
                            if r.changed_while_read {
                                progress.warn(&format!(
                                    "{}: file changed while it was read",
                                    path.display()
                                ));
                                st.changed_while_read.push(path.clone());
                            }
                            progress.file_done(&path, r.size);
                            nodes.push(n);
                        }
                        Err(Error::Interrupted) => return Err(Error::Interrupted),
                        Err(e) => {
                            progress.warn(&e.to_string());
                            st.errors.push((path, e.to_string()));
                        }
                    }
                }
                Pending::Dir(mut n, rx) => {
                    n.subtree = Some(rx.recv().map_err(|_| stopped())?);
                    nodes.push(n);
                }
            }
        }
        let tree = Tree::new(nodes);
        let (id, _) = saver.submit(&work_tx, BlobKind::Tree, tree.to_bytes())?;
        match item.parent_subtree {
            None => st.dirs_new += 1,
            Some(p) if p == id => st.dirs_unchanged += 1,
            Some(_) => st.dirs_changed += 1,
        }
        let _ = item.reply.send(id);
    }
    Ok(st)
}
