//! Writes seed inputs for the fuzz targets under `fuzz/`: the plaintext of every kind of
//! repository object, taken from a real repository made here. Run by `fuzz/run.sh`.
//!
//! Usage: `cargo run -p ibars-core --example fuzz_seeds -- CORPUS_DIR`

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ibars_core::backend::{FileKind, OpendalBackend};
use ibars_core::crypto::keyfile::KdfParams;
use ibars_core::crypto::MasterKey;
use ibars_core::ops::backup::{backup, BackupOptions};
use ibars_core::ops::check::{check, CheckOptions};
use ibars_core::progress::NoProgress;
use ibars_core::repo::{InitOptions, LockMode, Repository};
use ibars_core::sealed::ObjectKind;
use ibars_core::tree::{NodeType, Tree};

/// The key every fuzz target uses; blob seeds are made under it.
const FUZZ_KEY: [u8; 64] = [7; 64];

fn put(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("create corpus directory");
    std::fs::write(d.join(name), bytes).expect("write seed");
}

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: fuzz_seeds CORPUS_DIR"),
    );
    let src = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(src.path().join("d/e")).unwrap();
    std::fs::write(src.path().join("d/a.txt"), b"hello fuzz").unwrap();
    std::fs::write(src.path().join("d/e/b.bin"), vec![42u8; 20_000]).unwrap();
    std::os::unix::fs::symlink("a.txt", src.path().join("d/link")).unwrap();

    let opts = InitOptions {
        avg_chunk_size: 4096,
        pack_size: 1 << 20,
        parity_percent: 10,
        kdf: KdfParams {
            m_cost: 64,
            t_cost: 1,
            p_cost: 1,
        },
        ..Default::default()
    };
    let backend = Arc::new(OpendalBackend::memory().unwrap());
    let repo = Repository::init(backend, b"pw", &opts).unwrap();
    let bo = BackupOptions {
        paths: vec![src.path().join("d")],
        ..Default::default()
    };
    backup(&repo, bo, &NoProgress).unwrap();
    let b = repo.backend();
    check(&repo, &CheckOptions::default(), &NoProgress).unwrap();
    let _lock = repo.lock(LockMode::Shared).unwrap();

    let sealed = |file: FileKind, kind: ObjectKind, target: &str| {
        for (i, e) in b.list(file).unwrap().into_iter().enumerate() {
            let raw = b.read(file, &e.name).unwrap();
            let opened = repo.key().decrypt(&raw, b"", &|| e.name.clone()).unwrap();
            put(&out, "sealed", &format!("{target}-{i}"), &opened);
            let plain = repo.load_sealed(file, kind, &e.name).unwrap();
            put(&out, target, &format!("seed-{i}"), &plain);
        }
    };
    sealed(FileKind::Snapshot, ObjectKind::Snapshot, "snapshot");
    sealed(FileKind::Index, ObjectKind::Index, "index");
    sealed(FileKind::Scrub, ObjectKind::ScrubState, "scrub_state");
    sealed(
        FileKind::History,
        ObjectKind::HistoryRecord,
        "history_record",
    );
    sealed(FileKind::Lock, ObjectKind::Lock, "lock");
    let raw = b.read(FileKind::Config, "config").unwrap();
    let config = ibars_core::sealed::open(repo.key(), ObjectKind::Config, &raw, "c").unwrap();
    put(&out, "config", "seed-0", &config);
    for (i, e) in b.list(FileKind::Key).unwrap().into_iter().enumerate() {
        put(
            &out,
            "key_file",
            &format!("seed-{i}"),
            &b.read(FileKind::Key, &e.name).unwrap(),
        );
    }
    for (i, e) in b.list(FileKind::Parity).unwrap().into_iter().enumerate() {
        put(
            &out,
            "parity",
            &format!("seed-{i}"),
            &b.read(FileKind::Parity, &e.name).unwrap(),
        );
    }
    // Pack headers: the opened payload of each pack's header.
    for (i, e) in b.list(FileKind::Pack).unwrap().into_iter().enumerate() {
        let pack = b.read(FileKind::Pack, &e.name).unwrap();
        let hlen = u32::from_le_bytes(pack[pack.len() - 4..].try_into().unwrap()) as usize;
        let sealed = &pack[pack.len() - 4 - hlen..pack.len() - 4];
        let h = ibars_core::sealed::open(repo.key(), ObjectKind::PackHeader, sealed, "h").unwrap();
        put(&out, "pack_header", &format!("seed-{i}"), &h);
    }
    // Trees: every tree of the snapshot.
    let index = repo.load_index().unwrap();
    let (_, snap) = repo.snapshots().unwrap().pop().unwrap();
    let mut todo = vec![snap.tree];
    let mut n = 0;
    while let Some(id) = todo.pop() {
        let bytes = repo.read_blob(&index, &id).unwrap();
        let tree = Tree::parse(&bytes, &id).unwrap();
        todo.extend(
            tree.nodes
                .iter()
                .filter(|n| n.kind == NodeType::Dir)
                .filter_map(|n| n.subtree),
        );
        put(&out, "tree", &format!("seed-{n}"), &bytes);
        n += 1;
    }
    // Blobs: kind, codec, raw length, id, then the stored body before encryption.
    let key = MasterKey::from_bytes(&FUZZ_KEY);
    for (i, plain) in [b"hello".to_vec(), vec![9u8; 5000]].iter().enumerate() {
        let id = key.blob_id(plain);
        for (codec, body) in [
            (0u8, plain.clone()),
            (1u8, zstd::bulk::compress(plain, 3).unwrap()),
        ] {
            let mut s = vec![0u8, codec];
            s.extend_from_slice(&(plain.len() as u32).to_le_bytes());
            s.extend_from_slice(id.as_bytes());
            s.extend_from_slice(&body);
            put(&out, "blob", &format!("seed-{i}-{codec}"), &s);
        }
    }
    println!("seeds written to {}", out.display());
}
