//! A backend that misbehaves on purpose, for tests: operations fail, and reads come back short
//! or with a flipped byte, at a set rate. Errors it injects are marked transient, as a flaky
//! network's would be.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Backend, DiskSpace, FileKind, ListEntry};
use crate::error::{Error, Result};

/// What went wrong, counted.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub failed: AtomicU64,
    pub short_reads: AtomicU64,
    pub corrupt_reads: AtomicU64,
    /// Writes that were stored but reported as failed.
    pub lost_acks: AtomicU64,
}

/// Wraps a backend and injects faults into a share `rate` of operations.
pub struct FaultyBackend {
    inner: Arc<dyn Backend>,
    rate: f64,
    rng: Mutex<StdRng>,
    pub counts: FaultCounts,
}

enum Fault {
    None,
    Fail,
    Short,
    Corrupt,
}

impl FaultyBackend {
    pub fn new(inner: Arc<dyn Backend>, rate: f64, seed: u64) -> Self {
        Self {
            inner,
            rate,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            counts: FaultCounts::default(),
        }
    }

    fn roll(&self, read: bool) -> Fault {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        if !rng.gen_bool(self.rate) {
            return Fault::None;
        }
        match (read, rng.gen_range(0..3)) {
            (true, 1) => Fault::Short,
            (true, 2) => Fault::Corrupt,
            _ => Fault::Fail,
        }
    }

    fn fail(&self, op: &'static str, path: String) -> Error {
        self.counts.failed.fetch_add(1, Ordering::Relaxed);
        Error::Backend {
            op,
            path,
            message: "injected fault".into(),
            not_found: false,
            transient: true,
        }
    }

    /// For operations that return no data: fail, or let the operation through.
    fn gate(&self, op: &'static str, path: impl FnOnce() -> String) -> Result<()> {
        match self.roll(false) {
            Fault::None => Ok(()),
            _ => Err(self.fail(op, path())),
        }
    }

    fn damage(
        &self,
        data: bytes::Bytes,
        fault: Fault,
        op: &'static str,
        path: String,
    ) -> Result<bytes::Bytes> {
        match fault {
            Fault::None => Ok(data),
            Fault::Fail => Err(self.fail(op, path)),
            Fault::Short => {
                self.counts.short_reads.fetch_add(1, Ordering::Relaxed);
                Ok(data.slice(..data.len() / 2))
            }
            Fault::Corrupt if data.is_empty() => Ok(data),
            Fault::Corrupt => {
                self.counts.corrupt_reads.fetch_add(1, Ordering::Relaxed);
                let mut v = data.to_vec();
                let at = self
                    .rng
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .gen_range(0..v.len());
                v[at] ^= 0x20;
                Ok(v.into())
            }
        }
    }
}

impl Backend for FaultyBackend {
    fn location(&self) -> String {
        format!("faulty:{}", self.inner.location())
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
        self.gate("list", || kind.dir().to_string())?;
        self.inner.list(kind)
    }
    fn read(&self, kind: FileKind, name: &str) -> Result<bytes::Bytes> {
        let fault = self.roll(true);
        let data = self.inner.read(kind, name)?;
        self.damage(data, fault, "read", kind.path(name))
    }
    fn read_range(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<bytes::Bytes> {
        let fault = self.roll(true);
        let data = self.inner.read_range(kind, name, offset, len)?;
        self.damage(data, fault, "read", kind.path(name))
    }
    fn write(&self, kind: FileKind, name: &str, data: bytes::Bytes) -> Result<()> {
        match self.roll(false) {
            Fault::None => self.inner.write(kind, name, data),
            _ => {
                // Half the failures happen after the object was stored: the reply was lost.
                if self
                    .rng
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .gen_bool(0.5)
                {
                    self.inner.write(kind, name, data)?;
                    self.counts.lost_acks.fetch_add(1, Ordering::Relaxed);
                }
                Err(self.fail("write", kind.path(name)))
            }
        }
    }
    fn remove(&self, kind: FileKind, name: &str) -> Result<()> {
        self.gate("remove", || kind.path(name))?;
        self.inner.remove(kind, name)
    }
    fn size(&self, kind: FileKind, name: &str) -> Result<u64> {
        self.gate("size", || kind.path(name))?;
        self.inner.size(kind, name)
    }
}
