//! Content-defined chunking: FastCDC (2020) with a per-repository seeded gear table.

use std::io::Read;

use fastcdc::v2020::{self, FastCDC, Normalization, StreamCDC};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Streams readers through FastCDC with one buffer reused across files: no allocation or
/// zeroing per file, and each chunk is handed out as a slice of the buffer.
pub struct StreamChunker {
    params: ChunkerParams,
    buf: Vec<u8>,
}

impl StreamChunker {
    pub fn new(params: ChunkerParams) -> Self {
        Self {
            params,
            buf: vec![0u8; params.max_size as usize + (1 << 20)],
        }
    }

    /// Cut everything `src` yields into chunks and pass each to `emit`, in order. Returns the
    /// bytes read. `what` names the source in read errors.
    pub fn run<R: Read>(
        &mut self,
        mut src: R,
        what: &std::path::Path,
        mut emit: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<u64> {
        let p = self.params;
        let max = p.max_size as usize;
        let (mut start, mut end, mut eof, mut total) = (0usize, 0usize, false, 0u64);
        loop {
            if !eof && end - start < max {
                self.buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
                while end < self.buf.len() {
                    match src.read(&mut self.buf[end..]) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(n) => {
                            end += n;
                            total += n as u64;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(Error::io(what, e)),
                    }
                }
            }
            if start == end {
                return Ok(total);
            }
            let window = &self.buf[start..end];
            let cdc = FastCDC::with_level_and_seed(
                window,
                p.min_size,
                p.avg_size,
                p.max_size,
                Normalization::Level1,
                p.seed,
            );
            let mut consumed = 0;
            for c in cdc {
                // A cut at the window's end may only be the end of what was read so far,
                // unless the input ended or the chunk has the maximum size anyway.
                if c.offset + c.length == window.len() && !eof && c.length < max {
                    break;
                }
                emit(&window[c.offset..c.offset + c.length])?;
                consumed = c.offset + c.length;
            }
            start += consumed;
        }
    }
}

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

    /// Chunks of `source`, streamed by fastcdc itself (a buffer per call); see
    /// [`StreamChunker`] for the reusable one.
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
        // The reusable streamer cuts exactly where fastcdc's own streamer does, whatever
        // the read sizes.
        let expected: Vec<Vec<u8>> = p.chunks(&data[..]).map(|c| c.unwrap().data).collect();
        let mut sc = StreamChunker::new(p);
        for step in [1usize, 7, 4096, 100_000] {
            let mut got = Vec::new();
            let reader = Trickle {
                data: &data,
                pos: 0,
                step,
            };
            let n = sc.run(reader, std::path::Path::new("t"), |c| {
                got.push(c.to_vec());
                Ok(())
            });
            assert_eq!(n.unwrap(), data.len() as u64);
            assert_eq!(got, expected, "step {step}");
        }
    }

    /// A reader that returns at most `step` bytes per call.
    struct Trickle<'a> {
        data: &'a [u8],
        pos: usize,
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }
}
