use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::Config;

fn job(kind: &str, extra: &str) -> Job {
    crate::config::test_config(&format!(
        "kind = \"{kind}\"\nschedule = \"@daily\"\n{extra}"
    ))
    .jobs
    .remove(0)
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn report(outcome: JobOutcome, summary: Option<serde_json::Value>) -> Report {
    Report {
        started: at("2026-12-03T02:00:00Z"),
        ended: at("2026-12-03T02:01:00Z"),
        trigger: ibars_insight::record::Trigger::Schedule,
        due: None,
        attempt: 2,
        missed: 0,
        outcome,
        exit_code: Some(1),
        message: Some("the repository is locked".into()),
        summary,
    }
}

fn phases(b: &mut Book, j: &Job, obs: Vec<Observation>, now: &str) -> Vec<(Event, Phase)> {
    obs.into_iter()
        .filter_map(|o| b.observe(j, o, at(now), "h"))
        .map(|a| (a.event, a.phase))
        .collect()
}

#[test]
fn one_alert_per_change_of_state_with_reminders_and_a_recovery() {
    let j = job("backup", "paths = [\"/srv\"]");
    let mut b = Book::default();
    let failed = report(JobOutcome::Failed, None);
    // A failure with a retry pending is not final: nothing yet.
    assert!(phases(
        &mut b,
        &j,
        after_run(&j, &failed, true),
        "2026-12-03T02:01:00Z"
    )
    .is_empty());
    assert_eq!(
        phases(
            &mut b,
            &j,
            after_run(&j, &failed, false),
            "2026-12-03T02:05:00Z"
        ),
        vec![(Event::Failure, Phase::Firing)]
    );
    // The next failures do not repeat it.
    assert!(phases(
        &mut b,
        &j,
        after_run(&j, &failed, false),
        "2026-12-03T03:05:00Z"
    )
    .is_empty());
    let day = Duration::from_secs(86_400);
    assert!(b.reminders(at("2026-12-04T02:04:00Z"), day, "h").is_empty());
    assert_eq!(b.next_reminder(day), Some(at("2026-12-04T02:05:00Z")));
    let r = b.reminders(at("2026-12-04T02:05:00Z"), day, "h");
    assert_eq!((r.len(), r[0].phase), (1, Phase::Reminder));
    assert!(
        r[0].summary.contains("backup job j failed (attempt 2)"),
        "{}",
        r[0].summary
    );
    assert!(b.reminders(at("2026-12-04T03:00:00Z"), day, "h").is_empty());
    // A success resolves it, once.
    let ok = report(
        JobOutcome::Ok,
        Some(serde_json::json!({"snapshot_id": "ab"})),
    );
    let got = phases(
        &mut b,
        &j,
        after_run(&j, &ok, false),
        "2026-12-04T04:00:00Z",
    );
    assert_eq!(got, vec![(Event::Failure, Phase::Resolved)]);
    assert!(phases(
        &mut b,
        &j,
        after_run(&j, &ok, false),
        "2026-12-04T05:00:00Z"
    )
    .is_empty());
    assert!(b.standing.is_empty());
}

#[test]
fn anomalies_damage_overdue_and_missed() {
    let j = job("backup", "paths = [\"/srv\"]\nmax_age = \"1h\"");
    let mut b = Book::default();
    let flagged = report(
        JobOutcome::Anomaly,
        Some(
            serde_json::json!({"snapshot_id": "cd", "anomaly": {"score": 9.2, "reasons": ["2,341 files rewritten"]}}),
        ),
    );
    let a: Vec<Alert> = after_run(&j, &flagged, false)
        .into_iter()
        .filter_map(|o| b.observe(&j, o, at("2026-12-03T02:01:00Z"), "h"))
        .collect();
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].event, a[0].snapshot.as_deref()),
        (Event::Anomaly, Some("cd"))
    );
    assert!(
        a[0].summary.contains("9.20") && a[0].detail.as_deref() == Some("2,341 files rewritten")
    );

    let c = job("check", "read_data = true");
    let damaged = report(
        JobOutcome::Failed,
        Some(serde_json::json!({"ok": false, "report": {"errors": 3}})),
    );
    let got = phases(
        &mut b,
        &c,
        after_run(&c, &damaged, false),
        "2026-12-03T02:01:00Z",
    );
    assert_eq!(
        got,
        vec![(Event::Damage, Phase::Firing)],
        "damage, not a plain failure"
    );
    let clean = report(JobOutcome::Ok, Some(serde_json::json!({"ok": true})));
    let got = phases(
        &mut b,
        &c,
        after_run(&c, &clean, false),
        "2026-12-03T03:01:00Z",
    );
    assert_eq!(got, vec![(Event::Damage, Phase::Resolved)]);

    let mut js = crate::state::JobState {
        first_seen: Some(at("2026-12-03T00:00:00Z")),
        ..Default::default()
    };
    let o = overdue(&j, &js, at("2026-12-03T00:59:00Z")).unwrap();
    assert!(b.observe(&j, o, at("2026-12-03T00:59:00Z"), "h").is_none());
    let o = overdue(&j, &js, at("2026-12-03T01:01:00Z")).unwrap();
    let a = b.observe(&j, o, at("2026-12-03T01:01:00Z"), "h").unwrap();
    assert_eq!((a.event, a.phase), (Event::Overdue, Phase::Firing));
    js.last_success = Some(at("2026-12-03T01:30:00Z"));
    let o = overdue(&j, &js, at("2026-12-03T01:31:00Z")).unwrap();
    assert_eq!(
        b.observe(&j, o, at("2026-12-03T01:31:00Z"), "h")
            .unwrap()
            .phase,
        Phase::Resolved
    );

    let m = missed(
        &j,
        &[at("2026-12-03T01:00:00Z"), at("2026-12-03T02:00:00Z")],
    );
    let a = b
        .observe(&j, m.clone(), at("2026-12-03T02:10:00Z"), "h")
        .unwrap();
    assert!(a.summary.contains("missed 2 scheduled run(s)"));
    assert!(
        b.observe(&j, m, at("2026-12-03T02:11:00Z"), "h").is_some(),
        "an event each time"
    );
    assert!(!b.standing.contains_key("j/missed"));
}

