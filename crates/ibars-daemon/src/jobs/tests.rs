use super::*;
use crate::config::Config;

fn config(extra: &str) -> Config {
    config_of("prune", extra)
}

fn config_of(kind: &str, extra: &str) -> Config {
    crate::config::test_config(&format!(
        "kind = \"{kind}\"\nschedule = \"0 * * * *\"\ntime_zone = \"UTC\"\nretries = 2\nretry_delay = \"5m\"\n{extra}"
    ))
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn report(s: &Start, started: &str, ended: &str, outcome: JobOutcome) -> Report {
    Report {
        started: at(started),
        ended: at(ended),
        trigger: s.trigger,
        due: s.due,
        attempt: s.attempt,
        missed: s.missed,
        outcome,
        exit_code: Some(if outcome.succeeded() { 0 } else { 1 }),
        message: None,
        summary: None,
    }
}

#[test]
fn runs_when_due_never_overlaps_and_retries_with_backoff() {
    let c = config("");
    let mut st = State::default();
    let t = tick(&c, &mut st, at("2026-12-03T10:20:00Z"));
    assert!(t.starts.is_empty(), "a new job does not run at once");
    assert_eq!(t.wake, Some(at("2026-12-03T11:00:00Z")));

    let t = tick(&c, &mut st, at("2026-12-03T11:00:01Z"));
    assert_eq!(t.starts.len(), 1);
    let s = t.starts[0].clone();
    assert_eq!(
        (s.trigger, s.attempt, s.due),
        (Trigger::Schedule, 1, Some(at("2026-12-03T11:00:00Z")))
    );

    // Still running at the next due time: no second run.
    let t = tick(&c, &mut st, at("2026-12-03T12:00:01Z"));
    assert!(t.starts.is_empty());
    assert!(start_manual(&mut st, "j", at("2026-12-03T12:00:02Z")).is_none());

    // It fails at 12:10: the 12:00 time passed during the run and is reported as missed; a
    // retry comes 5 minutes after the failure.
    let job = &c.jobs[0];
    finish(
        job,
        st.job("j"),
        report(
            &s,
            "2026-12-03T11:00:01Z",
            "2026-12-03T12:10:00Z",
            JobOutcome::Failed,
        ),
    );
    assert_eq!(st.jobs["j"].retry_at, Some(at("2026-12-03T12:15:00Z")));
    let t = tick(&c, &mut st, at("2026-12-03T12:10:01Z"));
    assert!(t.starts.is_empty());
    assert_eq!(t.skipped.len(), 1, "12:00 passed during the run");
    assert_eq!(t.wake, Some(at("2026-12-03T12:15:00Z")));

    let t = tick(&c, &mut st, at("2026-12-03T12:15:00Z"));
    let r = t.starts[0].clone();
    assert_eq!(
        (r.trigger, r.attempt, r.due),
        (Trigger::Retry, 2, Some(at("2026-12-03T11:00:00Z")))
    );
    finish(
        job,
        st.job("j"),
        report(
            &r,
            "2026-12-03T12:15:00Z",
            "2026-12-03T12:16:00Z",
            JobOutcome::Failed,
        ),
    );
    assert_eq!(
        st.jobs["j"].retry_at,
        Some(at("2026-12-03T12:26:00Z")),
        "twice the delay"
    );
    let t = tick(&c, &mut st, at("2026-12-03T12:26:00Z"));
    let r = t.starts[0].clone();
    assert_eq!(r.attempt, 3);
    finish(
        job,
        st.job("j"),
        report(
            &r,
            "2026-12-03T12:26:00Z",
            "2026-12-03T12:27:00Z",
            JobOutcome::Failed,
        ),
    );
    assert_eq!(
        st.jobs["j"].retry_at, None,
        "two retries, then the schedule takes over"
    );
    assert_eq!(st.jobs["j"].recent.len(), 3);
    assert_eq!(st.jobs["j"].last_success, None);
}

#[test]
fn a_success_clears_retries_and_a_skip_is_not_retried() {
    let c = config("");
    let job = &c.jobs[0];
    let mut st = State::default();
    tick(&c, &mut st, at("2026-12-03T10:59:00Z"));
    let s = tick(&c, &mut st, at("2026-12-03T11:00:00Z"))
        .starts
        .remove(0);
    finish(
        job,
        st.job("j"),
        report(
            &s,
            "2026-12-03T11:00:00Z",
            "2026-12-03T11:01:00Z",
            JobOutcome::Skipped,
        ),
    );
    assert_eq!(st.jobs["j"].retry_at, None);
    let s = start_manual(&mut st, "j", at("2026-12-03T11:02:00Z")).unwrap();
    assert_eq!(s.trigger, Trigger::Manual);
    finish(
        job,
        st.job("j"),
        report(
            &s,
            "2026-12-03T11:02:00Z",
            "2026-12-03T11:03:00Z",
            JobOutcome::Failed,
        ),
    );
    assert_eq!(st.jobs["j"].retry_at, None, "a manual run is not retried");
    let s = start_manual(&mut st, "j", at("2026-12-03T11:04:00Z")).unwrap();
    finish(
        job,
        st.job("j"),
        report(
            &s,
            "2026-12-03T11:04:00Z",
            "2026-12-03T11:05:00Z",
            JobOutcome::Anomaly,
        ),
    );
    assert_eq!(st.jobs["j"].last_success, Some(at("2026-12-03T11:05:00Z")));
}

#[test]
fn downtime_is_caught_up_once_or_skipped() {
    for run_missed in [true, false] {
        let c = config(if run_missed { "run_missed = true" } else { "" });
        let mut st = State::default();
        tick(&c, &mut st, at("2026-12-03T10:30:00Z"));
        // The daemon is down from 10:30 to 15:20.
        let t = tick(&c, &mut st, at("2026-12-03T15:20:00Z"));
        if run_missed {
            let s = &t.starts[0];
            assert_eq!(
                (s.trigger, s.due, s.missed),
                (Trigger::CatchUp, Some(at("2026-12-03T15:00:00Z")), 4)
            );
        } else {
            assert!(t.starts.is_empty());
            assert_eq!(t.skipped[0].1.len(), 5);
            assert_eq!(t.wake, Some(at("2026-12-03T16:00:00Z")));
            // Reported once, not again.
            assert!(tick(&c, &mut st, at("2026-12-03T15:21:00Z"))
                .skipped
                .is_empty());
        }
    }
}

#[test]
fn overdue_and_record() {
    let c = config_of("backup", "max_age = \"2h\"\npaths = [\"/srv\"]");
    let job = &c.jobs[0];
    let mut st = State::default();
    tick(&c, &mut st, at("2026-12-03T10:00:00Z"));
    assert!(!overdue(job, &st.jobs["j"], at("2026-12-03T11:59:00Z")));
    assert!(
        overdue(job, &st.jobs["j"], at("2026-12-03T12:01:00Z")),
        "never succeeded in 2h"
    );
    let s = start_manual(&mut st, "j", at("2026-12-03T12:02:00Z")).unwrap();
    let mut r = report(
        &s,
        "2026-12-03T12:02:00Z",
        "2026-12-03T12:03:00Z",
        JobOutcome::Ok,
    );
    r.summary = Some(
        serde_json::json!({"snapshot_id": "abcd", "summary": {"bytes_added": 7, "files_new": 2, "files_changed": 1, "files_unchanged": 3, "errors": 0}}),
    );
    let rec = record(job, &r, "h");
    assert_eq!(
        (rec.files, rec.bytes, rec.snapshots.clone()),
        (6, 7, vec!["abcd".to_string()])
    );
    assert_eq!(rec.job.as_ref().unwrap().outcome, JobOutcome::Ok);
    Record::parse(&rec.to_bytes(), "x").expect("a job record reads back");
    finish(job, st.job("j"), r);
    assert!(!overdue(job, &st.jobs["j"], at("2026-12-03T14:02:00Z")));
    assert!(overdue(job, &st.jobs["j"], at("2026-12-03T14:04:00Z")));
}
