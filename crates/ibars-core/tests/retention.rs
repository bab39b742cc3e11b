//! Properties of the retention policy (`forget`).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use ibars_core::id::{BlobId, SnapshotId};
use ibars_core::ops::forget::policy::{apply, GroupBy, Policy, Reason};
use ibars_core::snapshot::{Protection, Snapshot};
use ibars_core::tree::Bytes;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

fn snap(secs: i64, host: u8, path: u8, tags: u8, protected: bool) -> Snapshot {
    let time = Timestamp::from_second(1_700_000_000 + secs).unwrap();
    Snapshot {
        version: 1,
        time,
        host: format!("host{host}"),
        username: "u".into(),
        uid: 0,
        gid: 0,
        tags: (0..2)
            .filter(|b| tags & (1 << b) != 0)
            .map(|b| format!("t{b}"))
            .collect(),
        paths: vec![Bytes(format!("/p{path}").into_bytes())],
        tree: BlobId([0; 32]),
        parent: None,
        backup_type: Default::default(),
        program_version: "test".into(),
        excludes: vec![],
        summary: Default::default(),
        original: None,
        protected: protected.then(|| Protection {
            time,
            reason: "test".into(),
        }),
        anomaly: None,
    }
}

fn snapshots() -> impl Strategy<Value = Vec<(SnapshotId, Snapshot)>> {
    // Up to three years of snapshots, some close together so that buckets hold several.
    prop::collection::vec(
        (
            0i64..3 * 365 * 86_400,
            0u8..2,
            0u8..2,
            0u8..4,
            prop::bool::weighted(0.1),
        ),
        1..60,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (t, h, p, tags, prot))| {
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&(i as u64).to_le_bytes());
                (SnapshotId(id), snap(t, h, p, tags, prot))
            })
            .collect()
    })
}

fn count() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![Just(None), (0u32..6).prop_map(Some), Just(Some(u32::MAX))]
}

fn policies() -> impl Strategy<Value = Policy> {
    (
        (count(), count(), count(), count(), count(), count()),
        prop::option::of(0i64..400),
        0u8..4,
    )
        .prop_map(|((last, h, d, w, m, y), within, tags)| Policy {
            last,
            hourly: h,
            daily: d,
            weekly: w,
            monthly: m,
            yearly: y,
            within: within.map(|days| SignedDuration::from_hours(24 * days)),
            tags: (0..2)
                .filter(|b| tags & (1 << b) != 0)
                .map(|b| format!("t{b}"))
                .collect(),
        })
}

fn group_bys() -> impl Strategy<Value = GroupBy> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(host, paths, tags)| GroupBy {
        host,
        paths,
        tags,
    })
}

fn day(t: Timestamp) -> jiff::civil::Date {
    t.to_zoned(TimeZone::UTC).date()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn retention_properties(snaps in snapshots(), policy in policies(), by in group_bys()) {
        let tz = TimeZone::UTC;
        let plan = apply(&snaps, &policy, by, &tz);
        let by_id: BTreeMap<_, _> = snaps.iter().map(|(i, s)| (*i, s)).collect();

        // Every snapshot gets exactly one decision.
        let decided: Vec<_> = plan.iter().flat_map(|g| &g.decisions).map(|d| d.id).collect();
        prop_assert_eq!(decided.len(), snaps.len());
        prop_assert_eq!(decided.iter().collect::<HashSet<_>>().len(), snaps.len());

        for g in &plan {
            let ds = &g.decisions;
            // Newest first, and the newest of the group is always kept.
            prop_assert!(ds.windows(2).all(|w| w[0].time >= w[1].time));
            prop_assert!(ds[0].keep());
            for (i, d) in ds.iter().enumerate() {
                let s = by_id[&d.id];
                // Protected and tagged snapshots are kept.
                if s.protected.is_some() {
                    prop_assert!(d.reasons.contains(&Reason::Protected));
                }
                if s.tags.iter().any(|t| policy.tags.contains(t)) {
                    prop_assert!(d.keep());
                }
                // keep-last N keeps exactly the N newest.
                let n = policy.last.unwrap_or(0) as usize;
                prop_assert_eq!(d.reasons.contains(&Reason::Last), i < n);
                // A snapshot kept by keep-daily is the last one of its day in its group.
                if d.reasons.contains(&Reason::Daily) {
                    prop_assert!(ds[..i].iter().all(|o| day(o.time) != day(d.time)));
                }
                if d.reasons.contains(&Reason::Within) {
                    let w = policy.within.unwrap();
                    prop_assert!(ds[0].time.duration_since(d.time) <= w);
                }
            }
            // keep-daily N keeps one snapshot on each of the N newest days that have one.
            if let Some(n) = policy.daily {
                let days: BTreeSet<_> = ds.iter().map(|d| day(d.time)).collect();
                let kept = ds.iter().filter(|d| d.reasons.contains(&Reason::Daily)).count();
                prop_assert_eq!(kept, days.len().min(n as usize));
            }
        }

        // Idempotent: applying the policy to what it kept keeps all of it.
        let kept: Vec<_> = plan
            .iter()
            .flat_map(|g| &g.decisions)
            .filter(|d| d.keep())
            .map(|d| (d.id, by_id[&d.id].clone()))
            .collect();
        let again = apply(&kept, &policy, by, &tz);
        prop_assert!(again.iter().flat_map(|g| &g.decisions).all(|d| d.keep()));
    }
}

#[test]
fn keep_daily_example() {
    // Three snapshots on day 0, two on day 1, one on day 3: keep-daily 2 keeps the last of
    // days 3 and 1; the newest is kept anyway.
    let times = [0, 3600, 7200, 86_400 + 10, 86_400 + 20, 3 * 86_400];
    let snaps: Vec<_> = times
        .iter()
        .enumerate()
        .map(|(i, t)| (SnapshotId([i as u8; 32]), snap(*t, 0, 0, 0, false)))
        .collect();
    let policy = Policy {
        daily: Some(2),
        ..Default::default()
    };
    let plan = apply(&snaps, &policy, GroupBy::default(), &TimeZone::UTC);
    assert_eq!(plan.len(), 1);
    let kept: Vec<u8> = plan[0]
        .decisions
        .iter()
        .filter(|d| d.keep())
        .map(|d| d.id.0[0])
        .collect();
    assert_eq!(kept, vec![5, 4]);
}
