//! Ransomware and anomaly detection through the binary: history records, `--time`, exit code
//! 4, protection of the flagged snapshot and its clean point, `latest-clean`, `dismiss`, and
//! unreadable history records.

mod common;

use std::path::Path;

use common::scenario::*;
use common::*;
use predicates::prelude::*;

#[test]
fn encryption_is_flagged_protected_restorable_and_dismissable() {
    let e = Env::new();
    let src = e.path("src");
    make_tree(&src);
    let before = e.path("before");
    for d in 1..=6 {
        if d > 1 {
            // Routine life: an edit and a new file a day.
            let f = src.join("notes/f1.txt");
            let mut t = std::fs::read_to_string(&f).unwrap();
            t.push_str(&prose(d as u64, 2));
            write(&f, t);
            write(
                &src.join(format!("notes/new{d}.txt")),
                prose(50 + d as u64, 5),
            );
        }
        if d == 4 {
            // One file moved, one deleted.
            std::fs::rename(src.join("misc/f3.txt"), src.join("docs/f3-moved.txt")).unwrap();
            std::fs::remove_file(src.join("misc/f4.txt")).unwrap();
        }
        let (code, s) = backup_on(&e, &src, d);
        assert_eq!(code, 0, "day {d}: {s}");
        let status = &s["anomaly"]["status"];
        assert_eq!(status, if d <= 5 { "learning" } else { "clean" }, "day {d}");
        if d == 4 {
            assert_eq!(s["summary"]["files_deleted"], 2, "{s}");
            assert_eq!(s["summary"]["files_moved"], 1, "{s}");
            assert!(s["summary"]["bytes_deleted"].as_u64().unwrap() > 0);
        }
    }
    copy_tree(&src, &before);
    let snaps = e.json(&["snapshots"]);
    let expected: jiff::civil::DateTime = "2026-01-01T02:00:00".parse().unwrap();
    let expected = expected
        .to_zoned(jiff::tz::TimeZone::system())
        .unwrap()
        .timestamp();
    let got: jiff::Timestamp = snaps[0]["time"].as_str().unwrap().parse().unwrap();
    assert_eq!(got, expected, "--time sets the snapshot time");

    // The attack: a third of the files encrypted in place, PDFs among them.
    let mut hit = 0;
    for (i, f) in files_under(&src).iter().enumerate() {
        if i % 3 == 0 {
            encrypt(f);
            hit += 1;
        }
    }
    let (code, s) = backup_on(&e, &src, 7);
    assert_eq!(code, 4, "{s}");
    let v = &s["anomaly"];
    assert_eq!(v["status"], "suspect");
    let reasons: Vec<&str> = v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("rewritten with random-looking content")),
        "{reasons:?}"
    );
    assert!(reasons
        .iter()
        .any(|r| r.contains("pdf files no longer start with %PDF")));
    let flagged = s["snapshot_id"].as_str().unwrap().to_string();
    let clean = s["clean_point"].as_str().unwrap().to_string();
    assert_eq!(clean, e.snapshot_ids()[5]);

    // The flagged snapshot and the clean point are protected, and so survive retention.
    let snaps = e.json(&["snapshots"]);
    let by_id = |id: &str| {
        snaps
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap()
    };
    assert!(by_id(&flagged)["protected"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("anomaly: "));
    assert!(by_id(&clean)["protected"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("anomaly: last clean snapshot before"));
    e.cmd()
        .arg("snapshots")
        .assert()
        .success()
        .stdout(predicate::str::contains("ANOMALY,P"));

    // A quiet day after the attack: nothing changed, so nothing is flagged, but the clean
    // point stays where it was.
    let (code, _) = backup_on(&e, &src, 8);
    assert_eq!(code, 0);
    e.cmd()
        .args(["forget", "--keep-last", "1"])
        .assert()
        .success();
    let left = e.snapshot_ids();
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.contains(&flagged) && left.contains(&clean));

    let target = e.path("clean");
    e.cmd()
        .args(["restore", "latest-clean", "--target"])
        .arg(&target)
        .assert()
        .success();
    assert!(
        same_tree(&before, &restored(&target, &src)),
        "latest-clean is the pre-attack tree"
    );
    let diff = e
        .cmd()
        .args(["diff", "latest-clean", "latest"])
        .output()
        .unwrap();
    let diff = String::from_utf8(diff.stdout).unwrap();
    assert_eq!(
        diff.lines().filter(|l| l.starts_with("M ")).count(),
        hit,
        "{diff}"
    );

    let found = e.json(&["anomalies"]);
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["snapshot"], flagged.as_str());
    assert_eq!(found[0]["clean_point"], clean.as_str());

    // Dismissed: no finding stands, latest-clean is latest, and the protections are gone.
    e.cmd()
        .args([
            "anomalies",
            "dismiss",
            &flagged[..8],
            "--reason",
            "planned re-encryption",
        ])
        .assert()
        .success();
    e.cmd()
        .arg("anomalies")
        .assert()
        .success()
        .stdout(predicate::str::contains("no anomalies"));
    let h = e.json(&["history", "--kind", "dismissal"]);
    assert_eq!(h[0]["dismissal"]["snapshot"], flagged.as_str());
    assert_eq!(h[0]["dismissal"]["reason"], "planned re-encryption");
    e.cmd()
        .args(["forget", "--keep-last", "1"])
        .assert()
        .success();
    assert_eq!(e.snapshot_ids().len(), 1);
    e.assert_restores("latest-clean", &[], &src, "now");
}

