//! Reading blobs, with a bounded cache of tree packs: trees are small and read in bursts
//! (a whole snapshot walk), so one read of a tree pack serves many trees.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::Repository;
use crate::backend::FileKind;
use crate::error::{Error, Result};
use crate::id::{BlobId, PackId};
use crate::index::Index;
use crate::pack::{self, BlobKind};
use crate::tree::Tree;

/// Packs by id, their insertion order, and the bytes they hold.
type Cached = (HashMap<PackId, bytes::Bytes>, VecDeque<PackId>, usize);

/// Cache of whole tree packs, evicted oldest first beyond a byte budget.
pub struct TreeCache {
    budget: usize,
    inner: Mutex<Cached>,
}

impl TreeCache {
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::new((HashMap::new(), VecDeque::new(), 0)),
        }
    }

    fn get(&self, repo: &Repository, pack: &PackId) -> Result<bytes::Bytes> {
        if let Some(b) = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .get(pack)
        {
            return Ok(b.clone());
        }
        // Whole tree packs are checked against their name and read again (past any local
        // cache) on a mismatch; a pack damaged in storage is still returned, for its intact
        // trees to be used.
        let name = pack.to_hex();
        let first = repo.backend.read_cacheable(FileKind::Pack, &name)?;
        let bytes =
            super::read_named_after(first, repo.backend.as_ref(), FileKind::Pack, &name)?.bytes;
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order, used) = &mut *g;
        if map.insert(*pack, bytes.clone()).is_none() {
            order.push_back(*pack);
            *used += bytes.len();
        }
        while *used > self.budget && order.len() > 1 {
            if let Some(old) = order.pop_front() {
                if let Some(b) = map.remove(&old) {
                    *used -= b.len();
                }
            }
        }
        Ok(bytes)
    }
}

impl Repository {
    /// Read, decrypt and verify one blob.
    pub fn read_blob(&self, index: &Index, id: &BlobId) -> Result<Vec<u8>> {
        let (pack, e) = index
            .entry(id)
            .ok_or_else(|| Error::corrupt(format!("blob {id}"), "not in the index"))?;
        let mut last = None;
        for _ in 0..super::CONTENT_ATTEMPTS {
            let stored = self.backend.read_range(
                FileKind::Pack,
                &pack.to_hex(),
                e.offset as u64,
                e.length as u64,
            )?;
            let r = if stored.len() != e.length as usize {
                Err(Error::corrupt(
                    format!("pack {pack}"),
                    format!("truncated before blob {id}"),
                ))
            } else {
                pack::decrypt_blob(&self.key, &pack, &e, &stored)
            };
            match r {
                Ok(plain) => return Ok(plain),
                Err(err) => last = Some(err),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// Load a tree, through `cache`.
    pub fn load_tree(&self, index: &Index, cache: &TreeCache, id: &BlobId) -> Result<Tree> {
        let (pack, e) = index
            .entry(id)
            .ok_or_else(|| Error::corrupt(format!("tree {id}"), "not in the index"))?;
        if e.kind != BlobKind::Tree {
            return Err(Error::corrupt(
                format!("tree {id}"),
                "indexed as a data blob",
            ));
        }
        let bytes = cache.get(self, &pack)?;
        let stored = e.stored_in(&bytes).ok_or_else(|| {
            Error::corrupt(
                format!("pack {pack}"),
                format!("truncated before tree {id}"),
            )
        })?;
        // A decoder per thread: a zstd context for each of thousands of trees costs more
        // than decoding them.
        thread_local! {
            static DECODER: std::cell::RefCell<pack::BlobDecoder> = Default::default();
        }
        DECODER.with_borrow_mut(|dec| {
            let plain = dec.decode(&self.key, &pack, &e, stored)?;
            Tree::parse(plain, id)
        })
    }
}
