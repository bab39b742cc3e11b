//! The retention policy as `forget` applies it to snapshots: groups, and each snapshot's
//! verdict. The rules themselves are pure and live in `ibars_insight::retention` (so the
//! storage forecast applies the same ones); their order and meaning are described there.

use std::collections::BTreeMap;

use ibars_insight::retention::{self, Member};
pub use ibars_insight::retention::{GroupBy, Policy, Reason};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::id::SnapshotId;
use crate::snapshot::Snapshot;
use crate::tree::Bytes;

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
    let view: Vec<Member<'_>> = members
        .iter()
        .map(|(_, s)| Member {
            time: s.time,
            tags: &s.tags,
            protected: s.protected.is_some(),
        })
        .collect();
    members
        .iter()
        .zip(retention::decide(&view, policy, tz))
        .map(|((id, s), reasons)| Decision {
            id: *id,
            time: s.time,
            reasons,
        })
        .collect()
}
