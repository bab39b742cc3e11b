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

impl Compression {
    /// The mode for blobs of `kind` in a repository set to `self`: trees are small and
    /// always compress well, so they use `auto` unless compression is off altogether.
    pub fn for_kind(self, kind: crate::pack::BlobKind) -> Compression {
        match (kind, self) {
            (crate::pack::BlobKind::Tree, Compression::Off) => Compression::Off,
            (crate::pack::BlobKind::Tree, _) => Compression::Auto,
            (crate::pack::BlobKind::Data, mode) => mode,
        }
    }
}

/// Largest plaintext a blob or sealed object may decompress to; guards against zip bombs.
pub const MAX_DECOMPRESSED: usize = 256 << 20;

const SAMPLE: usize = 64 * 1024;

/// Compress `data` per `mode`: `Some(compressed)` to store with codec zstd, `None` to store
/// the data as it is (mode off, or compression did not pay). For many blobs, reuse a
/// [`Compressor`] instead.
pub fn compress(data: &[u8], mode: Compression) -> Option<Vec<u8>> {
    Compressor::new(mode).compress(data).map(<[u8]>::to_vec)
}

/// Reusable compression state for one thread: zstd contexts and output buffers, so that the
/// hot path allocates nothing per blob.
pub struct Compressor {
    mode: Compression,
    probe: zstd::bulk::Compressor<'static>,
    main: zstd::bulk::Compressor<'static>,
    scratch: Vec<u8>,
    out: Vec<u8>,
}

impl Compressor {
    /// One compressor per blob kind (data, tree), indexed by `BlobKind as usize`, for a
    /// repository or backup in `mode`; see [`Compression::for_kind`].
    pub fn per_kind(mode: Compression) -> [Compressor; 2] {
        use crate::pack::BlobKind;
        [BlobKind::Data, BlobKind::Tree].map(|kind| Compressor::new(mode.for_kind(kind)))
    }

    pub fn new(mode: Compression) -> Self {
        let level = match mode {
            Compression::Fast => 1,
            Compression::Max => 19,
            _ => 3,
        };
        Self {
            mode,
            probe: zstd::bulk::Compressor::new(1).expect("zstd level 1"),
            main: zstd::bulk::Compressor::new(level).expect("zstd level"),
            scratch: Vec::new(),
            out: Vec::new(),
        }
    }

    /// As [`compress`]: `Some(compressed)` to store with codec zstd, `None` to store raw.
    pub fn compress(&mut self, data: &[u8]) -> Option<&[u8]> {
        if self.mode == Compression::Off {
            return None;
        }
        if self.mode == Compression::Auto && data.len() > 2 * SAMPLE {
            self.scratch.clear();
            self.scratch
                .reserve(zstd::zstd_safe::compress_bound(SAMPLE));
            match self
                .probe
                .compress_to_buffer(&data[..SAMPLE], &mut self.scratch)
            {
                Ok(n) if n * 100 <= SAMPLE * 97 => {}
                _ => return None,
            }
        }
        self.out.clear();
        self.out
            .reserve(zstd::zstd_safe::compress_bound(data.len()));
        let n = self.main.compress_to_buffer(data, &mut self.out).ok()?;
        if self.mode == Compression::Auto && n * 100 > data.len() * 98 {
            return None;
        }
        Some(&self.out)
    }
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
        for m in [Compression::Auto, Compression::Fast, Compression::Max] {
            let z = compress(&text, m).unwrap();
            assert!(z.len() < text.len() / 10);
            assert_eq!(zstd::bulk::decompress(&z, text.len()).unwrap(), text);
        }
        assert!(compress(&text, Compression::Off).is_none());
        let mut random = vec![0u8; 300_000];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut random);
        assert!(compress(&random, Compression::Auto).is_none());
        let mut c = Compressor::new(Compression::Auto);
        assert!(c.compress(&random).is_none());
        let z = c.compress(&text).unwrap().to_vec();
        assert_eq!(zstd::bulk::decompress(&z, text.len()).unwrap(), text);
        assert!(Compressor::new(Compression::Off).compress(&text).is_none());
    }
}
