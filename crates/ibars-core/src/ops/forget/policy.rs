//! The retention policy: which snapshots `forget` keeps, and why. A pure function of the
//! snapshots, the policy and a time zone, so that it can be tested by properties.
//!
//! As in restic: within each group, snapshots are taken newest first. `keep-last N` keeps the
//! N newest. `keep-hourly N` (and daily, weekly, monthly, yearly) keeps the newest snapshot of
//! each of the N newest hours (days, ISO weeks, months, years) that have one. `keep-within D`
//! keeps every snapshot no older than D before the group's newest. `keep-tag T` keeps every
//! snapshot carrying T. Beyond restic, the newest snapshot of every group and every protected
//! snapshot are always kept, whatever the policy says.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::id::SnapshotId;
use crate::snapshot::Snapshot;
use crate::tree::Bytes;

/// How many of each to keep. `None` means the rule is not set; `Some(u32::MAX)` is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
    pub within: Option<SignedDuration>,
    pub tags: Vec<String>,
}

impl Policy {
    /// Whether no rule is set (forgetting with it would keep only the newest of each group,
    /// which is never what was meant; callers refuse it).
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }
}

/// Which snapshot fields make up a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The values a group is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct GroupKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<Bytes>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// Why a snapshot is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
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

/// The verdict on one snapshot: kept when `reasons` is not empty.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub id: SnapshotId,
    pub time: Timestamp,
    pub reasons: Vec<Reason>,
}

impl Decision {
    pub fn keep(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// One group's verdicts, newest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GroupPlan {
    pub key: GroupKey,
    pub decisions: Vec<Decision>,
}

/// The key of `s` under `by`.
pub fn group_key(s: &Snapshot, by: GroupBy) -> GroupKey {
    GroupKey {
        host: by.host.then(|| s.host.clone()),
        paths: by.paths.then(|| {
            let mut p = s.paths.clone();
            p.sort();
            p
        }),
        tags: by.tags.then(|| {
            let mut t = s.tags.clone();
            t.sort();
            t.dedup();
            t
        }),
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

/// Apply `policy` to `snaps`, grouped by `by`, with calendar buckets in `tz`. Groups come in
/// key order; within a group, snapshots come newest first (ties broken by id).
pub fn apply(
    snaps: &[(SnapshotId, Snapshot)],
    policy: &Policy,
    by: GroupBy,
    tz: &TimeZone,
) -> Vec<GroupPlan> {
    let mut groups: BTreeMap<GroupKey, Vec<&(SnapshotId, Snapshot)>> = BTreeMap::new();
    for s in snaps {
        groups.entry(group_key(&s.1, by)).or_default().push(s);
    }
    groups
        .into_iter()
        .map(|(key, mut members)| {
            members.sort_by(|a, b| b.1.time.cmp(&a.1.time).then(b.0.cmp(&a.0)));
            GroupPlan {
                key,
                decisions: decide(&members, policy, tz),
            }
        })
        .collect()
}

fn decide(members: &[&(SnapshotId, Snapshot)], policy: &Policy, tz: &TimeZone) -> Vec<Decision> {
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
    let newest_time = members.first().map(|m| m.1.time);
    let oldest_within = match (newest_time, policy.within) {
        (Some(t), Some(d)) => t.checked_sub(d).ok(),
        _ => None,
    };
    let mut out = Vec::with_capacity(members.len());
    for (i, (id, s)) in members.iter().map(|m| (&m.0, &m.1)).enumerate() {
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
        if s.protected.is_some() {
            reasons.push(Reason::Protected);
        }
        if i == 0 {
            reasons.push(Reason::Newest);
        }
        out.push(Decision {
            id: *id,
            time: s.time,
            reasons,
        });
    }
    out
}
