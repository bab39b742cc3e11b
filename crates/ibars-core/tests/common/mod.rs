//! Shared by the integration tests: an in-memory repository with cheap key derivation.

use std::path::Path;
use std::sync::Arc;

use ibars_core::backend::s3::S3Config;
use ibars_core::backend::{Backend, FileKind, OpendalBackend, RetryBackend, RetryPolicy};
use ibars_core::crypto::keyfile::KdfParams;
use ibars_core::id::SnapshotId;
use ibars_core::ops::backup::{backup, BackupOptions};
use ibars_core::ops::check::{check, CheckOptions, CheckReport};
use ibars_core::ops::prune::{prune, PruneOptions, PruneReport};
use ibars_core::progress::NoProgress;
use ibars_core::repo::{InitOptions, Repository};

/// A fresh repository with average chunks of `avg` bytes and 1 MiB packs, on
/// [`test_store`].
#[allow(dead_code)]
pub fn test_repo(avg: u32) -> Repository {
    let opts = InitOptions {
        avg_chunk_size: avg,
        ..cheap_init()
    };
    Repository::init(test_store(), b"pw", &opts).unwrap()
}

/// An empty store: in memory, or when `IBARS_TEST_CORE_ON_S3` names a Garage env file (as
/// `scripts/garage.sh` writes it), a fresh prefix of that S3 bucket, so that the same tests
/// run on a real object store.
pub fn test_store() -> Arc<dyn Backend> {
    let Some(f) = std::env::var_os("IBARS_TEST_CORE_ON_S3") else {
        return Arc::new(OpendalBackend::memory().unwrap());
    };
    let text = std::fs::read_to_string(&f).expect("reading the Garage env file");
    let var = |k: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    };
    let mut unique = [0u8; 8];
    blake3::Hasher::new()
        .update(
            &format!(
                "{:?}{:?}",
                std::time::SystemTime::now(),
                std::thread::current().id()
            )
            .into_bytes(),
        )
        .update(&std::process::id().to_le_bytes())
        .finalize_xof()
        .fill(&mut unique);
    let url = format!(
        "{}/{}/core-{}",
        var("IBARS_S3_ENDPOINT").unwrap(),
        var("IBARS_S3_BUCKET").unwrap(),
        hex::encode(unique)
    );
    let mut cfg = S3Config::from_url(&url).unwrap();
    cfg.fill_from_env(var);
    let store = Arc::new(OpendalBackend::s3(&cfg).unwrap());
    Arc::new(RetryBackend::new(store, RetryPolicy::remote()))
}

/// Init options with cheap key derivation and small packs, as `test_repo` uses.
#[allow(dead_code)]
pub fn cheap_init() -> InitOptions {
    InitOptions {
        avg_chunk_size: 16 << 10,
        pack_size: 1 << 20,
        kdf: KdfParams {
            m_cost: 64,
            t_cost: 1,
            p_cost: 1,
        },
        ..Default::default()
    }
}

/// Back up one directory; returns the snapshot id.
#[allow(dead_code)]
pub fn backup_dir(repo: &Repository, dir: &Path) -> SnapshotId {
    backup_report(repo, dir).id
}

