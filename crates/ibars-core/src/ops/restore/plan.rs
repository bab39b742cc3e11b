//! The restore plan: which paths to create, which files to write, and which pack ranges to
//! read for them.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::meta;
use super::RestoreReport;
use crate::error::{Error, Result};
use crate::index::Index;
use crate::ops::filter::PathFilter;
use crate::pack::PackEntry;
use crate::repo::{parallel_map, Repository, TreeCache};
use crate::snapshot::Snapshot;
use crate::source::longpath::{reach, Reachable};
use crate::tree::{ContentPart, Node, NodeType, Tree};

/// How blobs of one pack are grouped into ranged reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadShape {
    /// The largest single read.
    pub max_read: u64,
    /// Blobs closer than this are read in one request, gap included.
    pub merge_gap: u64,
}

impl ReadShape {
    /// A local disk (`parallelism` 1) gets reads of at most 2 MiB, which keep memory low and
    /// writes flowing. A remote store, where each request costs a round trip (and money), gets
    /// one read per pack: a pack holds up to `pack_size` plus one largest chunk and its header.
    /// Skipping less than 1 MiB there costs less than another request.
    pub(crate) fn for_store(parallelism: usize, config: &crate::repo::Config) -> Self {
        if parallelism > 1 {
            ReadShape {
                max_read: u64::from(config.pack_size)
                    + u64::from(config.chunker.max_size)
                    + (1 << 20),
                merge_gap: 1 << 20,
            }
        } else {
            ReadShape {
                max_read: 2 << 20,
                merge_gap: 256 << 10,
            }
        }
    }
}

/// One non-directory entry to restore.
pub(crate) struct FileTask {
    pub path: PathBuf,
    pub node: Node,
    /// Already present with the right content.
    pub skip: bool,
    /// Restore as a hard link to this earlier task.
    pub link_to: Option<usize>,
    /// Something was at the path before the restore (only then is it stat'ed or removed).
    pub existed: bool,
    /// Blob writes still to come; the worker that makes the last one sets the metadata.
    pub pending: std::sync::atomic::AtomicU32,
    /// Metadata already set (by that worker).
    pub meta_done: std::sync::atomic::AtomicBool,
}

/// One blob to write, at every `(file, offset)` that needs it.
pub(crate) struct BlobWrite {
    pub entry: PackEntry,
    pub targets: Vec<(u32, u64)>,
}

/// One ranged read of a pack and the blobs in it.
pub(crate) struct ReadJob {
    pub pack: u32,
    pub start: u64,
    pub end: u64,
    pub blobs: Vec<BlobWrite>,
}

pub(crate) struct Plan {
    pub dirs: Vec<(PathBuf, Node)>,
    /// Directories this restore created: nothing can be in them yet.
    created: std::collections::HashSet<PathBuf>,
    pub files: Vec<FileTask>,
    is_root: bool,
}

struct Walk<'a> {
    repo: &'a Repository,
    index: &'a Index,
    cache: &'a TreeCache,
    includes: &'a PathFilter,
    excludes: &'a PathFilter,
    plan: Plan,
    links: HashMap<(u64, u64), usize>,
}

impl Walk<'_> {
    /// Returns whether anything below was selected.
    fn tree(
        &mut self,
        tree: &Tree,
        snap_dir: &Path,
        target_dir: &Path,
        selected: bool,
    ) -> Result<bool> {
        let mut any = false;
        for node in &tree.nodes {
            let sp = snap_dir.join(node.name.as_os_str());
            let tp = target_dir.join(node.name.as_os_str());
            if self.excludes.matches(&sp) {
                continue;
            }
            let sel = selected || self.includes.is_empty() || self.includes.matches(&sp);
            if node.kind == NodeType::Dir {
                let id = node.subtree.ok_or_else(|| {
                    Error::corrupt(format!("directory {}", sp.display()), "no subtree")
                })?;
                let sub = self.repo.load_tree(self.index, self.cache, &id)?;
                let inner = self.tree(&sub, &sp, &tp, sel)?;
                if sel || inner {
                    self.plan.dirs.push((tp, node.clone()));
                    any = true;
                }
            } else if sel {
                let mut link_to = None;
                if node.kind == NodeType::File && node.links > 1 && node.inode != 0 {
                    let next = self.plan.files.len();
                    link_to = match self.links.entry((node.dev, node.inode)) {
                        std::collections::hash_map::Entry::Occupied(o) => Some(*o.get()),
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(next);
                            None
                        }
                    };
                }
                // The path holds the name, and owners are restored by id: keep less per file.
                let mut node = node.clone();
                node.name = Default::default();
                node.user = None;
                node.group = None;
                self.plan.files.push(FileTask {
                    path: tp,
                    node,
                    skip: false,
                    link_to,
                    existed: true,
                    pending: Default::default(),
                    meta_done: Default::default(),
                });
                any = true;
            }
        }
        Ok(any)
    }
}

