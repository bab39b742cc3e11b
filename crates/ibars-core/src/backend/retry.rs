//! Retries with exponential backoff and jitter, for errors the storage calls transient.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::{Backend, DiskSpace, FileKind, ListEntry};
use crate::error::Result;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// Wait before the first retry; doubled for each further one, with up to 50% jitter.
    pub base: Duration,
    /// Longest wait between two tries.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// For a store across a network: about 20-40 s of retries in all, enough to ride out a
    /// node restart or a failover.
    pub fn remote() -> Self {
        Self {
            attempts: 10,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
        }
    }
}

/// A backend that retries transient failures of the one it wraps. Every operation of the
/// [`Backend`] contract is idempotent (objects are immutable and written whole), so a retry
/// can never store something different from the first try.
pub struct RetryBackend {
    inner: Arc<dyn Backend>,
    policy: RetryPolicy,
}

impl RetryBackend {
    pub fn new(inner: Arc<dyn Backend>, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }

    fn run<T>(&self, what: &str, mut f: impl FnMut() -> Result<T>) -> Result<T> {
        let mut wait = self.policy.base;
        let mut attempt = 1;
        let started = std::time::Instant::now();
        loop {
            match f() {
                Err(e) if e.is_transient() && attempt < self.policy.attempts => {
                    let jitter = rand::thread_rng().gen_range(0.5..1.0);
                    let pause = wait.mul_f64(jitter);
                    tracing::info!("{what}: {e}; retry {attempt} in {pause:?}");
                    std::thread::sleep(pause);
                    wait = (wait * 2).min(self.policy.max);
                    attempt += 1;
                }
                Err(e) if e.is_transient() && attempt > 1 => {
                    return Err(e.retried(attempt, started.elapsed()))
                }
                r => return r,
            }
        }
    }
}

impl Backend for RetryBackend {
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
        self.run("list", || self.inner.list(kind))
    }
    fn read(&self, kind: FileKind, name: &str) -> Result<bytes::Bytes> {
        self.run("read", || self.inner.read(kind, name))
    }
    fn read_range(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<bytes::Bytes> {
        self.run("read", || self.inner.read_range(kind, name, offset, len))
    }
    fn write(&self, kind: FileKind, name: &str, data: bytes::Bytes) -> Result<()> {
        self.run("write", || self.inner.write(kind, name, data.clone()))
    }
    fn remove(&self, kind: FileKind, name: &str) -> Result<()> {
        self.run("remove", || self.inner.remove(kind, name))
    }
    fn size(&self, kind: FileKind, name: &str) -> Result<u64> {
        self.run("size", || self.inner.size(kind, name))
    }
}
