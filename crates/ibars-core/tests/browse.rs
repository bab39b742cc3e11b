//! Reading snapshots without restoring them: `dump` (a file, or a directory as tar), `find`
//! and content statistics.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::{backup_dir, test_repo};
use ibars_core::ops::dump::dump;
use ibars_core::ops::find::{find, Pattern};
use ibars_core::ops::stats::{content, Mode};
use ibars_core::repo::{Repository, TreeCache};
use ibars_core::Error;

fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A tree with a large file, a hard link, a symlink, an empty file, a long name and a subdir.
fn sample_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("big.bin"), pseudo_random(300_000, 7)).unwrap();
    std::fs::write(root.join("sub/a.conf"), b"alpha\n").unwrap();
    std::fs::write(root.join("sub/deeper/b.conf"), b"beta\n").unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::hard_link(root.join("sub/a.conf"), root.join("sub/a-link.conf")).unwrap();
    symlink("sub/a.conf", root.join("link")).unwrap();
    let long = "n".repeat(150);
    std::fs::write(root.join(&long), b"long name").unwrap();
}

fn dump_bytes(repo: &Repository, tree: &ibars_core::id::BlobId, path: &Path) -> Vec<u8> {
    let index = repo.load_index().unwrap();
    let cache = TreeCache::new(1 << 20);
    let mut out = Vec::new();
    dump(repo, &index, &cache, tree, path, &mut out, "test").unwrap();
    out
}

#[test]
fn dump_writes_a_file_and_a_directory_as_tar() {
    let repo = test_repo(16 << 10);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("data");
    sample_tree(&src);
    let id = backup_dir(&repo, &src);
    let snap = repo.load_snapshot(&id).unwrap();

    let file = dump_bytes(&repo, &snap.tree, &src.join("big.bin"));
    assert_eq!(file, std::fs::read(src.join("big.bin")).unwrap());

    let tar = dump_bytes(&repo, &snap.tree, &src);
    let mut entries = BTreeMap::new();
    let mut archive = tar::Archive::new(&tar[..]);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().into_owned();
        let kind = e.header().entry_type();
        let link = e.link_name().unwrap().map(|l| l.into_owned());
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        entries.insert(path, (kind, link, body));
    }
    let get = |p: &str| &entries[&PathBuf::from(p)];
    assert_eq!(
        get("data/big.bin").2,
        std::fs::read(src.join("big.bin")).unwrap()
    );
    assert_eq!(get("data/sub/deeper/b.conf").2, b"beta\n");
    assert_eq!(get("data/empty").2, b"");
    assert_eq!(get(&format!("data/{}", "n".repeat(150))).2, b"long name");
    let link = get("data/link");
    assert_eq!(link.0, tar::EntryType::Symlink);
    assert_eq!(link.1.as_deref(), Some(Path::new("sub/a.conf")));
    // One of the two names of the hard-linked file carries the bytes, the other links to it.
    let (a, b) = (get("data/sub/a-link.conf"), get("data/sub/a.conf"));
    let kinds = [a.0, b.0];
    assert!(kinds.contains(&tar::EntryType::Link), "{kinds:?}");
    assert!(a.2 == b"alpha\n" || b.2 == b"alpha\n");
    assert_eq!(get("data/sub/deeper").0, tar::EntryType::Directory);
}

#[test]
fn dump_refuses_parent_components_and_names_a_missing_path() {
    let repo = test_repo(16 << 10);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("data");
    sample_tree(&src);
    let snap = repo.load_snapshot(&backup_dir(&repo, &src)).unwrap();
    let index = repo.load_index().unwrap();
    let cache = TreeCache::new(1 << 20);
    let mut out = Vec::new();
    let escape = src.join("sub/../../etc/passwd");
    let e = dump(&repo, &index, &cache, &snap.tree, &escape, &mut out, "t").unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    let missing = src.join("nope");
    let e = dump(&repo, &index, &cache, &snap.tree, &missing, &mut out, "t").unwrap_err();
    assert!(matches!(e, Error::NoSuchPath(_)), "{e}");
    assert!(out.is_empty());
}

