//! Key management: add, list, remove, change password. The master key never changes; each key
//! file wraps it under a different password.

use serde::Serialize;

use super::{hostname, username, Repository};
use crate::backend::FileKind;
use crate::crypto::keyfile::KeyFile;
use crate::error::{Error, Result};
use crate::id::KeyId;

/// One key, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub id: KeyId,
    pub current: bool,
    pub host: String,
    pub username: String,
    pub created: jiff::Timestamp,
}

impl Repository {
    /// Add a key file for `password`; returns its id.
    pub fn add_key(&self, password: &[u8]) -> Result<KeyId> {
        let kf = KeyFile::create(&self.key, password, self.kdf, &hostname(), &username())?;
        let bytes = kf.to_bytes();
        let id = KeyId::of_content(&bytes);
        self.backend
            .write(FileKind::Key, &id.to_hex(), bytes.into())?;
        Ok(id)
    }

    /// All keys. Unreadable key files are reported as errors naming them.
    pub fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        let mut out = Vec::new();
        for e in self.backend.list(FileKind::Key)? {
            let kf = KeyFile::parse(
                &super::read_named(self.backend.as_ref(), FileKind::Key, &e.name)?.bytes,
                &e.name,
            )?;
            let id: KeyId = e
                .name
                .parse()
                .map_err(|_| Error::corrupt("key name", e.name.clone()))?;
            out.push(KeyInfo {
                current: id == self.key_id,
                id,
                host: kf.host,
                username: kf.username,
                created: kf.created,
            });
        }
        out.sort_by_key(|k| k.created);
        Ok(out)
    }

    /// Resolve a key id prefix.
    pub fn find_key(&self, prefix: &str) -> Result<KeyId> {
        let keys = self.list_keys()?;
        let m: Vec<_> = keys
            .iter()
            .filter(|k| k.id.to_hex().starts_with(&prefix.to_ascii_lowercase()))
            .collect();
        match m.len() {
            1 => Ok(m[0].id),
            0 => Err(Error::Invalid(format!("no key matches {prefix}"))),
            _ => Err(Error::Invalid(format!("key prefix {prefix} is ambiguous"))),
        }
    }

    /// Remove a key. The key in use and the last key cannot be removed.
    pub fn remove_key(&self, id: &KeyId) -> Result<()> {
        if *id == self.key_id {
            return Err(Error::Invalid(
                "refusing to remove the key in use (open the repository with another key)".into(),
            ));
        }
        let keys = self.list_keys()?;
        if !keys.iter().any(|k| k.id == *id) {
            return Err(Error::Invalid(format!("no key {id}")));
        }
        if keys.len() <= 1 {
            return Err(Error::Invalid("refusing to remove the last key".into()));
        }
        self.backend.remove(FileKind::Key, &id.to_hex())
    }

    /// Change the password of the key in use: write the new key file, then remove the old one,
    /// so that a crash in between leaves both passwords working rather than none.
    pub fn change_password(&mut self, password: &[u8]) -> Result<KeyId> {
        let new = self.add_key(password)?;
        self.backend.remove(FileKind::Key, &self.key_id.to_hex())?;
        self.key_id = new;
        Ok(new)
    }
}
