//! A simple, single-threaded way to add blobs to a repository: fills one pack per blob kind,
//! writes each (with its parity) when it reaches the target size, and remembers what it wrote
//! so that the caller can index it. Used by prune, copy, rewrite and the repairs; backup has
//! its own parallel pipeline.

use super::Repository;
use crate::compress::{Codec, Compressor};
use crate::error::Result;
use crate::id::{BlobId, PackId};
use crate::pack::{BlobKind, PackEntry, PackWriter};

pub struct PackSink<'a> {
    repo: &'a Repository,
    writers: [Option<PackWriter>; 2],
    /// One per blob kind, in the repository's compression mode.
    compressors: [Compressor; 2],
    written: Vec<(PackId, Vec<PackEntry>)>,
    bytes_written: u64,
}

impl<'a> PackSink<'a> {
    pub fn new(repo: &'a Repository) -> Self {
        Self {
            repo,
            writers: [None, None],
            compressors: Compressor::per_kind(repo.config().compression),
            written: Vec::new(),
            bytes_written: 0,
        }
    }

    /// The open pack for `kind` (a free function over the field, so that callers may hold
    /// other fields of the sink, such as compressed bytes, meanwhile).
    fn writer<'w>(
        writers: &'w mut [Option<PackWriter>; 2],
        repo: &Repository,
        kind: BlobKind,
    ) -> &'w mut PackWriter {
        let cap = (repo.config().pack_size as usize).min(64 << 20);
        writers[kind as usize].get_or_insert_with(|| PackWriter::new(kind, cap))
    }

    /// Add a blob already encrypted under this repository's key (as read from one of its packs).
    pub fn add_stored(&mut self, e: &PackEntry, stored: &[u8]) -> Result<()> {
        Self::writer(&mut self.writers, self.repo, e.kind).add_stored(e, stored);
        self.ship_if_full(e.kind)
    }

    /// Add a plaintext blob whose id (`key.blob_id(plain)`) the caller has computed, to decide
    /// whether the repository already has it: compressed per the repository's mode (when that
    /// pays), then encrypted.
    pub fn add_plain(&mut self, kind: BlobKind, id: BlobId, plain: &[u8]) -> Result<()> {
        let (codec, body) = match self.compressors[kind as usize].compress(plain) {
            Some(z) => (Codec::Zstd, z),
            None => (Codec::Raw, plain),
        };
        Self::writer(&mut self.writers, self.repo, kind).add_plain(
            self.repo.key(),
            id,
            codec,
            plain.len() as u32,
            body,
        );
        self.ship_if_full(kind)
    }

    fn ship_if_full(&mut self, kind: BlobKind) -> Result<()> {
        let full = self.writers[kind as usize]
            .as_ref()
            .is_some_and(|w| w.len() >= self.repo.config().pack_size as usize);
        if full {
            self.ship(kind)?;
        }
        Ok(())
    }

    fn ship(&mut self, kind: BlobKind) -> Result<()> {
        if let Some(w) = self.writers[kind as usize].take() {
            if !w.is_empty() {
                let p = w.finish(self.repo.key());
                self.bytes_written += p.bytes.len() as u64;
                self.repo.write_pack(&p.id, p.bytes.into(), kind)?;
                self.written.push((p.id, p.entries));
            }
        }
        Ok(())
    }

    /// Write the packs not yet full.
    pub fn flush(&mut self) -> Result<()> {
        self.ship(BlobKind::Data)?;
        self.ship(BlobKind::Tree)
    }

    /// Write an index file for the packs written and not yet taken, if there are any.
    pub fn index_untaken(&mut self) -> Result<()> {
        let written = self.take_written();
        if written.is_empty() {
            return Ok(());
        }
        self.repo.save_index(&written).map(drop)
    }

    /// Packs written so far, and their entries.
    pub fn written(&self) -> &[(PackId, Vec<PackEntry>)] {
        &self.written
    }

    /// Take the packs written so far (to index them).
    pub fn take_written(&mut self) -> Vec<(PackId, Vec<PackEntry>)> {
        std::mem::take(&mut self.written)
    }

    /// The repository written to.
    pub fn repo(&self) -> &'a Repository {
        self.repo
    }

    /// Bytes of packs written, headers included.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }
}