#[test]
fn dump_of_a_damaged_blob_is_an_error_not_wrong_bytes() {
    use ibars_core::backend::FileKind;
    let repo = test_repo(16 << 10);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("data");
    sample_tree(&src);
    let snap = repo.load_snapshot(&backup_dir(&repo, &src)).unwrap();
    let index = repo.load_index().unwrap();
    let cache = TreeCache::new(1 << 20);
    // Load the trees first, then damage every data pack.
    ibars_core::ops::dump::lookup(&repo, &index, &cache, &snap.tree, &src.join("big.bin")).unwrap();
    let b = repo.backend();
    for e in b.list(FileKind::Pack).unwrap() {
        let mut bytes = b.read(FileKind::Pack, &e.name).unwrap().to_vec();
        let mid = bytes.len() / 3;
        bytes[mid] ^= 0xff;
        b.remove(FileKind::Pack, &e.name).unwrap();
        b.write(FileKind::Pack, &e.name, bytes.into()).unwrap();
    }
    let mut out = Vec::new();
    let e = dump(
        &repo,
        &index,
        &cache,
        &snap.tree,
        &src.join("big.bin"),
        &mut out,
        "t",
    )
    .unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    // A directory's tar stream is cut short: no end-of-archive marker after the damage.
    let mut out = Vec::new();
    let e = dump(&repo, &index, &cache, &snap.tree, &src, &mut out, "t").unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    let tail = &out[out.len().saturating_sub(1024)..];
    assert!(
        tail.iter().any(|&b| b != 0),
        "the stream ends like a whole archive"
    );
}

#[test]
fn find_names_the_snapshots_that_hold_a_match() {
    let repo = test_repo(16 << 10);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("data");
    sample_tree(&src);
    let first = backup_dir(&repo, &src);
    std::fs::remove_file(src.join("sub/deeper/b.conf")).unwrap();
    std::fs::write(src.join("sub/c.CONF"), b"gamma").unwrap();
    let second = backup_dir(&repo, &src);
    let index = repo.load_index().unwrap();
    let cache = TreeCache::new(1 << 20);
    let snaps = repo.snapshots().unwrap();
    let search = |pattern: &str, ignore_case: bool| {
        let mut got = Vec::new();
        let p = Pattern::new(pattern, ignore_case).unwrap();
        find(&repo, &index, &cache, &snaps, &p, &mut |f| {
            for h in &f.hits {
                got.push((f.snapshot, h.path.lossy().into_owned()));
            }
            Ok(())
        })
        .unwrap();
        got.sort();
        got
    };
    let b_conf = format!("{}/sub/deeper/b.conf", src.display());
    assert_eq!(search("b.conf", false), vec![(first, b_conf.clone())]);
    let got = search("*.conf", false);
    assert_eq!(got.iter().filter(|(s, _)| *s == first).count(), 3);
    assert_eq!(got.iter().filter(|(s, _)| *s == second).count(), 2);
    assert_eq!(search("*.conf", true).len(), 6);
    // With a slash the pattern is a whole path, and `*` stays in one directory.
    assert_eq!(
        search(&format!("{}/sub/*.conf", src.display()), false).len(),
        4
    );
    assert_eq!(
        search(&format!("{}/**/b.conf", src.display()), false).len(),
        1
    );
    assert!(search("nothing-*", false).is_empty());
    assert!(Pattern::new("a[", false).is_err());
}

#[test]
fn content_stats_count_restore_size_and_unique_data() {
    let repo = test_repo(16 << 10);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("data");
    sample_tree(&src);
    backup_dir(&repo, &src);
    backup_dir(&repo, &src);
    let index = repo.load_index().unwrap();
    let cache = TreeCache::new(1 << 20);
    let roots: Vec<_> = repo
        .snapshots()
        .unwrap()
        .iter()
        .map(|(_, s)| s.tree)
        .collect();
    let one = content(&repo, &index, &cache, &roots[..1], Mode::RestoreSize).unwrap();
    // big.bin, a.conf twice (hard link), b.conf, empty, the long name.
    let size = 300_000 + 6 + 6 + 5 + 9;
    assert_eq!((one.files, one.restore_size), (6, size));
    assert_eq!(one.raw_bytes, None);
    let both = content(&repo, &index, &cache, &roots, Mode::RawData).unwrap();
    assert_eq!((both.files, both.restore_size), (12, 2 * size));
    // Two identical snapshots store their data once: a ratio near 2 (trees add a little).
    let raw = both.raw_bytes.unwrap();
    assert!(raw >= size - 6 && raw < size + 20_000, "{raw}");
    let dedup = both.deduplication_ratio.unwrap();
    assert!(dedup > 1.8 && dedup <= 2.0, "{dedup}");
    assert!(both.stored_bytes.unwrap() > 0 && both.blobs.unwrap() > 3);
}
