//! Reed-Solomon parity for packs. See docs/format.md, "Parity files".
//!
//! A pack of `len` bytes is cut into `k` data shards of `shard_size` bytes (the last one padded
//! with zeros), and `m` recovery shards are computed over them with `reed-solomon-simd`. The
//! parity file stores a BLAKE3 hash of every shard, data and recovery, so damaged shards are
//! located by hashing, never guessed: any `m` damaged or missing shards can be rebuilt.
//!
//! Parity files are not encrypted: they are computed over ciphertext, and their hashes are
//! unkeyed, so anyone holding the files can verify and repair a pack without the password.

use crate::error::{Error, Result};
use crate::id::PackId;

const MAGIC: &[u8; 8] = b"IBARSPAR";
const VERSION: u8 = 1;
/// Fixed part of the header: magic, version, reserved, pack id, pack length, shard size,
/// data shards, recovery shards.
const FIXED: usize = 8 + 1 + 3 + 32 + 8 + 4 + 4 + 4;
/// Data shards of a large pack: enough that a local damage costs one shard of a few
/// percent, few enough that hashing and decoding stay cheap.
const TARGET_DATA_SHARDS: u64 = 256;
/// Smallest shard worth having; small packs get fewer shards instead.
const MIN_SHARD: u64 = 4096;
/// Shard sizes are multiples of this (reed-solomon-simd needs even sizes; 64 suits its SIMD).
const ALIGN: u64 = 64;
/// Largest shard count either side, as reed-solomon-simd allows freely.
const MAX_SHARDS: u32 = 32768;

/// The layout a pack of a given length gets: `(shard_size, data_shards, recovery_shards)`.
pub fn layout(pack_len: u64, percent: u8) -> (u32, u32, u32) {
    let k = pack_len.div_ceil(MIN_SHARD).clamp(1, TARGET_DATA_SHARDS);
    let shard = pack_len.div_ceil(k).max(1).next_multiple_of(ALIGN);
    let k = pack_len.div_ceil(shard).max(1);
    let m = (k * u64::from(percent.clamp(1, 100))).div_ceil(100).max(1);
    (shard as u32, k as u32, m as u32)
}

/// A parsed parity file, borrowing its bytes.
#[derive(Debug)]
pub struct ParityFile<'a> {
    pub pack: PackId,
    pub pack_len: u64,
    pub shard_size: u32,
    pub data_shards: u32,
    pub recovery_shards: u32,
    /// BLAKE3 of each shard: the data shards, then the recovery shards.
    hashes: Vec<[u8; 32]>,
    recovery: &'a [u8],
}

/// Compute the parity file of a pack.
pub fn encode(pack: &[u8], percent: u8) -> Result<Vec<u8>> {
    let (s, k, m) = layout(pack.len() as u64, percent);
    let shards = data_shards(pack, s as usize, k as usize);
    let recovery = reed_solomon_simd::encode(k as usize, m as usize, &shards)
        .map_err(|e| Error::Invalid(format!("parity encoding: {e}")))?;
    let mut out = Vec::with_capacity(FIXED + 32 * (k + m + 1) as usize + (m * s) as usize);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(PackId::of_content(pack).as_bytes());
    out.extend_from_slice(&(pack.len() as u64).to_le_bytes());
    for v in [s, k, m] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for sh in shards
        .iter()
        .map(|c| c.as_ref())
        .chain(recovery.iter().map(|r| &r[..]))
    {
        out.extend_from_slice(blake3::hash(sh).as_bytes());
    }
    let header_hash = blake3::hash(&out);
    out.extend_from_slice(header_hash.as_bytes());
    for r in &recovery {
        out.extend_from_slice(r);
    }
    Ok(out)
}

/// The data shards of `pack`: slices, the last one copied and padded with zeros.
fn data_shards(pack: &[u8], s: usize, k: usize) -> Vec<std::borrow::Cow<'_, [u8]>> {
    (0..k)
        .map(|i| {
            let start = (i * s).min(pack.len());
            let end = ((i + 1) * s).min(pack.len());
            let sh = &pack[start..end];
            if sh.len() == s {
                std::borrow::Cow::Borrowed(sh)
            } else {
                let mut v = sh.to_vec();
                v.resize(s, 0);
                std::borrow::Cow::Owned(v)
            }
        })
        .collect()
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

