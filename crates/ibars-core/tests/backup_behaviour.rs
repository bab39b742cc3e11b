//! Backup behaviour that needs a hook into the run: files changing while read, interruption,
//! and the statistics recorded in snapshots.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::test_repo;
use ibars_core::ops::backup::{backup, BackupOptions};
use ibars_core::progress::{NoProgress, Progress};
use ibars_core::Error;

/// Appends to a file the first time any bytes are reported read.
struct Meddler {
    target: PathBuf,
    done: AtomicBool,
    warnings: Mutex<Vec<String>>,
}

impl Progress for Meddler {
    fn bytes_done(&self, _bytes: u64) {
        if !self.done.swap(true, Ordering::SeqCst) {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&self.target)
                .unwrap();
            f.write_all(b"appended while the backup read the file")
                .unwrap();
        }
    }
    fn warn(&self, message: &str) {
        self.warnings.lock().unwrap().push(message.to_string());
    }
}

#[test]
fn a_file_changed_while_read_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("growing.log");
    std::fs::write(&file, vec![7u8; 200_000]).unwrap();
    let repo = test_repo(4096);
    let progress = Meddler {
        target: file.clone(),
        done: AtomicBool::new(false),
        warnings: Mutex::default(),
    };
    let r = backup(
        &repo,
        BackupOptions {
            paths: vec![dir.path().to_path_buf()],
            ..Default::default()
        },
        &progress,
    )
    .unwrap();
    assert_eq!(r.changed_while_read, vec![file.clone()]);
    assert_eq!(r.snapshot.summary.files_changed_while_read, 1);
    assert!(progress
        .warnings
        .lock()
        .unwrap()
        .iter()
        .any(|w| w.contains("changed while it was read")));
}

/// Sets the cancel flag once some data was read.
struct Canceller(Arc<AtomicBool>);

