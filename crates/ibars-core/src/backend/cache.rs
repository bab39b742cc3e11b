//! A local cache in front of a remote backend: snapshot files, index files and packs of trees
//! are kept on local disk, so that listing snapshots, browsing them and an incremental backup
//! cost no downloads beyond what changed.
//!
//! Every object ibars caches is named by the BLAKE3 of its bytes, so the cache checks each
//! file against its name before use and drops one that does not match: the cache is untrusted
//! input, like the store. It is only ever a copy; deleting it at any time is safe. A cache that
//! cannot be written (a full or read-only disk) is skipped with a warning, never an error.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::{Backend, DiskSpace, FileKind, ListEntry};
use crate::error::Result;

/// Hits and misses, for reports and tests.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Cached files dropped because they did not match their name.
    pub dropped: AtomicU64,
}

/// A backend with a local cache in the directory `dir` (one directory per repository).
pub struct CachedBackend {
    inner: Arc<dyn Backend>,
    dir: PathBuf,
    warned: AtomicBool,
    pub stats: CacheStats,
}

/// Kinds cached on every read and write: small, read whole, needed by nearly every command.
fn always_cached(kind: FileKind) -> bool {
    matches!(
        kind,
        FileKind::Snapshot | FileKind::Index | FileKind::History
    )
}

/// Write `CACHEDIR.TAG` (<https://bford.info/cachedir/>) into `root`, so that backup tools
/// (ibars among them) skip the cache. Best effort.
pub fn tag_cache_dir(root: &Path) {
    let tag = root.join("CACHEDIR.TAG");
    if !tag.exists() && std::fs::create_dir_all(root).is_ok() {
        let _ = std::fs::write(
            &tag,
            "Signature: 8a477f597d28d172789f06886806bc55\n\
             # This directory is a cache of ibars repositories; it can be deleted at any time.\n",
        );
    }
}

impl CachedBackend {
    /// Cache `inner` in `dir`, creating it when needed.
    pub fn new(inner: Arc<dyn Backend>, dir: PathBuf) -> Self {
        Self {
            inner,
            dir,
            warned: AtomicBool::new(false),
            stats: CacheStats::default(),
        }
    }

    fn file(&self, kind: FileKind, name: &str) -> PathBuf {
        self.dir.join(kind.path(name))
    }

