//! Reading file metadata into [`Node`]s: mode, owners (ids and names), times, xattrs, devices,
//! and the data extents of sparse files.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::Mutex;

use nix::unistd::Whence;

use crate::tree::{Bytes, Node, NodeType, Xattr};

/// Caches uid → user name and gid → group name lookups.
#[derive(Default)]
pub struct NameCache {
    users: Mutex<HashMap<u32, Option<String>>>,
    groups: Mutex<HashMap<u32, Option<String>>>,
}

impl NameCache {
    pub fn user(&self, uid: u32) -> Option<String> {
        cached(&self.users, uid, |id| {
            nix::unistd::User::from_uid(id.into())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
    }

    pub fn group(&self, gid: u32) -> Option<String> {
        cached(&self.groups, gid, |id| {
            nix::unistd::Group::from_gid(id.into())
                .ok()
                .flatten()
                .map(|g| g.name)
        })
    }
}

fn cached(
    map: &Mutex<HashMap<u32, Option<String>>>,
    id: u32,
    look_up: impl FnOnce(u32) -> Option<String>,
) -> Option<String> {
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    m.entry(id).or_insert_with(|| look_up(id)).clone()
}

fn ns(sec: i64, nsec: i64) -> i64 {
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// The node type of a file type.
pub fn node_type(md: &Metadata) -> NodeType {
    let ft = md.file_type();
    if ft.is_dir() {
        NodeType::Dir
    } else if ft.is_symlink() {
        NodeType::Symlink
    } else if ft.is_fifo() {
        NodeType::Fifo
    } else if ft.is_char_device() {
        NodeType::Chardev
    } else if ft.is_block_device() {
        NodeType::Blockdev
    } else if ft.is_socket() {
        NodeType::Socket
    } else {
        NodeType::File
    }
}

/// A node for `path` from its `lstat` metadata; content, subtree and target are left empty
/// (the target is read here for symlinks). `prev` is the entry's node in the parent snapshot:
/// when it is the same inode with the same ctime, its extended attributes are taken as they
/// are instead of being listed again, since setting or removing one changes the ctime.
pub fn node_from_metadata(
    name: Bytes,
    path: &Path,
    md: &Metadata,
    names: &NameCache,
    prev: Option<&Node>,
) -> std::io::Result<Node> {
    let kind = node_type(md);
    let ctime = ns(md.ctime(), md.ctime_nsec());
    let same_inode = prev
        .filter(|p| p.kind == kind && p.inode == md.ino() && p.dev == md.dev() && p.ctime == ctime);
    // The path is reached (a copy, or descriptors beyond PATH_MAX) only when it is read:
    // an unchanged entry that is no symlink needs neither.
    let reached = || super::longpath::reach(path);
    let target = if kind == NodeType::Symlink {
        Some(Bytes::from_os(
            std::fs::read_link(&*reached()?)?.as_os_str(),
        ))
    } else {
        None
    };
    let xattrs = match same_inode {
        Some(p) => p.xattrs.clone(),
        None => read_xattrs(&reached()?),
    };
    Ok(Node {
        name,
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        user: names.user(md.uid()),
        group: names.group(md.gid()),
        mtime: ns(md.mtime(), md.mtime_nsec()),
        atime: None,
        ctime,
        inode: md.ino(),
        dev: md.dev(),
        links: md.nlink(),
        size: if kind == NodeType::File { md.size() } else { 0 },
        content: vec![],
        subtree: None,
        target,
        rdev: if matches!(kind, NodeType::Chardev | NodeType::Blockdev) {
            md.rdev()
        } else {
            0
        },
        xattrs,
        class: None,
        secrets: vec![],
    })
}

/// Extended attributes of `path` (not following symlinks). File systems without xattr
/// support yield none.
pub fn read_xattrs(path: &Path) -> Vec<Xattr> {
    let Ok(names) = xattr::list(path) else {
        return vec![];
    };
    let mut out: Vec<Xattr> = names
        .filter_map(|n| {
            let v = xattr::get(path, &n).ok().flatten()?;
            Some(Xattr {
                name: Bytes::from_os(&n),
                value: v,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The data extents `(offset, length)` of an open file of `size` bytes. Files that occupy as
/// many blocks as their size are taken to be dense without asking the file system.
pub fn data_extents(file: &File, md: &Metadata) -> Vec<(u64, u64)> {
    let size = md.size();
    if size == 0 {
        return vec![];
    }
    if md.blocks().saturating_mul(512) >= size {
        return vec![(0, size)];
    }
    let mut out = Vec::new();
    let mut pos: i64 = 0;
    let end = size as i64;
    while pos < end {
        let data = match nix::unistd::lseek(file, pos, Whence::SeekData) {
            Ok(d) => d,
            Err(nix::errno::Errno::ENXIO) => break, // only a hole remains
            Err(_) => return vec![(0, size)],       // no SEEK_DATA support: treat as dense
        };
        if data >= end {
            break;
        }
        let hole = match nix::unistd::lseek(file, data, Whence::SeekHole) {
            Ok(h) => h.min(end),
            Err(_) => end,
        };
        if hole <= data {
            return vec![(0, size)];
        }
        out.push((data as u64, (hole - data) as u64));
        pos = hole;
    }
    out
}