#[test]
fn signatures_and_channel_config() {
    // RFC 4231 test case 2.
    assert_eq!(
        channel::signature(b"Jefe", b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let base = "[[repository]]\nname = \"r\"\nlocation = \"/tmp/r\"\npassword_file = \"/p\"\n\
                [[job]]\nname = \"j\"\nrepository = \"r\"\nkind = \"prune\"\nschedule = \"@daily\"\n";
    let parse = |a: &str| Config::parse(&format!("{base}[[alert]]\n{a}"), Path::new("t.toml"));
    let c = parse("name = \"m\"\nkind = \"email\"\nsmtp_server = \"mx\"\nfrom = \"ibars <i@x.org>\"\nto = [\"ops@x.org\"]\nevents = [\"failure\"]").unwrap();
    assert_eq!(c.alerts[0].events, vec![Event::Failure]);
    let bad = [
        ("name = \"w\"\nkind = \"webhook\"\nurl = \"ftp://x\"", "url"),
        ("name = \"w\"\nkind = \"webhook\"\nurl = \"http://x\"\nsmtp_port = 25", "smtp_port"),
        ("name = \"m\"\nkind = \"email\"\nsmtp_server = \"mx\"\nfrom = \"not an address\"\nto = [\"a@b.c\"]", "from"),
        ("name = \"c\"\nkind = \"command\"\ncommand = \"true\"\nevents = [\"fire\"]", "events"),
        ("name = \"c\"\nkind = \"command\"\ncommand = \"true\"\njobs = [\"nope\"]", "jobs"),
        ("name = \"c\"\nkind = \"pager\"", "kind"),
        ("name = \"w\"\nkind = \"webhook\"\nurl = \"http://x\"\nsecret_file = \"/nonexistent/key\"", "secret_file"),
    ];
    for (text, key) in bad {
        let e = parse(text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.line > 5, "{e}");
    }
}
