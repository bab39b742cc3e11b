//! Lifecycle: forget, prune (also interrupted at every step), tag and protection, and locks
//! that make a waiting prune safe beside backups.

mod common;

use common::{assert_clean, assert_restores, backup_dir, full_check, prune_all, Contents};

use std::path::Path;
use std::sync::Arc;

use ibars_core::backend::Backend;
use ibars_core::error::Error;
use ibars_core::id::SnapshotId;
use ibars_core::ops::check::{check, CheckOptions};
use ibars_core::ops::forget::policy::Policy;
use ibars_core::ops::forget::{forget, ForgetOptions};
use ibars_core::ops::prune::{prune, PruneOptions};
use ibars_core::ops::tag::{tag, TagChanges};
use ibars_core::progress::NoProgress;
use ibars_core::repo::{LockMode, Repository};
use rand::{Rng, SeedableRng};

/// Rewrite the source for generation `g`: some files stay, some change, some go, some come.
fn make_generation(root: &Path, g: u64) -> Contents {
    let mut rng = rand::rngs::StdRng::seed_from_u64(g);
    let _ = std::fs::remove_dir_all(root);
    let mut out = Contents::new();
    for f in 0..8u64 {
        // Files 0-3 never change; the others change every generation.
        let seed = if f < 4 { f } else { 1000 * g + f };
        let mut frng = rand::rngs::StdRng::seed_from_u64(seed);
        let len = frng.gen_range(10_000..300_000);
        let data: Vec<u8> = (0..len).map(|_| frng.gen()).collect();
        let rel = format!("d{}/f{f}.bin", f % 2);
        out.insert(rel, data);
    }
    out.insert(
        format!("gen{g}.txt"),
        format!("generation {g} {}", rng.gen::<u64>()).into_bytes(),
    );
    for (rel, data) in &out {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    out
}

/// A repository with `n` generations; returns the snapshots with what each should restore.
fn history(repo: &Repository, src: &Path, n: u64) -> Vec<(SnapshotId, Contents)> {
    (0..n)
        .map(|g| {
            let c = make_generation(src, g);
            (backup_dir(repo, src), c)
        })
        .collect()
}

fn stored_bytes(repo: &Repository) -> u64 {
    repo.stored_packs().unwrap().values().sum()
}

#[test]
fn forget_and_prune_free_space_and_keep_every_kept_snapshot_whole() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let mut repo = common::test_repo(16 << 10);
    repo.update_config(|c| c.parity_percent = 10).unwrap();
    let gens = history(&repo, &src, 6);
    assert_clean(&full_check(&repo));
    let before = stored_bytes(&repo);

    let opts = ForgetOptions {
        policy: Policy {
            last: Some(2),
            ..Default::default()
        },
        ..Default::default()
    };
    let f = forget(&repo, &opts).unwrap();
    assert_eq!(f.removed, gens[..4].iter().map(|g| g.0).collect::<Vec<_>>());
    let r = prune_all(&repo);
    assert!(
        r.plan.packs_delete + r.plan.packs_repack > 0,
        "{:?}",
        r.plan
    );
    assert_eq!(r.plan.bytes_unused_after, 0, "{:?}", r.plan);
    let after = stored_bytes(&repo);
    assert!(after < before * 2 / 3, "{after} of {before}");
    let c = full_check(&repo);
    assert_clean(&c);
    for (id, want) in &gens[4..] {
        assert_restores(&repo, id, &src, want);
    }
    // Every pack has parity, and no parity file is left without its pack.
    let packs = repo.stored_packs().unwrap();
    let parity = repo.parity_packs().unwrap();
    assert_eq!(
        packs
            .keys()
            .copied()
            .collect::<std::collections::HashSet<_>>(),
        parity
    );

    // A second prune finds nothing to do.
    let again = prune(&repo, &PruneOptions::default(), &NoProgress).unwrap();
    assert_eq!(again.plan.packs_delete + again.plan.packs_repack, 0);
}

