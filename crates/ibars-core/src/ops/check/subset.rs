//! Which packs `check --read-data-subset` reads.

use std::time::Duration;

use rand::seq::SliceRandom;

use super::scrub::ScrubState;
use crate::error::{Error, Result};
use crate::id::PackId;
use crate::units::parse_size;

/// A share of the packs to read.
#[derive(Debug, Clone, PartialEq)]
pub enum Subset {
    /// Every pack.
    All,
    /// Part `n` of `m` (1-based): the packs whose id, as a number, is `n - 1` modulo `m`.
    /// Parts 1..=m cover every pack exactly once.
    Part { n: u32, m: u32 },
    /// A random share, in percent.
    Percent(f64),
    /// Random packs up to this many bytes.
    Size(u64),
    /// The packs verified longest ago, enough that every pack is read once per period.
    Auto { period: Duration },
}

impl std::fmt::Display for Subset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subset::All => write!(f, "all"),
            Subset::Part { n, m } => write!(f, "{n}/{m}"),
            Subset::Percent(p) => write!(f, "{p}%"),
            Subset::Size(b) => write!(f, "{b}B"),
            Subset::Auto { period } => write!(f, "auto/{}d", period.as_secs() / 86_400),
        }
    }
}

fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    (n > 0).then(|| Duration::from_secs(n * secs))
}

impl std::str::FromStr for Subset {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::Invalid(format!(
                "read-data subset '{s}': expected N/M, X%, a size such as 2G, or auto/30d"
            ))
        };
        if let Some(p) = s.strip_prefix("auto/") {
            return Ok(Subset::Auto {
                period: parse_duration(p).ok_or_else(bad)?,
            });
        }
        if let Some((n, m)) = s.split_once('/') {
            let (n, m): (u32, u32) = (n.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if m == 0 || n == 0 || n > m {
                return Err(bad());
            }
            return Ok(Subset::Part { n, m });
        }
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(bad());
            }
            return Ok(Subset::Percent(p));
        }
        match parse_size(s) {
            Some(b) if b > 0 => Ok(Subset::Size(b)),
            _ => Err(bad()),
        }
    }
}

/// The bucket of a pack for `N/M` subsets: its id's first eight bytes as a number.
fn bucket(id: &PackId, m: u32) -> u32 {
    let n = u64::from_le_bytes(id.as_bytes()[..8].try_into().expect("8 bytes"));
    (n % u64::from(m)) as u32
}

/// Choose the packs to read from `packs` (id and size). `now` is in seconds since the epoch.
pub fn select(
    subset: &Subset,
    packs: &[(PackId, u64)],
    state: &ScrubState,
    now: i64,
) -> Vec<(PackId, u64)> {
    let mut rng = rand::thread_rng();
    match subset {
        Subset::All => packs.to_vec(),
        Subset::Part { n, m } => packs
            .iter()
            .filter(|(id, _)| bucket(id, *m) == n - 1)
            .copied()
            .collect(),
        Subset::Percent(p) => {
            let want = ((packs.len() as f64) * p / 100.0).ceil() as usize;
            let mut v = packs.to_vec();
            v.shuffle(&mut rng);
            v.truncate(want);
            v
        }
        Subset::Size(limit) => {
            let mut v = packs.to_vec();
            v.shuffle(&mut rng);
            let mut total = 0u64;
            v.into_iter()
                .take_while(|(_, size)| {
                    let take = total < *limit;
                    total += size;
                    take
                })
                .collect()
        }
        Subset::Auto { period } => select_auto(packs, state, now, period.as_secs() as i64),
    }
}

/// Read every overdue pack, and at least the share of all packs that the time since the last
/// scrub is of the period, oldest-verified first (packs never verified count from when a check
/// first saw them). Run at any regular interval, every pack is read once per period.
fn select_auto(
    packs: &[(PackId, u64)],
    state: &ScrubState,
    now: i64,
    period: i64,
) -> Vec<(PackId, u64)> {
    let period = period.max(1);
    let elapsed = match state.last_auto {
        Some(t) => (now - t).clamp(0, period),
        None => period.min(86_400),
    };
    let mut keyed: Vec<(i64, (PackId, u64))> = packs
        .iter()
        .map(|p| (state.due_key(&p.0).unwrap_or(now), *p))
        .collect();
    keyed.sort_by_key(|(k, p)| (*k, p.0));
    let overdue = keyed.iter().filter(|(k, _)| now - k >= period).count();
    let share =
        ((packs.len() as i128 * elapsed as i128 + period as i128 - 1) / period as i128) as usize;
    let want = overdue.max(share).min(packs.len());
    keyed.into_iter().take(want).map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packs(n: u8) -> Vec<(PackId, u64)> {
        (0..n)
            .map(|i| (PackId::of_content(&[i]), 100 + u64::from(i)))
            .collect()
    }

    #[test]
    fn parses() {
        assert_eq!(
            "2/5".parse::<Subset>().unwrap(),
            Subset::Part { n: 2, m: 5 }
        );
        assert_eq!("10%".parse::<Subset>().unwrap(), Subset::Percent(10.0));
        assert_eq!("2G".parse::<Subset>().unwrap(), Subset::Size(2 << 30));
        assert_eq!(
            "auto/30d".parse::<Subset>().unwrap(),
            Subset::Auto {
                period: Duration::from_secs(30 * 86_400)
            }
        );
        for bad in [
            "0/3", "4/3", "1/0", "0%", "101%", "x", "auto/", "auto/3x", "",
        ] {
            assert!(bad.parse::<Subset>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parts_cover_every_pack_once() {
        let p = packs(200);
        let state = ScrubState::default();
        let mut seen: Vec<PackId> = (1..=7)
            .flat_map(|n| select(&Subset::Part { n, m: 7 }, &p, &state, 0))
            .map(|(id, _)| id)
            .collect();
        seen.sort();
        let mut all: Vec<PackId> = p.iter().map(|x| x.0).collect();
        all.sort();
        assert_eq!(seen, all);
    }

    #[test]
    fn percent_and_size() {
        let p = packs(100);
        let s = ScrubState::default();
        assert_eq!(select(&Subset::Percent(10.0), &p, &s, 0).len(), 10);
        let picked = select(&Subset::Size(1000), &p, &s, 0);
        let total: u64 = picked.iter().map(|x| x.1).sum();
        assert!(total >= 1000 && total - picked.last().unwrap().1 < 1000);
    }

    #[test]
    fn auto_reads_every_pack_within_the_period() {
        let p = packs(90);
        let mut state = ScrubState::default();
        let day = 86_400;
        let mut last_read = std::collections::HashMap::new();
        // Daily runs for 60 days with a 30-day period.
        for d in 0..60 {
            let now = 1_000_000 + d * day;
            state.observe(p.iter().map(|x| x.0), now);
            let picked = select(
                &Subset::Auto {
                    period: Duration::from_secs(30 * day as u64),
                },
                &p,
                &state,
                now,
            );
            assert!(
                picked.len() >= 3 && picked.len() <= 6,
                "day {d}: {}",
                picked.len()
            );
            for (id, _) in &picked {
                last_read.insert(*id, now);
            }
            state.mark_verified(picked.iter().map(|x| x.0), now);
            state.last_auto = Some(now);
            if d >= 30 {
                for (id, _) in &p {
                    assert!(now - last_read[id] < 30 * day, "pack unread for a period");
                }
            }
        }
    }
}
