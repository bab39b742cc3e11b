//! Byte statistics on small windows of content: is it text, does it look random.

/// Bytes in a sampled window of new content.
pub const WINDOW: usize = 2048;
/// One window is sampled per this many bytes of new content.
pub const STRIDE: usize = 64 << 10;
/// The head of a file that is classified.
pub const HEAD: usize = 2048;

/// Pearson's chi-square statistic of the byte histogram of `data` against the uniform
/// distribution (255 degrees of freedom). Uniform random bytes give 255 ± 22.6 whatever the
/// length; text and most structured data give thousands.
pub fn chi_square(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    // Four tables break the dependency chain of repeated bytes.
    let mut h = [[0u32; 256]; 4];
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        h[0][c[0] as usize] += 1;
        h[1][c[1] as usize] += 1;
        h[2][c[2] as usize] += 1;
        h[3][c[3] as usize] += 1;
    }
    for &b in chunks.remainder() {
        h[0][b as usize] += 1;
    }
    let expected = data.len() as f64 / 256.0;
    (0..256)
        .map(|i| {
            let o = (h[0][i] + h[1][i] + h[2][i] + h[3][i]) as f64;
            (o - expected) * (o - expected) / expected
        })
        .sum()
}

/// The chi-square bound below which a window is called random: the mean plus 3.5 standard
/// deviations of the statistic for uniform bytes (one window of random data in about 4,000
/// fails it).
pub const RANDOM_BELOW: f64 = 255.0 + 3.5 * 22.58;

/// Below this many bytes the chi-square test says little; distinct byte counts decide.
const SMALL: usize = 256;

/// Whether `data` looks like uniformly random bytes (ciphertext, or compressed data without
/// its header).
pub fn looks_random(data: &[u8]) -> bool {
    if data.len() >= SMALL {
        return chi_square(data) <= RANDOM_BELOW;
    }
    if data.len() < 16 {
        return false;
    }
    // Short: random bytes repeat rarely. Expected distinct values for n uniform bytes:
    // 256 (1 - (255/256)^n).
    let mut seen = [false; 256];
    for &b in data {
        seen[b as usize] = true;
    }
    let distinct = seen.iter().filter(|s| **s).count() as f64;
    let expected = 256.0 * (1.0 - (255.0f64 / 256.0).powi(data.len() as i32));
    distinct >= 0.9 * expected
}

/// Whether `data` is text: valid UTF-8 (a character cut at the end allowed) with at most 1%
/// control bytes other than tab, newline, carriage return and form feed, and no NUL.
pub fn is_text(data: &[u8]) -> bool {
    let valid = match std::str::from_utf8(data) {
        Ok(_) => true,
        // Only an incomplete character at the very end.
        Err(e) => e.error_len().is_none() && data.len() - e.valid_up_to() < 4,
    };
    if !valid {
        return false;
    }
    let mut control = 0usize;
    for &b in data {
        match b {
            0 => return false,
            b'\t' | b'\n' | b'\r' | 0x0c => {}
            0x01..=0x1f | 0x7f => control += 1,
            _ => {}
        }
    }
    control * 100 <= data.len()
}

/// The windows of one stretch of new content: starts of `WINDOW`-byte windows every `STRIDE`
/// bytes, beginning at `skip` (to leave out a file's head, judged on its own). A stretch
/// shorter than a window but of at least half of one is one window.
pub fn windows(data: &[u8], skip: usize) -> impl Iterator<Item = &[u8]> {
    let short = data.len() < WINDOW && data.len() >= WINDOW / 2 && skip == 0;
    let starts = (skip..data.len().saturating_sub(WINDOW - 1)).step_by(STRIDE);
    let whole = short.then_some(data);
    starts.map(move |s| &data[s..s + WINDOW]).chain(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes from a fixed-seed xorshift, which passes the chi-square test.
    fn random(n: usize, mut x: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn chi_square_on_known_inputs() {
        // Every byte value equally often: 0.
        let flat: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        assert_eq!(chi_square(&flat), 0.0);
        // One value only: (n - n/256)^2/(n/256) + 255 * n/256 = 255 n.
        assert!((chi_square(&[7u8; 1024]) - 255.0 * 1024.0).abs() < 1e-6);
        // Random bytes sit near 255 degrees of freedom.
        for seed in 1..20 {
            let c = chi_square(&random(WINDOW, seed));
            assert!((150.0..RANDOM_BELOW).contains(&c), "seed {seed}: {c}");
        }
        let text = b"The quick brown fox jumps over the lazy dog. ".repeat(50);
        assert!(chi_square(&text) > 10_000.0);
    }

    #[test]
    fn randomness_and_text() {
        assert!(looks_random(&random(WINDOW, 3)));
        assert!(looks_random(&random(100, 3)));
        assert!(!looks_random(&[0u8; 100]));
        assert!(!looks_random(
            b"The quick brown fox jumps over the lazy dog again and again"
        ));
        assert!(!looks_random(&b"abcd".repeat(1000)));
        assert!(is_text(
            "plain ASCII\nand UTF-8: grüße, 日本語\n".as_bytes()
        ));
        // A character cut by the window's end is still text.
        let s = "€".repeat(10);
        assert!(is_text(&s.as_bytes()[..s.len() - 1]));
        assert!(!is_text(b"nul\0byte"));
        assert!(!is_text(&random(WINDOW, 5)));
        assert!(!is_text(&[0x01u8; 64]));
    }

    #[test]
    fn windows_cover_the_stretch() {
        let d = vec![0u8; 3 * STRIDE];
        let starts: Vec<usize> = windows(&d, 0)
            .map(|w| w.as_ptr() as usize - d.as_ptr() as usize)
            .collect();
        assert_eq!(starts, [0, STRIDE, 2 * STRIDE]);
        assert_eq!(windows(&d, HEAD).count(), 3);
        assert_eq!(windows(&d[..WINDOW - 1], 0).count(), 1);
        assert_eq!(windows(&d[..100], 0).count(), 0);
        assert!(windows(&d[..WINDOW], 0).all(|w| w.len() == WINDOW));
    }
}
