//! Two-phase deletion: prune marks what it would delete, backups run beside it and store again
//! what is only in marked packs, and a later prune deletes a marked pack only when no snapshot
//! needs it, its grace period is over and no process that started before the mark is still at
//! work. Also: the prune lock, and prunes killed at every write.

mod common;

use common::{
    assert_clean, assert_restores, backup_dir, backup_report, full_check, random, Contents,
};

use std::collections::HashSet;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use ibars_core::backend::{Backend, FileKind};
use ibars_core::error::Error;
use ibars_core::id::{PackId, SnapshotId};
use ibars_core::ops::backup::{backup, BackupOptions};
use ibars_core::ops::check::{check, CheckOptions};
use ibars_core::ops::forget::{forget, ForgetOptions};
use ibars_core::ops::prune::{prune, PruneOptions, PruneReport};
use ibars_core::progress::NoProgress;
use ibars_core::repo::{LockMode, Repository};

/// A grace period that passes within the test, and one that does not.
const SHORT: Duration = Duration::from_millis(200);
const LONG: Duration = Duration::from_secs(3600);

fn prune_with(repo: &Repository, grace: Duration) -> PruneReport {
    let opts = PruneOptions {
        max_unused_percent: 0.0,
        grace,
        ..Default::default()
    };
    prune(repo, &opts, &NoProgress).unwrap()
}

fn forget_ids(repo: &Repository, ids: &[SnapshotId]) {
    let opts = ForgetOptions {
        ids: ids.to_vec(),
        ..Default::default()
    };
    forget(repo, &opts).unwrap();
}

fn write_files(root: &Path, files: &[(&str, usize, u64)]) -> Contents {
    let mut out = Contents::new();
    for (rel, len, seed) in files {
        let data = random(*len, *seed);
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &data).unwrap();
        out.insert(rel.to_string(), data);
    }
    out
}

fn stored(repo: &Repository) -> HashSet<PackId> {
    repo.stored_packs().unwrap().into_keys().collect()
}

/// A client of `store` that stops before its first write of `kind` until the test lets it go
/// on; `arrived` tells when it got there.
fn gated(store: Arc<dyn Backend>, kind: FileKind) -> (Arc<dyn Backend>, Gate) {
    gated_at(store, common::Call::Write, kind)
}

/// As [`gated`], before the first `call` of `kind`.
fn gated_at(store: Arc<dyn Backend>, at: common::Call, kind: FileKind) -> (Arc<dyn Backend>, Gate) {
    let (arrived_tx, arrived) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let arrived_tx = Mutex::new(Some(arrived_tx));
    let go_rx = Mutex::new(go_rx);
    let client = Arc::new(common::Hooked {
        inner: store,
        hook: move |call, k, _: &str| {
            if (call, k) == (at, kind) {
                if let Some(tx) = arrived_tx.lock().unwrap().take() {
                    tx.send(()).unwrap();
                    let _ = go_rx.lock().unwrap().recv_timeout(Duration::from_secs(120));
                }
            }
            Ok(())
        },
    });
    (client, Gate { arrived, go })
}

struct Gate {
    arrived: mpsc::Receiver<()>,
    go: mpsc::Sender<()>,
}