#[test]
fn mass_deletion_is_flagged() {
    let e = Env::new();
    let src = e.path("src");
    make_tree(&src);
    for d in 1..=6 {
        write(&src.join("notes/f1.txt"), prose(d as u64, 30));
        assert_eq!(backup_on(&e, &src, d).0, 0);
    }
    for (i, f) in files_under(&src).iter().enumerate() {
        if i % 2 == 0 {
            std::fs::remove_file(f).unwrap();
        }
    }
    let (code, s) = backup_on(&e, &src, 7);
    assert_eq!(code, 4, "{s}");
    assert!(s["anomaly"]["reasons"][0]
        .as_str()
        .unwrap()
        .contains("36 files (50%) deleted and not replaced"));
}

#[test]
fn every_run_is_recorded_and_bad_records_are_named() {
    let e = Env::new();
    let src = e.path("src");
    make_tree(&src);
    e.cmd().arg("backup").arg(&src).assert().success();
    e.restore_latest("r");
    e.cmd().arg("check").assert().success();
    e.cmd()
        .args(["forget", "--keep-last", "1", "--prune"])
        .assert()
        .success();
    let h = e.json(&["history"]);
    let kinds: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    for k in ["backup", "restore", "check", "forget", "prune"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert_eq!(
        e.json(&["history", "--kind", "backup"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(h[0]["backup"]["files_new"], 72);

    // A damaged record and one sealed by another repository are named; the rest is listed,
    // and a backup goes on without them.
    let dir = e.repo.join("history");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .collect();
    let damaged = &names[0];
    let mut bytes = std::fs::read(dir.join(damaged)).unwrap();
    bytes[30] ^= 1;
    std::fs::write(dir.join(damaged), bytes).unwrap();
    let other = Env::new();
    other.cmd().arg("backup").arg(&src).assert().success();
    let theirs = std::fs::read_dir(other.repo.join("history"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    std::fs::copy(theirs.path(), dir.join(theirs.file_name())).unwrap();
    let foreign = theirs.file_name().into_string().unwrap();
    e.cmd()
        .arg("history")
        .assert()
        .code(3)
        .stderr(predicate::str::contains(format!("history/{damaged}")))
        .stderr(predicate::str::contains(format!("history/{foreign}")))
        .stdout(predicate::str::contains(format!(
            "{} record(s)",
            names.len() - 1
        )));
    e.cmd()
        .arg("backup")
        .arg(&src)
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "history/{damaged} left out of the anomaly baseline"
        )));
    // check warns about both, and passes: no backed-up data is affected.
    e.cmd()
        .arg("check")
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "warning: history/{damaged}"
        )))
        .stderr(predicate::str::contains(format!(
            "warning: history/{foreign}"
        )));
}

fn copy_tree(from: &Path, to: &Path) {
    for f in files_under(from) {
        let rel = f.strip_prefix(from).unwrap();
        write(&to.join(rel), std::fs::read(&f).unwrap());
    }
}
