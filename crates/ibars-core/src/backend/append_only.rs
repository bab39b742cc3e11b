//! Append-only access: a backend that adds objects but never deletes or overwrites one, so
//! that a client which may only append cannot destroy history, by mistake or by malice.
//!
//! Lock objects are the one exception: a lock is not history, and removing its own lock is
//! how a process lets others in. Pair this with store credentials that may only delete under
//! `locks/` (see the README), and a stolen client key can add snapshots but not remove any.

use std::sync::Arc;

use super::{Backend, DiskSpace, FileKind, ListEntry};
use crate::error::{Error, Result};

/// Refuses every delete (locks aside) and every write to a name that already exists.
pub struct AppendOnlyBackend {
    inner: Arc<dyn Backend>,
}

impl AppendOnlyBackend {
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        Self { inner }
    }
}

fn refuse(op: &str, kind: FileKind, name: &str) -> Error {
    Error::AppendOnly(format!("{op} {}", kind.path(name)))
}

impl AppendOnlyBackend {
    /// Run `write` only for a name that may be written: never the config; locks always.
    /// Other objects are named by the hash of their content, so an existing one already holds
    /// these bytes (or is damaged, for a full-access client's `repair` to mend): it is left
    /// alone.
    fn guard(&self, kind: FileKind, name: &str, write: impl FnOnce() -> Result<()>) -> Result<()> {
        match kind {
            FileKind::Config => return Err(refuse("overwrite", kind, name)),
            FileKind::Lock => return write(),
            _ => {}
        }
        match self.inner.size(kind, name) {
            Ok(_) => {
                tracing::debug!("append-only: {} exists; not written", kind.path(name));
                Ok(())
            }
            Err(e) if e.is_not_found() => write(),
            Err(e) => Err(e),
        }
    }
}

impl Backend for AppendOnlyBackend {
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
        false
    }
    fn list(&self, kind: FileKind) -> Result<Vec<ListEntry>> {
        self.inner.list(kind)
    }
    fn read(&self, kind: FileKind, name: &str) -> Result<bytes::Bytes> {
        self.inner.read(kind, name)
    }
    fn read_cacheable(&self, kind: FileKind, name: &str) -> Result<bytes::Bytes> {
        self.inner.read_cacheable(kind, name)
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
        self.guard(kind, name, || self.inner.write(kind, name, data))
    }
    fn write_cacheable(&self, kind: FileKind, name: &str, data: bytes::Bytes) -> Result<()> {
        self.guard(kind, name, || self.inner.write_cacheable(kind, name, data))
    }
    fn remove(&self, kind: FileKind, name: &str) -> Result<()> {
        if kind == FileKind::Lock {
            return self.inner.remove(kind, name);
        }
        Err(refuse("delete", kind, name))
    }
    fn size(&self, kind: FileKind, name: &str) -> Result<u64> {
        self.inner.size(kind, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::OpendalBackend;

    #[test]
    fn nothing_but_locks_is_deleted_and_nothing_is_overwritten() {
        let store: Arc<dyn Backend> = Arc::new(OpendalBackend::memory().unwrap());
        let a = AppendOnlyBackend::new(store.clone());
        let name = "ab".repeat(32);
        for kind in FileKind::LISTED {
            a.write(kind, &name, bytes::Bytes::from_static(b"first"))
                .unwrap();
            a.write(kind, &name, bytes::Bytes::from_static(b"second"))
                .unwrap();
            let r = a.remove(kind, &name);
            if kind == FileKind::Lock {
                r.unwrap();
                assert!(store.read(kind, &name).unwrap_err().is_not_found());
            } else {
                assert!(matches!(r, Err(Error::AppendOnly(_))), "{kind:?}");
                assert_eq!(&store.read(kind, &name).unwrap()[..], b"first");
            }
        }
        assert!(matches!(
            a.write(FileKind::Config, "config", bytes::Bytes::new()),
            Err(Error::AppendOnly(_))
        ));
    }
}