#[test]
fn a_backup_older_than_the_mark_defers_deletion_and_keeps_what_it_used() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let store = common::test_store();
    let repo = Repository::init(Arc::clone(&store), b"pw", &common::cheap_init()).unwrap();
    let mut want = write_files(&src, &[("old.bin", 300_000, 1), ("keep.bin", 200_000, 2)]);
    let s1 = backup_dir(&repo, &src);
    want.extend(write_files(&src, &[("new.bin", 250_000, 3)]));

    // A backup that loaded the index (and found old.bin and keep.bin stored, through its
    // parent s1) and uploaded new.bin, held just before it indexes that.
    let (client, gate) = gated(Arc::clone(&store), FileKind::Index);
    let run = {
        let src = src.clone();
        std::thread::spawn(move || {
            let repo = Repository::open(client, b"pw").unwrap();
            let opts = BackupOptions {
                paths: vec![src],
                ..Default::default()
            };
            backup(&repo, opts, &NoProgress).unwrap()
        })
    };
    gate.arrived.recv_timeout(Duration::from_secs(60)).unwrap();

    // Beside it, forget removes s1, and prune marks everything: s1's packs are unused, and the
    // backup's are in no index yet.
    forget_ids(&repo, &[s1]);
    let before = stored(&repo);
    let p1 = prune_with(&repo, SHORT);
    assert_eq!(p1.packs_removed, 0, "{:?}", p1.plan);
    assert!(p1.plan.packs_delete >= 2, "{:?}", p1.plan);
    assert!(p1.plan.packs_unindexed >= 1, "{:?}", p1.plan);
    // Marked packs, indexed or not, are nothing for check to report.
    assert_clean(&full_check(&repo));

    // The grace period passes, but the backup that started before the mark still runs: nothing
    // may be deleted.
    std::thread::sleep(SHORT + Duration::from_millis(100));
    let p2 = prune_with(&repo, SHORT);
    assert_eq!(p2.packs_removed, 0, "{:?}", p2.plan);
    assert_eq!(p2.plan.packs_waiting, before.len(), "{:?}", p2.plan);
    assert_eq!(stored(&repo), before);

    gate.go.send(()).unwrap();
    let b = run.join().unwrap();
    // Its snapshot needs s1's data pack: the next prune takes it back into use and deletes
    // only what nothing needs (s1's trees).
    let p3 = prune_with(&repo, SHORT);
    assert!(p3.plan.packs_recovered >= 1, "{:?}", p3.plan);
    assert_restores(&repo, &b.id, &src, &want);
    assert_clean(&full_check(&repo));
    // Nothing else to do later either.
    std::thread::sleep(SHORT);
    let p4 = prune_with(&repo, SHORT);
    assert_eq!(
        p4.plan.packs_delete + p4.plan.packs_waiting,
        0,
        "{:?}",
        p4.plan
    );
    assert_restores(&repo, &b.id, &src, &want);
    assert_clean(&full_check(&repo));
}

#[test]
fn new_backups_store_marked_data_again_and_marked_packs_go_after_the_grace_period() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let mut repo = common::test_repo(16 << 10);
    repo.update_config(|c| c.parity_percent = 10).unwrap();
    let want = write_files(&src, &[("a.bin", 400_000, 10), ("b/c.bin", 100_000, 11)]);
    let s1 = backup_dir(&repo, &src);
    forget_ids(&repo, &[s1]);
    let p1 = prune_with(&repo, LONG);
    assert!(p1.plan.packs_delete >= 2, "{:?}", p1.plan);
    assert_eq!(p1.packs_removed, 0);
    let marked = stored(&repo);

    // The same content again: a new backup must not rely on the marked packs.
    let s2 = backup_report(&repo, &src);
    assert!(
        s2.snapshot.summary.bytes_added >= 500_000,
        "deduplicated against marked packs: {:?}",
        s2.snapshot.summary
    );
    let p2 = prune_with(&repo, LONG);
    assert_eq!(p2.packs_removed, 0, "{:?}", p2.plan);
    assert_eq!(p2.plan.packs_recovered, 0, "{:?}", p2.plan);
    assert_eq!(p2.plan.packs_waiting, marked.len(), "{:?}", p2.plan);

    // Once the grace period is over (here: a shorter one), they go, with their parity.
    std::thread::sleep(SHORT + Duration::from_millis(50));
    let p3 = prune_with(&repo, SHORT);
    assert_eq!(p3.packs_removed, marked.len(), "{:?}", p3.plan);
    assert_eq!(p3.plan.packs_expired, marked.len());
    assert!(p3.bytes_removed > 0);
    assert!(stored(&repo).is_disjoint(&marked));
    assert!(repo.parity_packs().unwrap().is_disjoint(&marked));
    assert_restores(&repo, &s2.id, &src, &want);
    assert_clean(&full_check(&repo));
    let p4 = prune_with(&repo, SHORT);
    assert_eq!(
        p4.packs_removed + p4.plan.packs_delete + p4.plan.packs_waiting,
        0
    );
}

