//! The repository config: fixed at init, sealed at `config`.

use serde::{Deserialize, Serialize};

use crate::chunker::ChunkerParams;
use crate::compress::Compression;
use crate::error::{Error, Result};

/// Default target pack size.
pub const DEFAULT_PACK_SIZE: u32 = 16 << 20;

/// The repository config. See docs/format.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub version: u32,
    /// Random repository id, hex.
    pub id: String,
    pub chunker: ChunkerParams,
    /// Target pack size in bytes.
    pub pack_size: u32,
    /// Default compression for backups that do not say.
    pub compression: Compression,
    /// Reed-Solomon parity written beside each new pack, in percent of its size (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub parity_percent: u8,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

impl Config {
    /// Parse and validate a config payload (JSON).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let c: Config =
            serde_json::from_slice(bytes).map_err(|e| Error::corrupt("config", e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// Check everything a hostile or damaged config could get wrong.
    pub fn validate(&self) -> Result<()> {
        if self.version != 1 {
            return Err(Error::corrupt(
                "config",
                format!("unsupported version {}", self.version),
            ));
        }
        self.chunker
            .validate()
            .map_err(|e| Error::corrupt("config", e.to_string()))?;
        if !(1 << 20..=1 << 30).contains(&self.pack_size) {
            return Err(Error::corrupt(
                "config",
                format!("pack size {} out of range", self.pack_size),
            ));
        }
        if self.parity_percent > 100 {
            return Err(Error::corrupt(
                "config",
                format!("parity {}% out of range", self.parity_percent),
            ));
        }
        Ok(())
    }
}