    fn warn(&self, what: &str, e: &std::io::Error) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "cache {}: {what}: {e}; going on without caching",
                self.dir.display()
            );
        }
    }

    /// The cached copy, when there is one and it matches its name.
    fn lookup(&self, kind: FileKind, name: &str) -> Option<bytes::Bytes> {
        let path = self.file(kind, name);
        let data = std::fs::read(&path).ok()?;
        if blake3::hash(&data).to_hex().as_str() == name {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Some(data.into());
        }
        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::info!("cache: {} does not match its name; dropped", path.display());
        let _ = std::fs::remove_file(&path);
        None
    }

    /// Keep a copy of `data`, if it is what `name` says. Written aside and renamed into
    /// place, so that a reader never sees half a file.
    fn store(&self, kind: FileKind, name: &str, data: &[u8]) {
        if blake3::hash(data).to_hex().as_str() != name {
            return;
        }
        let path = self.file(kind, name);
        let Some(parent) = path.parent() else { return };
        let tmp = parent.join(format!(".{name}.{}.tmp", rand::random::<u64>()));
        let r = std::fs::create_dir_all(parent)
            .and_then(|()| std::fs::write(&tmp, data))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            self.warn("storing a file", &e);
        }
    }

    fn read_through(&self, kind: FileKind, name: &str) -> Result<bytes::Bytes> {
        if let Some(b) = self.lookup(kind, name) {
            return Ok(b);
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        let data = self.inner.read(kind, name)?;
        self.store(kind, name, &data);
        Ok(data)
    }

    /// Drop cached files of `kind` that the store no longer lists (removed by a prune or
    /// forget elsewhere).
    fn forget_unlisted(&self, kind: FileKind, listed: &[ListEntry]) {
        let root = self.dir.join(kind.dir());
        let Ok(top) = std::fs::read_dir(&root) else {
            return;
        };
        let keep: std::collections::HashSet<&str> =
            listed.iter().map(|e| e.name.as_str()).collect();
        let mut dirs = vec![root.clone()];
        for e in top.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(e.path());
            }
        }
        for d in dirs {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let is_file = e.file_type().is_ok_and(|t| t.is_file());
                let name = e.file_name();
                let name = name.to_string_lossy();
                // Dot files are another process's copies in flight.
                if is_file && !name.starts_with('.') && !keep.contains(name.as_ref()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

impl Backend for CachedBackend {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn disk_space(&self) -> Option<DiskSpace> {
        self.inner.disk_space()
    }
    fn parallelism(&self) -> usize {
        self.inner.parallelism()
    }
    fn can_delete(&self) -> bool {
        self.inner.can_delete()
    }
    fn list(&self, kind: FileKind) -> Result<Vec<ListEntry>> {
        let l = self.inner.list(kind)?;
        if always_cached(kind) || kind == FileKind::Pack {
            self.forget_unlisted(kind, &l);
        }
        Ok(l)
    }
    fn read(&self, kind: FileKind, name: &str) -> Result<bytes::Bytes> {
        if always_cached(kind) {
            self.read_through(kind, name)
        } else {
            self.inner.read(kind, name)
        }
    }
    fn read_cacheable(&self, kind: FileKind, name: &str) -> Result<bytes::Bytes> {
        self.read_through(kind, name)
    }
    fn read_range(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<bytes::Bytes> {
        self.inner.read_range(kind, name, offset, len)
    }
    fn write(&self, kind: FileKind, name: &str, data: bytes::Bytes) -> Result<()> {
        if always_cached(kind) {
            self.write_cacheable(kind, name, data)
        } else {
            self.inner.write(kind, name, data)
        }
    }
    fn write_cacheable(&self, kind: FileKind, name: &str, data: bytes::Bytes) -> Result<()> {
        self.inner.write(kind, name, data.clone())?;
        self.store(kind, name, &data);
        Ok(())
    }
    fn remove(&self, kind: FileKind, name: &str) -> Result<()> {
        self.inner.remove(kind, name)?;
        let _ = std::fs::remove_file(self.file(kind, name));
        Ok(())
    }
    fn size(&self, kind: FileKind, name: &str) -> Result<u64> {
        self.inner.size(kind, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::OpendalBackend;

    fn named(data: &[u8]) -> String {
        blake3::hash(data).to_hex().to_string()
    }

    #[test]
    fn reads_come_from_the_cache_and_bad_copies_are_dropped() {
        let store: Arc<dyn Backend> = Arc::new(OpendalBackend::memory().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let c = CachedBackend::new(store.clone(), dir.path().to_path_buf());
        let data = b"an index file".to_vec();
        let name = named(&data);
        store
            .write(FileKind::Index, &name, data.clone().into())
            .unwrap();

        assert_eq!(&c.read(FileKind::Index, &name).unwrap()[..], &data[..]);
        assert_eq!(c.stats.misses.load(Ordering::Relaxed), 1);
        assert_eq!(&c.read(FileKind::Index, &name).unwrap()[..], &data[..]);
        assert_eq!(c.stats.hits.load(Ordering::Relaxed), 1);

        // A tampered copy is dropped and the store's is used.
        std::fs::write(c.file(FileKind::Index, &name), b"forged").unwrap();
        assert_eq!(&c.read(FileKind::Index, &name).unwrap()[..], &data[..]);
        assert_eq!(c.stats.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(c.stats.misses.load(Ordering::Relaxed), 2);

        // Data packs are not cached; tree packs only through the hint.
        let pack = b"pack bytes".to_vec();
        let pname = named(&pack);
        c.write(FileKind::Pack, &pname, pack.clone().into())
            .unwrap();
        assert!(!c.file(FileKind::Pack, &pname).exists());
        c.write_cacheable(FileKind::Pack, &pname, pack.clone().into())
            .unwrap();
        assert!(c.file(FileKind::Pack, &pname).exists());

        // Removed elsewhere: listing drops the stale copy.
        store.remove(FileKind::Index, &name).unwrap();
        assert!(c.file(FileKind::Index, &name).exists());
        c.list(FileKind::Index).unwrap();
        assert!(!c.file(FileKind::Index, &name).exists());
        store.remove(FileKind::Pack, &pname).unwrap();
        c.list(FileKind::Pack).unwrap();
        assert!(!c.file(FileKind::Pack, &pname).exists());
    }

    #[test]
    fn an_unwritable_cache_is_skipped() {
        let store: Arc<dyn Backend> = Arc::new(OpendalBackend::memory().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"").unwrap();
        let c = CachedBackend::new(store, blocker.join("cache"));
        let data = b"snapshot".to_vec();
        let name = named(&data);
        c.write(FileKind::Snapshot, &name, data.clone().into())
            .unwrap();
        assert_eq!(&c.read(FileKind::Snapshot, &name).unwrap()[..], &data[..]);
    }
}