#[test]
fn a_pack_uploaded_and_indexed_while_prune_plans_is_not_taken_for_missing() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let store = common::test_store();
    let repo = Repository::init(Arc::clone(&store), b"pw", &common::cheap_init()).unwrap();
    // A prune that has listed the packs, held before it reads the index.
    let (pruner, prune_gate) = gated_at(Arc::clone(&store), common::Call::List, FileKind::Index);
    let pruning = std::thread::spawn(move || {
        let repo = Repository::open(pruner, b"pw").unwrap();
        prune_with(&repo, SHORT)
    });
    prune_gate
        .arrived
        .recv_timeout(Duration::from_secs(60))
        .unwrap();
    // Meanwhile a backup uploads and indexes its packs, and is held before its snapshot.
    let want = write_files(&src, &[("a.bin", 200_000, 7)]);
    let (client, gate) = gated(Arc::clone(&store), FileKind::Snapshot);
    let run = {
        let src = src.clone();
        std::thread::spawn(move || {
            let repo = Repository::open(client, b"pw").unwrap();
            let opts = BackupOptions {
                paths: vec![src],
                ..Default::default()
            };
            backup(&repo, opts, &NoProgress).unwrap()
        })
    };
    gate.arrived.recv_timeout(Duration::from_secs(60)).unwrap();
    prune_gate.go.send(()).unwrap();
    let p1 = pruning.join().unwrap();
    assert_eq!(p1.plan.packs_missing_dropped, 0, "{:?}", p1.plan);
    gate.go.send(()).unwrap();
    let b = run.join().unwrap();
    std::thread::sleep(SHORT + Duration::from_millis(50));
    prune_with(&repo, SHORT);
    std::thread::sleep(SHORT + Duration::from_millis(50));
    prune_with(&repo, SHORT);
    assert_restores(&repo, &b.id, &src, &want);
    assert_clean(&full_check(&repo));
}

#[test]
fn a_snapshot_forgotten_while_a_check_runs_is_not_reported_lost() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let store = common::test_store();
    let repo = Repository::init(Arc::clone(&store), b"pw", &common::cheap_init()).unwrap();
    write_files(&src, &[("a.bin", 50_000, 1)]);
    let s1 = backup_dir(&repo, &src);
    write_files(&src, &[("a.bin", 50_000, 2)]);
    backup_dir(&repo, &src);
    assert_clean(&full_check(&repo));
    // A check that listed both snapshots, held before it saves what it saw.
    let (client, gate) = gated(Arc::clone(&store), FileKind::Scrub);
    let run = std::thread::spawn(move || {
        let repo = Repository::open(client, b"pw").unwrap();
        check(&repo, &CheckOptions::default(), &NoProgress).unwrap()
    });
    gate.arrived.recv_timeout(Duration::from_secs(60)).unwrap();
    forget_ids(&repo, &[s1]);
    gate.go.send(()).unwrap();
    assert!(run.join().unwrap().ok());
    assert_clean(&full_check(&repo));
}

