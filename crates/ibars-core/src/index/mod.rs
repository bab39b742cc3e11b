//! The blob index: which pack holds each blob, where, and how. In memory it is one hash map;
//! on disk it is a set of sealed index files (see docs/format.md and `file.rs`), each naming
//! whole packs, some of them marked for deletion by a prune.

mod file;

pub use file::{encode_parts, marks, IndexFile, MarkedPack, VERSION_WITH_MARKS};

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::compress::Codec;
use crate::id::{BlobId, PackId};
use crate::pack::{BlobKind, PackEntry};

/// A blob's location. Kept small: the index holds one per blob in the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Position in [`Index::packs`].
    pub pack: u32,
    pub kind: BlobKind,
    pub codec: Codec,
    pub offset: u32,
    pub length: u32,
    pub raw_length: u32,
}

/// The in-memory index.
///
/// It knows packs in use and packs marked for deletion. Every blob can be read from either
/// ([`Index::get`], [`Index::entry`]: a location in a pack in use when there is one), but only
/// blobs in packs in use count as stored for new snapshots ([`Index::contains`]): a marked
/// pack may be deleted by a later prune, so nothing new may come to depend on it.
#[derive(Debug, Default, Clone)]
pub struct Index {
    packs: Vec<PackId>,
    pack_pos: HashMap<PackId, u32>,
    /// Parallel to `packs`: marked for deletion.
    marked: Vec<bool>,
    blobs: HashMap<BlobId, Location>,
}

impl Index {
    /// Build the index of a set of index files, marks resolved across all of them (see
    /// [`marks`]).
    pub fn from_files<'a>(files: impl IntoIterator<Item = &'a IndexFile> + Clone) -> Self {
        let marked = marks(files.clone());
        let mut idx = Index::default();
        for f in files {
            for (pack, entries) in &f.packs {
                if marked.contains_key(pack) {
                    idx.add_marked_pack(*pack, entries);
                } else {
                    idx.add_pack(*pack, entries);
                }
            }
            for m in &f.marked {
                if marked.contains_key(&m.id) {
                    idx.add_marked_pack(m.id, &m.entries);
                } else {
                    idx.add_pack(m.id, &m.entries);
                }
            }
        }
        idx
    }

    fn position(&mut self, pack: PackId) -> u32 {
        *self.pack_pos.entry(pack).or_insert_with(|| {
            self.packs.push(pack);
            self.marked.push(false);
            (self.packs.len() - 1) as u32
        })
    }

    /// Add every entry of one pack in use. A blob already indexed keeps its first location,
    /// unless that is in a marked pack: a pack in use is preferred. A pack already marked
    /// stays marked.
    pub fn add_pack(&mut self, pack: PackId, entries: &[PackEntry]) {
        let pos = self.position(pack);
        let live = !self.marked[pos as usize];
        self.blobs.reserve(entries.len());
        for e in entries {
            let loc = Location {
                pack: pos,
                kind: e.kind,
                codec: e.codec,
                offset: e.offset,
                length: e.length,
                raw_length: e.raw_length,
            };
            match self.blobs.entry(e.id) {
                Entry::Vacant(v) => {
                    v.insert(loc);
                }
                Entry::Occupied(mut o) if live && self.marked[o.get().pack as usize] => {
                    o.insert(loc);
                }
                Entry::Occupied(_) => {}
            }
        }
    }

    /// Add a pack marked for deletion: its blobs can be read, but do not count as stored.
    pub fn add_marked_pack(&mut self, pack: PackId, entries: &[PackEntry]) {
        let pos = self.position(pack);
        self.marked[pos as usize] = true;
        self.add_pack(pack, entries);
    }

    /// Where a blob can be read, in a pack in use if any holds it, else in a marked one.
    pub fn get(&self, id: &BlobId) -> Option<&Location> {
        self.blobs.get(id)
    }

    /// Whether the blob is stored in a pack in use: whether a new snapshot may reference it
    /// without storing it again. Blobs only in marked packs are not.
    pub fn contains(&self, id: &BlobId) -> bool {
        self.blobs
            .get(id)
            .is_some_and(|l| !self.marked[l.pack as usize])
    }

    /// Whether a pack is marked for deletion.
    pub fn is_marked(&self, pack: &PackId) -> bool {
        self.pack_pos
            .get(pack)
            .is_some_and(|p| self.marked[*p as usize])
    }

    /// The packs marked for deletion.
    pub fn marked_packs(&self) -> impl Iterator<Item = &PackId> {
        self.packs
            .iter()
            .zip(&self.marked)
            .filter(|(_, m)| **m)
            .map(|(p, _)| p)
    }

    /// The pack at a position, as in [`Location::pack`].
    pub fn pack_id_at(&self, pos: u32) -> &PackId {
        &self.packs[pos as usize]
    }

    /// The pack entry for a blob, for decryption.
    pub fn entry(&self, id: &BlobId) -> Option<(PackId, PackEntry)> {
        self.blobs.get(id).map(|l| {
            (
                self.packs[l.pack as usize],
                PackEntry {
                    kind: l.kind,
                    codec: l.codec,
                    id: *id,
                    offset: l.offset,
                    length: l.length,
                    raw_length: l.raw_length,
                },
            )
        })
    }

    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }

    pub fn pack_count(&self) -> usize {
        self.packs.len()
    }

    /// All blobs, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&BlobId, &Location)> {
        self.blobs.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8) -> PackEntry {
        PackEntry {
            kind: BlobKind::Data,
            codec: Codec::Raw,
            id: BlobId([n; 32]),
            offset: 0,
            length: 50,
            raw_length: 30,
        }
    }

    #[test]
    fn blobs_only_in_marked_packs_can_be_read_but_do_not_count_as_stored() {
        let (live, marked) = (PackId([1; 32]), PackId([2; 32]));
        for marked_first in [false, true] {
            let mut idx = Index::default();
            let add_marked = |idx: &mut Index| idx.add_marked_pack(marked, &[entry(1), entry(2)]);
            if marked_first {
                add_marked(&mut idx);
            }
            idx.add_pack(live, &[entry(2), entry(3)]);
            if !marked_first {
                add_marked(&mut idx);
            }
            assert!(!idx.contains(&BlobId([1; 32])));
            assert_eq!(idx.entry(&BlobId([1; 32])).unwrap().0, marked);
            assert!(
                idx.contains(&BlobId([2; 32])),
                "marked first: {marked_first}"
            );
            assert_eq!(idx.entry(&BlobId([2; 32])).unwrap().0, live);
            assert!(idx.contains(&BlobId([3; 32])));
            assert!(idx.is_marked(&marked) && !idx.is_marked(&live));
            assert_eq!(idx.marked_packs().collect::<Vec<_>>(), vec![&marked]);
        }
        // A pack listed in use by one file and marked by another is marked.
        let files = [
            IndexFile::live(vec![(marked, vec![entry(1)])]),
            IndexFile {
                packs: vec![],
                marked: vec![MarkedPack {
                    id: marked,
                    marked: 1,
                    entries: vec![entry(1)],
                }],
            },
        ];
        let idx = Index::from_files(&files);
        assert!(idx.is_marked(&marked));
        assert!(!idx.contains(&BlobId([1; 32])));
        assert!(idx.get(&BlobId([1; 32])).is_some());
    }
}
