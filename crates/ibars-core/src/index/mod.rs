//! The blob index: which pack holds each blob, where, and how. In memory it is one hash map;
//! on disk it is a set of sealed index files (see docs/format.md), each naming whole packs.

use std::collections::HashMap;

use crate::compress::Codec;
use crate::error::{Error, Result};
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
#[derive(Debug, Default, Clone)]
pub struct Index {
    packs: Vec<PackId>,
    pack_pos: HashMap<PackId, u32>,
    blobs: HashMap<BlobId, Location>,
}

impl Index {
    /// Add every entry of one pack. A blob already indexed keeps its first location.
    pub fn add_pack(&mut self, pack: PackId, entries: &[PackEntry]) {
        let pos = *self.pack_pos.entry(pack).or_insert_with(|| {
            self.packs.push(pack);
            (self.packs.len() - 1) as u32
        });
        self.blobs.reserve(entries.len());
        for e in entries {
            self.blobs.entry(e.id).or_insert(Location {
                pack: pos,
                kind: e.kind,
                codec: e.codec,
                offset: e.offset,
                length: e.length,
                raw_length: e.raw_length,
            });
        }
    }

    pub fn get(&self, id: &BlobId) -> Option<&Location> {
        self.blobs.get(id)
    }

    pub fn contains(&self, id: &BlobId) -> bool {
        self.blobs.contains_key(id)
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

/// Serialize the payload of an index file naming `packs`.
pub fn encode_file(packs: &[(PackId, Vec<PackEntry>)]) -> Vec<u8> {
    let n: usize = packs.iter().map(|(_, e)| e.len()).sum();
    let mut out = Vec::with_capacity(4 + packs.len() * 36 + n * 46);
    out.extend_from_slice(&(packs.len() as u32).to_le_bytes());
    for (id, entries) in packs {
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for e in entries {
            out.push(e.kind as u8);
            out.push(e.codec as u8);
            out.extend_from_slice(e.id.as_bytes());
            out.extend_from_slice(&e.offset.to_le_bytes());
            out.extend_from_slice(&e.length.to_le_bytes());
            out.extend_from_slice(&e.raw_length.to_le_bytes());
        }
    }
    out
}

/// A bounds-checked reader over untrusted bytes.
struct Cursor<'a> {
    b: &'a [u8],
    what: &'a str,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.b.len() < n {
            return Err(Error::corrupt(self.what, "truncated"));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn id(&mut self) -> Result<[u8; 32]> {
        Ok(self.take(32)?.try_into().expect("32 bytes"))
    }
    /// A count of records of `size` bytes, checked against what remains.
    fn count(&mut self, size: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(size) > self.b.len() {
            return Err(Error::corrupt(self.what, "count exceeds the file"));
        }
        Ok(n)
    }
}

/// Parse an index file's payload.
pub fn decode_file(payload: &[u8], what: &str) -> Result<Vec<(PackId, Vec<PackEntry>)>> {
    let mut c = Cursor { b: payload, what };
    let np = c.count(36)?;
    let mut out = Vec::with_capacity(np);
    for _ in 0..np {
        let pack = PackId(c.id()?);
        let nb = c.count(46)?;
        let mut entries = Vec::with_capacity(nb);
        for _ in 0..nb {
            let kind =
                BlobKind::from_u8(c.u8()?).ok_or_else(|| Error::corrupt(what, "bad blob kind"))?;
            let codec = Codec::from_u8(c.u8()?).ok_or_else(|| Error::corrupt(what, "bad codec"))?;
            let id = BlobId(c.id()?);
            let offset = c.u32()?;
            let length = c.u32()?;
            let raw_length = c.u32()?;
            if (offset as u64 + length as u64) > u32::MAX as u64 {
                return Err(Error::corrupt(what, "entry beyond the largest pack"));
            }
            entries.push(PackEntry {
                kind,
                codec,
                id,
                offset,
                length,
                raw_length,
            });
        }
        out.push((pack, entries));
    }
    if !c.b.is_empty() {
        return Err(Error::corrupt(what, "trailing bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip_and_truncation() {
        let e = PackEntry {
            kind: BlobKind::Tree,
            codec: Codec::Zstd,
            id: BlobId([7; 32]),
            offset: 10,
            length: 50,
            raw_length: 99,
        };
        let packs = vec![(PackId([1; 32]), vec![e, e]), (PackId([2; 32]), vec![])];
        let bytes = encode_file(&packs);
        assert_eq!(decode_file(&bytes, "i").unwrap(), packs);
        for cut in 0..bytes.len() {
            assert!(decode_file(&bytes[..cut], "i").is_err());
        }
        let mut idx = Index::default();
        idx.add_pack(packs[0].0, &packs[0].1);
        assert_eq!(idx.blob_count(), 1);
        assert_eq!(idx.entry(&e.id).unwrap(), (PackId([1; 32]), e));
    }
}
