//! Upload and download rate limits (`--limit-upload`, `--limit-download`), as a wrapper around
//! the store: the bytes of every write, and of every read, pass a limiter shared by all threads.
//!
//! A request goes out at once; afterwards its thread waits until the bytes so far fit the
//! rate, less one second's allowance of burst. The average holds over any run longer than that
//! second, whatever the request sizes (a 16 MiB pack at 1 MiB/s waits 15 s after it is sent).
//! Lists, stats and deletes are not counted.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Backend, DiskSpace, FileKind, ListEntry};
use crate::error::Result;

/// Rates in bytes per second; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub upload: Option<u64>,
    pub download: Option<u64>,
}

impl Limits {
    pub fn is_none(&self) -> bool {
        self.upload.is_none() && self.download.is_none()
    }
}

/// One direction's limiter: the moment at which the bytes counted so far are paid for at the
/// rate (a "theoretical arrival time").
struct Limiter {
    per_byte: Duration,
    due: Mutex<Option<Instant>>,
}

/// The burst a limiter lets through before it makes anybody wait.
const BURST: Duration = Duration::from_secs(1);

impl Limiter {
    fn new(rate: u64) -> Self {
        Self {
            per_byte: Duration::from_secs_f64(1.0 / rate.max(1) as f64),
            due: Mutex::new(None),
        }
    }

    /// How long the caller must wait now that `n` more bytes went through.
    fn charge(&self, n: usize, now: Instant) -> Duration {
        let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
        let start = due.map_or(now, |d| d.max(now));
        let cost = self
            .per_byte
            .saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
        let next = start + cost;
        *due = Some(next);
        next.saturating_duration_since(now + BURST)
    }

    fn pay(&self, n: usize) {
        let wait = self.charge(n, Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// A store whose transfers are held to [`Limits`].
pub struct ThrottledBackend<B> {
    inner: B,
    up: Option<Limiter>,
    down: Option<Limiter>,
}

impl<B: Backend> ThrottledBackend<B> {
    pub fn new(inner: B, limits: Limits) -> Self {
        Self {
            inner,
            up: limits.upload.map(Limiter::new),
            down: limits.download.map(Limiter::new),
        }
    }

    fn got(&self, r: Result<Bytes>) -> Result<Bytes> {
        if let (Ok(b), Some(l)) = (&r, &self.down) {
            l.pay(b.len());
        }
        r
    }

    fn sent(&self, n: usize, r: Result<()>) -> Result<()> {
        if let (Ok(()), Some(l)) = (&r, &self.up) {
            l.pay(n);
        }
        r
    }
}

impl<B: Backend> Backend for ThrottledBackend<B> {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn disk_space(&self) -> Option<DiskSpace> {
        self.inner.disk_space()
    }
    fn parallelism(&self) -> usize {
        self.inner.parallelism()
    }
    fn list(&self, kind: FileKind) -> Result<Vec<ListEntry>> {
        self.inner.list(kind)
    }
    fn read(&self, kind: FileKind, name: &str) -> Result<Bytes> {
        self.got(self.inner.read(kind, name))
    }
    fn read_range(&self, kind: FileKind, name: &str, offset: u64, len: u64) -> Result<Bytes> {
        self.got(self.inner.read_range(kind, name, offset, len))
    }
    fn write(&self, kind: FileKind, name: &str, data: Bytes) -> Result<()> {
        let n = data.len();
        self.sent(n, self.inner.write(kind, name, data))
    }
    fn read_cacheable(&self, kind: FileKind, name: &str) -> Result<Bytes> {
        self.got(self.inner.read_cacheable(kind, name))
    }
    fn write_cacheable(&self, kind: FileKind, name: &str, data: Bytes) -> Result<()> {
        let n = data.len();
        self.sent(n, self.inner.write_cacheable(kind, name, data))
    }
    fn remove(&self, kind: FileKind, name: &str) -> Result<()> {
        self.inner.remove(kind, name)
    }
    fn can_delete(&self) -> bool {
        self.inner.can_delete()
    }
    fn size(&self, kind: FileKind, name: &str) -> Result<u64> {
        self.inner.size(kind, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_lets_a_second_of_burst_through_and_then_keeps_the_rate() {
        let l = Limiter::new(1000);
        let t0 = Instant::now();
        assert_eq!(l.charge(500, t0), Duration::ZERO, "within the burst");
        assert_eq!(
            l.charge(500, t0),
            Duration::ZERO,
            "exactly one second's worth"
        );
        let w = l.charge(2000, t0);
        assert!((w.as_secs_f64() - 2.0).abs() < 1e-3, "{w:?}");
        // Time passing pays the debt off: 3 s later, 1 s of burst is free again.
        let later = t0 + Duration::from_secs(3);
        assert_eq!(l.charge(1000, later), Duration::ZERO);
        let w = l.charge(1000, later);
        assert!((w.as_secs_f64() - 1.0).abs() < 1e-3, "{w:?}");
    }

    #[test]
    fn transfers_are_held_to_the_rate_and_counted_per_direction() {
        let store = super::super::OpendalBackend::memory().unwrap();
        let b = ThrottledBackend::new(
            store,
            Limits {
                upload: Some(200_000),
                download: None,
            },
        );
        let t0 = Instant::now();
        for i in 0..4 {
            b.write(
                FileKind::Pack,
                &format!("{i:064x}"),
                Bytes::from(vec![7u8; 100_000]),
            )
            .unwrap();
        }
        // 400 kB at 200 kB/s with 1 s of burst: at least 1 s. (A lower bound only: a slow
        // machine takes longer, never shorter.)
        assert!(
            t0.elapsed() >= Duration::from_millis(990),
            "{:?}",
            t0.elapsed()
        );
        let t1 = Instant::now();
        for i in 0..4 {
            b.read(FileKind::Pack, &format!("{i:064x}")).unwrap();
        }
        assert!(
            t1.elapsed() < Duration::from_millis(900),
            "downloads are not limited: {:?}",
            t1.elapsed()
        );
    }
}
