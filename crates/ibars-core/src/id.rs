//! Typed 32-byte ids. Every object kind has its own type so that a pack id can never be passed
//! where a blob id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of every id in bytes.
pub const ID_LEN: usize = 32;

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; ID_LEN]);

        impl $name {
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; ID_LEN] {
                &self.0
            }
            /// Full lowercase hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// The first eight hex digits, as shown in tables.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }
            /// Parse from a byte slice of exactly [`ID_LEN`] bytes.
            pub fn from_slice(b: &[u8]) -> Option<Self> {
                <[u8; ID_LEN]>::try_from(b).ok().map(Self)
            }
            /// Hash of an object's stored bytes (unkeyed BLAKE3): the name of files.
            pub fn of_content(bytes: &[u8]) -> Self {
                Self(*blake3::hash(bytes).as_bytes())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = hex::FromHexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut out = [0u8; ID_LEN];
                hex::decode_to_slice(s, &mut out)?;
                Ok(Self(out))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

typed_id!(
    /// Keyed BLAKE3 of a blob's plaintext (data chunk or tree).
    BlobId
);
typed_id!(
    /// BLAKE3 of a pack file's bytes.
    PackId
);
typed_id!(
    /// BLAKE3 of a sealed snapshot file.
    SnapshotId
);
typed_id!(
    /// BLAKE3 of a sealed index file.
    IndexId
);
typed_id!(
    /// BLAKE3 of a key file.
    KeyId
);
typed_id!(
    /// BLAKE3 of a sealed lock file.
    LockId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = BlobId::of_content(b"hello");
        let parsed: BlobId = id.to_hex().parse().unwrap();
        assert_eq!(id, parsed);
        assert_eq!(id.short().len(), 8);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<BlobId>(&json).unwrap(), id);
        assert!("zz".parse::<BlobId>().is_err());
    }
}
