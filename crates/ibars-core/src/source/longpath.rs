//! Paths longer than the kernel's PATH_MAX (4096 bytes). Ordinary calls fail on them with
//! ENAMETOOLONG; [`reach`] gives a short alias that goes through `/proc/self/fd` of opened
//! ancestor directories, so the same code serves both.

use std::ffi::OsStr;
use std::ops::Deref;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// Paths at least this long are reached through directory descriptors.
const LIMIT: usize = 3800;

/// A path that ordinary file system calls accept, and the descriptors it goes through.
pub struct Reachable {
    path: PathBuf,
    _dirs: Vec<OwnedFd>,
}

impl Deref for Reachable {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Reachable {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// An alias of the absolute `path` that is shorter than PATH_MAX. Short paths are returned
/// as they are; for long ones, ancestor directories are opened (`O_PATH`) as needed.
pub fn reach(path: &Path) -> std::io::Result<Reachable> {
    if path.as_os_str().len() < LIMIT || !path.is_absolute() {
        return Ok(Reachable {
            path: path.to_path_buf(),
            _dirs: vec![],
        });
    }
    let comps: Vec<&OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let mut dirs = Vec::new();
    let mut base = PathBuf::from("/");
    let mut rel = PathBuf::new();
    for (i, c) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        if !last && base.as_os_str().len() + rel.as_os_str().len() + c.len() + 2 >= LIMIT {
            let fd = nix::fcntl::open(
                &base.join(&rel),
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(std::io::Error::from)?;
            base = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            rel = PathBuf::new();
            dirs.push(fd);
        }
        rel.push(c);
    }
    Ok(Reachable {
        path: base.join(rel),
        _dirs: dirs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_beyond_path_max() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = tmp.path().to_path_buf();
        for i in 0..40 {
            p.push(format!("{i:03}{}", "x".repeat(200)));
            std::fs::create_dir(&*reach(&p).unwrap()).unwrap();
        }
        assert!(p.as_os_str().len() > 8000);
        assert!(
            std::fs::create_dir(&p).is_err(),
            "the plain path is too long"
        );
        let f = p.join("file");
        std::fs::write(&*reach(&f).unwrap(), b"deep").unwrap();
        assert_eq!(std::fs::read(&*reach(&f).unwrap()).unwrap(), b"deep");
        assert_eq!(reach(Path::new("/short")).unwrap().as_os_str(), "/short");
    }
}
