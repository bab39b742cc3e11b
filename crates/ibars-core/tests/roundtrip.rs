//! Backup then restore random trees, and compare content and metadata.

mod common;

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use common::test_repo;
use ibars_core::ops::backup::{backup, BackupOptions};
use ibars_core::ops::restore::{restore, RestoreOptions};
use ibars_core::progress::NoProgress;
use proptest::prelude::*;

/// Everything a restore must bring back, keyed by relative path.
fn describe(root: &Path) -> HashMap<PathBuf, String> {
    let mut out = HashMap::new();
    let mut inodes: HashMap<u64, PathBuf> = HashMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let md = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let ft = md.file_type();
            let mut d = format!("mode={:o}", md.mode());
            if ft.is_dir() {
                stack.push(p.clone());
                d += " dir";
            } else if ft.is_symlink() {
                d += &format!(
                    " link={:?} mtime={}.{}",
                    std::fs::read_link(&p).unwrap(),
                    md.mtime(),
                    md.mtime_nsec()
                );
            } else if ft.is_file() {
                let data = std::fs::read(&p).unwrap();
                d += &format!(
                    " size={} hash={} mtime={}.{}",
                    md.size(),
                    blake3::hash(&data),
                    md.mtime(),
                    md.mtime_nsec()
                );
                if md.size() > 65536 {
                    d += &format!(" sparse={}", md.blocks() * 512 < md.size() / 2);
                }
                if md.nlink() > 1 {
                    let first = inodes.entry(md.ino()).or_insert_with(|| rel.clone());
                    d += &format!(" nlink={}", md.nlink());
                    if *first != rel {
                        d += &format!(" linked_to={first:?}");
                    }
                }
            } else {
                d += " special";
            }
            if let Ok(names) = xattr::list(&p) {
                let mut xs: Vec<_> = names
                    .map(|n| (n.clone(), xattr::get(&p, &n).ok().flatten()))
                    .collect();
                xs.sort();
                if !xs.is_empty() {
                    d += &format!(" xattrs={xs:?}");
                }
            }
            out.insert(rel, d);
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Entry {
    File(Vec<u8>, usize, u8),
    Sparse(u64, usize),
    Dir(Vec<u8>),
    Symlink(Vec<u8>),
    HardLink(Vec<u8>),
    Fifo(Vec<u8>),
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-z]{1,8}".prop_map(|s| s.into_bytes()),
        Just("with space".as_bytes().to_vec()),
        Just("ünïcødé-名前".as_bytes().to_vec()),
        Just(b"new\nline".to_vec()),
        prop::collection::vec(prop_oneof![0x80u8..=0xffu8, b'a'..=b'z'], 1..12),
    ]
    .prop_filter("valid name", |n| {
        !n.contains(&b'/') && !n.contains(&0) && n != b"." && n != b".."
    })
}

fn size() -> impl Strategy<Value = usize> {
    // Small chunks in these tests: avg 1 KiB, min 256, max 4 KiB.
    prop_oneof![
        Just(0usize),
        Just(1),
        Just(255),
        Just(256),
        Just(257),
        Just(1024),
        Just(4095),
        Just(4096),
        Just(4097),
        0usize..40_000
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        4 => (name(), size(), any::<u8>()).prop_map(|(n, s, seed)| Entry::File(n, s, seed)),
        1 => (0u64..200_000, 1usize..5000).prop_map(|(o, l)| Entry::Sparse(o + 100_000, l)),
        2 => name().prop_map(Entry::Dir),
        1 => name().prop_map(Entry::Symlink),
        1 => name().prop_map(Entry::HardLink),
        1 => name().prop_map(Entry::Fifo),
    ]
}

fn content(len: usize, seed: u8) -> Vec<u8> {
    let mut h = blake3::Hasher::new();
    h.update(&[seed]);
    let mut out = vec![0u8; len];
    h.finalize_xof().fill(&mut out);
    if seed.is_multiple_of(2) {
        // Compressible half of the time.
        for (i, b) in out.iter_mut().enumerate() {
            if i % 3 != 0 {
                *b = b'a';
            }
        }
    }
    out
}

