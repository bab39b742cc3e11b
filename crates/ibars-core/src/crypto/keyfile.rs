//! Key files: the master key wrapped under a password-derived key (Argon2id).

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::XChaCha20Poly1305;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{decrypt_with, encrypt_with, MasterKey};
use crate::error::{Error, Result};

const WRAP_AAD: &[u8] = b"ibars-key-v1";

/// Argon2id cost parameters, stored in each key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Parallelism.
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane: about 0.2 s on a current core.
    fn default() -> Self {
        Self {
            m_cost: 64 * 1024,
            t_cost: 3,
            p_cost: 1,
        }
    }
}

impl KdfParams {
    /// Bounds that keep a hostile key file from asking for absurd work (max 4 GiB, 100 passes).
    fn check(&self) -> Result<()> {
        if self.m_cost < 8
            || self.m_cost > 4 * 1024 * 1024
            || self.t_cost == 0
            || self.t_cost > 100
            || self.p_cost == 0
            || self.p_cost > 64
        {
            return Err(Error::corrupt("key file", "KDF parameters out of range"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Kdf {
    algorithm: String,
    version: u32,
    #[serde(flatten)]
    params: KdfParams,
    salt: String,
}

/// The JSON content of `keys/<id>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyFile {
    pub version: u32,
    pub created: jiff::Timestamp,
    pub host: String,
    pub username: String,
    kdf: Kdf,
    wrapped: String,
}

fn derive(password: &[u8], salt: &[u8], p: KdfParams) -> Result<XChaCha20Poly1305> {
    p.check()?;
    let params = Params::new(p.m_cost, p.t_cost, p.p_cost, Some(32))
        .map_err(|e| Error::corrupt("key file", format!("KDF parameters: {e}")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password, salt, &mut out[..])
        .map_err(|e| Error::corrupt("key file", format!("KDF: {e}")))?;
    Ok(XChaCha20Poly1305::new_from_slice(&out[..]).expect("32-byte key"))
}

impl KeyFile {
    /// Wrap `master` under `password`.
    pub fn create(
        master: &MasterKey,
        password: &[u8],
        params: KdfParams,
        host: &str,
        username: &str,
    ) -> Result<Self> {
        let mut salt = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let kek = derive(password, &salt, params)?;
        let wrapped = encrypt_with(&kek, master.bytes(), WRAP_AAD);
        Ok(Self {
            version: 1,
            created: jiff::Timestamp::now(),
            host: host.to_string(),
            username: username.to_string(),
            kdf: Kdf {
                algorithm: "argon2id".into(),
                version: 19,
                params,
                salt: hex::encode(salt),
            },
            wrapped: hex::encode(wrapped),
        })
    }

    /// Parse a key file's bytes.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self> {
        let kf: KeyFile = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(format!("key file {name}"), e.to_string()))?;
        if kf.version != 1 || kf.kdf.algorithm != "argon2id" || kf.kdf.version != 19 {
            return Err(Error::corrupt(
                format!("key file {name}"),
                "unsupported version or KDF",
            ));
        }
        Ok(kf)
    }

    /// The Argon2id parameters this key was wrapped with (not yet checked for range).
    pub fn kdf_params(&self) -> KdfParams {
        self.kdf.params
    }

    /// Serialized bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("key file serializes")
    }

    /// Unwrap the master key; `Ok(None)` when the password is wrong.
    pub fn open(&self, password: &[u8]) -> Result<Option<MasterKey>> {
        let salt = hex::decode(&self.kdf.salt)
            .map_err(|_| Error::corrupt("key file", "salt is not hex"))?;
        let wrapped = hex::decode(&self.wrapped)
            .map_err(|_| Error::corrupt("key file", "wrapped key is not hex"))?;
        let kek = derive(password, &salt, self.kdf.params)?;
        match decrypt_with(&kek, &wrapped, WRAP_AAD, &|| "key file".into()) {
            Ok(plain) => {
                let bytes: [u8; 64] = plain
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::corrupt("key file", "wrapped key has the wrong length"))?;
                let plain = Zeroizing::new(plain);
                drop(plain);
                Ok(Some(MasterKey::from_bytes(&bytes)))
            }
            Err(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_unwrap() {
        let m = MasterKey::random();
        let p = KdfParams {
            m_cost: 64,
            t_cost: 1,
            p_cost: 1,
        };
        let kf = KeyFile::create(&m, b"pw", p, "h", "u").unwrap();
        let parsed = KeyFile::parse(&kf.to_bytes(), "k").unwrap();
        let opened = parsed.open(b"pw").unwrap().unwrap();
        assert_eq!(opened.bytes(), m.bytes());
        assert!(parsed.open(b"wrong").unwrap().is_none());
        assert!(KeyFile::parse(b"{not json", "k").is_err());
    }
}
