use std::path::Path;

use super::*;
use crate::config::{test_config, Config};
use crate::state::State;

fn config(extra: &str) -> Config {
    test_config(&format!(
        "kind = \"backup\"\nschedule = \"auto\"\nrpo = \"4h\"\ntime_zone = \"UTC\"\npaths = [\"/srv\"]\n{extra}"
    ))
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Run the daemon's tick for the one job; the probe's answer is given as `changed`.
fn tick_at(c: &Config, st: &mut State, now: &str) -> crate::jobs::Tick {
    crate::jobs::tick(c, st, at(now))
}

#[test]
fn probes_batches_and_runs_at_the_last_moment() {
    let c = config("");
    let mut st = State::default();
    // A new job knows nothing: it probes at once.
    let t = tick_at(&c, &mut st, "2026-12-07T08:00:00Z");
    assert_eq!(t.probes.len(), 1);
    assert!(t.starts.is_empty());
    // While the probe runs, nothing else.
    assert!(tick_at(&c, &mut st, "2026-12-07T08:00:01Z")
        .probes
        .is_empty());
    probed(st.job("j"), at("2026-12-07T08:00:00Z"), Ok(None));
    // Clean: the next probe in 15 minutes (a twelfth of 4 h, at most 15 min).
    let t = tick_at(&c, &mut st, "2026-12-07T08:00:02Z");
    assert_eq!(t.wake, Some(at("2026-12-07T08:15:00Z")));
    let t = tick_at(&c, &mut st, "2026-12-07T08:15:00Z");
    assert_eq!(
        t.probes,
        vec![("j".to_string(), at("2026-12-07T08:00:00Z").as_second())]
    );
    probed(
        st.job("j"),
        at("2026-12-07T08:15:00Z"),
        Ok(Some("/srv/a".into())),
    );
    // Changed after 08:00: with no run measured yet the duration bound is a quarter of the
    // RPO, so the backup must start by 11:00.
    let t = tick_at(&c, &mut st, "2026-12-07T08:15:01Z");
    assert!(t.starts.is_empty());
    assert!(t.wake.unwrap() <= at("2026-12-07T11:00:00Z"));
    // Probes go on (to see the source go quiet); it is still changing.
    let t = tick_at(&c, &mut st, "2026-12-07T08:30:00Z");
    assert_eq!(t.probes.len(), 1);
    probed(
        st.job("j"),
        at("2026-12-07T08:30:00Z"),
        Ok(Some("/srv/b".into())),
    );
    let t = tick_at(&c, &mut st, "2026-12-07T11:00:00Z");
    assert_eq!(t.starts.len(), 1, "{t:?}");
    let s = &t.starts[0];
    assert_eq!(s.trigger, Trigger::Auto);
    assert!(
        s.reason.as_deref().unwrap().contains("reach the RPO"),
        "{:?}",
        s.reason
    );
    // The decisions are kept: the span of clean probes, then the change.
    let notes: Vec<_> = st
        .job("j")
        .recent
        .iter()
        .filter_map(|r| r.message.clone())
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].starts_with("skipped: nothing changed"));
    assert!(notes[1].starts_with("changed (/srv/a)"));
}

#[test]
fn clean_probes_are_kept_as_one_span() {
    let c = config("");
    let mut st = State::default();
    for m in 0..10 {
        let now = at("2026-12-07T08:00:00Z") + jiff::SignedDuration::from_mins(15 * m);
        let t = crate::jobs::tick(&c, &mut st, now);
        assert_eq!(t.probes.len(), 1, "probe {m}");
        probed(st.job("j"), now, Ok(None));
    }
    let js = st.job("j");
    assert_eq!(js.recent.len(), 1);
    let span = &js.recent[0];
    assert_eq!(span.attempt, 10);
    assert_eq!(span.ended, at("2026-12-07T10:15:00Z"));
}

#[test]
fn a_failed_backup_is_due_again_and_then_held() {
    let c = config("retries = 0");
    let job = &c.jobs[0];
    let mut st = State::default();
    tick_at(&c, &mut st, "2026-12-07T08:00:00Z");
    probed(
        st.job("j"),
        at("2026-12-07T08:00:00Z"),
        Ok(Some("/srv/a".into())),
    );
    // Nothing known before: the RPO is already due, so it runs at once.
    let t = tick_at(&c, &mut st, "2026-12-07T08:00:01Z");
    assert_eq!(t.starts.len(), 1);
    let js = st.job("j");
    js.running = None;
    crate::jobs::finish(
        job,
        js,
        Report {
            started: at("2026-12-07T08:00:01Z"),
            ended: at("2026-12-07T08:01:00Z"),
            trigger: Trigger::Auto,
            due: None,
            attempt: 1,
            missed: 0,
            outcome: JobOutcome::Failed,
            exit_code: Some(1),
            message: Some("unreachable".into()),
            summary: None,
        },
    );
    let k = js.auto.as_ref().unwrap().knowledge.unwrap();
    assert!(k.dirty, "the changes are still missing");
    // Held for a quarter of the RPO, then it runs again at once (late).
    let t = tick_at(&c, &mut st, "2026-12-07T08:30:00Z");
    assert!(t.starts.is_empty());
    assert_eq!(t.wake, Some(at("2026-12-07T09:01:00Z")));
    let t = tick_at(&c, &mut st, "2026-12-07T09:01:00Z");
    assert_eq!(t.starts.len(), 1);
    assert!(t.starts[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("past the RPO"));
}

#[test]
fn auto_settings_are_checked() {
    let parse = |t: &str| Config::parse(t, Path::new("t.toml"));
    let base = "[[repository]]\nname = \"r\"\nlocation = \"/tmp/r\"\npassword_file = \"/p\"\n[[job]]\nname = \"j\"\nrepository = \"r\"\n";
    let cases = [
        ("kind = \"backup\"\nschedule = \"auto\"\npaths = [\"/a\"]", "needs an `rpo`"),
        ("kind = \"backup\"\nschedule = \"auto\"\nrpo = \"1m\"\npaths = [\"/a\"]", "at least 5 minutes"),
        ("kind = \"check\"\nschedule = \"auto\"\nrpo = \"1h\"", "only backup jobs"),
        ("kind = \"backup\"\nschedule = \"@daily\"\nrpo = \"1h\"\npaths = [\"/a\"]", "belongs to schedule = \"auto\""),
        ("kind = \"backup\"\nschedule = \"auto\"\nrpo = \"1h\"\navoid = \"Mon-Fri 9-17\"\npaths = [\"/a\"]", "HH:MM"),
    ];
    for (body, want) in cases {
        let e = parse(&format!("{base}{body}")).expect_err(body);
        assert!(e.to_string().contains(want), "{body}: {e}");
    }
    let c = parse(&format!(
        "{base}kind = \"backup\"\nschedule = \"auto\"\nrpo = \"4h\"\nwindow = [\"Mon-Fri 18:00-08:00\", \"Sat,Sun 00:00-24:00\"]\navoid = \"12:00-13:00\"\npaths = [\"/a\"]"
    ))
    .unwrap();
    let a = c.jobs[0].auto().unwrap();
    assert_eq!(a.policy.rpo, 4 * 3600);
    assert_eq!(a.policy.calendar.window.len(), 2);
    assert_eq!(c.jobs[0].schedule.expr(), "auto");
}