#[test]
fn protected_snapshots_survive_forget_and_tags_change_by_rewrite() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let repo = common::test_repo(64 << 10);
    let gens = history(&repo, &src, 4);
    let changes = TagChanges {
        add: vec!["keep-me".into()],
        protect: Some("audit".into()),
        ..Default::default()
    };
    let t = tag(&repo, &[gens[0].0], &changes).unwrap();
    let protected = t[0].new.unwrap();
    let snap = repo.load_snapshot(&protected).unwrap();
    assert_eq!(snap.original, Some(gens[0].0));
    assert_eq!(snap.protected.as_ref().unwrap().reason, "audit");
    assert!(
        repo.load_snapshot(&gens[0].0).is_err(),
        "the old one is gone"
    );

    let opts = ForgetOptions {
        policy: Policy {
            last: Some(1),
            ..Default::default()
        },
        ..Default::default()
    };
    let f = forget(&repo, &opts).unwrap();
    assert_eq!(f.removed, vec![gens[1].0, gens[2].0]);
    // Forgetting it by id is refused.
    let by_id = ForgetOptions {
        ids: vec![protected],
        ..Default::default()
    };
    assert!(forget(&repo, &by_id).is_err());
    prune(&repo, &PruneOptions::default(), &NoProgress).unwrap();
    assert_restores(&repo, &protected, &src, &gens[0].1);
    // The check knows these removals were on purpose.
    let c = full_check(&repo);
    assert_clean(&c);
}

#[test]
fn prune_interrupted_at_every_step_loses_nothing() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let mut base = common::test_repo(16 << 10);
    base.update_config(|c| c.parity_percent = 10).unwrap();
    let gens = history(&base, &src, 5);
    let opts = ForgetOptions {
        policy: Policy {
            last: Some(2),
            ..Default::default()
        },
        ..Default::default()
    };
    forget(&base, &opts).unwrap();
    let popts = PruneOptions {
        max_unused_percent: 0.0,
        ..Default::default()
    };
    let mut crashes = 0;
    for budget in 0.. {
        let store = common::clone_store(base.backend().as_ref());
        let crashing = common::crash_after(Arc::clone(&store), budget);
        let repo = Repository::open(crashing, b"pw").unwrap();
        let finished = prune(&repo, &popts, &NoProgress).is_ok();
        drop(repo);
        // After the "crash": the dead process's lock is removed, as `unlock` would once it is
        // gone; then everything kept must still restore, and a full prune must finish clean.
        let healthy = Repository::open(store, b"pw").unwrap();
        healthy.remove_locks(true).unwrap();
        let c = check(&healthy, &CheckOptions::default(), &NoProgress).unwrap();
        assert!(c.ok(), "crash after {budget} mutations: {:?}", c.errors);
        for (id, want) in &gens[3..] {
            assert_restores(&healthy, id, &src, want);
        }
        if finished {
            break;
        }
        crashes += 1;
        prune(&healthy, &popts, &NoProgress).unwrap();
        let c = full_check(&healthy);
        assert!(
            c.ok() && c.warnings.is_empty(),
            "after crash at {budget}: {:?} {:?}",
            c.errors,
            c.warnings
        );
    }
    assert!(crashes > 5, "only {crashes} crash points");
}

