//! zstd compression per blob, and the modes a user chooses between.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Codec byte stored with each blob and sealed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Codec {
    Raw = 0,
    Zstd = 1,
}

impl Codec {
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(Codec::Raw),
            1 => Some(Codec::Zstd),
            _ => None,
        }
    }
}

/// How hard to compress. `auto` stores a blob raw when compression does not pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Auto,
    Off,
    Fast,
    Max,
}

impl FromStr for Compression {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            "fast" => Ok(Self::Fast),
            "max" => Ok(Self::Max),
            _ => Err(Error::Invalid(format!(
                "unknown compression '{s}' (use auto, off, fast or max)"
            ))),
        }
    }
}

/// Largest plaintext a blob or sealed object may decompress to; guards against zip bombs.
pub const MAX_DECOMPRESSED: usize = 256 << 20;

const SAMPLE: usize = 64 * 1024;

/// Compress `data` per `mode`. Returns the codec used and the bytes to store.
pub fn compress(data: &[u8], mode: Compression) -> (Codec, Vec<u8>) {
    let level = match mode {
        Compression::Off => return (Codec::Raw, data.to_vec()),
        Compression::Fast => 1,
        Compression::Auto => {
            // Probe a sample first: for incompressible data (media, archives, encrypted
            // files) this skips nearly all the work.
            if data.len() > 2 * SAMPLE {
                let probe = zstd::bulk::compress(&data[..SAMPLE], 1).unwrap_or_default();
                if probe.is_empty() || probe.len() * 100 > SAMPLE * 97 {
                    return (Codec::Raw, data.to_vec());
                }
            }
            3
        }
        Compression::Max => 19,
    };
    match zstd::bulk::compress(data, level) {
        Ok(c) if c.len() * 100 <= data.len() * 98 || mode != Compression::Auto => (Codec::Zstd, c),
        _ => (Codec::Raw, data.to_vec()),
    }
}

/// Decompress a blob; `raw_len` is the expected plaintext length from the index.
pub fn decompress(
    codec: Codec,
    data: Vec<u8>,
    raw_len: usize,
    what: &dyn Fn() -> String,
) -> Result<Vec<u8>> {
    let out = match codec {
        Codec::Raw => data,
        Codec::Zstd => {
            if raw_len > MAX_DECOMPRESSED {
                return Err(Error::corrupt(what(), "declared size too large"));
            }
            zstd::bulk::decompress(&data, raw_len)
                .map_err(|e| Error::corrupt(what(), format!("zstd: {e}")))?
        }
    };
    if out.len() != raw_len {
        return Err(Error::corrupt(
            what(),
            format!("length {} differs from the index's {}", out.len(), raw_len),
        ));
    }
    Ok(out)
}

/// Decompress a payload whose size is not known in advance (sealed objects), bounded by
/// [`MAX_DECOMPRESSED`].
pub fn decompress_unknown(data: &[u8], what: &dyn Fn() -> String) -> Result<Vec<u8>> {
    use std::io::Read;
    let dec = zstd::stream::read::Decoder::new(data)
        .map_err(|e| Error::corrupt(what(), format!("zstd: {e}")))?;
    let mut out = Vec::new();
    dec.take(MAX_DECOMPRESSED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::corrupt(what(), format!("zstd: {e}")))?;
    if out.len() > MAX_DECOMPRESSED {
        return Err(Error::corrupt(what(), "decompresses beyond the size limit"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let text = b"hello world ".repeat(20000);
        let w = || "t".to_string();
        for m in [Compression::Auto, Compression::Fast, Compression::Max] {
            let (c, z) = compress(&text, m);
            assert_eq!(c, Codec::Zstd);
            assert!(z.len() < text.len() / 10);
            assert_eq!(decompress(c, z, text.len(), &w).unwrap(), text);
        }
        let (c, _) = compress(&text, Compression::Off);
        assert_eq!(c, Codec::Raw);
        let mut random = vec![0u8; 300_000];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut random);
        assert_eq!(compress(&random, Compression::Auto).0, Codec::Raw);
        assert!(decompress(Codec::Zstd, b"junk".to_vec(), 10, &w).is_err());
    }
}
