//! Pack files: encrypted blobs followed by a sealed header. See docs/format.md.

use crate::compress::Codec;
use crate::crypto::{MasterKey, OVERHEAD};
use crate::error::{Error, Result};
use crate::id::{BlobId, PackId};
use crate::sealed::{self, ObjectKind};

/// What a blob holds. Data and trees never share a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BlobKind {
    Data = 0,
    Tree = 1,
}

impl BlobKind {
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(BlobKind::Data),
            1 => Some(BlobKind::Tree),
            _ => None,
        }
    }
}

/// Where a blob is in a pack and how it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    pub kind: BlobKind,
    pub codec: Codec,
    pub id: BlobId,
    pub offset: u32,
    /// Stored length, encryption overhead included.
    pub length: u32,
    pub raw_length: u32,
}

impl PackEntry {
    /// This blob's stored bytes within the bytes of its pack, or `None` when the pack is
    /// shorter than the entry says.
    pub fn stored_in<'a>(&self, pack: &'a [u8]) -> Option<&'a [u8]> {
        let start = self.offset as usize;
        pack.get(start..start.checked_add(self.length as usize)?)
    }
}

const HEADER_ENTRY: usize = 1 + 1 + 4 + 4 + 32;

/// The associated data a blob is sealed with: its kind and id.
pub fn blob_aad(kind: BlobKind, id: &BlobId) -> [u8; 33] {
    let mut aad = [0u8; 33];
    aad[0] = kind as u8;
    aad[1..].copy_from_slice(id.as_bytes());
    aad
}

/// Decrypt, decompress and verify one stored blob. Errors name the pack and the blob.
/// For many blobs, reuse a [`BlobDecoder`] instead.
pub fn decrypt_blob(
    key: &MasterKey,
    pack: &PackId,
    e: &PackEntry,
    stored: &[u8],
) -> Result<Vec<u8>> {
    BlobDecoder::default()
        .decode(key, pack, e, stored)
        .map(<[u8]>::to_vec)
}

/// Decrypts, decompresses and verifies blobs with buffers and a zstd context reused across
/// calls: one per restore worker.
pub struct BlobDecoder {
    body: Vec<u8>,
    raw: Vec<u8>,
    dctx: zstd::bulk::Decompressor<'static>,
    check_ids: bool,
}

impl Default for BlobDecoder {
    fn default() -> Self {
        Self {
            body: Vec::new(),
            raw: Vec::new(),
            dctx: zstd::bulk::Decompressor::new().expect("zstd decompression context"),
            check_ids: true,
        }
    }
}

impl BlobDecoder {
    /// A decoder that does not hash the plaintext against the blob id. Damage and tampering
    /// are still caught: every blob is sealed with its kind and id as associated data, so it
    /// decrypts only under the id it was written for. What this skips is a check of the
    /// writer itself (that it named the content correctly), which `check --read-data` and
    /// `restore --verify` keep. Restore uses it: the hash is a sixth of its CPU time.
    pub fn trusting_sealed_ids() -> Self {
        Self {
            check_ids: false,
            ..Self::default()
        }
    }

    /// As [`decrypt_blob`], into this decoder's buffers.
    pub fn decode(
        &mut self,
        key: &MasterKey,
        pack: &PackId,
        e: &PackEntry,
        stored: &[u8],
    ) -> Result<&[u8]> {
        let what = || format!("blob {} in pack {}", e.id, pack);
        key.decrypt_into(&mut self.body, stored, &blob_aad(e.kind, &e.id), &what)?;
        let raw_len = e.raw_length as usize;
        let plain: &[u8] = match e.codec {
            Codec::Raw => &self.body,
            Codec::Zstd => {
                if raw_len > crate::compress::MAX_DECOMPRESSED {
                    return Err(Error::corrupt(what(), "declared size too large"));
                }
                self.raw.clear();
                self.raw.reserve(raw_len);
                self.dctx
                    .decompress_to_buffer(&self.body, &mut self.raw)
                    .map_err(|err| Error::corrupt(what(), format!("zstd: {err}")))?;
                &self.raw
            }
        };
        if plain.len() != raw_len {
            return Err(Error::corrupt(
                what(),
                format!("length {} differs from the index's {raw_len}", plain.len()),
            ));
        }
        if self.check_ids && key.blob_id(plain) != e.id {
            return Err(Error::corrupt(what(), "content does not match its id"));
        }
        Ok(plain)
    }
}

/// Accumulates blobs of one kind into a pack in memory.
pub struct PackWriter {
    kind: BlobKind,
    buf: Vec<u8>,
    entries: Vec<PackEntry>,
}

/// A finished pack, ready to upload.
pub struct FinishedPack {
    pub id: PackId,
    pub bytes: Vec<u8>,
    pub entries: Vec<PackEntry>,
    pub kind: BlobKind,
}

