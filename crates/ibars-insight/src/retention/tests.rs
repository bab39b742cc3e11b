use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::growth::{forecast_size, Lifecycle};
use super::*;
use crate::forecast::{forecast, Settings};
use crate::record::{BackupRun, ForgetRun, Record, RunKind};
use crate::series;

const DAY: i64 = 86_400;

fn day(d: i64) -> Timestamp {
    // 2027-01-04 is a Monday; backups run at 03:00.
    Timestamp::from_second(1_799_020_800 + d * DAY + 3 * 3600).unwrap()
}

#[test]
fn keeps_applies_the_rules_in_any_order() {
    let times: Vec<Timestamp> = (0..30).map(day).collect();
    let policy = Policy {
        daily: Some(7),
        weekly: Some(3),
        ..Policy::default()
    };
    let mut shuffled: Vec<Timestamp> = times.iter().rev().copied().collect();
    shuffled.swap(3, 17);
    let k = keeps(&times, &policy, &TimeZone::UTC);
    let kept: Vec<usize> = (0..30).filter(|&i| k[i]).collect();
    // The last 7 days (two weeks' newest among them), and the newest of the week before
    // (day 20, its Sunday).
    assert_eq!(kept, vec![20, 23, 24, 25, 26, 27, 28, 29]);
    let k2 = keeps(&shuffled, &policy, &TimeZone::UTC);
    let kept2: Vec<Timestamp> = (0..30).filter(|&i| k2[i]).map(|i| shuffled[i]).collect();
    let mut expect: Vec<Timestamp> = kept.iter().map(|&i| times[i]).collect();
    expect.reverse();
    let mut got = kept2;
    got.sort_by(|a, b| b.cmp(a));
    assert_eq!(got, expect);
    assert_eq!(
        policy.to_string(),
        "--keep-daily 7 --keep-weekly 3",
        "shown as forget's options"
    );
}

/// A source of `files` files of `size` bytes, each changed on a day with probability
/// `change`, backed up daily and forgotten and pruned under `policy` after each backup: its
/// history, and its true stored size at each day's end. Data is freed exactly when no
/// remaining snapshot holds it.
fn simulate(
    days: i64,
    policy: &Policy,
    files: usize,
    size: u64,
    change: u64,
) -> (Vec<Record>, Vec<u64>) {
    // Each version: (first snapshot day, last snapshot day that holds it).
    let mut versions: Vec<(i64, i64)> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut alive: Vec<i64> = Vec::new();
    let mut records = Vec::new();
    let mut sizes = Vec::new();
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut freed_total = 0u64;
    let held = |v: &(i64, i64), alive: &[i64]| alive.iter().any(|d| *d >= v.0 && *d <= v.1);
    for d in 0..days {
        let mut stored = 0;
        for f in 0..files {
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            if d == 0 || (rng >> 33) % 100 < change {
                versions.push((d, d));
                if d == 0 {
                    current.push(versions.len() - 1);
                } else {
                    current[f] = versions.len() - 1;
                }
                stored += size;
            }
        }
        for &v in &current {
            versions[v].1 = d;
        }
        alive.push(d);
        let mut b = Record::new(RunKind::Backup, day(d), "h");
        b.backup = Some(BackupRun {
            snapshot: format!("s{d}"),
            paths: vec!["/src".into()],
            bytes_stored: stored,
            ..BackupRun::default()
        });
        records.push(b);
        let times: Vec<Timestamp> = alive.iter().map(|&d| day(d)).collect();
        let k = keeps(&times, policy, &TimeZone::UTC);
        let removed: Vec<i64> = alive
            .iter()
            .zip(&k)
            .filter(|(_, k)| !**k)
            .map(|(d, _)| *d)
            .collect();
        let before: u64 = versions.iter().filter(|v| held(v, &alive)).count() as u64 * size;
        alive.retain(|d| !removed.contains(d));
        let after: u64 = versions.iter().filter(|v| held(v, &alive)).count() as u64 * size;
        let t = day(d) + jiff::SignedDuration::from_mins(10);
        let mut f = Record::new(RunKind::Forget, t, "h");
        f.snapshots = removed.iter().map(|d| format!("s{d}")).collect();
        f.forget = Some(ForgetRun {
            policy: policy.clone(),
            group_by: GroupBy::default(),
        });
        records.push(f);
        let mut p = Record::new(RunKind::Prune, t, "h");
        p.bytes = before - after;
        freed_total += before - after;
        records.push(p);
        sizes.push(after);
    }
    assert!(freed_total > 0);
    (records, sizes)
}

