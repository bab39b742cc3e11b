//! Integrity: `check` finds every corruption, parity repairs every single-shard damage, and the
//! repair commands bring a damaged repository back to one that passes `check --read-data`.

mod common;

use common::{assert_clean, backup_dir, full_check};

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use ibars_core::backend::{Backend, FileKind, OpendalBackend};
use ibars_core::ops::check::{check, CheckOptions, ParityStatus, Subset};
use ibars_core::ops::repair::{
    repair_index, repair_packs, repair_snapshots, RepairSnapshotsOptions,
};
use ibars_core::ops::restore::{restore, RestoreOptions};
use ibars_core::parity::ParityFile;
use ibars_core::progress::NoProgress;
use ibars_core::repo::Repository;
use rand::{Rng, SeedableRng};

/// Every object of a repository, to clone it cheaply (the bytes are shared).
type Objects = BTreeMap<(u8, String), Bytes>;

const KINDS: [FileKind; 8] = FileKind::LISTED;

fn kind_of(k: u8) -> FileKind {
    if k == 255 {
        FileKind::Config
    } else {
        KINDS[k as usize]
    }
}

fn dump(repo: &Repository) -> Objects {
    let b = repo.backend();
    let mut out = BTreeMap::new();
    out.insert(
        (255, "config".to_string()),
        b.read(FileKind::Config, "config").unwrap(),
    );
    for (i, k) in KINDS.iter().enumerate() {
        for e in b.list(*k).unwrap() {
            let bytes = b.read(*k, &e.name).unwrap();
            out.insert((i as u8, e.name), bytes);
        }
    }
    out
}

fn load(objects: &Objects) -> Repository {
    let b = OpendalBackend::memory().unwrap();
    for ((k, name), bytes) in objects {
        b.write(kind_of(*k), name, bytes.clone()).unwrap();
    }
    Repository::open(Arc::new(b), b"pw").unwrap()
}

fn kind_index(k: FileKind) -> u8 {
    KINDS.iter().position(|x| *x == k).unwrap() as u8
}

/// A source tree of a few MiB in several files, so that a repository with 64 KiB chunks and
/// 1 MiB packs has a handful of data packs, a tree pack, and files spread across packs.
fn make_source(root: &Path, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for d in 0..3 {
        let dir = root.join(format!("dir{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..4 {
            let len = rng.gen_range(1_000..600_000);
            let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            std::fs::write(dir.join(format!("file{f}.bin")), data).unwrap();
        }
        std::fs::write(dir.join("notes.txt"), format!("text {d} ").repeat(5000)).unwrap();
    }
}

/// A repository with two snapshots (the second after a change), checked once so that the
/// scrub state knows its snapshots.
fn fixture(parity: u8) -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_source(&src, 1);
    let mut repo = common::test_repo(64 << 10);
    if parity > 0 {
        repo.update_config(|c| c.parity_percent = parity).unwrap();
    }
    backup_dir(&repo, &src);
    std::fs::write(src.join("dir1/new.bin"), vec![42u8; 300_000]).unwrap();
    backup_dir(&repo, &src);
    let r = full_check(&repo);
    assert!(r.ok(), "{:?}", r.errors);
    (dir, repo)
}

#[test]
fn a_clean_repository_checks_clean_and_is_recorded() {
    let (_d, repo) = fixture(0);
    let r = full_check(&repo);
    assert_clean(&r);
    assert_eq!(r.scope.snapshots, 2);
    assert_eq!(r.scope.packs_read, r.scope.packs_total);
    assert!(r.scope.packs_total >= 4, "{}", r.scope.packs_total);
    let history = ibars_core::history::load_all(&repo).unwrap();
    assert!(history.unreadable.is_empty());
    let checks: Vec<_> = history
        .records
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.kind == ibars_core::history::RunKind::Check)
        .collect();
    assert_eq!(checks.len(), 2);
    assert!(checks[1].check.as_ref().unwrap().read_data && checks[1].errors == 0);
    let state = ibars_core::ops::check::scrub::load_state(&repo)
        .unwrap()
        .state;
    assert_eq!(state.packs.len(), r.scope.packs_total);
    assert!(state.packs.values().all(|p| p.verified.is_some()));
    assert_eq!(repo.backend().list(FileKind::Scrub).unwrap().len(), 1);
}

#[test]
fn subsets_cover_every_pack_once() {
    let (_d, repo) = fixture(0);
    let mut read = 0;
    for n in 1..=3 {
        let opts = CheckOptions {
            read_data: true,
            subset: Subset::Part { n, m: 3 },
            ..Default::default()
        };
        let r = check(&repo, &opts, &NoProgress).unwrap();
        assert!(r.ok());
        read += r.scope.packs_read;
    }
    assert_eq!(read, full_check(&repo).scope.packs_total);
}