impl<'a> ParityFile<'a> {
    /// Parse and authenticate a parity file's header. Every size is checked against the
    /// file before anything is allocated. `what` names the file in errors.
    pub fn parse(b: &'a [u8], what: &str) -> Result<Self> {
        let bad = |r: &str| Error::corrupt(what, r.to_string());
        if b.len() < FIXED + 32 || &b[..8] != MAGIC {
            return Err(bad("not a parity file"));
        }
        if b[8] != VERSION {
            return Err(bad(&format!("unsupported version {}", b[8])));
        }
        let pack = PackId::from_slice(&b[12..44]).expect("32 bytes");
        let pack_len = u64::from_le_bytes(b[44..52].try_into().expect("8 bytes"));
        let (s, k, m) = (le32(b, 52), le32(b, 56), le32(b, 60));
        if s == 0 || s % 2 != 0 || k == 0 || m == 0 || k > MAX_SHARDS || m > MAX_SHARDS {
            return Err(bad("shard layout out of range"));
        }
        // Only the layout `encode` writes is accepted, and packs are at most 4 GiB (offsets are
        // u32), so a forged header cannot make a repair allocate more than that.
        let (ls, lk, _) = layout(pack_len, 1);
        if pack_len > u64::from(u32::MAX) || (ls, lk) != (s, k) {
            return Err(bad("shard layout does not match the pack length"));
        }
        let header_len = FIXED + 32 * (k + m) as usize;
        let total = header_len as u64 + 32 + u64::from(m) * u64::from(s);
        if b.len() as u64 != total {
            return Err(bad(&format!("{} bytes, expected {total}", b.len())));
        }
        if blake3::hash(&b[..header_len]).as_bytes() != &b[header_len..header_len + 32] {
            return Err(bad("header hash mismatch"));
        }
        let hashes = b[FIXED..header_len]
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect();
        Ok(Self {
            pack,
            pack_len,
            shard_size: s,
            data_shards: k,
            recovery_shards: m,
            hashes,
            recovery: &b[header_len + 32..],
        })
    }