/// Back up one directory; returns the report.
#[allow(dead_code)]
pub fn backup_report(repo: &Repository, dir: &Path) -> ibars_core::ops::backup::BackupReport {
    backup(
        repo,
        BackupOptions {
            paths: vec![dir.to_path_buf()],
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap()
}

/// `check --read-data`.
#[allow(dead_code)]
pub fn full_check(repo: &Repository) -> CheckReport {
    let opts = CheckOptions {
        read_data: true,
        ..Default::default()
    };
    check(repo, &opts, &NoProgress).unwrap()
}

/// No errors and no warnings.
#[allow(dead_code)]
pub fn assert_clean(r: &CheckReport) {
    assert!(
        r.ok() && r.warnings.is_empty(),
        "{:?} {:?}",
        r.errors,
        r.warnings
    );
}

/// Copy every object of `from` into a fresh in-memory backend.
#[allow(dead_code)]
pub fn clone_store(from: &dyn Backend) -> Arc<dyn Backend> {
    let to = OpendalBackend::memory().unwrap();
    let config = from.read(FileKind::Config, "config").unwrap();
    to.write(FileKind::Config, "config", config).unwrap();
    for k in FileKind::LISTED {
        for e in from.list(k).unwrap() {
            to.write(k, &e.name, from.read(k, &e.name).unwrap())
                .unwrap();
        }
    }
    Arc::new(to)
}

/// `prune --max-unused 0% --grace 0`: every partly used pack is repacked, and what is unused
/// is deleted at once (under an exclusive lock).
#[allow(dead_code)]
pub fn prune_all(repo: &Repository) -> PruneReport {
    let opts = PruneOptions {
        max_unused_percent: 0.0,
        grace: std::time::Duration::ZERO,
        ..Default::default()
    };
    prune(repo, &opts, &NoProgress).unwrap()
}

/// A store call, as a [`Hooked`] store's hook sees it.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    List,
    Read,
    Write,
    Remove,
    Size,
}

/// A store that asks `hook` before every call to `inner`: the hook may wait (to line clients
/// up), count, or fail the call. Everything else passes through, `parallelism` included.
pub struct Hooked<F> {
    pub inner: Arc<dyn Backend>,
    pub hook: F,
}

/// A permanent store error for a hook to return.
#[allow(dead_code)]
pub fn refused(kind: FileKind, name: &str, why: &str) -> ibars_core::Error {
    ibars_core::Error::Backend {
        op: "any",
        path: kind.path(name),
        message: why.into(),
        not_found: false,
        transient: false,
    }
}

impl<F> Backend for Hooked<F>
where
    F: Fn(Call, FileKind, &str) -> ibars_core::Result<()> + Send + Sync,
{
    fn location(&self) -> String {
        format!("hooked {}", self.inner.location())
    }
    fn parallelism(&self) -> usize {
        self.inner.parallelism()
    }
    fn list(&self, kind: FileKind) -> ibars_core::Result<Vec<ibars_core::backend::ListEntry>> {
        (self.hook)(Call::List, kind, "")?;
        self.inner.list(kind)
    }
    fn read(&self, kind: FileKind, name: &str) -> ibars_core::Result<bytes::Bytes> {
        (self.hook)(Call::Read, kind, name)?;
        self.inner.read(kind, name)
    }
    fn read_range(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> ibars_core::Result<bytes::Bytes> {
        (self.hook)(Call::Read, kind, name)?;
        self.inner.read_range(kind, name, offset, len)
    }
    fn write(&self, kind: FileKind, name: &str, data: bytes::Bytes) -> ibars_core::Result<()> {
        (self.hook)(Call::Write, kind, name)?;
        self.inner.write(kind, name, data)
    }
    fn remove(&self, kind: FileKind, name: &str) -> ibars_core::Result<()> {
        (self.hook)(Call::Remove, kind, name)?;
        self.inner.remove(kind, name)
    }
    fn can_delete(&self) -> bool {
        self.inner.can_delete()
    }
    fn size(&self, kind: FileKind, name: &str) -> ibars_core::Result<u64> {
        (self.hook)(Call::Size, kind, name)?;
        self.inner.size(kind, name)
    }
}

/// A client of `inner` that dies after `budget` more writes or removals: that call and every
/// later one fail, as if the process had been killed at that point.
#[allow(dead_code)]
pub fn crash_after(inner: Arc<dyn Backend>, budget: i64) -> Arc<dyn Backend> {
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    let left = AtomicI64::new(budget);
    let dead = AtomicBool::new(false);
    Arc::new(Hooked {
        inner,
        hook: move |call, kind, name: &str| {
            if matches!(call, Call::Write | Call::Remove)
                && left.fetch_sub(1, Ordering::SeqCst) <= 0
            {
                dead.store(true, Ordering::SeqCst);
            }
            if dead.load(Ordering::SeqCst) {
                return Err(refused(kind, name, "process killed"));
            }
            Ok(())
        },
    })
}

/// Deterministic pseudo-random bytes (incompressible).
#[allow(dead_code)]
pub fn random(len: usize, seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen()).collect()
}

/// The tree id of `path` inside a snapshot; parents of the source (like /tmp) may change
/// between backups, the source itself must not.
#[allow(dead_code)]
pub fn subtree_of(
    repo: &Repository,
    root: &ibars_core::id::BlobId,
    path: &Path,
) -> ibars_core::id::BlobId {
    let index = repo.load_index().unwrap();
    let cache = ibars_core::repo::TreeCache::new(1 << 20);
    let mut found = None;
    ibars_core::ops::walk::walk(
        repo,
        &index,
        &cache,
        root,
        Some(path),
        false,
        &mut |p, n| {
            if p == path {
                found = n.subtree;
            }
            Ok(())
        },
    )
    .unwrap();
    found.expect("source directory in snapshot")
}

/// A tree's files by relative path, as written by a test.
#[allow(dead_code)]
pub type Contents = std::collections::BTreeMap<String, Vec<u8>>;

/// Restore snapshot `id` and compare it with `want`.
#[allow(dead_code)]
pub fn assert_restores(
    repo: &ibars_core::repo::Repository,
    id: &ibars_core::id::SnapshotId,
    src: &std::path::Path,
    want: &Contents,
) {
    let snap = repo.load_snapshot(id).unwrap();
    let target = tempfile::tempdir().unwrap();
    let ro = ibars_core::ops::restore::RestoreOptions {
        target: target.path().to_path_buf(),
        ..Default::default()
    };
    let r = ibars_core::ops::restore::restore(repo, &snap, &ro, &ibars_core::progress::NoProgress)
        .unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let root = target.path().join(src.strip_prefix("/").unwrap());
    for (rel, data) in want {
        assert_eq!(
            &std::fs::read(root.join(rel)).unwrap(),
            data,
            "{rel} of {id}"
        );
    }
}