impl Progress for Canceller {
    fn bytes_done(&self, _bytes: u64) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn cancelled_backup_saves_no_snapshot_but_indexes_what_it_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..20 {
        let mut data = vec![0u8; 100_000];
        blake3::Hasher::new()
            .update(&[i])
            .finalize_xof()
            .fill(&mut data);
        std::fs::write(dir.path().join(format!("f{i}")), data).unwrap();
    }
    let repo = test_repo(4096);
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = BackupOptions {
        paths: vec![dir.path().to_path_buf()],
        cancel: Arc::clone(&cancel),
        ..Default::default()
    };
    let err = backup(&repo, opts, &Canceller(cancel)).unwrap_err();
    assert!(matches!(err, Error::Interrupted), "{err}");
    assert!(repo.snapshots().unwrap().is_empty());
    assert!(
        repo.load_index().unwrap().blob_count() > 0,
        "what was uploaded is indexed for reuse"
    );
    // The next backup completes and records exact statistics.
    let r = backup(
        &repo,
        BackupOptions {
            paths: vec![dir.path().to_path_buf()],
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    let s = &r.snapshot.summary;
    assert_eq!(s.files_new, 20);
    assert_eq!(s.bytes_total, 2_000_000);
    assert_eq!(s.bytes_read, 2_000_000);
    assert!(s.blobs_added > 0 && s.bytes_stored > 0);
    assert!(s.duration_ms > 0 && s.finished >= s.started);
    assert_eq!(repo.snapshots().unwrap().len(), 1);
}

#[test]
fn deletions_and_moves_are_counted_through_deleted_directories() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let w = |rel: &str, data: &[u8]| {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    w("keep.txt", b"keep");
    w("gone/a.txt", b"a-content");
    w("gone/b.txt", b"bb-content");
    w("gone/sub/c.txt", b"ccc-content");
    w("gone/sub/empty.txt", b"");
    w("old/name.bin", &common::random(5000, 1));
    let repo = test_repo(1 << 16);
    let first = common::backup_report(&repo, &src);
    assert_eq!(first.snapshot.summary.files_deleted, 0);
    std::fs::remove_dir_all(src.join("gone")).unwrap();
    std::fs::create_dir_all(src.join("new")).unwrap();
    std::fs::rename(src.join("old/name.bin"), src.join("new/name.bin")).unwrap();
    let s = common::backup_report(&repo, &src).snapshot.summary;
    // gone/ held 4 files in 2 directories; old/name.bin moved to new/.
    assert_eq!((s.files_deleted, s.dirs_deleted), (5, 2), "{s:?}");
    assert_eq!(s.bytes_deleted, 9 + 10 + 11 + 5000);
    assert_eq!(s.files_moved, 1);
    assert_eq!(s.files_new, 1);
    // Content that reappears under another name counts as a move once only.
    std::fs::copy(src.join("new/name.bin"), src.join("copy.bin")).unwrap();
    let s = common::backup_report(&repo, &src).snapshot.summary;
    assert_eq!((s.files_deleted, s.files_moved, s.files_new), (0, 0, 1));
}

#[test]
fn backups_record_their_run_and_keep_the_given_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), b"some text\n").unwrap();
    let repo = test_repo(1 << 16);
    let time: jiff::Timestamp = "2026-11-03T02:00:00Z".parse().unwrap();
    let r = backup(
        &repo,
        BackupOptions {
            paths: vec![src.clone()],
            time: Some(time),
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    assert_eq!(r.snapshot.time, time);
    let h = ibars_core::history::load_all(&repo).unwrap();
    assert_eq!(h.records.len(), 1);
    let (name, rec) = &h.records[0];
    assert_eq!(Some(name), r.record.as_ref());
    assert_eq!(rec.time, time, "the record carries the snapshot's time");
    let b = rec.backup.as_ref().unwrap();
    assert_eq!(b.snapshot, r.id.to_hex());
    assert_eq!(
        b.verdict.as_ref().unwrap().status,
        ibars_insight::record::Status::Learning
    );
    // A failed backup is recorded too.
    let failed = backup(
        &repo,
        BackupOptions {
            paths: vec![src.join("missing")],
            ..Default::default()
        },
        &NoProgress,
    );
    assert!(failed.is_err());
    let h = ibars_core::history::load_all(&repo).unwrap();
    assert_eq!(h.records.len(), 2);
    assert_eq!(
        h.records[1].1.result,
        ibars_insight::record::RunResult::Failed
    );
    assert!(h.records[1].1.error.as_ref().unwrap().contains("missing"));
}

#[test]
fn an_extended_attribute_set_between_backups_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let f = src.join("a.txt");
    std::fs::write(&f, b"text").unwrap();
    if xattr::set(&f, "user.probe", b"1").is_err() {
        eprintln!("skipped: no user xattrs on this file system");
        return;
    }
    xattr::remove(&f, "user.probe").unwrap();
    let repo = test_repo(1 << 16);
    common::backup_report(&repo, &src);
    // Setting an attribute changes only the ctime; the backup must not take the old list.
    xattr::set(&f, "user.tag", b"v2").unwrap();
    let r = common::backup_report(&repo, &src);
    let target = dir.path().join("restore");
    let opts = ibars_core::ops::restore::RestoreOptions {
        target: target.clone(),
        ..Default::default()
    };
    ibars_core::ops::restore::restore(&repo, &r.snapshot, &opts, &NoProgress).unwrap();
    let back = target.join(f.strip_prefix("/").unwrap());
    assert_eq!(
        xattr::get(&back, "user.tag").unwrap().as_deref(),
        Some(&b"v2"[..])
    );
}

/// Every path in snapshot `r`, relative to `base`, sorted.
fn snapshot_paths(
    repo: &ibars_core::repo::Repository,
    r: &ibars_core::ops::backup::BackupReport,
    base: &std::path::Path,
) -> Vec<String> {
    let index = repo.load_index().unwrap();
    let cache = ibars_core::repo::TreeCache::new(1 << 20);
    let mut out = vec![];
    ibars_core::ops::walk::walk(
        repo,
        &index,
        &cache,
        &r.snapshot.tree,
        None,
        true,
        &mut |p, _| {
            match p.strip_prefix(base) {
                Ok(rel) if !rel.as_os_str().is_empty() => out.push(rel.display().to_string()),
                _ => {}
            }
            Ok(())
        },
    )
    .unwrap();
    out.sort();
    out
}

