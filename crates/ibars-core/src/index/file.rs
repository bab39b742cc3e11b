//! Index files as stored (see docs/format.md): packs in use, and packs a prune marked for
//! deletion. Version 1 files hold only the first; version 2 adds the marked packs.

use std::collections::{HashMap, HashSet};

use crate::compress::Codec;
use crate::error::{Error, Result};
use crate::id::{BlobId, PackId};
use crate::pack::{BlobKind, PackEntry};

/// The payload version of an index file that marks packs; files without marks are written as
/// version 1, which every ibars reads.
pub const VERSION_WITH_MARKS: u8 = 2;

/// A pack a prune marked for deletion: still stored and readable, but no new snapshot may
/// rely on it. A later prune deletes it once that is safe (see docs/locking.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedPack {
    pub id: PackId,
    /// When it was marked, in milliseconds since the Unix epoch.
    pub marked: i64,
    /// Its blobs; empty for a pack that no index named when it was marked.
    pub entries: Vec<PackEntry>,
}

/// What one index file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexFile {
    /// Packs in use, with their blobs.
    pub packs: Vec<(PackId, Vec<PackEntry>)>,
    /// Packs marked for deletion.
    pub marked: Vec<MarkedPack>,
}

impl IndexFile {
    /// A file of packs in use only.
    pub fn live(packs: Vec<(PackId, Vec<PackEntry>)>) -> Self {
        Self {
            packs,
            marked: vec![],
        }
    }

    /// The payload version and bytes of this file: version 1 when nothing is marked.
    pub fn encode(&self) -> (u8, Vec<u8>) {
        encode_parts(&self.packs, &self.marked)
    }

    /// Parse a payload of `version` (1 or 2). Untrusted input: every count is checked
    /// against the bytes that remain before anything is allocated.
    pub fn decode(version: u8, payload: &[u8], what: &str) -> Result<Self> {
        let mut c = Cursor { b: payload, what };
        let np = c.count(36)?;
        let mut packs = Vec::with_capacity(np);
        for _ in 0..np {
            let pack = PackId(c.id()?);
            packs.push((pack, c.entries()?));
        }
        let mut marked = Vec::new();
        if version >= VERSION_WITH_MARKS {
            let nm = c.count(44)?;
            marked.reserve(nm);
            for _ in 0..nm {
                let id = PackId(c.id()?);
                let time = c.i64()?;
                marked.push(MarkedPack {
                    id,
                    marked: time,
                    entries: c.entries()?,
                });
            }
        }
        if !c.b.is_empty() {
            return Err(Error::corrupt(what, "trailing bytes"));
        }
        Ok(Self { packs, marked })
    }

    /// Blob entries in the file, marked packs included.
    pub fn entry_count(&self) -> usize {
        self.packs.iter().map(|(_, e)| e.len()).sum::<usize>()
            + self.marked.iter().map(|m| m.entries.len()).sum::<usize>()
    }
}

/// Which packs are marked for deletion, reading all index files together, with the time of
/// the mark (the latest any file gives, so that a mark is never taken for older than it is).
///
/// A mark with entries stands even where another file lists the pack as in use: that file is
/// an older one that the marking prune had not removed yet, or one a later prune wrote to take
/// the mark back and had not yet removed the marking file from. Either way, a reader that
/// treats the pack as marked only stores more. A mark without entries (the pack was in no index
/// when it was marked: a backup may have been about to index it) lapses once any file names the
/// pack with its blobs.
pub fn marks<'a>(files: impl IntoIterator<Item = &'a IndexFile>) -> HashMap<PackId, i64> {
    let mut named: HashSet<PackId> = HashSet::new();
    let mut with: HashMap<PackId, i64> = HashMap::new();
    let mut without: HashMap<PackId, i64> = HashMap::new();
    for f in files {
        named.extend(f.packs.iter().map(|(id, _)| *id));
        for m in &f.marked {
            let map = if m.entries.is_empty() {
                &mut without
            } else {
                named.insert(m.id);
                &mut with
            };
            let t = map.entry(m.id).or_insert(m.marked);
            *t = (*t).max(m.marked);
        }
    }
    for (id, t) in without {
        match with.get_mut(&id) {
            Some(w) => *w = (*w).max(t),
            None if !named.contains(&id) => {
                with.insert(id, t);
            }
            None => {}
        }
    }
    with
}