/// Corrupt one object: flip a byte, truncate, or delete.
fn corrupt(objects: &Objects, key: &(u8, String), how: u8, rng: &mut impl Rng) -> Objects {
    let mut o = objects.clone();
    let bytes = o[key].to_vec();
    match how {
        0 => {
            let mut b = bytes;
            let at = rng.gen_range(0..b.len());
            b[at] ^= 1 << rng.gen_range(0..8);
            o.insert(key.clone(), b.into());
        }
        1 => {
            let cut = rng.gen_range(0..bytes.len());
            o.insert(key.clone(), Bytes::copy_from_slice(&bytes[..cut]));
        }
        _ => {
            o.remove(key);
        }
    }
    o
}

#[test]
fn check_read_data_detects_every_corruption() {
    let (_d, repo) = fixture(0);
    let pristine = dump(&repo);
    let targets: Vec<(u8, String)> = pristine
        .keys()
        .filter(|(k, _)| {
            [FileKind::Pack, FileKind::Index, FileKind::Snapshot]
                .iter()
                .any(|f| kind_index(*f) == *k)
        })
        .cloned()
        .collect();
    assert!(targets.len() >= 8, "{}", targets.len());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // Every kind of damage on every object, at random places, until 300 cases.
    let rounds = 300usize.div_ceil(3 * targets.len());
    for _ in 0..rounds {
        for how in 0..3u8 {
            for t in &targets {
                let damaged = corrupt(&pristine, t, how, &mut rng);
                let repo = load(&damaged);
                let r = full_check(&repo);
                assert!(!r.ok(), "undetected: {how} on {:?}", t);
            }
        }
    }
}

/// Flip one byte in every shard of every pack in turn (data and parity shards), and repair.
#[test]
fn parity_repairs_every_single_shard_damage() {
    let (_d, repo) = fixture(10);
    let pristine = dump(&repo);
    let pack_kind = kind_index(FileKind::Pack);
    let par_kind = kind_index(FileKind::Parity);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut cases = 0;
    for ((k, name), par_bytes) in pristine.iter().filter(|((k, _), _)| *k == par_kind) {
        let _ = k;
        let par = ParityFile::parse(par_bytes, "p").unwrap();
        let pack = pristine[&(pack_kind, name.clone())].clone();
        let s = par.shard_size as usize;
        // Exhaustively in memory: every data shard of every pack.
        for shard in 0..par.data_shards as usize {
            let mut b = pack.to_vec();
            let at = (shard * s + rng.gen_range(0..s)).min(b.len() - 1);
            b[at] ^= 0x80;
            assert_eq!(par.repair(Some(&b)).unwrap(), pack, "shard {shard}");
            cases += 1;
        }
    }
    assert!(cases > 100, "{cases}");
    eprintln!("{cases} single-shard damages repaired in memory");
    // Through the repository: a sample of pack and parity-file damage, repaired by
    // `repair packs` to a repository that passes `check --read-data`.
    let some = |kind: u8| pristine.keys().filter(move |(k, _)| *k == kind).take(6);
    let keys: Vec<(u8, String)> = some(pack_kind).chain(some(par_kind)).cloned().collect();
    assert_eq!(keys.len(), 12, "the fixture needs 6 packs with parity");
    for (i, key) in keys.iter().enumerate() {
        let mut o = pristine.clone();
        let mut b = o[key].to_vec();
        let at = rng.gen_range(0..b.len());
        b[at] ^= 0x01;
        o.insert(key.clone(), b.into());
        let repo = load(&o);
        let before = full_check(&repo);
        if key.0 == pack_kind {
            assert!(!before.ok());
            assert_eq!(before.damaged_packs.len(), 1, "{:?}", before.errors);
            assert_eq!(before.damaged_packs[0].parity, ParityStatus::Repairable);
        } else {
            assert!(!before.warnings.is_empty(), "damaged parity {i} unnoticed");
        }
        let rep = repair_packs(&repo, None, false, &NoProgress).unwrap();
        assert_eq!(rep.rebuilt.len() + rep.parity_rewritten.len(), 1, "{rep:?}");
        let after = full_check(&repo);
        assert_clean(&after);
    }
}

#[test]
fn repair_index_rebuilds_lost_index_files() {
    let (_d, repo) = fixture(0);
    let idx = repo.backend().list(FileKind::Index).unwrap();
    for e in &idx {
        repo.backend().remove(FileKind::Index, &e.name).unwrap();
    }
    let r = full_check(&repo);
    assert!(!r.ok());
    let rep = repair_index(&repo, false, &NoProgress).unwrap();
    assert!(rep.headers_read >= 4 && rep.unreadable.is_empty());
    let r = full_check(&repo);
    assert_clean(&r);
}