fn build(root: &Path, entries: &[Entry]) {
    let mut dirs = vec![root.to_path_buf()];
    let mut files: Vec<PathBuf> = vec![];
    for (i, e) in entries.iter().enumerate() {
        let dir = dirs[i % dirs.len()].clone();
        let path = |n: &[u8]| {
            let mut n = n.to_vec();
            n.extend_from_slice(format!("-{i}").as_bytes());
            dir.join(OsString::from_vec(n))
        };
        match e {
            Entry::File(n, s, seed) => {
                let p = path(n);
                std::fs::write(&p, content(*s, *seed)).unwrap();
                let _ = xattr::set(&p, "user.test", &[*seed, 1, 2]);
                files.push(p);
            }
            Entry::Sparse(off, len) => {
                let p = path(b"sparse");
                let f = std::fs::File::create(&p).unwrap();
                f.write_all_at(&content(*len, 7), *off).unwrap();
                f.set_len(off * 3).unwrap();
                files.push(p);
            }
            Entry::Dir(n) => {
                let p = path(n);
                std::fs::create_dir(&p).unwrap();
                dirs.push(p);
            }
            Entry::Symlink(n) => {
                std::os::unix::fs::symlink(OsString::from_vec(n.clone()), path(n)).unwrap()
            }
            Entry::HardLink(n) => {
                if let Some(f) = files.first() {
                    std::fs::hard_link(f, path(n)).unwrap();
                }
            }
            Entry::Fifo(n) => {
                nix::unistd::mkfifo(&path(n), nix::sys::stat::Mode::from_bits_truncate(0o640))
                    .unwrap()
            }
        }
    }
    // Some modes, set last so that directories stay writable while filling them.
    for (i, f) in files.iter().enumerate() {
        let mode = [0o644, 0o600, 0o755, 0o4755][i % 4];
        std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
}

fn round_trip(entries: &[Entry]) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    build(&src, entries);
    let repo = test_repo(1024);
    let opts = BackupOptions {
        paths: vec![src.clone()],
        ..Default::default()
    };
    let r1 = backup(&repo, opts, &NoProgress).unwrap();
    assert!(r1.errors.is_empty(), "{:?}", r1.errors);
    // A second backup reads nothing and yields the same tree.
    let r2 = backup(
        &repo,
        BackupOptions {
            paths: vec![src.clone()],
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    assert_eq!(r2.snapshot.summary.bytes_read, 0);
    assert_eq!(
        common::subtree_of(&repo, &r1.snapshot.tree, &src),
        common::subtree_of(&repo, &r2.snapshot.tree, &src)
    );
    assert_eq!(r2.snapshot.parent, Some(r1.id));

    let target = tmp.path().join("restore");
    let ropts = RestoreOptions {
        target: target.clone(),
        verify: true,
        ..Default::default()
    };
    let rep = restore(&repo, &r1.snapshot, &ropts, &NoProgress).unwrap();
    assert!(rep.errors.is_empty(), "{:?}", rep.errors);
    assert!(rep.verify_failures.is_empty(), "{:?}", rep.verify_failures);
    let restored = target.join(src.strip_prefix("/").unwrap());
    let (a, b) = (describe(&src), describe(&restored));
    for (k, v) in &a {
        assert_eq!(Some(v), b.get(k), "{k:?}");
    }
    assert_eq!(a.len(), b.len());

    // Restoring again over the result skips every regular file.
    let rep2 = restore(&repo, &r1.snapshot, &ropts, &NoProgress).unwrap();
    assert_eq!(rep2.files_restored, 0);
    assert_eq!(describe(&restored), a);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn random_trees_round_trip(entries in prop::collection::vec(entry(), 0..40)) {
        round_trip(&entries);
    }
}

#[test]
fn chunk_boundary_sizes_and_large_file() {
    let entries: Vec<Entry> = [0usize, 1, 255, 256, 257, 4095, 4096, 4097, 8192, 300_000]
        .iter()
        .enumerate()
        .map(|(i, &s)| Entry::File(b"f".to_vec(), s, i as u8))
        .collect();
    round_trip(&entries);
}