#[test]
fn the_forecast_applies_the_policy_to_the_backups_to_come() {
    // Twelve weekly snapshots are kept: the size grows for twelve weeks, then levels off.
    let policy = Policy {
        daily: Some(7),
        weekly: Some(12),
        ..Policy::default()
    };
    let (records, sizes) = simulate(120, &policy, 200, 10_000, 20);
    let c = 60usize;
    let cut = day(c as i64 - 1) + jiff::SignedDuration::from_hours(20);
    let seen: Vec<Record> = records.iter().filter(|r| r.time <= cut).cloned().collect();
    let life = Lifecycle::from_records(&seen);
    assert_eq!(life.policy.as_ref().map(|p| &p.0), Some(&policy));
    assert_eq!(life.snaps.len(), c);
    assert!(
        life.snaps[1].gone.is_some(),
        "day 1 went at the prune after day 8"
    );
    assert!(life.snaps[c - 1].gone.is_none());
    let points = series::repository_size(&seen, cut, sizes[c - 1]);
    let daily = series::daily_size(&points, cut);
    assert_eq!(daily.values.len(), c);
    let p = forecast_size(&life, &daily.values, daily.first_day, 30, TimeZone::UTC).unwrap();
    assert_eq!(p.model, "retention");
    assert!(p.calibrated_on >= 5);
    let truth = sizes[c + 29] as f64;
    let got = p.point[29];
    assert!((got - truth).abs() / truth < 0.05, "{got} vs {truth}");
    assert!(p.lower[29] <= truth && truth <= p.upper[29], "{p:?}");
    // The size series alone extrapolates the growth of the first weeks.
    let alone = forecast(&daily.values, 30, &Settings::daily_total()).unwrap();
    assert!(
        (alone.point[29] - truth).abs() > 2.0 * (got - truth).abs(),
        "{} vs {got} vs {truth}",
        alone.point[29]
    );
}

#[test]
fn without_a_prune_the_size_series_is_forecast_alone() {
    let policy = Policy {
        daily: Some(7),
        ..Policy::default()
    };
    let (records, _) = simulate(70, &policy, 50, 1000, 20);
    let no_prunes: Vec<Record> = records
        .into_iter()
        .filter(|r| r.kind == RunKind::Backup)
        .collect();
    let life = Lifecycle::from_records(&no_prunes);
    assert!(life.prunes.is_empty() && life.policy.is_none());
    let total: u64 = no_prunes
        .iter()
        .map(|r| r.backup.as_ref().unwrap().bytes_stored)
        .sum();
    let now = day(69) + jiff::SignedDuration::from_hours(1);
    let (_, p) = crate::forecast::repository_size(&no_prunes, now, total, 30, TimeZone::UTC);
    assert_ne!(p.unwrap().model, "retention");
    // Short, empty and odd histories: an error or a forecast, never a panic.
    for n in [0, 1, 5, 30] {
        let recs: Vec<Record> = no_prunes.iter().take(n).cloned().collect();
        let now = recs.last().map_or(day(0), |r| r.time);
        let (_, p) = crate::forecast::repository_size(&recs, now, 0, 30, TimeZone::UTC);
        assert!(p.is_err(), "{n}");
    }
    let life = Lifecycle::from_records(&[]);
    let p = forecast_size(&life, &[1.0; 100], day(0), 30, TimeZone::UTC).unwrap();
    assert_eq!(p.point, vec![1.0; 30]);
}

#[test]
fn a_policy_reads_back_as_docs_format_shows_it() {
    let run = ForgetRun {
        policy: Policy {
            daily: Some(14),
            weekly: Some(8),
            within: Some(jiff::SignedDuration::from_hours(720)),
            tags: vec!["release".into()],
            ..Policy::default()
        },
        group_by: GroupBy::default(),
    };
    let json = serde_json::to_value(&run).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"policy": {"daily": 14, "weekly": 8, "within": "PT720H",
            "tags": ["release"]}, "group_by": {"host": true, "paths": true, "tags": false}})
    );
    let back: ForgetRun = serde_json::from_value(json).unwrap();
    assert_eq!(back, run);
    assert!(serde_json::from_str::<ForgetRun>(r#"{"policy": {"dayly": 3}}"#).is_err());
}
