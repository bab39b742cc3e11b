//! Content-defined chunking: FastCDC (2020) with a per-repository seeded gear table.

use std::io::Read;

use fastcdc::v2020::{self, Normalization, StreamCDC};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Chunker parameters, fixed in the repository config at init.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    pub algorithm: ChunkerAlgorithm,
    pub min_size: u32,
    pub avg_size: u32,
    pub max_size: u32,
    /// XORed into the gear table so that boundaries differ per repository.
    pub seed: u64,
}

/// The only algorithm so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkerAlgorithm {
    #[serde(rename = "fastcdc-v2020")]
    FastCdc2020,
}

impl ChunkerParams {
    /// Parameters for an average chunk size (a power of two from 1 KiB to 4 MiB); min is a
    /// quarter of it and max four times it, as FastCDC's authors suggest.
    pub fn with_avg(avg_size: u32, seed: u64) -> Result<Self> {
        let p = Self {
            algorithm: ChunkerAlgorithm::FastCdc2020,
            min_size: avg_size / 4,
            avg_size,
            max_size: avg_size.saturating_mul(4),
            seed,
        };
        p.validate()?;
        Ok(p)
    }

    /// Check bounds; a config from disk is untrusted and the chunker asserts on them.
    pub fn validate(&self) -> Result<()> {
        let ok = (1024..=v2020::AVERAGE_MAX).contains(&self.avg_size)
            && self.avg_size.is_power_of_two()
            && (v2020::MINIMUM_MIN..=v2020::MINIMUM_MAX).contains(&self.min_size)
            && (v2020::MAXIMUM_MIN..=v2020::MAXIMUM_MAX).contains(&self.max_size)
            && self.min_size <= self.avg_size
            && self.avg_size <= self.max_size;
        if ok {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "invalid chunker parameters: min {} avg {} max {} (avg must be a power of two from 1 KiB to 4 MiB)",
                self.min_size, self.avg_size, self.max_size
            )))
        }
    }

    /// Chunks of `source`, streamed; memory stays at about `max_size`.
    pub fn chunks<R: Read>(&self, source: R) -> StreamCDC<R> {
        StreamCDC::with_level_and_seed(
            source,
            self.min_size,
            self.avg_size,
            self.max_size,
            Normalization::Level1,
            self.seed,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_input_and_respect_bounds() {
        let p = ChunkerParams::with_avg(4096, 42).unwrap();
        let mut data = vec![0u8; 200_000];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut data);
        let mut joined = Vec::new();
        for c in p.chunks(&data[..]) {
            let c = c.unwrap();
            assert!(c.length <= 16384);
            joined.extend_from_slice(&c.data);
        }
        assert_eq!(joined, data);
        assert!(ChunkerParams::with_avg(3000, 0).is_err());
    }
}
