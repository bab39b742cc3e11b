//! Encryption and keyed hashing. XChaCha20-Poly1305 everywhere; BLAKE3 keyed by the master key
//! for blob ids; Argon2id to derive key-encryption keys from passwords (see [`keyfile`]).

pub mod keyfile;

use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
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
        seal_into(&self.cipher, out, &random_nonce(), plaintext, aad);
    }

    /// Decrypt `nonce || ciphertext || tag` into `out`, which ends up exactly as long as the
    /// plaintext. Decrypts straight from `data` into `out`: no copy of the ciphertext, and no
    /// zeroing of the part of `out` already there from an earlier call.
    pub fn decrypt_into(
        &self,
        out: &mut Vec<u8>,
        data: &[u8],
        aad: &[u8],
        what: &dyn Fn() -> String,
    ) -> Result<()> {
        open_into(&self.cipher, out, data, aad, what)
    }

    /// Inverse of [`MasterKey::encrypt`]; `what` names the object in the error.
    pub fn decrypt(&self, data: &[u8], aad: &[u8], what: &dyn Fn() -> String) -> Result<Vec<u8>> {
        decrypt_with(&self.cipher, data, aad, what)
    }
}

fn random_nonce() -> XNonce {
    let mut nonce = XNonce::default();
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    nonce
}

/// The nonce of a ciphertext; `bytes` is `NONCE_LEN` long by construction.
fn nonce_of(bytes: &[u8]) -> XNonce {
    XNonce::try_from(bytes).expect("NONCE_LEN bytes")
}

/// The tag of a ciphertext; `bytes` is `TAG_LEN` long by construction.
fn tag_of(bytes: &[u8]) -> Tag {
    Tag::try_from(bytes).expect("TAG_LEN bytes")
}

/// Append `nonce || ciphertext || tag` to `out`, encrypting in place there.
fn seal_into(
    cipher: &XChaCha20Poly1305,
    out: &mut Vec<u8>,
    nonce: &XNonce,
    plaintext: &[u8],
    aad: &[u8],
) {
    out.reserve(OVERHEAD + plaintext.len());
    out.extend_from_slice(nonce);
    let start = out.len();
    out.extend_from_slice(plaintext);
    let tag = cipher
        .encrypt_inout_detached(nonce, aad, (&mut out[start..]).into())
        .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
    out.extend_from_slice(&tag);
}

fn encrypt_with(cipher: &XChaCha20Poly1305, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    seal(cipher, &random_nonce(), plaintext, aad)
}

/// `nonce || ciphertext || tag`.
fn seal(cipher: &XChaCha20Poly1305, nonce: &XNonce, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    seal_into(cipher, &mut out, nonce, plaintext, aad);
    out
}

/// Decrypt `nonce || ciphertext || tag` into `out`, resized to the plaintext's length.
fn open_into(
    cipher: &XChaCha20Poly1305,
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
    out.resize(ct.len(), 0);
    let buf = InOutBuf::new(ct, out).expect("equal lengths");
    cipher
        .decrypt_inout_detached(&nonce_of(nonce), aad, buf, &tag_of(tag))
        .map_err(|_| Error::corrupt(what(), "authentication failed"))
}

fn decrypt_with(
    cipher: &XChaCha20Poly1305,
    data: &[u8],
    aad: &[u8],
    what: &dyn Fn() -> String,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    open_into(cipher, &mut out, data, aad, what)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The format must not depend on which SIMD backend the cipher picks at run time: the
    /// XChaCha20-Poly1305 vector of draft-irtf-cfrg-xchacha-03 (A.3.1), plus messages long
    /// enough for the widest (16-block AVX-512) path and its tails, pinned by the BLAKE3 of
    /// their ciphertexts as chacha20poly1305 0.10 (AVX2) wrote them.
    #[test]
    fn known_answers_pin_the_format() {
        let mut b = [0u8; 64];
        for (i, x) in b[..32].iter_mut().enumerate() {
            *x = 0x80 + i as u8;
        }
        let k = MasterKey::from_bytes(&b);
        let nonce: Vec<u8> = (0x40u8..0x58).collect();
        let nonce = nonce_of(&nonce);
        let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
        let msg = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip \
                    for the future, sunscreen would be it.";
        let sealed = seal(&k.cipher, &nonce, msg, &aad);
        assert_eq!(
            hex::encode(&sealed[NONCE_LEN..]),
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb\
             731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452\
             2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9\
             21f9664c97637da9768812f615c68b13b52ec0875924c1c7987947deafd8780acf49"
        );
        let long: Vec<u8> = (0..(1usize << 20) + 17)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let mut out = vec![1u8; 5000]; // longer than some plaintexts: decrypt_into must trim
        for (len, want) in [
            (
                long.len(),
                "7040cf5af28424491b5a2d3195e410e471306c7013e420f82aba62583d082c59",
            ),
            (
                1023,
                "db1041c608724e4f657c1cb71cb57c19d198048684188acb96f7815937377590",
            ),
            (
                64 * 16 + 5,
                "86214cc15b9051810748c286f64e7bba0a4de85e5121f00a52710ce8d506d2b1",
            ),
        ] {
            let sealed = seal(&k.cipher, &nonce, &long[..len], &aad);
            assert_eq!(
                blake3::hash(&sealed[NONCE_LEN..]).to_hex().as_str(),
                want,
                "{len}"
            );
            // Blobs are sealed through seal_into, into a pack buffer: the same bytes.
            let mut pack = b"pack".to_vec();
            seal_into(&k.cipher, &mut pack, &nonce, &long[..len], &aad);
            assert_eq!(&pack[4..], &sealed[..]);
            k.decrypt_into(&mut out, &sealed, &aad, &|| "t".into())
                .unwrap();
            assert_eq!(out, &long[..len]);
        }
    }

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
