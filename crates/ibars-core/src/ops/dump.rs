//! `dump`: one file of a snapshot as its bytes, or a directory as a tar stream, written to
//! any [`Write`]. The CLI's `ibars dump` and the daemon's download both call [`dump`].
//!
//! Contract: every blob is authenticated before a byte of it is written, and a file whose
//! blobs do not add up to its recorded size is an error, so a stream that ends without an
//! error is what the snapshot holds. A stream that fails midway is cut short: a tar stream
//! then lacks its end marker, which `tar` reports.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::BlobId;
use crate::index::Index;
use crate::repo::{Repository, TreeCache};
use crate::tree::{Bytes, ContentPart, Node, NodeType};

/// Blobs read ahead, in parallel, while the previous ones are written: a remote store's
/// latency is paid once per window, not once per blob.
const READ_AHEAD: usize = 8;

/// What a dump wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DumpReport {
    /// `file` for a file's bytes, `tar` for a directory (or a symlink or special file).
    pub format: &'static str,
    /// Entries in the tar stream (1 for a file).
    pub entries: u64,
    /// Bytes of file content written (tar headers and padding not counted).
    pub content_bytes: u64,
    /// Entries a tar stream cannot hold (sockets), skipped.
    pub skipped: u64,
}

/// The node at `path` (absolute or relative to the snapshot's root) in the tree `root`.
/// The root itself is a directory node named `/`.
pub fn lookup(
    repo: &Repository,
    index: &Index,
    cache: &TreeCache,
    root: &BlobId,
    path: &Path,
) -> Result<Node> {
    let mut node = Node::synthetic_dir(Bytes(b"/".to_vec()), *root);
    for c in path.components() {
        let name = match c {
            Component::Normal(n) => n,
            Component::RootDir | Component::CurDir => continue,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::Invalid(format!(
                    "path {}: `..` is not allowed in a snapshot path",
                    path.display()
                )))
            }
        };
        let subtree = match (node.kind, node.subtree) {
            (NodeType::Dir, Some(id)) => id,
            _ => return Err(Error::NoSuchPath(path.display().to_string())),
        };
        let tree = repo.load_tree(index, cache, &subtree)?;
        node = tree
            .find(name.as_bytes())
            .ok_or_else(|| Error::NoSuchPath(path.display().to_string()))?
            .clone();
    }
    Ok(node)
}

/// Write the node at `path` to `out`: a regular file as its bytes, anything else as a tar
/// stream whose entries are named from the node's own name down (`docs/...` for `/home/docs`;
/// the root's entries go without a prefix). `out_name` names the output in errors.
pub fn dump(
    repo: &Repository,
    index: &Index,
    cache: &TreeCache,
    root: &BlobId,
    path: &Path,
    out: &mut dyn Write,
    out_name: &str,
) -> Result<DumpReport> {
    let node = lookup(repo, index, cache, root, path)?;
    if node.kind == NodeType::File {
        let n = copy_content(repo, index, &node, out).map_err(|e| unwrap_io(e, out_name))?;
        return Ok(DumpReport {
            format: "file",
            entries: 1,
            content_bytes: n,
            skipped: 0,
        });
    }
    // tar's Builder writes the end-of-archive marker when dropped, even after an error:
    // a cut stream must not end with one, so the writer refuses all writes once broken.
    let broken = std::cell::Cell::new(false);
    let mut tar = TarWriter {
        repo,
        index,
        cache,
        builder: tar::Builder::new(Fused {
            inner: out,
            broken: &broken,
        }),
        links: HashMap::new(),
        report: DumpReport {
            format: "tar",
            ..DumpReport::default()
        },
    };
    let prefix = if node.name.0 == b"/" {
        PathBuf::new()
    } else {
        PathBuf::from(node.name.as_os_str())
    };
    let r = tar.add(&prefix, &node).and_then(|_| tar.builder.finish());
    if let Err(e) = r {
        broken.set(true);
        return Err(unwrap_io(e, out_name));
    }
    Ok(tar.report)
}

/// A writer that fails every write once `broken` is set.
struct Fused<'a, W: Write + ?Sized> {
    inner: &'a mut W,
    broken: &'a std::cell::Cell<bool>,
}

impl<W: Write + ?Sized> Write for Fused<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.broken.get() {
            return Err(std::io::Error::other("the stream was cut short"));
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.broken.get() {
            return Ok(());
        }
        self.inner.flush()
    }
}

/// A core error carried through `std::io` (from [`ContentReader`]), or an output error.
fn unwrap_io(e: std::io::Error, out_name: &str) -> Error {
    if e.get_ref().is_some_and(|i| i.is::<Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(core) = inner.downcast::<Error>() {
                return *core;
            }
        }
        return Error::Invalid("dump: lost error".into());
    }
    Error::io(out_name, e)
}

/// Write a file's content to `out`; returns the bytes written.
fn copy_content(
    repo: &Repository,
    index: &Index,
    node: &Node,
    out: &mut dyn Write,
) -> std::io::Result<u64> {
    let mut r = ContentReader::new(repo, index, node);
    std::io::copy(&mut r, out)
}

/// A file's content as a [`Read`]: blobs in order, read ahead in windows, holes as zeros.
/// It fails when the content does not add up to the node's size.
pub struct ContentReader<'a> {
    repo: &'a Repository,
    index: &'a Index,
    parts: &'a [ContentPart],
    next_part: usize,
    /// Decoded parts waiting to be read, in order (`None` for a hole of that many zeros).
    ready: std::collections::VecDeque<Chunk>,
    pos_in_front: usize,
    expected: u64,
    produced: u64,
    what: String,
}

