//! Bad input: each gets a clear error, a documented exit code, and leaves the repository as
//! it was.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command as StdCommand, Stdio};

use common::*;
use predicates::prelude::*;

#[test]
fn wrong_password_is_exit_12() {
    let e = Env::new();
    e.cmd()
        .env("IBARS_PASSWORD", "nope")
        .arg("snapshots")
        .assert()
        .code(12)
        .stderr(predicate::str::contains("wrong password"));
}

#[test]
fn missing_repository_is_exit_10() {
    let e = Env::empty();
    e.cmd().arg("snapshots").assert().code(10).stderr(
        predicate::str::contains("no repository").and(predicate::str::contains("ibars init")),
    );
    assert!(
        !e.repo.exists(),
        "opening must not create the repository directory"
    );
    std::fs::create_dir_all(&e.repo).unwrap();
    e.cmd()
        .arg("snapshots")
        .assert()
        .code(10)
        .stderr(predicate::str::contains("no config"));
    // init twice is refused.
    e.cmd().arg("init").assert().success();
    e.cmd()
        .arg("init")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
}

#[test]
fn corrupt_config_is_named() {
    let e = Env::new();
    let cfg = e.repo.join("config");
    let mut bytes = std::fs::read(&cfg).unwrap();
    bytes[40] ^= 0xff;
    std::fs::write(&cfg, &bytes).unwrap();
    e.cmd()
        .arg("snapshots")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("corrupt config"));
    std::fs::write(&cfg, b"").unwrap();
    e.cmd()
        .arg("snapshots")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("config"));
}

#[test]
fn missing_source_path_fails_cleanly() {
    let e = Env::new();
    let missing = e.path("does/not/exist");
    e.cmd().arg("backup").arg(&missing).assert().code(1).stderr(
        predicate::str::contains("does/not/exist").and(predicate::str::contains("No such file")),
    );
    assert!(e.snapshot_ids().is_empty());
}

/// Root reads everything, so the unreadable directory test runs ibars as `nobody`.
fn as_unprivileged(e: &Env) -> assert_cmd::Command {
    let mut c = if nix::unistd::geteuid().is_root() {
        let mut c = assert_cmd::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(assert_cmd::cargo::cargo_bin("ibars"));
        c
    } else {
        assert_cmd::Command::cargo_bin("ibars").unwrap()
    };
    c.arg("-r")
        .arg(&e.repo)
        .env("IBARS_PASSWORD", "pw")
        .env("HOME", e.dir.path());
    c
}

fn open_up(p: &std::path::Path) {
    let _ = StdCommand::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(p)
        .status();
}

#[test]
fn unreadable_directory_is_exit_3_and_snapshot_is_saved() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("ok/a.txt"), "a");
    write(&src.join("secret/b.txt"), "b");
    write(&src.join("z.txt"), "z");
    open_up(e.dir.path());
    std::fs::set_permissions(e.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(src.join("secret"), std::fs::Permissions::from_mode(0o000)).unwrap();
    as_unprivileged(&e)
        .arg("backup")
        .arg(&src)
        .assert()
        .code(3)
        .stderr(
            predicate::str::contains("secret").and(predicate::str::contains("Permission denied")),
        );
    std::fs::set_permissions(src.join("secret"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ids = e.snapshot_ids();
    assert_eq!(
        ids.len(),
        1,
        "the snapshot is saved without the unreadable directory"
    );
    let target = e.restore_latest("r");
    let r = restored(&target, &src);
    assert_eq!(std::fs::read_to_string(r.join("ok/a.txt")).unwrap(), "a");
    assert_eq!(std::fs::read_to_string(r.join("z.txt")).unwrap(), "z");
    assert!(!r.join("secret/b.txt").exists());
}

#[test]
fn corrupt_blob_names_file_and_pack() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("good.txt"), "good");
    write(&src.join("bad.bin"), random_bytes(200_000, 3));
    e.cmd().arg("backup").arg(&src).assert().success();
    // Damage the data pack holding bad.bin: the largest pack.
    let mut packs: Vec<_> = files_under(&e.repo.join("data"));
    packs.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let pack = packs.last().unwrap().clone();
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[1000] ^= 0x01;
    std::fs::write(&pack, &bytes).unwrap();
    let pack_name = pack.file_name().unwrap().to_str().unwrap().to_string();
    let target = e.path("r");
    e.cmd()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("bad.bin").and(predicate::str::contains(&pack_name)));
    // Everything intact was still restored.
    assert_eq!(
        std::fs::read_to_string(restored(&target, &src).join("good.txt")).unwrap(),
        "good"
    );
}

