//! Units people type: byte sizes and rates.

/// Parse a byte size such as `2G`, `500MiB` or `1000`.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then_some((n * mult as f64) as u64)
}

/// Parse a transfer rate in bytes per second: a size with a unit per second (`10MiB`, `500k`,
/// `/s` may follow), or a bare number of KiB/s, as restic's `--limit-upload` takes. Zero and
/// garbage are `None`.
pub fn parse_rate(s: &str) -> Option<u64> {
    let t = s.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    let n = if t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse::<u64>().ok()?.checked_mul(1024)?
    } else {
        parse_size(t)?
    };
    (n > 0).then_some(n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates() {
        assert_eq!(super::parse_rate("10MiB"), Some(10 << 20));
        assert_eq!(super::parse_rate("10MiB/s"), Some(10 << 20));
        assert_eq!(
            super::parse_rate("500"),
            Some(500 * 1024),
            "KiB/s, as restic"
        );
        assert_eq!(super::parse_rate("0"), None);
        assert_eq!(super::parse_rate("fast"), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("16MiB"), Some(16 << 20));
        assert_eq!(super::parse_size("1.5k"), Some(1536));
        assert_eq!(super::parse_size("12 parsecs"), None);
    }
}
