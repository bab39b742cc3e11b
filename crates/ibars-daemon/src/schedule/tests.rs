use super::*;
use jiff::civil::date;

fn berlin(y: i16, m: i8, d: i8, h: i8, min: i8) -> Timestamp {
    date(y, m, d)
        .at(h, min, 0, 0)
        .in_tz("Europe/Berlin")
        .unwrap()
        .timestamp()
}

fn utc(y: i16, m: i8, d: i8, h: i8, min: i8, s: i8) -> Timestamp {
    date(y, m, d)
        .at(h, min, s, 0)
        .in_tz("UTC")
        .unwrap()
        .timestamp()
}

fn local_times(s: &Schedule, from: Timestamp, n: usize) -> Vec<String> {
    s.upcoming(from, n)
        .iter()
        .map(|z| z.strftime("%m-%d %H:%M %Z").to_string())
        .collect()
}

#[test]
fn a_fixed_time_in_the_spring_gap_runs_once_after_it() {
    // Europe/Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist.
    let s = Schedule::parse("30 2 * * *", Some("Europe/Berlin")).unwrap();
    assert_eq!(
        local_times(&s, berlin(2026, 3, 27, 0, 0), 4),
        [
            "03-27 02:30 CET",
            "03-28 02:30 CET",
            "03-29 03:00 CEST",
            "03-30 02:30 CEST"
        ]
    );
}

#[test]
fn a_fixed_time_in_the_doubled_autumn_hour_runs_once() {
    // Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
    let s = Schedule::parse("30 2 * * *", Some("Europe/Berlin")).unwrap();
    assert_eq!(
        local_times(&s, berlin(2026, 10, 24, 0, 0), 3),
        ["10-24 02:30 CEST", "10-25 02:30 CEST", "10-26 02:30 CET"]
    );
}

#[test]
fn an_hourly_schedule_runs_once_per_real_hour_through_both_changes() {
    let s = Schedule::parse("@hourly", Some("Europe/Berlin")).unwrap();
    let runs_between = |a: Timestamp, b: Timestamp| {
        let mut n = 0;
        let mut t = a;
        while let Some(next) = s.next_after(t) {
            if next >= b {
                break;
            }
            n += 1;
            t = next;
        }
        n
    };
    // Starting just before midnight so that midnight itself counts.
    let day = |y, m, d| berlin(y, m, d, 0, 0) - jiff::SignedDuration::from_secs(1);
    assert_eq!(runs_between(day(2026, 3, 29), day(2026, 3, 30)), 23);
    assert_eq!(runs_between(day(2026, 10, 25), day(2026, 10, 26)), 25);
    assert_eq!(runs_between(day(2026, 11, 1), day(2026, 11, 2)), 24);
}

#[test]
fn a_run_that_is_due_now_starts_and_nothing_counts_as_missed() {
    let s = Schedule::parse("0 2 * * *", Some("UTC")).unwrap();
    let last = utc(2026, 11, 30, 2, 0, 0);
    assert_eq!(
        decide(&s, last, utc(2026, 12, 1, 2, 0, 20), false),
        Decision::Run {
            due: utc(2026, 12, 1, 2, 0, 0),
            missed: vec![]
        }
    );
    assert_eq!(
        decide(&s, last, utc(2026, 12, 1, 1, 59, 0), false),
        Decision::Wait {
            until: utc(2026, 12, 1, 2, 0, 0),
            missed: vec![]
        },
        "before the due time it sleeps until then"
    );
}

