//! A three-node Garage cluster with replication factor 3: a node dying in the middle of a
//! backup changes nothing; the whole cluster down fails the backup cleanly, and the next one
//! after a restart succeeds. (Injected request failures on this cluster are the core `faults`
//! test, which `scripts/test.sh` runs against it.)

mod common;

use std::time::{Duration, Instant};

use common::garage::Garage;
use common::{random_bytes, write, Env};
use predicates::prelude::*;

/// `files` files of 1 MiB, different for each `seed`.
fn make_tree(root: &std::path::Path, files: u8, seed: u8) {
    for i in 0..files {
        write(
            &root.join(format!("d{}/{i}.bin", i % 4)),
            random_bytes(1 << 20, seed.wrapping_mul(101).wrapping_add(i).into()),
        );
    }
}

#[test]
fn a_node_killed_during_a_backup_changes_nothing() {
    let c = Garage::cluster();
    let e = Env::empty_s3(&c, "kill");
    e.init();
    let first = e.path("first");
    make_tree(&first, 8, 1);
    e.cmd().arg("backup").arg(&first).assert().success();

    let src = e.path("src");
    make_tree(&src, 150, 2);
    let mut child = e
        .spawnable()
        .args(["--json", "backup"])
        .arg(&src)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill a replica once the backup is under way (some packs stored), not before.
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the backup ended before the node was killed; give it more data"
    );
    c.kill_node(2);
    let killed_at = t0.elapsed();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "backup failed with a node down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "backup with a node killed {killed_at:?} after it started took {:?}",
        t0.elapsed()
    );

    let ids = e.snapshot_ids();
    assert_eq!(ids.len(), 2);
    e.assert_restores(&ids[0], &[], &first, "r0");
    e.assert_restores(&ids[1], &[], &src, "r1");
    e.cmd().args(["check", "--read-data"]).assert().success();
    // And once the node is back.
    c.start_node(2);
    e.cmd().args(["check", "--read-data"]).assert().success();
}

#[test]
fn the_whole_cluster_down_fails_cleanly_and_a_restart_recovers() {
    let c = Garage::cluster();
    let e = Env::empty_s3(&c, "down");
    e.init();
    let src = e.path("src");
    make_tree(&src, 6, 3);
    e.cmd().arg("backup").arg(&src).assert().success();

    c.stop();
    make_tree(&src, 8, 4);
    let t0 = Instant::now();
    e.cmd()
        .arg("backup")
        .arg(&src)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("storage:"))
        .stderr(predicate::str::contains("127.0.0.1"));
    eprintln!("failing backup gave up after {:?}", t0.elapsed());

    for n in 0..3 {
        c.start_node(n);
    }
    // The nodes may take a moment to find each other again.
    let t0 = Instant::now();
    while !e.cmd().arg("snapshots").output().unwrap().status.success() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "cluster did not come back"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    e.cmd().arg("backup").arg(&src).assert().success();
    let ids = e.snapshot_ids();
    assert_eq!(ids.len(), 2);
    e.assert_restores(&ids[1], &[], &src, "r");
    e.cmd().args(["check", "--read-data"]).assert().success();
}
