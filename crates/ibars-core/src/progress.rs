//! Progress reporting from long operations. The core only calls this trait; the binary draws
//! bars or prints JSON lines. Every method has a no-op default.

use std::path::Path;

/// Receives progress of a backup, restore or check. Implementations must be cheap and
/// thread-safe: methods are called from worker threads.
pub trait Progress: Send + Sync {
    /// Totals, when a scan has estimated them (may be called more than once, growing).
    fn set_total(&self, _files: u64, _bytes: u64) {}
    /// A file was finished; `bytes` is its size.
    fn file_done(&self, _path: &Path, _bytes: u64) {}
    /// Content bytes processed (read during backup, written during restore).
    fn bytes_done(&self, _bytes: u64) {}
    /// A non-fatal problem: an unreadable file, a file that changed while read.
    fn warn(&self, _message: &str) {}
}

/// Progress that reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