    fn recovery_shard(&self, i: usize) -> &'a [u8] {
        let s = self.shard_size as usize;
        &self.recovery[i * s..(i + 1) * s]
    }

    /// Indexes of the recovery shards whose hash does not match.
    pub fn damaged_recovery(&self) -> Vec<usize> {
        (0..self.recovery_shards as usize)
            .filter(|&i| {
                blake3::hash(self.recovery_shard(i)).as_bytes()
                    != &self.hashes[self.data_shards as usize + i]
            })
            .collect()
    }

    /// Indexes of the data shards of `pack` (as read, maybe truncated or extended) that are
    /// missing or do not match their hash.
    pub fn damaged_data(&self, pack: &[u8]) -> Vec<usize> {
        let pack = &pack[..pack.len().min(self.pack_len as usize)];
        let shards = data_shards(pack, self.shard_size as usize, self.data_shards as usize);
        shards
            .iter()
            .enumerate()
            .filter(|(i, sh)| blake3::hash(sh).as_bytes() != &self.hashes[*i])
            .map(|(i, _)| i)
            .collect()
    }

    /// The damaged data shards of `pack` (all of them when it is gone or empty), and the
    /// damaged recovery shards of this file.
    pub fn damaged_shards(&self, pack: Option<&[u8]>) -> (Vec<usize>, Vec<usize>) {
        let bad_data = match pack {
            Some(p) if !p.is_empty() => self.damaged_data(p),
            _ => (0..self.data_shards as usize).collect(),
        };
        (bad_data, self.damaged_recovery())
    }

    /// Whether a pack with this many damaged data and recovery shards can be rebuilt.
    pub fn can_rebuild(&self, bad_data: usize, bad_recovery: usize) -> bool {
        bad_data + bad_recovery <= self.recovery_shards as usize
    }

    /// Rebuild the pack from what is left of it (`None` when it is gone). Returns the pack's
    /// bytes, verified against its id, or an error saying how many shards were lost.
    pub fn repair(&self, pack: Option<&[u8]>) -> Result<Vec<u8>> {
        let (s, k, m) = (
            self.shard_size as usize,
            self.data_shards as usize,
            self.recovery_shards as usize,
        );
        let what = format!("pack {}", self.pack);
        let (bad_data, bad_rec) = self.damaged_shards(pack);
        let pack = pack.unwrap_or(&[]);
        if !self.can_rebuild(bad_data.len(), bad_rec.len()) {
            return Err(Error::corrupt(
                what,
                format!(
                    "{} of {k} data shards and {} of {m} parity shards damaged; parity repairs at most {m}",
                    bad_data.len(),
                    bad_rec.len()
                ),
            ));
        }
        let mut out = vec![0u8; k * s];
        let avail = &pack[..pack.len().min(self.pack_len as usize)];
        let shards = data_shards(avail, s, k);
        for (i, sh) in shards.iter().enumerate() {
            out[i * s..(i + 1) * s].copy_from_slice(sh);
        }
        if !bad_data.is_empty() {
            let originals: Vec<(usize, &[u8])> = (0..k)
                .filter(|i| !bad_data.contains(i))
                .map(|i| (i, &shards[i][..]))
                .collect();
            let recovery: Vec<(usize, &[u8])> = (0..m)
                .filter(|i| !bad_rec.contains(i))
                .map(|i| (i, self.recovery_shard(i)))
                .collect();
            let restored = reed_solomon_simd::decode(k, m, originals, recovery)
                .map_err(|e| Error::corrupt(&what, format!("parity decoding: {e}")))?;
            for i in &bad_data {
                let sh = restored
                    .get(i)
                    .ok_or_else(|| Error::corrupt(&what, format!("shard {i} not restored")))?;
                out[i * s..(i + 1) * s].copy_from_slice(sh);
            }
        }
        out.truncate(self.pack_len as usize);
        if PackId::of_content(&out) != self.pack {
            return Err(Error::corrupt(what, "rebuilt pack does not match its id"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn layout_bounds() {
        assert_eq!(layout(1, 10), (64, 1, 1));
        let (s, k, m) = layout(16 << 20, 10);
        assert_eq!(k, 256);
        assert_eq!(m, 26);
        assert!(u64::from(s) * u64::from(k) >= 16 << 20);
        let (s, k, _) = layout(10_000, 10);
        assert!(u64::from(s) * u64::from(k) >= 10_000 && k == 3);
    }

    #[test]
    fn repairs_any_single_damage_and_refuses_too_much() {
        let p = pack(100_000);
        let par = encode(&p, 10).unwrap();
        let f = ParityFile::parse(&par, "par").unwrap();
        assert_eq!(f.pack, PackId::of_content(&p));
        assert!(f.damaged_data(&p).is_empty());
        // A flipped byte anywhere.
        for at in [0, 4095, 50_000, 99_999] {
            let mut d = p.clone();
            d[at] ^= 0x40;
            assert_eq!(f.damaged_data(&d).len(), 1);
            assert_eq!(f.repair(Some(&d)).unwrap(), p);
        }
        // Truncated, extended, gone.
        assert_eq!(f.repair(Some(&p[..98_000])).unwrap(), p);
        let mut longer = p.clone();
        longer.extend_from_slice(b"junk");
        assert_eq!(f.repair(Some(&longer)).unwrap(), p);
        assert!(f.repair(None).is_err());
        // Damage beyond the parity.
        let mut d = p.clone();
        for i in 0..f.data_shards as usize {
            d[i * f.shard_size as usize] ^= 1;
        }
        assert!(f.repair(Some(&d)).is_err());
        // A damaged parity file is caught.
        for at in [0, 20, FIXED + 5, par.len() - 1] {
            let mut bad = par.clone();
            bad[at] ^= 1;
            let r = ParityFile::parse(&bad, "par");
            assert!(r.is_err() || !r.unwrap().damaged_recovery().is_empty());
        }
        for cut in [0, 10, FIXED, par.len() - 1] {
            assert!(ParityFile::parse(&par[..cut], "par").is_err());
        }
    }

    #[test]
    fn full_parity_survives_a_lost_pack() {
        let p = pack(3000);
        let par = encode(&p, 100).unwrap();
        let f = ParityFile::parse(&par, "par").unwrap();
        assert_eq!((f.data_shards, f.recovery_shards), (1, 1));
        assert_eq!(f.repair(None).unwrap(), p);
    }
}
