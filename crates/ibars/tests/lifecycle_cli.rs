//! forget, prune, tag and unlock through the binary: dry runs change nothing, refusals name
//! their reason, and what is kept restores.

mod common;

use common::{random_bytes, restored, same_tree, write, Env};
use predicates::prelude::*;

fn objects(e: &Env, dir: &str) -> usize {
    common::files_under(&e.repo.join(dir)).len()
}

#[test]
fn forget_prune_and_tag_from_the_command_line() {
    let e = Env::new();
    let src = e.path("src");
    for g in 0..4u8 {
        write(&src.join("changing.bin"), random_bytes(400_000, g.into()));
        write(&src.join("same.txt"), "same");
        e.cmd().arg("backup").arg(&src).assert().success();
    }
    let ids = e.snapshot_ids();
    assert_eq!(ids.len(), 4);

    // No policy: refused, nothing removed.
    e.cmd()
        .arg("forget")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no policy"));

    // Protect the oldest, then a dry run shows the plan with reasons and removes nothing.
    e.cmd()
        .args(["tag", &ids[0][..8], "--protect", "--add", "gold"])
        .assert()
        .success();
    let ids = e.snapshot_ids();
    let plan = e.json(&["forget", "--keep-last", "1", "--dry-run"]);
    let decisions = plan["groups"][0]["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 4);
    assert_eq!(plan["removed"].as_array().unwrap().len(), 2);
    assert!(decisions.iter().any(|d| d["reasons"]
        .as_array()
        .unwrap()
        .contains(&"protected".into())));
    assert_eq!(e.snapshot_ids(), ids);

    let packs_before = objects(&e, "data");
    let dry = e.json(&["prune", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(objects(&e, "data"), packs_before);

    // By default prune only marks what it would delete; a later prune deletes it.
    e.cmd()
        .args([
            "forget",
            "--keep-last",
            "1",
            "--prune",
            "--max-unused",
            "0%",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("removed 2 snapshot(s)"))
        .stdout(predicate::str::contains("by a later prune"));
    assert!(objects(&e, "data") >= packs_before);
    e.cmd().args(["check", "--read-data"]).assert().success();
    // With no grace period, it deletes at once.
    e.cmd()
        .args(["prune", "--grace", "0", "--max-unused", "0%"])
        .assert()
        .success();
    assert!(objects(&e, "data") < packs_before);
    let kept = e.snapshot_ids();
    assert_eq!(kept.len(), 2);

    // The newest restores identical; the protected one still restores.
    let target = e.restore_latest("r");
    assert!(same_tree(&src, &restored(&target, &src)));
    let protected = e.json(&["snapshots", "--tag", "gold"]);
    let pid = protected[0]["id"].as_str().unwrap();
    assert!(protected[0]["protected"]["reason"] == "user");
    e.cmd()
        .args(["restore", pid, "--target"])
        .arg(e.path("r2"))
        .assert()
        .success();
    // Forgetting a protected snapshot by id is refused.
    e.cmd()
        .args(["forget", pid])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("protected"));
    e.cmd().args(["check", "--read-data"]).assert().success();
}

#[test]
fn prune_runs_beside_backups_but_waits_for_an_exclusive_lock_or_fails_with_exit_11() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("a"), "a");
    e.cmd().arg("backup").arg(&src).assert().success();
    // Locks held by a live process on this host (this test), not stale.
    let lock_dir = e.repo.join("locks");
    let repo = ibars_core::repo::Repository::open(
        std::sync::Arc::new(ibars_core::backend::OpendalBackend::local(&e.repo, false).unwrap()),
        b"pw",
    )
    .unwrap();
    // A backup's shared lock does not hold prune or forget off...
    let shared = repo.lock(ibars_core::repo::LockMode::Shared).unwrap();
    e.cmd().arg("prune").assert().success();
    e.cmd()
        .args(["forget", "--keep-last", "1"])
        .assert()
        .success();
    // ...but prune without a grace period deletes at once and needs the repository alone.
    e.cmd()
        .args(["prune", "--grace", "0"])
        .assert()
        .code(11)
        .stderr(predicate::str::contains("shared lock held by pid"));
    drop(shared);
    let guard = repo.lock(ibars_core::repo::LockMode::Exclusive).unwrap();
    e.cmd()
        .arg("prune")
        .assert()
        .code(11)
        .stderr(predicate::str::contains("exclusive lock held by pid"));
    // `unlock` removes only stale locks: this one stays.
    e.cmd().arg("unlock").assert().success();
    assert_eq!(common::files_under(&lock_dir).len(), 1);
    // With --retry-lock, prune waits for the lock to go, then runs.
    let mut child = e
        .spawnable()
        .args(["--retry-lock", "1m", "prune"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(child.try_wait().unwrap().is_none(), "prune did not wait");
    drop(guard);
    assert!(child.wait().unwrap().success());
    assert_eq!(common::files_under(&lock_dir).len(), 0);
}

#[test]
fn rewrite_removes_paths_from_history() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("keep.txt"), "keep");
    write(&src.join("private/secret.txt"), "secret");
    e.cmd().arg("backup").arg(&src).assert().success();
    write(&src.join("keep.txt"), "keep 2");
    e.cmd().arg("backup").arg(&src).assert().success();
    let before = e.snapshot_ids();
    let pattern = format!("{}/private", src.display());

    e.cmd()
        .args(["rewrite", "--dry-run", "--exclude", &pattern])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 of 2 snapshot(s) would change"));
    assert_eq!(e.snapshot_ids(), before);

    e.cmd()
        .args(["rewrite", "--exclude", &pattern])
        .assert()
        .success();
    let after = e.snapshot_ids();
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(|id| !before.contains(id)));
    for id in &after {
        e.cmd()
            .args(["ls", id])
            .assert()
            .success()
            .stdout(predicate::str::contains("keep.txt"))
            .stdout(predicate::str::contains("secret").not());
    }
    e.cmd()
        .args(["prune", "--max-unused", "0%"])
        .assert()
        .success();
    e.cmd().args(["check", "--read-data"]).assert().success();
}

