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
    seal_version(key, kind, VERSION, payload, compress)
}

/// [`seal`] with a payload format version other than [`VERSION`], for kinds that have more
/// than one (index files with marked packs are version 2).
pub fn seal_version(
    key: &MasterKey,
    kind: ObjectKind,
    version: u8,
    payload: &[u8],
    compress: bool,
) -> Vec<u8> {
    let mut plain = Vec::with_capacity(payload.len() / 2 + 3);
    plain.push(kind as u8);
    plain.push(version);
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
    open_versions(key, kind, VERSION, data, what).map(|(_, payload)| payload)
}

/// [`open`] accepting payload versions 1 to `newest`; returns the version with the payload.
pub fn open_versions(
    key: &MasterKey,
    kind: ObjectKind,
    newest: u8,
    data: &[u8],
    what: &str,
) -> Result<(u8, Vec<u8>)> {
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
    let version = plain[1];
    if !(1..=newest).contains(&version) {
        return Err(Error::corrupt(
            what,
            format!("unsupported version {version}"),
        ));
    }
    let payload = match Codec::from_u8(plain[2]) {
        Some(Codec::Raw) => plain[3..].to_vec(),
        Some(Codec::Zstd) => decompress_unknown(&plain[3..], &|| what.to_string())?,
        None => return Err(Error::corrupt(what, format!("unknown codec {}", plain[2]))),
    };
    Ok((version, payload))
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