#[test]
fn full_disk_during_restore_is_reported() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("big.bin"), random_bytes(3 << 20, 5));
    e.cmd().arg("backup").arg(&src).assert().success();
    let mnt = e.path("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let ok = StdCommand::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount tmpfs");
    let out = e
        .cmd()
        .args(["restore", "latest", "--target"])
        .arg(&mnt)
        .output()
        .unwrap();
    let _ = StdCommand::new("umount").arg(&mnt).status();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("big.bin") && stderr.contains("disk is full"),
        "{stderr}"
    );
    // The repository is untouched: a restore elsewhere works.
    e.cmd()
        .args(["restore", "latest", "--verify", "--target"])
        .arg(e.path("r"))
        .assert()
        .success();
}

/// Start `backup --stdin`, feed it `first` bytes and give it time to get going.
fn stdin_backup(e: &Env, first: usize) -> (std::process::Child, std::process::ChildStdin) {
    use std::io::Write;
    let mut child = e
        .spawnable()
        .args(["backup", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&random_bytes(first, 1)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    (child, stdin)
}

fn lock_count(e: &Env) -> usize {
    std::fs::read_dir(e.repo.join("locks"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn interrupted_backup_leaves_no_snapshot_and_next_backup_works() {
    use std::io::Write;
    let e = Env::new();
    let (child, mut stdin) = stdin_backup(&e, 2 << 20);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    // More input wakes the reader, which then sees the interruption.
    let _ = stdin.write_all(&random_bytes(1 << 20, 2));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(e.snapshot_ids().is_empty(), "no half snapshot");
    assert_eq!(lock_count(&e), 0, "lock released");
    let src = e.path("src");
    write(&src.join("f"), "x");
    e.cmd().arg("backup").arg(&src).assert().success();
    assert_eq!(e.snapshot_ids().len(), 1);
}

#[test]
fn killed_backup_leaves_stale_lock_that_is_ignored() {
    let e = Env::new();
    let (mut child, stdin) = stdin_backup(&e, 1 << 20);
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert!(e.snapshot_ids().is_empty());
    assert_eq!(lock_count(&e), 1, "the killed process left its lock");
    let src = e.path("src");
    write(&src.join("f"), "x");
    e.cmd().arg("backup").arg(&src).assert().success();
    e.cmd()
        .args(["restore", "latest", "--verify", "--target"])
        .arg(e.path("r"))
        .assert()
        .success();
}

/// A dump command that fails, or is cut short by a signal, fails the backup: the error names
/// the command and quotes its standard error, and no snapshot is saved. A good one is kept
/// whole.
#[test]
fn a_failing_dump_command_saves_no_snapshot() {
    let e = Env::new();
    for cmd in [
        "seq 1 50000; echo 'pg_dump: connection to server lost' >&2; exit 2",
        "seq 1 50000; kill -9 $$",
    ] {
        let out = e
            .cmd()
            .args([
                "backup",
                "--stdin-from-command",
                cmd,
                "--stdin-filename",
                "db.sql",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("failed (") && err.contains(&format!("{cmd:?}")),
            "{err}"
        );
        if cmd.contains("exit 2") {
            assert!(err.contains("pg_dump: connection to server lost"), "{err}");
            assert_eq!(
                err.matches("failed (exit status: 2)").count(),
                1,
                "said once: {err}"
            );
        }
        assert!(
            e.snapshot_ids().is_empty(),
            "a cut-short dump is never a good backup"
        );
    }
    e.cmd()
        .args([
            "backup",
            "--stdin-from-command",
            "seq 1 50000",
            "--stdin-filename",
            "db.sql",
        ])
        .assert()
        .success();
    let t = e.restore_latest("r");
    let want: String = (1..=50000).map(|i| format!("{i}\n")).collect();
    assert_eq!(std::fs::read_to_string(t.join("db.sql")).unwrap(), want);
    let both = e
        .cmd()
        .args(["backup", "/tmp", "--stdin-from-command", "true"])
        .output()
        .unwrap();
    assert_eq!(
        both.status.code(),
        Some(2),
        "paths and a command are refused together"
    );
}