#[test]
fn copy_to_a_second_repository_with_its_own_password() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("a.bin"), random_bytes(300_000, 9));
    write(&src.join("b.txt"), "b");
    e.cmd().arg("backup").arg(&src).assert().success();
    let dest = e.path("offsite");
    let pwfile = e.path("offsite.pw");
    write(&pwfile, "other password\n");
    let dest_cmd = || {
        let mut c = assert_cmd::Command::cargo_bin("ibars").unwrap();
        c.arg("-r")
            .arg(&dest)
            .arg("--password-file")
            .arg(&pwfile)
            .env_remove("IBARS_PASSWORD");
        c
    };
    dest_cmd().arg("init").assert().success();
    let (to, pw) = (dest.to_str().unwrap(), pwfile.to_str().unwrap());
    let copy = || e.json(&["copy", "--to", to, "--to-password-file", pw]);
    let first = copy();
    assert!(first["blobs_sent"].as_u64().unwrap() > 0);
    let second = copy();
    assert_eq!(second["blobs_sent"], 0);
    assert_eq!(second["snapshots"][0]["already_there"], true);

    // The copy restores with the destination's password, and checks clean.
    let target = e.path("restored");
    dest_cmd()
        .args(["restore", "latest", "--target"])
        .arg(&target)
        .assert()
        .success();
    assert!(same_tree(&src, &restored(&target, &src)));
    // A wrong destination password is exit code 12.
    write(&pwfile, "wrong\n");
    e.cmd()
        .args(["copy", "--to"])
        .arg(&dest)
        .arg("--to-password-file")
        .arg(&pwfile)
        .assert()
        .code(12);
}