#[test]
fn after_downtime_run_missed_catches_up_with_one_run_and_otherwise_skips() {
    let s = Schedule::parse("0 2 * * *", Some("UTC")).unwrap();
    let last = utc(2026, 11, 27, 2, 0, 0);
    let now = utc(2026, 11, 30, 10, 0, 0);
    assert_eq!(
        decide(&s, last, now, true),
        Decision::Run {
            due: utc(2026, 11, 30, 2, 0, 0),
            missed: vec![utc(2026, 11, 28, 2, 0, 0), utc(2026, 11, 29, 2, 0, 0)]
        }
    );
    assert_eq!(
        decide(&s, last, now, false),
        Decision::Wait {
            until: utc(2026, 12, 1, 2, 0, 0),
            missed: vec![
                utc(2026, 11, 28, 2, 0, 0),
                utc(2026, 11, 29, 2, 0, 0),
                utc(2026, 11, 30, 2, 0, 0)
            ]
        }
    );
}

#[test]
fn due_times_passed_during_a_long_run_are_not_a_burst() {
    // Every ten minutes; the run due at 02:00 took 35 minutes (a job never overlaps itself,
    // so the scheduler decides again only when it ends).
    let s = Schedule::parse("*/10 * * * *", Some("UTC")).unwrap();
    let last = utc(2026, 12, 1, 2, 0, 0);
    let ended = utc(2026, 12, 1, 2, 35, 0);
    let passed = vec![utc(2026, 12, 1, 2, 10, 0), utc(2026, 12, 1, 2, 20, 0)];
    assert_eq!(
        decide(&s, last, ended, true),
        Decision::Run {
            due: utc(2026, 12, 1, 2, 30, 0),
            missed: passed.clone()
        }
    );
    let mut all = passed;
    all.push(utc(2026, 12, 1, 2, 30, 0));
    assert_eq!(
        decide(&s, last, ended, false),
        Decision::Wait {
            until: utc(2026, 12, 1, 2, 40, 0),
            missed: all
        }
    );
}

#[test]
fn a_year_of_downtime_lists_the_last_missed_times_only() {
    let s = Schedule::parse("0 * * * *", Some("UTC")).unwrap();
    let Decision::Wait { missed, until } = decide(
        &s,
        utc(2025, 12, 1, 0, 0, 0),
        utc(2026, 12, 1, 0, 30, 0),
        false,
    ) else {
        panic!("no catch-up without run_missed");
    };
    assert_eq!(missed.len(), MISSED_LISTED);
    assert_eq!(missed.last(), Some(&utc(2026, 12, 1, 0, 0, 0)));
    assert_eq!(until, utc(2026, 12, 1, 1, 0, 0));
}

#[test]
fn retries_back_off_and_give_way_to_the_next_run() {
    let r = Retry {
        attempts: 4,
        initial: Duration::from_secs(60),
        max: Duration::from_secs(300),
    };
    let ended = utc(2026, 12, 1, 2, 0, 0);
    let next = utc(2026, 12, 2, 2, 0, 0);
    let waits: Vec<_> = (0..=5)
        .map(|f| {
            r.after(f, ended, next)
                .map(|t| t.duration_since(ended).as_secs())
        })
        .collect();
    assert_eq!(
        waits,
        [None, Some(60), Some(120), Some(240), Some(300), None]
    );
    assert_eq!(
        r.after(1, ended, utc(2026, 12, 1, 2, 0, 30)),
        None,
        "no retry after the next due time"
    );
}

#[test]
fn bad_schedules_are_named() {
    let e = Schedule::parse("61 * * * *", Some("UTC")).unwrap_err();
    assert!(
        matches!(&e, ScheduleError::Expression { expr, .. } if expr == "61 * * * *"),
        "{e}"
    );
    assert_eq!(
        Schedule::parse("@daily", Some("Mars/Olympus")).unwrap_err(),
        ScheduleError::TimeZone("Mars/Olympus".into())
    );
    assert_eq!(
        Schedule::parse("0 0 30 2 *", Some("UTC")).unwrap_err(),
        ScheduleError::Never("0 0 30 2 *".into())
    );
    let daily = Schedule::parse("@daily", Some("UTC")).unwrap();
    assert_eq!(
        daily.next_after(utc(2026, 12, 1, 0, 0, 0)),
        Some(utc(2026, 12, 2, 0, 0, 0))
    );
    assert_eq!(daily.time_zone(), "UTC");
}