fn files_under(root: &Path) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out
}

#[test]
fn lost_data_is_traced_salvaged_and_cut_from_snapshots() {
    let (d, repo) = fixture(0);
    // Damage one blob in the largest data pack: the other blobs in it survive.
    let packs = repo.backend().list(FileKind::Pack).unwrap();
    let biggest = packs.iter().max_by_key(|e| e.size).unwrap();
    let mut b = repo
        .backend()
        .read(FileKind::Pack, &biggest.name)
        .unwrap()
        .to_vec();
    b[100] ^= 0xff;
    repo.backend()
        .write(FileKind::Pack, &biggest.name, b.into())
        .unwrap();

    let r = full_check(&repo);
    assert!(!r.ok());
    assert_eq!(r.damaged_packs.len(), 1);
    assert_eq!(r.damaged_packs[0].blobs.len(), 1);
    assert!(!r.affected.is_empty());
    let lost: HashSet<String> = r.affected.iter().flat_map(|a| a.paths.clone()).collect();
    assert!(!lost.is_empty());
    assert!(
        lost.iter()
            .all(|p| p.ends_with(".bin") || p.ends_with(".txt")),
        "{lost:?}"
    );

    let rep = repair_packs(&repo, None, true, &NoProgress).unwrap();
    assert_eq!(rep.unrecoverable.len(), 1);
    assert_eq!(rep.unrecoverable[0].blobs_lost.len(), 1);
    assert!(rep.unrecoverable[0].blobs_saved >= 1);
    assert!(repo
        .backend()
        .list(FileKind::Pack)
        .unwrap()
        .iter()
        .all(|e| e.name != biggest.name));

    let opts = RepairSnapshotsOptions {
        forget: true,
        ..Default::default()
    };
    let rs = repair_snapshots(&repo, &opts).unwrap();
    assert_eq!(rs.repaired.len(), r.affected.len());
    let after = full_check(&repo);
    assert!(after.ok(), "{:?}", after.errors);

    // The repaired latest snapshot restores everything but the cut files, identical.
    let (_, latest) = repo.snapshots().unwrap().pop().unwrap();
    assert!(latest.tags.contains(&"repaired".to_string()) && latest.original.is_some());
    let target = d.path().join("restored");
    let ro = RestoreOptions {
        target: target.clone(),
        ..Default::default()
    };
    let res = restore(&repo, &latest, &ro, &NoProgress).unwrap();
    assert!(res.errors.is_empty());
    let src = d.path().join("src");
    let restored_root = target.join(src.strip_prefix("/").unwrap());
    let cut: HashSet<String> = rs
        .repaired
        .last()
        .unwrap()
        .removed
        .iter()
        .cloned()
        .collect();
    for f in files_under(&src) {
        let abs = format!("{}/{f}", src.display());
        let got = restored_root.join(&f);
        if cut.contains(&abs) {
            assert!(!got.exists(), "{f} should have been cut");
        } else {
            assert_eq!(
                std::fs::read(src.join(&f)).unwrap(),
                std::fs::read(&got).unwrap(),
                "{f}"
            );
        }
    }
    assert!(!cut.is_empty());
}

#[test]
fn a_deleted_snapshot_is_reported_lost_but_a_repaired_one_is_not() {
    let (_d, repo) = fixture(0);
    let snaps = repo.backend().list(FileKind::Snapshot).unwrap();
    repo.backend()
        .remove(FileKind::Snapshot, &snaps[0].name)
        .unwrap();
    let r = full_check(&repo);
    assert!(r
        .errors
        .iter()
        .any(|f| f.object == format!("snapshot {}", snaps[0].name)));
    // Reported until acknowledged by `repair snapshots`.
    assert!(!full_check(&repo).ok());
    // A dry run names the loss but leaves it reported.
    let dry = RepairSnapshotsOptions {
        dry_run: true,
        ..Default::default()
    };
    let rs = repair_snapshots(&repo, &dry).unwrap();
    assert_eq!((rs.lost.len(), rs.lost_acknowledged.len()), (1, 0));
    assert!(!full_check(&repo).ok());
    let rs = repair_snapshots(&repo, &RepairSnapshotsOptions::default()).unwrap();
    assert_eq!(rs.lost_acknowledged, rs.lost);
    assert_eq!(rs.lost.len(), 1);
    assert!(full_check(&repo).ok());
}