/// [`IndexFile::encode`] of a file with these packs in use and these marked ones.
pub fn encode_parts(packs: &[(PackId, Vec<PackEntry>)], marked: &[MarkedPack]) -> (u8, Vec<u8>) {
    let n: usize = packs.iter().map(|(_, e)| e.len()).sum::<usize>()
        + marked.iter().map(|m| m.entries.len()).sum::<usize>();
    let mut out = Vec::with_capacity(8 + (packs.len() + marked.len()) * 44 + n * 46);
    out.extend_from_slice(&(packs.len() as u32).to_le_bytes());
    for (id, entries) in packs {
        out.extend_from_slice(id.as_bytes());
        put_entries(&mut out, entries);
    }
    if marked.is_empty() {
        return (1, out);
    }
    out.extend_from_slice(&(marked.len() as u32).to_le_bytes());
    for m in marked {
        out.extend_from_slice(m.id.as_bytes());
        out.extend_from_slice(&m.marked.to_le_bytes());
        put_entries(&mut out, &m.entries);
    }
    (VERSION_WITH_MARKS, out)
}

fn put_entries(out: &mut Vec<u8>, entries: &[PackEntry]) {
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
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn id(&mut self) -> Result<[u8; 32]> {
        Ok(self.take(32)?.try_into().expect("32 bytes"))
    }
    /// A count of records of at least `size` bytes, checked against what remains.
    fn count(&mut self, size: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(size) > self.b.len() {
            return Err(Error::corrupt(self.what, "count exceeds the file"));
        }
        Ok(n)
    }
    /// A blob count and that many entries.
    fn entries(&mut self) -> Result<Vec<PackEntry>> {
        let what = self.what;
        let nb = self.count(46)?;
        let mut entries = Vec::with_capacity(nb);
        for _ in 0..nb {
            let kind = BlobKind::from_u8(self.u8()?)
                .ok_or_else(|| Error::corrupt(what, "bad blob kind"))?;
            let codec =
                Codec::from_u8(self.u8()?).ok_or_else(|| Error::corrupt(what, "bad codec"))?;
            let id = BlobId(self.id()?);
            let offset = self.u32()?;
            let length = self.u32()?;
            let raw_length = self.u32()?;
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
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8) -> PackEntry {
        PackEntry {
            kind: BlobKind::Tree,
            codec: Codec::Zstd,
            id: BlobId([n; 32]),
            offset: 10,
            length: 50,
            raw_length: 99,
        }
    }

    #[test]
    fn file_round_trip_and_truncation() {
        let e = entry(7);
        let plain = IndexFile::live(vec![
            (PackId([1; 32]), vec![e, e]),
            (PackId([2; 32]), vec![]),
        ]);
        let (v, bytes) = plain.encode();
        assert_eq!(v, 1);
        assert_eq!(IndexFile::decode(1, &bytes, "i").unwrap(), plain);
        for cut in 0..bytes.len() {
            assert!(IndexFile::decode(1, &bytes[..cut], "i").is_err());
        }
        let mut with = plain.clone();
        with.marked = vec![
            MarkedPack {
                id: PackId([3; 32]),
                marked: 1_700_000_000_123,
                entries: vec![entry(8)],
            },
            MarkedPack {
                id: PackId([4; 32]),
                marked: -5,
                entries: vec![],
            },
        ];
        let (v, bytes) = with.encode();
        assert_eq!(v, VERSION_WITH_MARKS);
        assert_eq!(IndexFile::decode(v, &bytes, "i").unwrap(), with);
        for cut in 0..bytes.len() {
            assert!(IndexFile::decode(v, &bytes[..cut], "i").is_err());
        }
        // A version 2 file is not a version 1 file with trailing bytes that pass.
        assert!(IndexFile::decode(1, &bytes, "i").is_err());
        // Huge counts are refused before anything is allocated.
        let mut huge = bytes.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(IndexFile::decode(v, &huge, "i").is_err());
    }

    #[test]
    fn marks_with_entries_stand_and_marks_without_lapse_when_indexed() {
        let (a, b, c) = (PackId([1; 32]), PackId([2; 32]), PackId([3; 32]));
        let mark = |id, t, with: bool| MarkedPack {
            id,
            marked: t,
            entries: if with { vec![entry(1)] } else { vec![] },
        };
        let old = IndexFile::live(vec![(a, vec![entry(1)]), (b, vec![entry(2)])]);
        let new = IndexFile {
            packs: vec![],
            marked: vec![mark(a, 10, true), mark(c, 20, false), mark(a, 5, true)],
        };
        let m = marks([&old, &new]);
        assert_eq!(m.get(&a), Some(&10), "the latest time wins");
        assert_eq!(m.get(&c), Some(&20));
        assert!(!m.contains_key(&b));
        // A backup indexes c: its mark lapses.
        let backup = IndexFile::live(vec![(c, vec![entry(3)])]);
        let m = marks([&old, &new, &backup]);
        assert!(!m.contains_key(&c));
        assert!(m.contains_key(&a));
    }
}