/// The scanner lists ahead of the walker in its order (a mismatch fails debug builds), and an
/// early scan ([`Scan::start`]) gives the same snapshot as the backup's own, under excludes,
/// markers, skipped paths, several sources and symlinks to directories.
#[test]
fn the_early_scan_and_the_walk_agree() {
    use ibars_core::ops::backup::Scan;
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    for d in [
        "a/deep/er/est",
        "a/marked/sub",
        "a/skipme",
        "a/cache",
        "b/x",
        "c/empty",
    ] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    for f in [
        "a/1",
        "a/deep/2",
        "a/deep/er/est/3",
        "a/marked/sub/4",
        "a/marked/.nobackup",
        "a/skipme/5",
        "a/cache/6.tmp",
        "a/cache/7",
        "b/x/8",
        "c/9",
    ] {
        std::fs::write(base.join(f), f).unwrap();
    }
    std::os::unix::fs::symlink(base.join("a/deep"), base.join("b/link")).unwrap();
    let opts = || BackupOptions {
        paths: vec![
            base.join("b"),
            base.join("a"),
            base.join("c/empty"),
            base.join("c/9"),
        ],
        excludes: vec!["*.tmp".into()],
        exclude_if_present: vec![".nobackup".into()],
        skip_paths: vec![base.join("a/skipme")],
        ..Default::default()
    };
    let repo = test_repo(4096);
    let own = backup(&repo, opts(), &NoProgress).unwrap();
    let mut early = opts();
    early.scan = Some(Scan::start(&early).unwrap());
    let second = backup(&repo, early, &NoProgress).unwrap();
    let expect = [
        "a",
        "a/1",
        "a/cache",
        "a/cache/7",
        "a/deep",
        "a/deep/2",
        "a/deep/er",
        "a/deep/er/est",
        "a/deep/er/est/3",
        "b",
        "b/link",
        "b/x",
        "b/x/8",
        "c",
        "c/9",
        "c/empty",
    ];
    assert_eq!(snapshot_paths(&repo, &own, base), expect);
    assert_eq!(snapshot_paths(&repo, &second, base), expect);
    // The source's tree, not the root's: the root holds /tmp, which other tests change.
    assert_eq!(
        common::subtree_of(&repo, &own.snapshot.tree, base),
        common::subtree_of(&repo, &second.snapshot.tree, base),
        "the same trees"
    );
    assert_eq!(second.snapshot.summary.files_unchanged, 6);
}

/// A backup without a parent reads everything and says so; a restore counts hard links,
/// symlinks and special files apart.
#[test]
fn a_first_backup_is_full_and_a_restore_counts_each_kind() {
    use ibars_core::ops::restore::{restore, RestoreOptions};
    use ibars_core::snapshot::BackupType;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a"), b"content").unwrap();
    std::fs::hard_link(src.join("a"), src.join("a2")).unwrap();
    for i in 0..3 {
        std::os::unix::fs::symlink("a", src.join(format!("l{i}"))).unwrap();
    }
    nix::unistd::mkfifo(&src.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let repo = test_repo(4096);
    let first = common::backup_report(&repo, &src);
    assert_eq!(first.snapshot.backup_type, BackupType::Full);
    assert_eq!(first.snapshot.parent, None);
    let second = common::backup_report(&repo, &src);
    assert_eq!(second.snapshot.backup_type, BackupType::Incremental);
    let opts = RestoreOptions {
        target: dir.path().join("out"),
        ..Default::default()
    };
    let r = restore(&repo, &second.snapshot, &opts, &NoProgress).unwrap();
    assert_eq!(
        (r.files_restored, r.hard_links, r.symlinks, r.specials),
        (1, 1, 3, 1)
    );
}
