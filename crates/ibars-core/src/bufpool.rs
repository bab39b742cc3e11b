//! A pool of byte buffers. Backups move large buffers (chunks, packs) between threads at a
//! high rate; allocating each anew makes the system allocator's per-thread arenas hold on to
//! freed memory, so peak memory creeps up. Recycling a bounded set keeps it flat.

use crossbeam_channel::{bounded, Receiver, Sender};

/// A bounded pool of reusable `Vec<u8>`s.
#[derive(Clone)]
pub struct BufPool {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
}

impl BufPool {
    /// A pool that keeps at most `keep` idle buffers.
    pub fn new(keep: usize) -> Self {
        let (tx, rx) = bounded(keep);
        Self { tx, rx }
    }

    /// An empty buffer with at least `capacity` bytes reserved.
    pub fn get(&self, capacity: usize) -> Vec<u8> {
        let mut b = self.rx.try_recv().unwrap_or_default();
        b.clear();
        b.reserve(capacity);
        b
    }

    /// Return a buffer for reuse (dropped if the pool is full).
    pub fn put(&self, buf: Vec<u8>) {
        let _ = self.tx.try_send(buf);
    }

    /// Wrap `buf` as [`bytes::Bytes`] that returns the buffer here when the last reference
    /// is dropped, e.g. once the storage layer has written it.
    pub fn bytes(&self, buf: Vec<u8>) -> bytes::Bytes {
        bytes::Bytes::from_owner(Pooled {
            buf,
            pool: self.clone(),
        })
    }
}

struct Pooled {
    buf: Vec<u8>,
    pool: BufPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back() {
        let p = BufPool::new(2);
        let mut b = p.get(100);
        b.extend_from_slice(b"abc");
        let ptr = b.as_ptr();
        let bytes = p.bytes(b);
        assert_eq!(&bytes[..], b"abc");
        drop(bytes);
        let again = p.get(10);
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), ptr);
    }
}
