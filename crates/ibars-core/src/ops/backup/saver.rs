//! The back half of the backup pipeline: dedup, compress, encrypt, pack, upload.
//!
//! `submit` runs on the caller's thread (hash and dedup only) and hands new blobs to the
//! compress workers over a bounded channel. Each worker fills its own pack per blob kind,
//! encrypting straight into it (no lock, no extra copy), and hands full packs to the uploaders,
//! also over a bounded channel. Memory is bounded by the channel capacities times the largest
//! blob or pack.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crossbeam_channel::{Receiver, Sender};

use crate::bufpool::BufPool;
use crate::compress::{Codec, Compression, Compressor};
use crate::error::{Error, Result};
use crate::id::{BlobId, PackId};
use crate::index::Index;
use crate::pack::{BlobKind, FinishedPack, PackEntry, PackWriter};
use crate::repo::Repository;

/// A new blob on its way to a pack.
pub(crate) struct BlobJob {
    kind: BlobKind,
    id: BlobId,
    data: Vec<u8>,
}

/// Counters of what was added.
#[derive(Default)]
pub(crate) struct SaverStats {
    pub blobs_added: AtomicU64,
    pub bytes_added: AtomicU64,
    pub bytes_stored: AtomicU64,
    /// Data bytes stored raw because zstd could not shrink them (compression on).
    pub bytes_incompressible: AtomicU64,
}

pub(crate) struct Saver<'a> {
    pub repo: &'a Repository,
    pub index: &'a Index,
    compression: Compression,
    pack_size: usize,
    added: Mutex<HashSet<BlobId>>,
    /// Recycled chunk buffers (reader to compress worker and back).
    pub chunk_pool: BufPool,
    /// Recycled pack buffers (compress worker to storage and back).
    pack_pool: BufPool,
    written: Mutex<Vec<(PackId, Vec<PackEntry>)>>,
    error: Mutex<Option<Error>>,
    failed: AtomicBool,
    pub stats: SaverStats,
}

impl<'a> Saver<'a> {
    pub fn new(repo: &'a Repository, index: &'a Index, compression: Compression) -> Self {
        let pack_size = repo.config().pack_size as usize;
        Self {
            repo,
            index,
            compression,
            pack_size,
            added: Mutex::new(HashSet::new()),
            chunk_pool: BufPool::new(2),
            pack_pool: BufPool::new(4),
            written: Mutex::new(Vec::new()),
            error: Mutex::new(None),
            failed: AtomicBool::new(false),
            stats: SaverStats::default(),
        }
    }

    /// Whether a worker has failed; producers stop when it has.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Record the first fatal error.
    pub fn fail(&self, e: Error) {
        let mut g = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(e);
        }
        self.failed.store(true, Ordering::Relaxed);
    }

    pub fn take_error(&self) -> Option<Error> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Whether the blob is stored or on its way; marks it as on its way if not.
    fn is_known(&self, id: &BlobId) -> bool {
        self.index.contains(id)
            || !self
                .added
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(*id)
    }

    /// Hash a blob and queue it for storage unless the repository already has it. Returns
    /// its id, and whether it is new.
    pub fn submit(
        &self,
        tx: &Sender<BlobJob>,
        kind: BlobKind,
        data: Vec<u8>,
    ) -> Result<(BlobId, bool)> {
        let id = self.repo.key().blob_id(&data);
        if self.is_known(&id) {
            self.chunk_pool.put(data);
            return Ok((id, false));
        }
        tx.send(BlobJob { kind, id, data })
            .map_err(|_| Error::Invalid("backup pipeline stopped".into()))?;
        Ok((id, true))
    }

    fn new_packer(&self, kind: BlobKind) -> PackWriter {
        // Room for the target plus one largest blob, so the buffer never reallocates.
        let cap = match kind {
            BlobKind::Data => {
                self.pack_size + self.repo.config().chunker.max_size as usize + (64 << 10)
            }
            BlobKind::Tree => 0,
        };
        PackWriter::with_buffer(kind, self.pack_pool.get(cap))
    }

    /// Compress-worker loop: compress, encrypt into this worker's packs, ship full packs.
    pub fn compress_worker(&self, rx: Receiver<BlobJob>, up: Sender<FinishedPack>) {
        let mut packers = [
            self.new_packer(BlobKind::Data),
            self.new_packer(BlobKind::Tree),
        ];
        let mut compressors = Compressor::per_kind(self.compression);
        for job in rx {
            let (codec, body) = match compressors[job.kind as usize].compress(&job.data) {
                Some(z) => (Codec::Zstd, z),
                None => {
                    if job.kind == BlobKind::Data && self.compression != Compression::Off {
                        self.stats
                            .bytes_incompressible
                            .fetch_add(job.data.len() as u64, Ordering::Relaxed);
                    }
                    (Codec::Raw, job.data.as_slice())
                }
            };
            let p = &mut packers[job.kind as usize];
            let before = p.len();
            p.add_plain(self.repo.key(), job.id, codec, job.data.len() as u32, body);
            self.stats.blobs_added.fetch_add(1, Ordering::Relaxed);
            self.stats
                .bytes_added
                .fetch_add(job.data.len() as u64, Ordering::Relaxed);
            self.stats
                .bytes_stored
                .fetch_add((p.len() - before) as u64, Ordering::Relaxed);
            self.chunk_pool.put(job.data);
            if p.len() >= self.pack_size {
                // Ship before taking a new buffer: the pool gets this one back after upload.
                let full = std::mem::replace(p, PackWriter::new(job.kind, 0));
                self.ship(full, &up);
                *p = self.new_packer(job.kind);
            }
        }
        for p in packers {
            if !p.is_empty() {
                self.ship(p, &up);
            }
        }
    }

    fn ship(&self, w: PackWriter, up: &Sender<FinishedPack>) {
        if up.send(w.finish(self.repo.key())).is_err() {
            self.fail(Error::Invalid("upload pipeline stopped".into()));
        }
    }

    /// Upload-worker loop. After a failure it keeps draining so that no producer blocks.
    pub fn upload_worker(&self, rx: Receiver<FinishedPack>) {
        for pack in rx {
            if self.failed() {
                continue;
            }
            match self
                .repo
                .write_pack(&pack.id, self.pack_pool.bytes(pack.bytes), pack.kind)
            {
                Ok(()) => self
                    .written
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((pack.id, pack.entries)),
                Err(e) => self.fail(e),
            }
        }
    }

    /// Packs written so far.
    pub fn take_written(&self) -> Vec<(PackId, Vec<PackEntry>)> {
        std::mem::take(&mut *self.written.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
