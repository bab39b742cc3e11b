//! Encryption and keyed hashing. XChaCha20-Poly1305 everywhere; BLAKE3 keyed by the master key
//! for blob ids; Argon2id to derive key-encryption keys from passwords (see [`keyfile`]).

pub mod keyfile;

use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::id::BlobId;

/// Bytes of nonce in front of every ciphertext.
pub const NONCE_LEN: usize = 24;
/// Bytes of authentication tag after every ciphertext.
pub const TAG_LEN: usize = 16;
/// Total bytes encryption adds.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// The repository's master key: an encryption key and a blob-id key. Never leaves memory
/// unwrapped, and is zeroed when dropped.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; 64]>,
    cipher: XChaCha20Poly1305,
}

impl MasterKey {
    /// A fresh random key.
    pub fn random() -> Self {
        let mut b = Zeroizing::new([0u8; 64]);
        rand::rngs::OsRng.fill_bytes(&mut b[..]);
        Self::from_bytes(&b)
    }

    /// From the 64 unwrapped bytes of a key file.
    pub fn from_bytes(b: &[u8; 64]) -> Self {
        let cipher = XChaCha20Poly1305::new_from_slice(&b[..32]).expect("32-byte key");
        Self {
            bytes: Zeroizing::new(*b),
            cipher,
        }
    }

    pub(crate) fn bytes(&self) -> &[u8; 64] {
        &self.bytes
    }

    fn id_key(&self) -> &[u8; 32] {
        self.bytes[32..].try_into().expect("32 bytes")
    }

    /// The id of a blob with this plaintext.
    pub fn blob_id(&self, plaintext: &[u8]) -> BlobId {
        BlobId(*blake3::keyed_hash(self.id_key(), plaintext).as_bytes())
    }

    /// `nonce || ciphertext || tag` of `plaintext` with associated data `aad`.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        encrypt_with(&self.cipher, plaintext, aad)
    }

    /// Append `nonce || ciphertext || tag` of `plaintext` to `out`, encrypting in place there:
    /// the one copy is the plaintext into `out`.
    pub fn encrypt_into(&self, out: &mut Vec<u8>, plaintext: &[u8], aad: &[u8]) {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        out.reserve(OVERHEAD + plaintext.len());
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .cipher
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), aad, &mut out[start..])
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        out.extend_from_slice(&tag);
    }

    /// Decrypt `nonce || ciphertext || tag` into `out` (cleared first), in place there.
    pub fn decrypt_into(
        &self,
        out: &mut Vec<u8>,
        data: &[u8],
        aad: &[u8],
        what: &dyn Fn() -> String,
    ) -> Result<()> {
        if data.len() < OVERHEAD {
            return Err(Error::corrupt(
                what(),
                format!("too short ({} bytes)", data.len()),
            ));
        }
        let (nonce, rest) = data.split_at(NONCE_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        out.clear();
        out.extend_from_slice(ct);
        self.cipher
            .decrypt_in_place_detached(XNonce::from_slice(nonce), aad, out, tag.into())
            .map_err(|_| Error::corrupt(what(), "authentication failed"))
    }

    /// Inverse of [`MasterKey::encrypt`]; `what` names the object in the error.
    pub fn decrypt(&self, data: &[u8], aad: &[u8], what: &dyn Fn() -> String) -> Result<Vec<u8>> {
        decrypt_with(&self.cipher, data, aad, what)
    }
}

fn encrypt_with(cipher: &XChaCha20Poly1305, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn decrypt_with(
    cipher: &XChaCha20Poly1305,
    data: &[u8],
    aad: &[u8],
    what: &dyn Fn() -> String,
) -> Result<Vec<u8>> {
    if data.len() < OVERHEAD {
        return Err(Error::corrupt(
            what(),
            format!("too short ({} bytes)", data.len()),
        ));
    }
    let (nonce, ct) = data.split_at(NONCE_LEN);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| Error::corrupt(what(), "authentication failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypt_round_trip_and_tamper() {
        let k = MasterKey::random();
        let ct = k.encrypt(b"secret", b"aad");
        let mut into = b"prefix".to_vec();
        k.encrypt_into(&mut into, b"secret", b"aad");
        assert_eq!(
            k.decrypt(&into[6..], b"aad", &|| "t".into()).unwrap(),
            b"secret"
        );
        assert_eq!(ct.len(), 6 + OVERHEAD);
        let what = || "test".to_string();
        assert_eq!(k.decrypt(&ct, b"aad", &what).unwrap(), b"secret");
        assert!(k.decrypt(&ct, b"other", &what).is_err());
        let mut bad = ct.clone();
        bad[30] ^= 1;
        assert!(k.decrypt(&bad, b"aad", &what).is_err());
        assert!(k.decrypt(&ct[..10], b"aad", &what).is_err());
        let k2 = MasterKey::random();
        assert_ne!(k.blob_id(b"x"), k2.blob_id(b"x"));
    }
}