impl PackWriter {
    pub fn new(kind: BlobKind, capacity: usize) -> Self {
        Self::with_buffer(kind, Vec::with_capacity(capacity))
    }

    /// A writer filling `buf` (cleared first), e.g. one recycled from a pool.
    pub fn with_buffer(kind: BlobKind, mut buf: Vec<u8>) -> Self {
        buf.clear();
        Self {
            kind,
            buf,
            entries: Vec::new(),
        }
    }

    /// Encrypt a blob body straight into the pack.
    pub fn add_plain(
        &mut self,
        key: &MasterKey,
        id: BlobId,
        codec: Codec,
        raw_length: u32,
        body: &[u8],
    ) {
        let offset = self.buf.len();
        key.encrypt_into(&mut self.buf, body, &blob_aad(self.kind, &id));
        self.entries.push(PackEntry {
            kind: self.kind,
            codec,
            id,
            offset: offset as u32,
            length: (self.buf.len() - offset) as u32,
            raw_length,
        });
    }

    /// Copy a blob that is already encrypted (from another pack) verbatim: a stored blob does
    /// not depend on its position, only on its kind and id.
    pub fn add_stored(&mut self, e: &PackEntry, stored: &[u8]) {
        let offset = self.buf.len();
        self.buf.extend_from_slice(stored);
        self.entries.push(PackEntry {
            kind: self.kind,
            offset: offset as u32,
            length: stored.len() as u32,
            ..*e
        });
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Seal the header, append it, and name the pack.
    pub fn finish(mut self, key: &MasterKey) -> FinishedPack {
        let mut h = Vec::with_capacity(4 + self.entries.len() * HEADER_ENTRY);
        h.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            h.push(e.kind as u8);
            h.push(e.codec as u8);
            h.extend_from_slice(&e.length.to_le_bytes());
            h.extend_from_slice(&e.raw_length.to_le_bytes());
            h.extend_from_slice(e.id.as_bytes());
        }
        let sealed = sealed::seal(key, ObjectKind::PackHeader, &h, false);
        self.buf.extend_from_slice(&sealed);
        self.buf
            .extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        FinishedPack {
            id: PackId::of_content(&self.buf),
            bytes: self.buf,
            entries: self.entries,
            kind: self.kind,
        }
    }
}

/// The size of the pack holding exactly `entries` (all blobs of one pack, as an index file
/// lists them), or `None` when the entries do not tile the pack's data from offset 0 without
/// gaps or overlaps, which no writer produces.
pub fn expected_size(entries: &[PackEntry]) -> Option<u64> {
    let mut spans: Vec<(u64, u64)> = entries
        .iter()
        .map(|e| (u64::from(e.offset), u64::from(e.length)))
        .collect();
    spans.sort_unstable();
    let mut end = 0u64;
    for (offset, length) in spans {
        if offset != end {
            return None;
        }
        end += length;
    }
    // Sealed header: nonce, kind/version/codec, count, entries, tag; then its u32 length.
    Some(end + (OVERHEAD + 3 + 4 + entries.len() * HEADER_ENTRY) as u64 + 4)
}

/// Parse a pack's header from the pack's bytes (or its tail; `pack_len` is the full length).
/// Every entry is checked to lie inside the pack.
pub fn parse_header(
    key: &MasterKey,
    pack: &PackId,
    tail: &[u8],
    pack_len: u64,
) -> Result<Vec<PackEntry>> {
    let what = format!("header of pack {pack}");
    if tail.len() < 4 {
        return Err(Error::corrupt(&what, "pack too short"));
    }
    let hlen = u32::from_le_bytes(tail[tail.len() - 4..].try_into().expect("4 bytes")) as usize;
    if hlen + 4 > tail.len() || hlen < OVERHEAD + 3 {
        return Err(Error::corrupt(
            &what,
            format!("header length {hlen} out of range"),
        ));
    }
    let sealed_header = &tail[tail.len() - 4 - hlen..tail.len() - 4];
    let h = sealed::open(key, ObjectKind::PackHeader, sealed_header, &what)?;
    let data_end = pack_len
        .checked_sub(4 + hlen as u64)
        .ok_or_else(|| Error::corrupt(&what, "pack shorter than its header"))?;
    decode_header(&h, data_end, &what)
}

