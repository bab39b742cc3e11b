//! The back half of the backup pipeline: dedup, compress, encrypt, pack, upload.
//!
//! `submit` runs on the caller's thread (hash and dedup only) and hands new blobs to the
//! compress workers over a bounded channel; workers fill one pack per blob kind and hand full
//! packs to the uploaders, also over a bounded channel. Memory is bounded by the channel
//! capacities times the largest blob or pack.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crossbeam_channel::{Receiver, Sender};

use crate::backend::FileKind;
use crate::compress::{compress, Compression};
use crate::error::{Error, Result};
use crate::id::{BlobId, PackId};
use crate::index::Index;
use crate::pack::{encrypt_blob, BlobKind, FinishedPack, PackEntry, PackWriter};
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
}

pub(crate) struct Saver<'a> {
    pub repo: &'a Repository,
    pub index: &'a Index,
    compression: Compression,
    pack_size: usize,
    added: Mutex<HashSet<BlobId>>,
    packers: [Mutex<PackWriter>; 2],
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
            packers: [
                Mutex::new(PackWriter::new(BlobKind::Data, pack_size + (1 << 20))),
                Mutex::new(PackWriter::new(BlobKind::Tree, 0)),
            ],
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

    /// Hash a blob and queue it for storage unless the repository already has it.
    pub fn submit(&self, tx: &Sender<BlobJob>, kind: BlobKind, data: Vec<u8>) -> Result<BlobId> {
        let id = self.repo.key().blob_id(&data);
        if !self.is_known(&id) {
            tx.send(BlobJob { kind, id, data })
                .map_err(|_| Error::Invalid("backup pipeline stopped".into()))?;
        }
        Ok(id)
    }

    /// Compress-worker loop.
    pub fn compress_worker(&self, rx: Receiver<BlobJob>, up: Sender<FinishedPack>) {
        for job in rx {
            let mode = match (job.kind, self.compression) {
                (BlobKind::Tree, Compression::Off) => Compression::Off,
                (BlobKind::Tree, _) => Compression::Auto,
                (_, m) => m,
            };
            let (codec, body) = compress(&job.data, mode);
            let stored = encrypt_blob(self.repo.key(), job.kind, &job.id, &body);
            drop(body);
            self.stats.blobs_added.fetch_add(1, Ordering::Relaxed);
            self.stats
                .bytes_added
                .fetch_add(job.data.len() as u64, Ordering::Relaxed);
            self.stats
                .bytes_stored
                .fetch_add(stored.len() as u64, Ordering::Relaxed);
            let full = {
                let mut p = self.packers[job.kind as usize]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                p.add(job.id, codec, job.data.len() as u32, &stored);
                if p.len() >= self.pack_size {
                    let cap = if job.kind == BlobKind::Data {
                        self.pack_size + (1 << 20)
                    } else {
                        0
                    };
                    Some(std::mem::replace(&mut *p, PackWriter::new(job.kind, cap)))
                } else {
                    None
                }
            };
            if let Some(w) = full {
                if up.send(w.finish(self.repo.key())).is_err() {
                    self.fail(Error::Invalid("upload pipeline stopped".into()));
                }
            }
        }
    }

    /// Send the partly filled packs on their way; called once all compress workers are done.
    pub fn flush(&self, up: &Sender<FinishedPack>) {
        for (i, kind) in [BlobKind::Data, BlobKind::Tree].into_iter().enumerate() {
            let w = std::mem::replace(
                &mut *self.packers[i].lock().unwrap_or_else(|p| p.into_inner()),
                PackWriter::new(kind, 0),
            );
            if !w.is_empty() && up.send(w.finish(self.repo.key())).is_err() {
                self.fail(Error::Invalid("upload pipeline stopped".into()));
            }
        }
    }

    /// Upload-worker loop. After a failure it keeps draining so that no producer blocks.
    pub fn upload_worker(&self, rx: Receiver<FinishedPack>) {
        for pack in rx {
            if self.failed() {
                continue;
            }
            let name = pack.id.to_hex();
            match self.repo.backend().write(FileKind::Pack, &name, pack.bytes) {
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