fn remove_any(shown: &Path) -> Result<()> {
    let path = &*reach(shown).map_err(|e| Error::io(shown, e))?;
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => std::fs::remove_dir_all(path).map_err(|e| Error::io(shown, e)),
        Ok(_) => std::fs::remove_file(path).map_err(|e| Error::io(shown, e)),
        Err(_) => Ok(()),
    }
}

/// `reach` with errors naming the real path.
fn reached(path: &Path) -> Result<Reachable> {
    reach(path).map_err(|e| Error::io(path, e))
}

/// Whether the file at `path` already holds exactly `node`'s content (checked by hashing).
pub fn file_matches(repo: &Repository, index: &Index, path: &Path, node: &Node) -> Result<bool> {
    let shown = path;
    let path = &*reached(shown)?;
    let md = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => m,
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(shown, e)),
    };
    if md.size() != node.size {
        return Ok(false);
    }
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(shown, e))?;
    let mut buf = Vec::new();
    for part in &node.content {
        match part {
            ContentPart::Blob(id) => {
                let Some(loc) = index.get(id) else {
                    return Ok(false);
                };
                buf.resize(loc.raw_length as usize, 0);
                if f.read_exact(&mut buf).is_err() || repo.key().blob_id(&buf) != *id {
                    return Ok(false);
                }
            }
            ContentPart::Hole(n) => {
                // Holes are not re-read byte by byte; skip over them.
                std::io::Seek::seek(&mut f, std::io::SeekFrom::Current(*n as i64))
                    .map_err(|e| Error::io(path, e))?;
            }
        }
    }
    Ok(true)
}

impl Plan {
    pub fn build(
        repo: &Repository,
        index: &Index,
        cache: &TreeCache,
        snap: &Snapshot,
        target: &Path,
        includes: &PathFilter,
        excludes: &PathFilter,
    ) -> Result<Self> {
        let root = repo.load_tree(index, cache, &snap.tree)?;
        let mut w = Walk {
            repo,
            index,
            cache,
            includes,
            excludes,
            plan: Plan {
                dirs: vec![],
                created: Default::default(),
                files: vec![],
                is_root: nix::unistd::geteuid().is_root(),
            },
            links: HashMap::new(),
        };
        w.tree(&root, Path::new("/"), target, false)?;
        let mut plan = w.plan;
        plan.dirs.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(plan)
    }