#[test]
fn prune_locks_exclude_each_other_and_exclusive_locks_but_not_shared_ones() {
    let mut repo = common::test_repo(64 << 10);
    let shared = repo.lock(LockMode::Shared).unwrap();
    let pruning = repo.lock(LockMode::Prune).unwrap();
    let locked = |r: Result<_, Error>| matches!(r, Err(Error::Locked(_)));
    assert!(locked(repo.lock(LockMode::Prune)), "two prunes at once");
    assert!(locked(repo.lock(LockMode::Exclusive)));
    let another = repo.lock(LockMode::Shared).unwrap();
    drop((pruning, another, shared));
    let exclusive = repo.lock(LockMode::Exclusive).unwrap();
    assert!(locked(repo.lock(LockMode::Prune)));
    drop(exclusive);

    // A prune waiting for another does not hold new backups off.
    let held = repo.lock(LockMode::Prune).unwrap();
    repo.set_lock_wait(Duration::from_secs(30));
    let repo = Arc::new(repo);
    let waiter = {
        let repo = Arc::clone(&repo);
        std::thread::spawn(move || repo.lock(LockMode::Prune).map(drop))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !repo
        .locks()
        .unwrap()
        .iter()
        .any(|(_, l)| l.as_ref().is_some_and(|l| l.waiting))
    {
        assert!(std::time::Instant::now() < deadline, "no waiting lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let no_wait = Repository::open(repo.backend().clone(), b"pw").unwrap();
    drop(no_wait.lock(LockMode::Shared).unwrap());
    assert!(locked(no_wait.lock(LockMode::Exclusive)));
    drop(held);
    waiter.join().unwrap().unwrap();
    assert!(repo.locks().unwrap().is_empty());
}

/// Generation `g` of a small tree: two files that never change, two that always do.
fn generation(root: &Path, g: u64) -> Contents {
    let _ = std::fs::remove_dir_all(root);
    write_files(
        root,
        &[
            ("same/a.bin", 150_000, 1),
            ("same/b.bin", 60_000, 2),
            ("new/c.bin", 120_000, 100 + g),
            ("d.bin", 40_000, 200 + g),
        ],
    )
}

/// Kill prune at every write (`grace` selects the phase), then check that nothing kept was
/// lost and that the next prunes leave the repository clean. With `grace` not zero, the
/// repository holds marked packs whose time has come, so the deletion of marked packs is
/// interrupted too.
fn prune_killed_at_every_write(grace: Duration) -> usize {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let mut base = common::test_repo(16 << 10);
    base.update_config(|c| c.parity_percent = 10).unwrap();
    let gens: Vec<(SnapshotId, Contents)> = (0..5)
        .map(|g| {
            let c = generation(&src, g);
            (backup_dir(&base, &src), c)
        })
        .collect();
    forget_ids(&base, &gens[..2].iter().map(|g| g.0).collect::<Vec<_>>());
    if !grace.is_zero() {
        prune_with(&base, grace);
        forget_ids(&base, &[gens[2].0]);
        std::thread::sleep(grace + Duration::from_millis(50));
    }
    let mut crashes = 0;
    for budget in 0.. {
        let store = common::clone_store(base.backend().as_ref());
        let repo =
            Repository::open(common::crash_after(Arc::clone(&store), budget), b"pw").unwrap();
        let opts = PruneOptions {
            max_unused_percent: 0.0,
            grace,
            ..Default::default()
        };
        let finished = prune(&repo, &opts, &NoProgress).is_ok();
        drop(repo);
        let healthy = Repository::open(store, b"pw").unwrap();
        healthy.remove_locks(true).unwrap();
        let c = check(&healthy, &CheckOptions::default(), &NoProgress).unwrap();
        assert!(
            c.ok(),
            "{grace:?}, crash after {budget} writes: {:?}",
            c.errors
        );
        for (id, want) in &gens[3..] {
            assert_restores(&healthy, id, &src, want);
        }
        if finished {
            break;
        }
        crashes += 1;
        prune_with(&healthy, grace);
        std::thread::sleep(grace);
        prune_with(&healthy, grace);
        let c = full_check(&healthy);
        assert!(
            c.ok() && c.warnings.is_empty(),
            "{grace:?}, after a crash at {budget}: {:?} {:?}",
            c.errors,
            c.warnings
        );
        for (id, want) in &gens[3..] {
            assert_restores(&healthy, id, &src, want);
        }
    }
    crashes
}

#[test]
fn a_prune_killed_while_deleting_marked_packs_loses_nothing() {
    let crashes = prune_killed_at_every_write(Duration::from_millis(100));
    assert!(crashes > 5, "only {crashes} crash points");
}

#[test]
fn a_prune_without_grace_killed_at_every_write_loses_nothing() {
    let crashes = prune_killed_at_every_write(Duration::ZERO);
    assert!(crashes > 5, "only {crashes} crash points");
}
