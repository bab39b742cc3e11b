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
    backup(
        repo,
        BackupOptions {
            paths: vec![dir.to_path_buf()],
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap()
    .id
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

/// `prune --max-unused 0%`: every partly used pack is repacked.
#[allow(dead_code)]
pub fn prune_all(repo: &Repository) -> PruneReport {
    let opts = PruneOptions {
        max_unused_percent: 0.0,
        ..Default::default()
    };
    prune(repo, &opts, &NoProgress).unwrap()
}