#[test]
fn a_waiting_exclusive_lock_goes_ahead_of_new_shared_ones() {
    let mut repo = common::test_repo(64 << 10);
    let shared = repo.lock(LockMode::Shared).unwrap();
    // Without waiting, an exclusive lock fails at once.
    assert!(matches!(
        repo.lock(LockMode::Exclusive),
        Err(Error::Locked(_))
    ));
    repo.set_lock_wait(std::time::Duration::from_secs(30));
    let repo = Arc::new(repo);
    let r2 = Arc::clone(&repo);
    let waiter = std::thread::spawn(move || r2.lock(LockMode::Exclusive).map(|_| ()));
    // Once the waiter has announced itself, new shared locks are refused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let waiting = repo
            .locks()
            .unwrap()
            .iter()
            .any(|(_, l)| l.as_ref().is_some_and(|l| l.waiting));
        if waiting {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no waiting lock appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let no_wait = Repository::open(repo.backend().clone(), b"pw").unwrap();
    assert!(matches!(
        no_wait.lock(LockMode::Shared),
        Err(Error::Locked(_))
    ));
    assert!(!waiter.is_finished());
    drop(shared);
    waiter.join().unwrap().unwrap();
    // The exclusive lock was released: the repository is free again.
    assert!(repo.locks().unwrap().is_empty());
    no_wait.lock(LockMode::Shared).unwrap();
}

#[test]
fn copy_sends_only_what_the_destination_lacks_and_resumes() {
    use ibars_core::ops::copy::copy;
    let d = tempfile::tempdir().unwrap();
    let src_dir = d.path().join("src");
    let src = common::test_repo(16 << 10);
    let gens = history(&src, &src_dir, 3);
    let ids: Vec<SnapshotId> = gens.iter().map(|g| g.0).collect();

    let dst = common::test_repo(16 << 10);
    let first = copy(&src, &dst, &ids, &NoProgress).unwrap();
    assert_eq!(first.snapshots.len(), ids.len());
    assert!(first.snapshots.iter().all(|c| c.copy.is_some()));
    let c = full_check(&dst);
    assert_clean(&c);
    for (c, (_, want)) in first.snapshots.iter().zip(&gens) {
        assert_restores(&dst, &c.copy.unwrap(), &src_dir, want);
    }
    // Again: nothing to send.
    let again = copy(&src, &dst, &ids, &NoProgress).unwrap();
    assert_eq!(again.snapshots.len(), ids.len());
    assert!(again.snapshots.iter().all(|c| c.already_there));
    assert_eq!(again.blobs_sent, 0);
    // A new generation: only its new data is sent.
    let (id4, want4) = history(&src, &src_dir, 4).pop().unwrap();
    let more = copy(&src, &dst, &[id4], &NoProgress).unwrap();
    assert!(more.blobs_present > 0 && more.bytes_sent < first.bytes_sent / 2);
    assert_restores(&dst, &more.snapshots[0].copy.unwrap(), &src_dir, &want4);

    // Interrupted part way through, then resumed: what arrived is not sent again.
    let store: Arc<dyn Backend> = Arc::new(ibars_core::backend::OpendalBackend::memory().unwrap());
    let fresh = Repository::init(Arc::clone(&store), b"pw", &common::cheap_init()).unwrap();
    drop(fresh);
    let writes = first.snapshots.len() as i64 * 3;
    let crashing = common::crash_after(Arc::clone(&store), writes);
    let dying = Repository::open(crashing, b"pw").unwrap();
    assert!(copy(&src, &dying, &ids, &NoProgress).is_err());
    let healthy = Repository::open(store, b"pw").unwrap();
    healthy.remove_locks(true).unwrap();
    let resumed = copy(&src, &healthy, &ids, &NoProgress).unwrap();
    assert!(
        resumed.blobs_present > 0,
        "nothing of the first attempt was reused"
    );
    assert!(resumed.bytes_sent < first.bytes_sent);
    let c = full_check(&healthy);
    assert!(c.ok(), "{:?}", c.errors);
    assert_eq!(healthy.snapshots().unwrap().len(), ids.len());
}

#[test]
fn copy_writes_blobs_in_the_destinations_compression_mode() {
    use ibars_core::compress::{Codec, Compression};
    use ibars_core::ops::copy::copy;
    let d = tempfile::tempdir().unwrap();
    let src_dir = d.path().join("src");
    std::fs::create_dir_all(&src_dir).unwrap();
    let mut want = Contents::new();
    for f in 0..4 {
        let text = format!("line {f} of a file that compresses well\n").repeat(20_000);
        std::fs::write(src_dir.join(format!("t{f}.txt")), &text).unwrap();
        want.insert(format!("t{f}.txt"), text.into_bytes());
    }
    let repo_in = |compression| {
        let opts = ibars_core::repo::InitOptions {
            compression,
            ..common::cheap_init()
        };
        Repository::init(common::test_store(), b"pw", &opts).unwrap()
    };
    // What each repository's index says of its blobs' codecs: (zstd, raw) counts.
    let codecs = |repo: &Repository| {
        let index = repo.load_index().unwrap();
        let entries: Vec<_> = index
            .iter()
            .map(|(id, _)| index.entry(id).unwrap().1)
            .collect();
        assert!(!entries.is_empty());
        let zstd = entries.iter().filter(|e| e.codec == Codec::Zstd).count();
        (zstd, entries.len() - zstd)
    };
    let src = repo_in(Compression::Auto);
    let id = backup_dir(&src, &src_dir);
    assert_eq!(codecs(&src).1, 0, "text should compress in the source");

    let plain = repo_in(Compression::Off);
    let there = copy(&src, &plain, &[id], &NoProgress).unwrap();
    let id = there.snapshots[0].copy.unwrap();
    assert_eq!(
        codecs(&plain).0,
        0,
        "a repository set to off got zstd blobs"
    );

    let squeezed = repo_in(Compression::Auto);
    let back = copy(&plain, &squeezed, &[id], &NoProgress).unwrap();
    assert_eq!(
        codecs(&squeezed).1,
        0,
        "copy from an uncompressed repository stayed raw"
    );
    for repo in [&plain, &squeezed] {
        let c = full_check(repo);
        assert_clean(&c);
    }
    assert_restores(&squeezed, &back.snapshots[0].copy.unwrap(), &src_dir, &want);
}
