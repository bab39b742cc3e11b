//! The commands a user runs, end to end through the binary.

mod common;

use common::*;
use predicates::prelude::*;

#[test]
fn backup_restore_verify_round_trip() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("a.txt"), "hello");
    write(&src.join("dir/b.bin"), random_bytes(300_000, 1));
    write(&src.join("dir/c.txt"), "text ".repeat(50_000));
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    std::fs::create_dir_all(src.join("empty")).unwrap();

    let s = e.json(&["backup", src.to_str().unwrap(), "--tag", "first"]);
    assert_eq!(s["message_type"], "summary");
    assert_eq!(s["summary"]["files_new"], 3);
    assert!(
        s["summary"]["bytes_stored"].as_u64().unwrap()
            < s["summary"]["bytes_added"].as_u64().unwrap()
    );

    // Unchanged re-backup reads nothing.
    let s2 = e.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(s2["summary"]["bytes_read"], 0);
    assert_eq!(s2["summary"]["files_unchanged"], 3);
    assert_eq!(s2["parent"], s["snapshot_id"]);

    let target = e.path("restore");
    e.cmd()
        .args(["restore", "latest", "--verify", "--target"])
        .arg(&target)
        .assert()
        .success()
        .stdout(predicate::str::contains("verified 3 files: 0 mismatches"));
    assert!(same_tree(&src, &restored(&target, &src)));

    // Restoring again skips every file and says so.
    e.cmd()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "0 files written, 3 already matched",
        ));
}

#[test]
fn snapshots_ls_diff_and_references() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("keep.txt"), "keep");
    write(&src.join("gone.txt"), "gone");
    write(&src.join("change.txt"), "v1");
    e.cmd()
        .args(["backup", "--tag", "a", "--host", "h1"])
        .arg(&src)
        .assert()
        .success();
    std::fs::remove_file(src.join("gone.txt")).unwrap();
    write(&src.join("change.txt"), "version two");
    write(&src.join("new.txt"), "new");
    e.cmd()
        .args(["backup", "--tag", "b", "--host", "h2"])
        .arg(&src)
        .assert()
        .success();

    let ids = e.snapshot_ids();
    assert_eq!(ids.len(), 2);
    e.cmd()
        .arg("snapshots")
        .assert()
        .success()
        .stdout(predicate::str::contains(&ids[0][..8]));

    // latest, prefixes, and filters.
    let first = e.json_lines(&["ls", "latest", "--host", "h1"]);
    assert_eq!(first[0]["message_type"], "snapshot");
    assert_eq!(first[0]["id"].as_str().unwrap(), ids[0]);
    assert!(first
        .iter()
        .any(|l| l["path"].as_str().is_some_and(|p| p.ends_with("gone.txt"))));
    e.cmd()
        .args(["ls", &ids[1][..6]])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("new.txt").and(predicate::str::contains("gone.txt").not()),
        );
    e.cmd()
        .args(["ls", "latest", "--tag", "a"])
        .assert()
        .success()
        .stdout(predicate::str::contains("gone.txt"));
    e.cmd()
        .args(["ls", "latest", "--host", "nohost"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no snapshot matches"));
    let sub = src.join("change.txt");
    e.cmd()
        .args(["ls", "-l", "latest"])
        .arg(&sub)
        .assert()
        .success()
        .stdout(predicate::str::contains("11"));

    let d = e.json(&["diff", &ids[0], &ids[1]]);
    assert_eq!(d["stats"]["added_files"], 1);
    assert_eq!(d["stats"]["removed_files"], 1);
    assert_eq!(d["stats"]["modified_files"], 1);
    e.cmd()
        .args(["diff", &ids[0][..8], &ids[1][..8]])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("+    ")
                .and(predicate::str::contains("-    "))
                .and(predicate::str::contains("M    ")),
        );
}

#[test]
fn excludes_and_partial_restore() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("a.txt"), "a");
    write(&src.join("b.tmp"), "b");
    write(&src.join("cache/CACHEDIR.TAG"), "tag");
    write(&src.join("cache/data"), "d");
    write(&src.join("docs/x.md"), "x");
    write(&src.join("docs/y.md"), "y");
    let exfile = e.path("excludes");
    std::fs::write(&exfile, "# comment\n*.md\n").unwrap();
    e.cmd()
        .args([
            "backup",
            "--exclude",
            "*.tmp",
            "--exclude-if-present",
            "CACHEDIR.TAG",
            "--exclude-file",
        ])
        .arg(&exfile)
        .arg(&src)
        .assert()
        .success();
    let listing = e.cmd().args(["ls", "latest"]).output().unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.contains("a.txt"));
    assert!(!listing.contains("b.tmp") && !listing.contains("cache") && !listing.contains("x.md"));

    // Partial restore.
    write(&src.join("docs/x.md"), "x");
    e.cmd().arg("backup").arg(&src).assert().success();
    let target = e.path("r");
    e.cmd()
        .args([
            "restore",
            "latest",
            "--include",
            "docs",
            "--exclude",
            "y.md",
            "--target",
        ])
        .arg(&target)
        .assert()
        .success();
    let r = restored(&target, &src);
    assert!(r.join("docs/x.md").exists());
    assert!(!r.join("docs/y.md").exists());
    assert!(!r.join("a.txt").exists());
}

