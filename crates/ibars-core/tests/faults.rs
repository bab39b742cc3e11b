//! Backend faults: with operations failing and reads coming back short or garbled, a backup
//! either succeeds (through retries) or fails cleanly. A fault never becomes silent
//! corruption: afterwards the repository passes `check --read-data`, and every snapshot in it
//! restores identical.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ibars_core::backend::{Backend, FaultyBackend, FileKind, ListEntry, RetryBackend, RetryPolicy};
use ibars_core::ops::backup::{backup, BackupOptions};
use ibars_core::ops::check::{check, CheckOptions};
use ibars_core::ops::restore::{restore, RestoreOptions};
use ibars_core::progress::NoProgress;
use ibars_core::repo::Repository;

fn write_tree(root: &Path, round: u8) {
    for i in 0..12u8 {
        let mut data = vec![0u8; 150_000 + usize::from(i) * 7_000];
        blake3::Hasher::new()
            .update(&[round, i])
            .finalize_xof()
            .fill(&mut data);
        let dir = root.join(format!("d{}", i % 3));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}")), data).unwrap();
    }
}

fn same_tree(a: &Path, b: &Path) {
    for d in 0..3 {
        for e in std::fs::read_dir(a.join(format!("d{d}"))).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(a).unwrap();
            assert_eq!(
                std::fs::read(&p).unwrap(),
                std::fs::read(b.join(rel)).unwrap(),
                "{rel:?}"
            );
        }
    }
}

#[test]
fn faults_never_become_silent_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let clean = common::test_repo(64 << 10);
    let store: Arc<dyn Backend> = clean.backend().clone();
    let (mut ok, mut failed) = (0, 0);
    let mut injected = 0;
    let policy = RetryPolicy {
        attempts: 6,
        base: Duration::from_millis(1),
        max: Duration::from_millis(10),
    };
    for round in 0..40u8 {
        write_tree(&src, round);
        // 10% of operations misbehave: with retries backups get through. Then 40%, where
        // some run out of retries and must fail cleanly.
        let rate = if round < 30 { 0.10 } else { 0.40 };
        let faulty = Arc::new(FaultyBackend::new(store.clone(), rate, u64::from(round)));
        let backend: Arc<dyn Backend> = Arc::new(RetryBackend::new(faulty.clone(), policy));
        let result = Repository::open(backend, b"pw").and_then(|repo| {
            backup(
                &repo,
                BackupOptions {
                    paths: vec![src.clone()],
                    ..Default::default()
                },
                &NoProgress,
            )
        });
        let c = &faulty.counts;
        injected += c.failed.load(Ordering::Relaxed)
            + c.short_reads.load(Ordering::Relaxed)
            + c.corrupt_reads.load(Ordering::Relaxed);
        match result {
            Ok(r) => {
                ok += 1;
                // The snapshot just written restores identical, read through a clean store.
                let repo = Repository::open(store.clone(), b"pw").unwrap();
                let target = dir.path().join(format!("restore{round}"));
                let opts = RestoreOptions {
                    target: target.clone(),
                    ..Default::default()
                };
                let rr = restore(&repo, &r.snapshot, &opts, &NoProgress).unwrap();
                assert!(rr.errors.is_empty(), "{:?}", rr.errors);
                same_tree(&src, &target.join(src.strip_prefix("/").unwrap()));
                std::fs::remove_dir_all(&target).unwrap();
            }
            Err(e) => {
                failed += 1;
                eprintln!("round {round}: backup failed cleanly: {e}");
            }
        }
        // Whatever happened, the stored repository is sound.
        let repo = Repository::open(store.clone(), b"pw").unwrap();
        ibars_core::repo::Repository::remove_locks(&repo, true).unwrap();
        let opts = CheckOptions {
            read_data: true,
            record: false,
            ..Default::default()
        };
        let report = check(&repo, &opts, &NoProgress).unwrap();
        assert!(report.ok(), "round {round}: {:?}", report.errors);
    }
    eprintln!("{ok} backups succeeded, {failed} failed cleanly, {injected} faults injected");
    assert!(injected > 100, "{injected}");
    assert!(
        ok >= 25,
        "retries should carry most backups through: {ok} of 40"
    );
}

/// Counts reads, and fails each with a permanent (or a transient) error.
struct Failing {
    reads: AtomicU64,
    transient: bool,
}

impl Backend for Failing {
    fn location(&self) -> String {
        "failing".into()
    }
    fn list(&self, _: FileKind) -> ibars_core::Result<Vec<ListEntry>> {
        Ok(vec![])
    }
    fn read(&self, kind: FileKind, name: &str) -> ibars_core::Result<bytes::Bytes> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        Err(ibars_core::Error::Backend {
            op: "read",
            path: kind.path(name),
            message: "refused".into(),
            not_found: !self.transient,
            transient: self.transient,
        })
    }
    fn read_range(
        &self,
        kind: FileKind,
        name: &str,
        _: u64,
        _: u64,
    ) -> ibars_core::Result<bytes::Bytes> {
        self.read(kind, name)
    }
    fn write(&self, _: FileKind, _: &str, _: bytes::Bytes) -> ibars_core::Result<()> {
        Ok(())
    }
    fn remove(&self, _: FileKind, _: &str) -> ibars_core::Result<()> {
        Ok(())
    }
    fn size(&self, _: FileKind, _: &str) -> ibars_core::Result<u64> {
        Ok(0)
    }
}

#[test]
fn a_retry_backend_retries_transient_errors_only() {
    let policy = RetryPolicy {
        attempts: 4,
        base: Duration::from_millis(1),
        max: Duration::from_millis(2),
    };
    for (transient, tries) in [(false, 1), (true, 4)] {
        let inner = Arc::new(Failing {
            reads: AtomicU64::new(0),
            transient,
        });
        let r = RetryBackend::new(inner.clone(), policy);
        let e = r.read(FileKind::Config, "config").unwrap_err();
        assert_eq!(e.is_not_found(), !transient);
        assert_eq!(inner.reads.load(Ordering::Relaxed), tries);
    }
}

#[test]
fn credentials_that_cannot_delete_still_take_backups() {
    let base = common::test_repo(16 << 10);
    let store = base.backend().clone();
    // Credentials that may write but not delete (a restricted S3 key).
    let no_delete = common::Hooked {
        inner: store.clone(),
        hook: |call, kind, name: &str| match call {
            common::Call::Remove => Err(common::refused(kind, name, "AccessDenied")),
            _ => Ok(()),
        },
    };
    let repo = Repository::open(Arc::new(no_delete), b"pw").unwrap();
    let src = tempfile::tempdir().unwrap();
    for round in 0..3 {
        write_tree(src.path(), round);
        common::backup_dir(&repo, src.path());
    }
    assert_eq!(repo.snapshots().unwrap().len(), 3);
    common::assert_clean(&common::full_check(&repo));
    // The locks it could not remove are left behind, to go stale; nothing else is.
    assert!(!store.list(FileKind::Lock).unwrap().is_empty());
    let full = Repository::open(store, b"pw").unwrap();
    common::assert_clean(&common::full_check(&full));
}
