//! Sealed objects: config, snapshots, index files, locks and pack headers. See docs/format.md.

use crate::compress::{decompress_unknown, Codec};
use crate::crypto::MasterKey;
use crate::error::{Error, Result};

/// The kind byte of a sealed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ObjectKind {
    Config = 1,
    Snapshot = 2,
    Index = 3,
    Lock = 4,
    PackHeader = 5,
    HistoryRecord = 6,
    ScrubState = 7,
}

/// Payload format version written for every kind.
pub const VERSION: u8 = 1;

/// Seal `payload`, compressing it when `compress` is set.
pub fn seal(key: &MasterKey, kind: ObjectKind, payload: &[u8], compress: bool) -> Vec<u8> {
    let mut plain = Vec::with_capacity(payload.len() / 2 + 3);
    plain.push(kind as u8);
    plain.push(VERSION);
    if compress {
        plain.push(Codec::Zstd as u8);
        plain.extend_from_slice(&zstd::bulk::compress(payload, 3).expect("zstd on memory"));
    } else {
        plain.push(Codec::Raw as u8);
        plain.extend_from_slice(payload);
    }
    key.encrypt(&plain, b"")
}

/// Open a sealed object, checking that it is of `kind`. `what` names it in errors.
pub fn open(key: &MasterKey, kind: ObjectKind, data: &[u8], what: &str) -> Result<Vec<u8>> {
    let plain = key.decrypt(data, b"", &|| what.to_string())?;
    if plain.len() < 3 {
        return Err(Error::corrupt(what, "sealed header missing"));
    }
    if plain[0] != kind as u8 {
        return Err(Error::corrupt(
            what,
            format!("is an object of kind {}, expected {}", plain[0], kind as u8),
        ));
    }
    if plain[1] != VERSION {
        return Err(Error::corrupt(
            what,
            format!("unsupported version {}", plain[1]),
        ));
    }
    match Codec::from_u8(plain[2]) {
        Some(Codec::Raw) => Ok(plain[3..].to_vec()),
        Some(Codec::Zstd) => decompress_unknown(&plain[3..], &|| what.to_string()),
        None => Err(Error::corrupt(what, format!("unknown codec {}", plain[2]))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_kind_check() {
        let k = MasterKey::random();
        for c in [false, true] {
            let s = seal(&k, ObjectKind::Snapshot, b"{\"a\":1}", c);
            assert_eq!(
                open(&k, ObjectKind::Snapshot, &s, "x").unwrap(),
                b"{\"a\":1}"
            );
            assert!(open(&k, ObjectKind::Index, &s, "x").is_err());
        }
    }
}