#[test]
fn stdin_backup_and_types() {
    let e = Env::new();
    let data = random_bytes(200_000, 9);
    let out = e
        .cmd()
        .args([
            "--json",
            "backup",
            "--stdin",
            "--stdin-filename",
            "dump.sql",
        ])
        .write_stdin(data.clone())
        .output()
        .unwrap();
    assert!(out.status.success());
    let target = e.restore_latest("r");
    assert_eq!(std::fs::read(target.join("dump.sql")).unwrap(), data);

    let src = e.path("src");
    write(&src.join("f"), "1");
    e.cmd().args(["backup", "--type", "full"]).assert().code(2);
    let f1 = e.json(&["backup", "--type", "full", src.to_str().unwrap()]);
    assert_eq!(f1["backup_type"], "full");
    let i1 = e.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(i1["parent"], f1["snapshot_id"]);
    write(&src.join("f"), "22");
    let i2 = e.json(&["backup", src.to_str().unwrap()]);
    assert_eq!(i2["parent"], i1["snapshot_id"]);
    let d = e.json(&["backup", "--type", "differential", src.to_str().unwrap()]);
    assert_eq!(d["parent"], f1["snapshot_id"]);
    assert_eq!(d["backup_type"], "differential");
    // A full backup re-reads everything.
    let f2 = e.json(&["backup", "--type", "full", src.to_str().unwrap()]);
    assert_eq!(f2["summary"]["bytes_read"], 2);
    assert!(f2["parent"].is_null());
}

#[test]
fn keys_add_list_passwd_remove() {
    let e = Env::new();
    let pwfile = e.path("pw2");
    std::fs::write(&pwfile, "second\n").unwrap();
    e.cmd()
        .args(["key", "add", "--new-password-file"])
        .arg(&pwfile)
        .assert()
        .success();
    let keys = e.json(&["key", "list"]);
    assert_eq!(keys.as_array().unwrap().len(), 2);
    // The new password opens the repository, read from a file and from a command.
    e.cmd()
        .env_remove("IBARS_PASSWORD")
        .arg("--password-file")
        .arg(&pwfile)
        .arg("snapshots")
        .assert()
        .success();
    e.cmd()
        .env_remove("IBARS_PASSWORD")
        .args(["--password-command", "echo second", "snapshots"])
        .assert()
        .success();
    // Change the first password.
    let pw3 = e.path("pw3");
    std::fs::write(&pw3, "third").unwrap();
    e.cmd()
        .args(["key", "passwd", "--new-password-file"])
        .arg(&pw3)
        .assert()
        .success();
    e.cmd().arg("snapshots").assert().code(12);
    e.cmd()
        .env("IBARS_PASSWORD", "third")
        .arg("snapshots")
        .assert()
        .success();
    // The key in use cannot be removed; the other one can.
    let mut list = e.cmd();
    let out = list
        .env("IBARS_PASSWORD", "third")
        .args(["--json", "key", "list"])
        .output()
        .unwrap();
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let id = |current: bool| {
        keys.iter().find(|k| k["current"] == current).unwrap()["id"]
            .as_str()
            .unwrap()[..8]
            .to_string()
    };
    e.cmd()
        .env("IBARS_PASSWORD", "third")
        .args(["key", "remove", &id(true)])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("key in use"));
    e.cmd()
        .env("IBARS_PASSWORD", "third")
        .args(["key", "remove", &id(false)])
        .assert()
        .success();
    e.cmd()
        .env("IBARS_PASSWORD", "second")
        .arg("snapshots")
        .assert()
        .code(12);
}