enum Chunk {
    Data(Vec<u8>),
    Zeros(u64),
}

impl<'a> ContentReader<'a> {
    pub fn new(repo: &'a Repository, index: &'a Index, node: &'a Node) -> Self {
        ContentReader {
            repo,
            index,
            parts: &node.content,
            next_part: 0,
            ready: Default::default(),
            pos_in_front: 0,
            expected: node.size,
            produced: 0,
            what: node.name.lossy().into_owned(),
        }
    }

    fn refill(&mut self) -> Result<()> {
        let end = (self.next_part + READ_AHEAD).min(self.parts.len());
        let window = &self.parts[self.next_part..end];
        self.next_part = end;
        let threads = if window.len() > 1 { READ_AHEAD } else { 1 };
        let chunks = crate::repo::parallel_map(window, threads, |p| match p {
            ContentPart::Blob(id) => self.repo.read_blob(self.index, id).map(Chunk::Data),
            ContentPart::Hole(n) => Ok(Chunk::Zeros(*n)),
        })?;
        self.ready.extend(chunks);
        Ok(())
    }
}

impl Read for ContentReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.ready.is_empty() {
                if self.next_part == self.parts.len() {
                    if self.produced != self.expected {
                        return Err(std::io::Error::other(Error::corrupt(
                            format!("file {}", self.what),
                            format!(
                                "its content holds {} bytes, its size is {}",
                                self.produced, self.expected
                            ),
                        )));
                    }
                    return Ok(0);
                }
                self.refill().map_err(std::io::Error::other)?;
                continue;
            }
            let (n, done) = match self.ready.front() {
                Some(Chunk::Data(d)) => {
                    let n = (d.len() - self.pos_in_front).min(buf.len());
                    buf[..n].copy_from_slice(&d[self.pos_in_front..self.pos_in_front + n]);
                    (n, self.pos_in_front + n == d.len())
                }
                Some(Chunk::Zeros(z)) => {
                    let left = *z as usize - self.pos_in_front;
                    let n = left.min(buf.len());
                    buf[..n].fill(0);
                    (n, n == left)
                }
                None => unreachable!("checked non-empty"),
            };
            if done {
                self.ready.pop_front();
                self.pos_in_front = 0;
            } else {
                self.pos_in_front += n;
            }
            if n == 0 {
                continue;
            }
            self.produced += n as u64;
            return Ok(n);
        }
    }
}

struct TarWriter<'a, W: Write> {
    repo: &'a Repository,
    index: &'a Index,
    cache: &'a TreeCache,
    builder: tar::Builder<W>,
    /// The first entry of each multiply-linked file, by (device, inode), for hard links.
    links: HashMap<(u64, u64), PathBuf>,
    report: DumpReport,
}

impl<W: Write> TarWriter<'_, W> {
    /// Add `node` as `name` (empty for the root, which gets no entry), and what is below it.
    fn add(&mut self, name: &Path, node: &Node) -> std::io::Result<()> {
        if !name.as_os_str().is_empty() {
            self.entry(name, node)?;
        }
        if let (NodeType::Dir, Some(id)) = (node.kind, node.subtree) {
            let tree = self
                .repo
                .load_tree(self.index, self.cache, &id)
                .map_err(std::io::Error::other)?;
            for child in &tree.nodes {
                self.add(&name.join(child.name.as_os_str()), child)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, name: &Path, node: &Node) -> std::io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_mode(node.mode & 0o7777);
        h.set_uid(u64::from(node.uid));
        h.set_gid(u64::from(node.gid));
        h.set_mtime(u64::try_from(node.mtime.div_euclid(1_000_000_000)).unwrap_or(0));
        if let Some(u) = &node.user {
            let _ = h.set_username(u);
        }
        if let Some(g) = &node.group {
            let _ = h.set_groupname(g);
        }
        h.set_size(0);
        let key = (node.dev, node.inode);
        match node.kind {
            NodeType::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                self.builder.append_data(&mut h, name, std::io::empty())?;
            }
            NodeType::Symlink => {
                h.set_entry_type(tar::EntryType::Symlink);
                let target = node.target.clone().unwrap_or_default();
                self.builder
                    .append_link(&mut h, name, Path::new(target.as_os_str()))?;
            }
            NodeType::File if node.links > 1 && self.links.contains_key(&key) => {
                h.set_entry_type(tar::EntryType::Link);
                let first = self.links[&key].clone();
                self.builder.append_link(&mut h, name, &first)?;
            }
            NodeType::File => {
                if node.links > 1 {
                    self.links.insert(key, name.to_path_buf());
                }
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(node.size);
                let r = ContentReader::new(self.repo, self.index, node);
                self.builder.append_data(&mut h, name, r)?;
                self.report.content_bytes += node.size;
            }
            NodeType::Fifo | NodeType::Chardev | NodeType::Blockdev => {
                h.set_entry_type(match node.kind {
                    NodeType::Fifo => tar::EntryType::Fifo,
                    NodeType::Chardev => tar::EntryType::Char,
                    _ => tar::EntryType::Block,
                });
                let (major, minor) = (libc::major(node.rdev), libc::minor(node.rdev));
                h.set_device_major(major)?;
                h.set_device_minor(minor)?;
                self.builder.append_data(&mut h, name, std::io::empty())?;
            }
            NodeType::Socket => {
                self.report.skipped += 1;
                return Ok(());
            }
        }
        self.report.entries += 1;
        Ok(())
    }
}
