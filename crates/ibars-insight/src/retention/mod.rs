//! Retention: the policy `forget` applies (which snapshots it keeps, and why), and the growth
//! model that forecasts a repository's size under it ([`growth`]). The rules are a pure
//! function of the snapshots' times, tags and protection, the policy and a time zone, so that
//! `forget` (in ibars-core) and the forecast apply the same ones.
//!
//! As in restic: within each group, snapshots are taken newest first. `keep-last N` keeps the
//! N newest. `keep-hourly N` (and daily, weekly, monthly, yearly) keeps the newest snapshot of
//! each of the N newest hours (days, ISO weeks, months, years) that have one. `keep-within D`
//! keeps every snapshot no older than D before the group's newest. `keep-tag T` keeps every
//! snapshot carrying T. Beyond restic, the newest snapshot of every group and every protected
//! snapshot are always kept, whatever the policy says.

pub mod growth;
#[cfg(test)]
mod tests;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// How many of each to keep. `None` means the rule is not set; `Some(u32::MAX)` is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yearly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<SignedDuration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl Policy {
    /// Whether no rule is set (forgetting with it would keep only the newest of each group,
    /// which is never what was meant; callers refuse it).
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }

    /// The policy as `forget`'s options, each flag and its value: `--keep-daily`, `14`.
    /// `--keep-within` is given in seconds.
    pub fn args(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, n) in [
            ("last", self.last),
            ("hourly", self.hourly),
            ("daily", self.daily),
            ("weekly", self.weekly),
            ("monthly", self.monthly),
            ("yearly", self.yearly),
        ] {
            if let Some(n) = n {
                out.extend([format!("--keep-{name}"), n.to_string()]);
            }
        }
        if let Some(d) = self.within {
            out.extend(["--keep-within".into(), format!("{}s", d.as_secs())]);
        }
        for t in &self.tags {
            out.extend(["--keep-tag".into(), t.clone()]);
        }
        out
    }
}

/// The policy as `forget` options: `--keep-daily 14 --keep-weekly 8`.
impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.args().join(" "))
    }
}

/// Which snapshot fields make up a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupBy {
    pub host: bool,
    pub paths: bool,
    pub tags: bool,
}

impl Default for GroupBy {
    fn default() -> Self {
        Self {
            host: true,
            paths: true,
            tags: false,
        }
    }
}

impl std::str::FromStr for GroupBy {
    type Err = String;
    /// A comma-separated subset of `host`, `paths`, `tags`; empty for one group of all.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut g = GroupBy {
            host: false,
            paths: false,
            tags: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "host" => g.host = true,
                "paths" | "path" => g.paths = true,
                "tags" | "tag" => g.tags = true,
                other => {
                    return Err(format!(
                        "unknown group field {other:?}: use host, paths, tags"
                    ))
                }
            }
        }
        Ok(g)
    }
}

/// Why a snapshot is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
    Within,
    Tag,
    Protected,
    /// The newest of its group, which is always kept.
    Newest,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Reason::Last => "last",
            Reason::Hourly => "hourly",
            Reason::Daily => "daily",
            Reason::Weekly => "weekly",
            Reason::Monthly => "monthly",
            Reason::Yearly => "yearly",
            Reason::Within => "within",
            Reason::Tag => "tag",
            Reason::Protected => "protected",
            Reason::Newest => "newest",
        };
        f.write_str(s)
    }
}

/// A calendar bucket: (year, month or ISO week, day, hour), zero where the rule is coarser.
type Bucket = (i32, i32, i32, i32);

/// The calendar bucket of a time for a bucket rule: snapshots in the same bucket compete.
fn bucket(reason: Reason, t: Timestamp, tz: &TimeZone) -> Bucket {
    let z = t.to_zoned(tz.clone());
    let (y, m, d, h) = (
        i32::from(z.year()),
        i32::from(z.month()),
        i32::from(z.day()),
        i32::from(z.hour()),
    );
    match reason {
        Reason::Hourly => (y, m, d, h),
        Reason::Daily => (y, m, d, 0),
        Reason::Weekly => {
            let w = z.date().iso_week_date();
            (i32::from(w.year()), i32::from(w.week()), 0, 0)
        }
        Reason::Monthly => (y, m, 0, 0),
        _ => (y, 0, 0, 0),
    }
}

/// What the rules look at in a snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub time: Timestamp,
    pub tags: &'a [String],
    pub protected: bool,
}

/// Why each member of one group is kept (empty: removed). `members` come newest first.
pub fn decide(members: &[Member<'_>], policy: &Policy, tz: &TimeZone) -> Vec<Vec<Reason>> {
    let bucket_rules = [
        (Reason::Hourly, policy.hourly),
        (Reason::Daily, policy.daily),
        (Reason::Weekly, policy.weekly),
        (Reason::Monthly, policy.monthly),
        (Reason::Yearly, policy.yearly),
    ];
    // Each rule: how many more it may keep, and the bucket of the last one it kept.
    let mut left: Vec<(Reason, u32, Option<Bucket>)> = bucket_rules
        .iter()
        .filter_map(|&(r, n)| n.map(|n| (r, n, None)))
        .collect();
    let mut last_left = policy.last.unwrap_or(0);
    let newest_time = members.first().map(|m| m.time);
    let oldest_within = match (newest_time, policy.within) {
        (Some(t), Some(d)) => t.checked_sub(d).ok(),
        _ => None,
    };
    let mut out = Vec::with_capacity(members.len());
    for (i, s) in members.iter().enumerate() {
        let mut reasons = Vec::new();
        if last_left > 0 {
            reasons.push(Reason::Last);
            last_left -= 1;
        }
        for (reason, n, prev) in left.iter_mut() {
            let b = bucket(*reason, s.time, tz);
            if *n > 0 && *prev != Some(b) {
                reasons.push(*reason);
                *prev = Some(b);
                *n -= 1;
            }
        }
        // An overflowing `within` (years beyond the calendar) keeps everything.
        if policy.within.is_some() && oldest_within.is_none_or(|o| s.time >= o) {
            reasons.push(Reason::Within);
        }
        if s.tags.iter().any(|t| policy.tags.contains(t)) {
            reasons.push(Reason::Tag);
        }
        if s.protected {
            reasons.push(Reason::Protected);
        }
        if i == 0 {
            reasons.push(Reason::Newest);
        }
        out.push(reasons);
    }
    out
}

/// Which of one group's snapshot `times` (any order, untagged, unprotected) `policy` keeps,
/// in the order given.
pub fn keeps(times: &[Timestamp], policy: &Policy, tz: &TimeZone) -> Vec<bool> {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|a, b| times[*b].cmp(&times[*a]).then(b.cmp(a)));
    let members: Vec<Member<'_>> = order
        .iter()
        .map(|&i| Member {
            time: times[i],
            tags: &[],
            protected: false,
        })
        .collect();
    let mut out = vec![false; times.len()];
    for (i, reasons) in order.iter().zip(decide(&members, policy, tz)) {
        out[*i] = !reasons.is_empty();
    }
    out
}