    /// Create directories (parents first), symlinks and special files.
    pub fn create_dirs_and_specials(&mut self, report: &mut RestoreReport) -> Result<()> {
        for (path, _) in &self.dirs {
            let r = reached(path)?;
            match std::fs::symlink_metadata(&*r) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => {
                    remove_any(path)?;
                    std::fs::create_dir(&*r).map_err(|e| Error::io(path, e))?;
                }
                Err(_) => {
                    // Parents come first, so one level is enough except above the snapshot.
                    if let Err(e) = std::fs::create_dir(&*r) {
                        if e.kind() != std::io::ErrorKind::NotFound {
                            return Err(Error::io(path, e));
                        }
                        std::fs::create_dir_all(&*r).map_err(|e| Error::io(path, e))?;
                    }
                    self.created.insert(path.clone());
                }
            }
            report.dirs += 1;
        }
        for f in &mut self.files {
            f.existed = !f.path.parent().is_some_and(|p| self.created.contains(p));
            match f.node.kind {
                NodeType::Symlink => {
                    remove_any(&f.path)?;
                    let target = f.node.target.clone().unwrap_or_default();
                    std::os::unix::fs::symlink(target.as_os_str(), &*reached(&f.path)?)
                        .map_err(|e| Error::io(&f.path, e))?;
                    report.symlinks += 1;
                }
                NodeType::Fifo | NodeType::Chardev | NodeType::Blockdev => {
                    remove_any(&f.path)?;
                    match meta::create_special(&f.path, &f.node) {
                        Ok(()) => report.specials += 1,
                        Err(e) => report.errors.push((f.path.clone(), e.to_string())),
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Mark files that already exist with the right content, so they are not rewritten.
    pub fn mark_matching(
        &mut self,
        repo: &Repository,
        index: &Index,
        cancel: &AtomicBool,
        report: &mut RestoreReport,
    ) -> Result<()> {
        let candidates: Vec<usize> = (0..self.files.len())
            .filter(|&i| {
                let f = &self.files[i];
                f.node.kind == NodeType::File
                    && f.link_to.is_none()
                    && f.existed
                    && reach(&f.path)
                        .and_then(|r| std::fs::symlink_metadata(&*r))
                        .is_ok_and(|m| m.file_type().is_file() && m.size() == f.node.size)
            })
            .collect();
        let files = &self.files;
        let matches = parallel_map(&candidates, 2, |&i| {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            Ok(file_matches(repo, index, &files[i].path, &files[i].node).unwrap_or(false))
        })?;
        for (i, m) in candidates.into_iter().zip(matches) {
            if m {
                self.files[i].skip = true;
                report.files_skipped += 1;
            }
        }
        Ok(())
    }

    /// Create and size every file to write, and group their blobs into ranged reads as `shape`
    /// says.
    pub fn prepare_files(
        &mut self,
        index: &Index,
        report: &mut RestoreReport,
        shape: ReadShape,
    ) -> Result<Vec<ReadJob>> {
        let todo: Vec<usize> = (0..self.files.len())
            .filter(|&i| {
                let f = &self.files[i];
                f.node.kind == NodeType::File && !f.skip && f.link_to.is_none()
            })
            .collect();
        // Files with data are created by the workers that write it, overlapping creation
        // with reads; here old entries are cleared and empty or all-hole files made. This
        // is syscall-bound: spread over threads, one directory per thread at a time, since
        // creates in one directory serialize on its lock.
        let files = &self.files;
        let mut groups: Vec<&[usize]> = Vec::new();
        let mut rest = &todo[..];
        while let Some(&first) = rest.first() {
            let parent = files[first].path.parent();
            let n = rest
                .iter()
                .take_while(|&&i| files[i].path.parent() == parent)
                .count();
            let (g, r) = rest.split_at(n);
            groups.push(g);
            rest = r;
        }
        parallel_map(&groups, 4, |group| {
            for &i in *group {
                let f = &files[i];
                if f.existed {
                    remove_any(&f.path)?;
                }
                if f.node.blobs().next().is_none() {
                    let file = std::fs::File::create(&*reached(&f.path)?)
                        .map_err(|e| Error::io(&f.path, e))?;
                    file.set_len(f.node.size)
                        .map_err(|e| Error::io(&f.path, e))?;
                }
            }
            Ok(())
        })?;
        let mut by_pack: HashMap<u32, HashMap<crate::id::BlobId, BlobWrite>> = HashMap::new();
        for &i in &todo {
            let f = &self.files[i];
            report.files_restored += 1;
            let mut offset = 0u64;
            for part in &f.node.content {
                match part {
                    ContentPart::Hole(n) => offset += n,
                    ContentPart::Blob(id) => {
                        let Some((_, entry)) = index.entry(id) else {
                            report
                                .errors
                                .push((f.path.clone(), format!("blob {id} is not in the index")));
                            break;
                        };
                        let loc = index.get(id).expect("entry exists");
                        by_pack
                            .entry(loc.pack)
                            .or_default()
                            .entry(*id)
                            .or_insert_with(|| BlobWrite {
                                entry,
                                targets: vec![],
                            })
                            .targets
                            .push((i as u32, offset));
                        f.pending.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        offset += entry.raw_length as u64;
                    }
                }
            }
        }
        let mut jobs = Vec::new();
        for (pack, blobs) in by_pack {
            let mut blobs: Vec<BlobWrite> = blobs.into_values().collect();
            blobs.sort_by_key(|b| b.entry.offset);
            let mut cur: Option<ReadJob> = None;
            for b in blobs {
                let (s, e) = (
                    b.entry.offset as u64,
                    b.entry.offset as u64 + b.entry.length as u64,
                );
                match &mut cur {
                    Some(j) if s <= j.end + shape.merge_gap && e - j.start <= shape.max_read => {
                        j.end = j.end.max(e);
                        j.blobs.push(b);
                    }
                    _ => {
                        if let Some(j) = cur.take() {
                            jobs.push(j);
                        }
                        cur = Some(ReadJob {
                            pack,
                            start: s,
                            end: e,
                            blobs: vec![b],
                        });
                    }
                }
            }
            jobs.extend(cur);
        }
        // In file order: neighbouring files are written together, which keeps directory and
        // inode-table blocks hot in the file system, and packs are read in the order they were
        // written.
        jobs.sort_by_key(|j| {
            j.blobs
                .iter()
                .flat_map(|b| b.targets.iter().map(|t| t.0))
                .min()
        });
        Ok(jobs)
    }

    /// Hard links, then metadata: files first, directories deepest first.
    pub fn finish(&self, report: &mut RestoreReport) -> Result<()> {
        for f in &self.files {
            if let Some(first) = f.link_to {
                remove_any(&f.path)?;
                std::fs::hard_link(&*reached(&self.files[first].path)?, &*reached(&f.path)?)
                    .map_err(|e| Error::io(&f.path, e))?;
                report.hard_links += 1;
            }
        }
        let is_root = self.is_root;
        let failed = parallel_map(&self.files, 4, |f| {
            if f.node.kind == NodeType::Socket
                || f.link_to.is_some()
                || f.meta_done.load(std::sync::atomic::Ordering::Relaxed)
            {
                return Ok(None);
            }
            Ok(match meta::apply(&f.path, &f.node, is_root) {
                Err(e) if !e.is_not_found() => Some((f.path.clone(), e.to_string())),
                _ => None,
            })
        })?;
        report.errors.extend(failed.into_iter().flatten());
        for (path, node) in self.dirs.iter().rev() {
            if let Err(e) = meta::apply(path, node, self.is_root) {
                report.errors.push((path.clone(), e.to_string()));
            }
        }
        Ok(())
    }
}
