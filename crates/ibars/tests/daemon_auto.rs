//! `schedule = "auto"` end to end: a real daemon probes a real tree, backs up when the RPO
//! needs it, and says why it ran or did not in `ibars jobs history`.

mod common;

use std::time::Duration;

use common::daemon::{config_text, Daemon};
use common::{write, Env};

fn messages(d: &Daemon) -> Vec<(String, String, String)> {
    d.runs("projects")
        .iter()
        .map(|r| {
            (
                r["trigger"].as_str().unwrap_or_default().to_string(),
                r["outcome"].as_str().unwrap_or_default().to_string(),
                r["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn an_automatic_job_backs_up_what_changed_and_skips_what_did_not() {
    let env = Env::new();
    let src = env.path("src");
    write(&src.join("a.txt"), "first");
    write(&src.join("scratch.tmp"), "excluded");
    // An RPO of 5 minutes: a probe every minute while nothing changes.
    let text = config_text(
        &env,
        &format!(
            "[[job]]\nname = \"projects\"\nrepository = \"main\"\nkind = \"backup\"\n\
             schedule = \"auto\"\nrpo = \"5m\"\npaths = [{src:?}]\nexcludes = [\"*.tmp\"]\n"
        ),
    );
    // Probes take a second of slack for file system time stamps: let the tree be older.
    std::thread::sleep(Duration::from_millis(2100));
    let d = Daemon::start(&env, &text);
    // Nothing is known to be backed up: the first probe finds the tree, and since the RPO
    // is already due, the backup runs at once.
    d.wait_for("the first automatic backup", Duration::from_secs(60), |d| {
        messages(d)
            .iter()
            .any(|(t, o, m)| t == "auto" && o == "ok" && m.contains("past the RPO"))
    });
    assert_eq!(env.snapshot_ids().len(), 1);
    // A write to an excluded file is no change: the next probe, a minute on, finds nothing.
    // (Creating one would be: its directory's time is part of the snapshot.)
    write(&src.join("scratch.tmp"), "ignored");
    d.wait_for(
        "a probe that finds nothing",
        Duration::from_secs(100),
        |d| {
            messages(d)
                .iter()
                .any(|(t, o, m)| t == "auto" && o == "skipped" && m.contains("nothing changed"))
        },
    );
    // A real change is seen by the next probe; the backup waits to hold more changes.
    write(&src.join("b.txt"), "second");
    d.wait_for(
        "a probe that finds the change",
        Duration::from_secs(100),
        |d| {
            messages(d)
                .iter()
                .any(|(_, _, m)| m.starts_with("changed (") && m.contains("b.txt"))
        },
    );
    assert_eq!(
        env.snapshot_ids().len(),
        1,
        "the change waits for the last moment that keeps the RPO"
    );
    let text = d.jobs(&["history", "projects"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("(auto, ") && text.contains("probe(s) until"),
        "{text}"
    );
}
