use proptest::prelude::*;

use super::replay::{replay, Change, DurationModel, Plan};
use super::*;

/// Random change sequences: bursts of changes separated by quiet gaps, over up to ten days.
fn changes() -> impl Strategy<Value = (i64, Vec<Change>)> {
    let burst = (0i64..3 * 86_400, 1usize..40, 1i64..1_800, 0u32..50);
    (prop::collection::vec(burst, 0..12), 0u64..5_000_000).prop_map(|(bursts, size)| {
        let from = 1_700_000_000i64;
        let mut out = Vec::new();
        let mut at = from;
        for (gap, n, step, file0) in bursts {
            at += gap;
            for i in 0..n {
                out.push(Change {
                    at: at + i as i64 * step,
                    file: file0 + (i as u32 % 7),
                    bytes: size + i as u64,
                });
            }
            at += n as i64 * step;
        }
        out.sort_by_key(|c| c.at);
        (from, out)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The guarantee: when every backup takes at most the bound the policy plans with, no
    /// change is ever missing for longer than the RPO.
    #[test]
    fn rpo_is_kept_when_durations_stay_in_bound(
        (from, changes) in changes(),
        rpo in 600i64..86_400,
        bound_part in 1i64..50,
        seed in any::<u64>(),
    ) {
        let bound = rpo * bound_part / 100;
        let to = from + 12 * 86_400;
        let plan = Plan::Auto { policy: Policy::new(rpo, Calendar::always()), bound: Some(bound) };
        // Arbitrary durations within the bound.
        let dur = |bytes: u64| ((bytes ^ seed) % (bound as u64 + 1)) as i64;
        let out = replay(&changes, from, to, rpo, &plan, dur);
        prop_assert_eq!(out.compliance, 1.0);
        prop_assert!(out.worst_lag <= rpo, "a change waited {} s", out.worst_lag);
        // Every change is in some backup, or happened after the last one started.
        let last = out.runs.last().map_or(from, |r| r.start);
        let stored: u64 = out.runs.iter().map(|r| r.bytes).sum();
        prop_assert!(stored > 0 || changes.iter().all(|c| c.at >= last));
    }

    /// Never more runs than the fixed interval that keeps the same RPO (RPO − bound).
    #[test]
    fn never_more_runs_than_the_fixed_interval(
        (from, changes) in changes(),
        rpo in 600i64..86_400,
        bound_part in 1i64..50,
    ) {
        let bound = rpo * bound_part / 100;
        let to = from + 12 * 86_400;
        let dur = |_| bound;
        let auto = Plan::Auto { policy: Policy::new(rpo, Calendar::always()), bound: Some(bound) };
        let fixed = Plan::Fixed { every: rpo - bound };
        let a = replay(&changes, from, to, rpo, &auto, dur);
        let f = replay(&changes, from, to, rpo, &fixed, dur);
        prop_assert!(a.runs.len() <= f.runs.len(), "{} > {}", a.runs.len(), f.runs.len());
        prop_assert_eq!(f.compliance, 1.0);
    }

    /// No backup starts in an avoided period, and the replay ends whatever the periods.
    #[test]
    fn avoided_periods_are_kept(
        (from, changes) in changes(),
        rpo in 600i64..86_400,
        start in 0u16..24,
        len in 1u16..23,
    ) {
        let period: Period = format!("{:02}:00-{:02}:00", start, (start + len) % 24).parse().unwrap();
        let calendar = Calendar { window: vec![], avoid: vec![period], tz: jiff::tz::TimeZone::UTC };
        let plan = Plan::Auto { policy: Policy::new(rpo, calendar.clone()), bound: None };
        let out = replay(&changes, from, from + 12 * 86_400, rpo, &plan, |b| (b / 1_000_000) as i64);
        for r in &out.runs {
            prop_assert!(calendar.allows(r.start), "a run started at {}", r.start);
        }
    }

    /// Odd inputs never panic: empty spans, reversed spans, zero durations.
    #[test]
    fn odd_inputs_do_not_panic((from, changes) in changes(), span in -1_000i64..100_000, rpo in 1i64..100_000) {
        for plan in [
            Plan::Auto { policy: Policy::new(rpo, Calendar::always()), bound: None },
            Plan::Auto { policy: Policy::new(rpo, Calendar::always()), bound: Some(rpo * 2) },
            Plan::Fixed { every: rpo },
        ] {
            let out = replay(&changes, from, from + span, rpo, &plan, |_| 0);
            prop_assert!((0.0..=1.0).contains(&out.compliance));
        }
    }
}

#[test]
fn quiet_source_is_only_probed() {
    let from = 1_700_000_000;
    let plan = Plan::Auto {
        policy: Policy::new(4 * 3600, Calendar::always()),
        bound: None,
    };
    let out = replay(&[], from, from + 7 * 86_400, 4 * 3600, &plan, |_| 60);
    assert!(out.runs.is_empty());
    // One probe every 15 minutes (a twelfth of 4 h is 20 min, capped at 15), the last one
    // a quarter of an hour before the end.
    assert_eq!(out.probes, 7 * 96 - 1);
    assert_eq!(out.compliance, 1.0);
}

#[test]
fn changes_are_batched_until_the_deadline() {
    let from = 1_700_000_000;
    let rpo = 4 * 3600;
    // A change every 10 minutes for two hours, starting one hour in.
    let changes: Vec<Change> = (0..12)
        .map(|i| Change {
            at: from + 3600 + i * 600,
            file: 1,
            bytes: 1000,
        })
        .collect();
    let plan = Plan::Auto {
        policy: Policy::new(rpo, Calendar::always()),
        bound: Some(600),
    };
    let out = replay(&changes, from, from + 86_400, rpo, &plan, |_| 300);
    // One run holds them all: it starts when the first change (seen by the probe at
    // 1 h 15 min, clean until 1 h) reaches RPO − bound.
    assert_eq!(out.runs.len(), 1, "{:?}", out.runs);
    assert_eq!(out.runs[0].start, from + 3600 + rpo - 600);
    assert_eq!(out.runs[0].bytes, 1000);
    assert_eq!(out.compliance, 1.0);
    // A fixed hourly schedule stores the same file twice or more.
    let f = replay(
        &changes,
        from,
        from + 86_400,
        rpo,
        &Plan::Fixed { every: 3600 },
        |_| 300,
    );
    assert_eq!(f.runs.len(), 23);
    assert_eq!(f.bytes, 2000);
}

#[test]
fn a_failed_backup_restores_what_was_missing() {
    let mut k = Knowledge {
        clean_until: 100,
        dirty: true,
        probed: Some(150),
        active: true,
    };
    let before = k.started(200);
    assert_eq!((k.clean_until, k.dirty), (200, false));
    k.probed(300, false);
    assert_eq!(k.clean_until, 300);
    k.failed(before);
    assert_eq!((k.clean_until, k.dirty), (100, true));
}

#[test]
fn late_changes_run_at_the_first_allowed_moment() {
    let p = Policy::new(
        3600,
        Calendar {
            window: vec![],
            avoid: vec!["00:00-06:00".parse().unwrap()],
            tz: jiff::tz::TimeZone::UTC,
        },
    );
    // Monday 2023-11-13 02:00 UTC, changed since 01:00: the deadline (01:50) passed inside
    // the avoided night, so the run waits for 06:00.
    let now = 1_699_840_800;
    let k = Knowledge {
        clean_until: now - 3600,
        dirty: true,
        probed: Some(now),
        active: true,
    };
    assert_eq!(
        next_step(&p, &k, now, 600, &ChangeStats::default()),
        Step::Wait {
            until: now + 4 * 3600,
            why: Why::Closed
        }
    );
    assert_eq!(
        next_step(&p, &k, now + 4 * 3600, 600, &ChangeStats::default()),
        Step::Backup(Why::Late { since: now - 3600 })
    );
}

#[test]
fn periods_parse_and_match() {
    let p: Period = "Mon-Fri 09:00-17:30".parse().unwrap();
    assert!(p.contains(0, 9 * 60));
    assert!(!p.contains(0, 17 * 60 + 30));
    assert!(!p.contains(5, 10 * 60));
    let night: Period = "Fri 22:00-06:00".parse().unwrap();
    assert!(night.contains(4, 23 * 60));
    assert!(night.contains(5, 5 * 60)); // Saturday morning belongs to Friday's night
    assert!(!night.contains(4, 5 * 60));
    let weekend: Period = "Sat,Sun 00:00-24:00".parse().unwrap();
    assert!(weekend.contains(6, 12 * 60) && !weekend.contains(0, 12 * 60));
    let wrap: Period = "Sat-Mon 10:00-11:00".parse().unwrap();
    assert!(wrap.contains(6, 10 * 60) && wrap.contains(0, 10 * 60) && !wrap.contains(1, 10 * 60));
    for bad in [
        "",
        "9-17",
        "Mon 09:00",
        "Xyz 09:00-10:00",
        "25:00-26:00",
        "10:00-10:00",
    ] {
        assert!(bad.parse::<Period>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn busy_hours_are_learned_from_probes() {
    let mut s = ChangeStats::default();
    let monday_9 = 1_699_866_000; // 2023-11-13 09:00 UTC
    assert!(!s.busy(monday_9));
    for week in 0..12 {
        s.record(monday_9 + week * 7 * 86_400, true);
        s.record(monday_9 + week * 7 * 86_400 + 3600, week % 2 == 0);
    }
    assert!(s.busy(monday_9 + 52 * 7 * 86_400));
    assert!(!s.busy(monday_9 + 3600));
    assert!(!s.busy(monday_9 + 86_400));
}

#[test]
fn duration_bound_and_model() {
    assert_eq!(duration_bound(&[], 3600), 900);
    assert_eq!(duration_bound(&[100, 40], 3600), 210);
    assert_eq!(duration_bound(&[10_000], 3600), 1800);
    let m = DurationModel::fit(&[(0, 10.0), (1_000_000, 11.0), (10_000_000, 20.0)]).unwrap();
    assert_eq!(m.fixed, 10.0);
    assert_eq!(m.seconds(5_000_000), 15);
    assert!(DurationModel::fit(&[]).is_none());
}
