//! Formatting helpers: sizes, durations, times.

/// Parse `16MiB`, `1M`, `2G`, `4096`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    ibars_core::units::parse_size(s).ok_or_else(|| format!("not a size: '{s}'"))
}

/// Parse a rate in bytes per second (see [`ibars_core::units::parse_rate`]).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    ibars_core::units::parse_rate(s)
        .ok_or_else(|| format!("not a rate: '{s}' (use a size per second such as 10MiB, or KiB/s)"))
}

/// Parse a duration such as `30d`, `2h30m`, `1y 6mo` or `90s` (jiff's friendly format;
/// months and years count from now).
pub fn parse_duration(s: &str) -> Result<jiff::SignedDuration, String> {
    let span: jiff::Span = s
        .trim()
        .parse()
        .map_err(|e| format!("not a duration: '{s}' ({e})"))?;
    let d = span
        .to_duration(&jiff::Zoned::now())
        .map_err(|e| format!("duration '{s}': {e}"))?;
    if d.is_negative() {
        return Err(format!("negative duration: '{s}'"));
    }
    Ok(d)
}

/// Parse a point in time: `2026-11-03 02:00:00` or `2026-11-03T02:00` in the local time
/// zone, or RFC 3339 with an offset (`2026-11-03T02:00:00Z`).
pub fn parse_time(s: &str) -> Result<jiff::Timestamp, String> {
    let s = s.trim();
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let civil: jiff::civil::DateTime = s
        .replacen(' ', "T", 1)
        .parse()
        .map_err(|e| format!("not a time: '{s}' ({e}); use e.g. \"2026-11-03 02:00:00\""))?;
    civil
        .to_zoned(jiff::tz::TimeZone::system())
        .map(|z| z.timestamp())
        .map_err(|e| format!("time '{s}': {e}"))
}

/// `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

/// `1:02:03` or `2.35s`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if s < 60 {
        format!("{:.2}s", ms as f64 / 1000.0)
    } else if s < 3600 {
        format!("{}:{:02}", s / 60, s % 60)
    } else {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    }
}

/// A timestamp in the local time zone, to the second.
pub fn local_time(t: jiff::Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12 parsecs").is_err());
        assert_eq!(bytes(1536), "1.50 KiB");
        assert_eq!(duration(61_000), "1:01");
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("2h30m").unwrap().as_secs(), 9000);
        assert_eq!(parse_duration("30d").unwrap().as_secs(), 30 * 86_400);
        assert!(parse_duration("soon").is_err());
    }
}
