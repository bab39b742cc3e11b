//! Writing metadata back: owners, mode, times, xattrs, and creating special files.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::error::{Error, Result};
use crate::source::longpath::reach;
use crate::tree::{Node, NodeType};

fn ts(ns: i64) -> TimeSpec {
    TimeSpec::new(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000))
}

/// Create a FIFO or device node at `path` (replacing nothing: the caller removed any old one).
pub fn create_special(path: &Path, node: &Node) -> Result<()> {
    let shown = path;
    let reached = reach(path).map_err(|e| Error::io(shown, e))?;
    let path = &*reached;
    let perm = Mode::from_bits_truncate((node.mode & 0o7777) as nix::libc::mode_t);
    let res = match node.kind {
        NodeType::Fifo => nix::unistd::mkfifo(path, perm),
        NodeType::Chardev => {
            nix::sys::stat::mknod(path, SFlag::S_IFCHR, perm, node.rdev as nix::libc::dev_t)
        }
        NodeType::Blockdev => {
            nix::sys::stat::mknod(path, SFlag::S_IFBLK, perm, node.rdev as nix::libc::dev_t)
        }
        NodeType::Socket => return Ok(()), // sockets cannot be restored meaningfully; skipped
        _ => return Ok(()),
    };
    res.map_err(|e| Error::io(shown, std::io::Error::from(e)))
}

/// As [`apply`], through the open file: no path lookups. For regular files whose data was
/// just written. Owner and mode are changed only where they differ: each change rewrites the
/// inode (a journal transaction on most file systems), while the `fstat` that tells is cheap.
pub fn apply_fd(file: &std::fs::File, shown: &Path, node: &Node, is_root: bool) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    use xattr::FileExt;
    let now = file.metadata().map_err(|e| Error::io(shown, e))?;
    let mut chowned = false;
    let owner_differs = now.uid() != node.uid || now.gid() != node.gid;
    if owner_differs && (is_root || node.uid == nix::unistd::getuid().as_raw()) {
        let r = nix::unistd::fchown(file, Some(node.uid.into()), Some(node.gid.into()));
        match r {
            Ok(()) => chowned = true,
            Err(e) if is_root => return Err(Error::io(shown, e.into())),
            Err(_) => {}
        }
    }
    for x in &node.xattrs {
        if let Err(e) = file.set_xattr(x.name.as_os_str(), &x.value) {
            tracing::debug!("{}: xattr {:?}: {e}", shown.display(), x.name);
        }
    }
    // A change of owner clears set-id bits the file had: set the mode again after one.
    let setid_cleared = chowned && now.mode() & 0o6000 != 0;
    if setid_cleared || now.mode() & 0o7777 != node.mode & 0o7777 {
        let mode = Mode::from_bits_truncate((node.mode & 0o7777) as nix::libc::mode_t);
        nix::sys::stat::fchmod(file, mode).map_err(|e| Error::io(shown, e.into()))?;
    }
    nix::sys::stat::futimens(file, &ts(node.atime.unwrap_or(node.mtime)), &ts(node.mtime))
        .map_err(|e| Error::io(shown, e.into()))
}

/// Apply owner, mode, xattrs and times. Ownership is restored only where permitted (as root,
/// or to one's own ids); a refusal there is not an error.
pub fn apply(shown: &Path, node: &Node, is_root: bool) -> Result<()> {
    let reached = reach(shown).map_err(|e| Error::io(shown, e))?;
    let path = &*reached;
    if is_root || node.uid == nix::unistd::getuid().as_raw() {
        let r = std::os::unix::fs::lchown(path, Some(node.uid), Some(node.gid));
        if let Err(e) = r {
            if is_root {
                return Err(Error::io(shown, e));
            }
        }
    }
    for x in &node.xattrs {
        if let Err(e) = xattr::set(path, x.name.as_os_str(), &x.value) {
            tracing::debug!("{}: xattr {:?}: {e}", shown.display(), x.name);
        }
    }
    if node.kind != NodeType::Symlink {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(node.mode & 0o7777))
            .map_err(|e| Error::io(shown, e))?;
    }
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &ts(node.atime.unwrap_or(node.mtime)),
        &ts(node.mtime),
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| Error::io(shown, std::io::Error::from(e)))
}