#[test]
fn help_documents_exit_codes() {
    let e = Env::empty();
    e.cmd().arg("--help").assert().success().stdout(
        predicate::str::contains("Exit codes").and(predicate::str::contains("12   wrong password")),
    );
    e.cmd()
        .args(["backup", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--exclude-if-present"));
}

#[test]
fn restore_gives_new_and_rewritten_files_their_modes() {
    use std::os::unix::fs::PermissionsExt;
    let e = Env::new();
    let src = e.path("src");
    let modes: [(&str, u32); 5] = [
        ("ro.txt", 0o444),
        ("tool.sh", 0o750),
        ("setgid.bin", 0o2755),
        ("plain.txt", 0o640),
        ("big.bin", 0o400), // several blobs, written by several workers
    ];
    for (name, mode) in modes {
        let len = if name == "big.bin" { 3 << 20 } else { 1000 };
        write(&src.join(name), random_bytes(len, mode.into()));
        std::fs::set_permissions(src.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    e.cmd().arg("backup").arg(&src).assert().success();
    let target = e.path("restore");
    let restore = || {
        e.cmd()
            .args(["restore", "latest", "--target"])
            .arg(&target)
            .assert()
            .success()
    };
    let mode_of = |name: &str| {
        let p = restored(&target, &src).join(name);
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    };
    restore();
    for (name, mode) in modes {
        assert_eq!(mode_of(name), mode, "{name}");
    }
    // A file changed since, with other permissions, is written again and gets its mode back.
    let changed = restored(&target, &src).join("tool.sh");
    std::fs::set_permissions(&changed, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&changed, "changed").unwrap();
    restore().stdout(predicate::str::contains(
        "1 files written, 4 already matched",
    ));
    assert_eq!(mode_of("tool.sh"), 0o750);
    assert!(same_tree(&src, &restored(&target, &src)));
}

/// `--limit-upload` holds a backup to the rate (a lower bound of time, which no machine can
/// beat), `--limit-download` a restore; a bad rate is a usage error.
#[test]
fn rate_limits_hold_transfers_to_the_rate() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("random.bin"), random_bytes(900_000, 7));
    let t0 = std::time::Instant::now();
    e.cmd()
        .args(["backup", "--limit-upload", "300KiB"])
        .arg(&src)
        .assert()
        .success();
    // 900 kB of incompressible data at 300 KiB/s, less one second of burst: over 1.9 s.
    let up = t0.elapsed();
    assert!(up >= std::time::Duration::from_millis(1900), "{up:?}");

    let t1 = std::time::Instant::now();
    e.cmd()
        .args(["--limit-download", "300", "restore", "latest", "--target"])
        .arg(e.path("out"))
        .assert()
        .success();
    let down = t1.elapsed();
    assert!(down >= std::time::Duration::from_millis(1900), "{down:?}");
    assert!(same_tree(&src, &restored(&e.path("out"), &src)));

    e.cmd()
        .args(["backup", "--limit-upload", "fast"])
        .arg(&src)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a rate: 'fast'"));
}

#[test]
fn completions_and_man_pages() {
    let e = Env::empty();
    for (shell, marker) in [
        ("bash", "_ibars()"),
        ("zsh", "#compdef ibars"),
        ("fish", "complete -c ibars"),
    ] {
        let out = e.cmd().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(marker), "{shell}");
        assert!(
            text.contains("daemon") && text.contains("--stdin-from-command"),
            "{shell}"
        );
    }
    let dir = e.path("man");
    e.cmd().arg("man").arg(&dir).assert().success();
    let page = std::fs::read_to_string(dir.join("ibars-daemon.1")).unwrap();
    assert!(
        page.contains(".TH ibars-daemon") && page.contains("check\\-config"),
        "{page}"
    );
    assert!(dir.join("ibars.1").exists() && dir.join("ibars-backup.1").exists());
    assert!(
        !dir.join("ibars-help.1").exists(),
        "no page for the help pseudo-command"
    );
}

/// `--metrics-textfile`: node_exporter's textfile format, with the last success kept across a
/// failed run.
#[test]
fn metrics_textfile_for_cron() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("f"), vec![7u8; 100_000]);
    let prom = e.path("ibars.prom");
    e.cmd()
        .arg("--metrics-textfile")
        .arg(&prom)
        .arg("backup")
        .arg(&src)
        .assert()
        .success();
    let text = std::fs::read_to_string(&prom).unwrap();
    let value = |text: &str, name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")))
            .unwrap_or_else(|| panic!("{name} missing: {text}"));
        assert!(line.contains("command=\"backup\""), "{line}");
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value(&text, "ibars_last_run_ok"), 1.0);
    assert_eq!(value(&text, "ibars_last_exit_code"), 0.0);
    assert_eq!(value(&text, "ibars_backup_files"), 1.0);
    assert!(value(&text, "ibars_backup_bytes_added") >= 100_000.0);
    assert!(text.contains("# TYPE ibars_last_success_timestamp_seconds gauge"));
    let success = value(&text, "ibars_last_success_timestamp_seconds");
    let now = jiff::Timestamp::now().as_second() as f64;
    assert!((now - success).abs() < 60.0);
    // A failed run: not ok, its exit code, and the last success kept.
    e.cmd()
        .arg("--metrics-textfile")
        .arg(&prom)
        .args(["backup", "/nonexistent/path"])
        .assert()
        .failure();
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(value(&text, "ibars_last_run_ok"), 0.0);
    assert_eq!(value(&text, "ibars_last_exit_code"), 1.0);
    assert_eq!(
        value(&text, "ibars_last_success_timestamp_seconds"),
        success
    );
}

/// A replication job's first run, before any backup: copying everything of an empty
/// repository copies nothing and succeeds; a named snapshot that does not exist still fails.
#[test]
fn copying_an_empty_repository_succeeds() {
    let src = Env::new();
    let dst = Env::new();
    src.cmd()
        .args(["copy", "--to"])
        .arg(&dst.repo)
        .env("IBARS_TO_PASSWORD", "pw")
        .assert()
        .success();
    src.cmd()
        .args(["copy", "latest", "--to"])
        .arg(&dst.repo)
        .env("IBARS_TO_PASSWORD", "pw")
        .assert()
        .failure();
}
