//! Helpers shared by the fuzz targets.

use std::sync::OnceLock;

use ibars_core::crypto::MasterKey;

/// The fixed key every target seals and opens with (seeds are made under it too).
pub fn key() -> &'static MasterKey {
    static KEY: OnceLock<MasterKey> = OnceLock::new();
    KEY.get_or_init(|| MasterKey::from_bytes(&[7; 64]))
}

/// Size of a parity file's fixed header (see docs/format.md, "Parity files").
const PARITY_FIXED: usize = 8 + 1 + 3 + 32 + 8 + 4 + 4 + 4;

/// Write the header hash a parity file's own fields call for, so that mutated files get past
/// the hash check into the code behind it. Inputs too short or with absurd counts are left alone.
pub fn fix_parity_hash(b: &mut [u8]) {
    if b.len() < PARITY_FIXED {
        return;
    }
    let le = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as usize;
    let (k, m) = (le(56), le(60));
    let Some(header_len) = k
        .checked_add(m)
        .and_then(|n| n.checked_mul(32))
        .and_then(|n| n.checked_add(PARITY_FIXED))
    else {
        return;
    };
    if header_len + 32 <= b.len() {
        let h = blake3::hash(&b[..header_len]);
        b[header_len..header_len + 32].copy_from_slice(h.as_bytes());
    }
}