/// Decode an opened pack header's payload; every entry must end by `data_end`, where the
/// header begins.
pub fn decode_header(h: &[u8], data_end: u64, what: &str) -> Result<Vec<PackEntry>> {
    if h.len() < 4 {
        return Err(Error::corrupt(what, "truncated"));
    }
    let count = u32::from_le_bytes(h[..4].try_into().expect("4 bytes")) as usize;
    if Some(h.len()) != count.checked_mul(HEADER_ENTRY).map(|n| n + 4) {
        return Err(Error::corrupt(what, "entry count does not match its size"));
    }
    let mut offset = 0u64;
    let mut out = Vec::with_capacity(count);
    for rec in h[4..].chunks_exact(HEADER_ENTRY) {
        let kind =
            BlobKind::from_u8(rec[0]).ok_or_else(|| Error::corrupt(what, "bad blob kind"))?;
        let codec = Codec::from_u8(rec[1]).ok_or_else(|| Error::corrupt(what, "bad codec"))?;
        let length = u32::from_le_bytes(rec[2..6].try_into().expect("4"));
        let raw_length = u32::from_le_bytes(rec[6..10].try_into().expect("4"));
        let id = BlobId::from_slice(&rec[10..42]).expect("32 bytes");
        if offset + length as u64 > data_end {
            return Err(Error::corrupt(
                what,
                format!("blob {id} lies beyond the data"),
            ));
        }
        out.push(PackEntry {
            kind,
            codec,
            id,
            offset: offset as u32,
            length,
            raw_length,
        });
        offset += length as u64;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::{compress, Compression};

    #[test]
    fn write_parse_read() {
        let key = MasterKey::random();
        let mut w = PackWriter::new(BlobKind::Data, 1024);
        let blobs: Vec<Vec<u8>> = vec![b"one".to_vec(), b"two two two two two".repeat(50), vec![]];
        for b in &blobs {
            let id = key.blob_id(b);
            let (codec, body) = match compress(b, Compression::Auto) {
                Some(z) => (Codec::Zstd, z),
                None => (Codec::Raw, b.clone()),
            };
            w.add_plain(&key, id, codec, b.len() as u32, &body);
        }
        let p = w.finish(&key);
        assert_eq!(p.id, PackId::of_content(&p.bytes));
        assert_eq!(expected_size(&p.entries), Some(p.bytes.len() as u64));
        assert_eq!(expected_size(&p.entries[1..]), None);
        let parsed = parse_header(&key, &p.id, &p.bytes, p.bytes.len() as u64).unwrap();
        assert_eq!(parsed, p.entries);
        let mut dec = BlobDecoder::default();
        for (e, b) in parsed.iter().zip(&blobs) {
            let stored = &p.bytes[e.offset as usize..(e.offset + e.length) as usize];
            assert_eq!(&decrypt_blob(&key, &p.id, e, stored).unwrap(), b);
            assert_eq!(dec.decode(&key, &p.id, e, stored).unwrap(), &b[..]);
        }
        // Wrong entry (other blob's id) fails.
        let mut bad = parsed[0];
        bad.id = parsed[1].id;
        let stored = &p.bytes[..parsed[0].length as usize];
        assert!(decrypt_blob(&key, &p.id, &bad, stored).is_err());
        // A body that does not decompress is an error, not a panic.
        let mut junk = PackWriter::new(BlobKind::Data, 0);
        let jid = key.blob_id(b"x");
        junk.add_plain(&key, jid, Codec::Zstd, 10, b"junk");
        let jp = junk.finish(&key);
        let je = jp.entries[0];
        assert!(decrypt_blob(&key, &jp.id, &je, &jp.bytes[..je.length as usize]).is_err());
        // Truncation fails cleanly.
        for cut in [0, 3, 10, p.bytes.len() - 1] {
            assert!(parse_header(&key, &p.id, &p.bytes[..cut], cut as u64).is_err());
        }
    }

    #[test]
    fn a_decoder_trusting_sealed_ids_still_rejects_damage_and_wrong_ids() {
        let key = MasterKey::random();
        let mut w = PackWriter::new(BlobKind::Data, 1024);
        for b in [b"first blob".as_slice(), b"second blob"] {
            w.add_plain(&key, key.blob_id(b), Codec::Raw, b.len() as u32, b);
        }
        let p = w.finish(&key);
        let mut dec = BlobDecoder::trusting_sealed_ids();
        let e = p.entries[0];
        let stored = p.bytes[e.offset as usize..(e.offset + e.length) as usize].to_vec();
        assert_eq!(dec.decode(&key, &p.id, &e, &stored).unwrap(), b"first blob");
        // The bytes of one blob presented as the other: the id is in the associated data.
        let swapped = PackEntry {
            id: p.entries[1].id,
            ..e
        };
        assert!(dec.decode(&key, &p.id, &swapped, &stored).is_err());
        // One flipped bit anywhere.
        for i in [0, stored.len() / 2, stored.len() - 1] {
            let mut bad = stored.clone();
            bad[i] ^= 1;
            assert!(dec.decode(&key, &p.id, &e, &bad).is_err());
        }
    }
}
