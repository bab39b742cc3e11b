//! Erasure: after `rewrite --exclude` and `prune`, no byte of the removed files remains in
//! the repository. Proven by decrypting every blob of every pack and searching it.

mod common;

use common::{assert_clean, backup_dir, full_check, prune_all, random};

use ibars_core::backend::FileKind;
use ibars_core::id::PackId;
use ibars_core::ops::rewrite::{rewrite, RewriteOptions};
use ibars_core::pack::{decrypt_blob, parse_header};
use ibars_core::repo::Repository;

/// Every blob of every pack, decrypted.
fn all_plaintext(repo: &Repository) -> Vec<Vec<u8>> {
    let b = repo.backend();
    let mut out = Vec::new();
    for e in b.list(FileKind::Pack).unwrap() {
        let bytes = b.read(FileKind::Pack, &e.name).unwrap();
        let id: PackId = e.name.parse().unwrap();
        for entry in parse_header(repo.key(), &id, &bytes, bytes.len() as u64).unwrap() {
            let stored = entry.stored_in(&bytes).unwrap();
            out.push(decrypt_blob(repo.key(), &id, &entry, stored).unwrap());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Whether any decrypted blob holds any 64-byte piece of `secret` (pieces taken every 32
/// bytes, so any stored run of 96 bytes or more of it is found).
fn holds(blobs: &[Vec<u8>], secret: &[u8]) -> bool {
    let pieces: Vec<&[u8]> = (0..secret.len() - 64)
        .step_by(32)
        .map(|i| &secret[i..i + 64])
        .collect();
    blobs
        .iter()
        .any(|blob| pieces.iter().any(|p| contains(blob, p)))
}

/// Whether any decrypted blob (a tree, for a file name) holds `name`.
fn names(blobs: &[Vec<u8>], name: &[u8]) -> bool {
    blobs.iter().any(|blob| contains(blob, name))
}

#[test]
fn rewrite_then_prune_leaves_no_byte_of_the_removed_files() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    std::fs::create_dir_all(src.join("people")).unwrap();
    let mut repo = common::test_repo(16 << 10);
    repo.update_config(|c| c.parity_percent = 10).unwrap();
    let secret = random(150_000, 7);
    let name = b"subject-4711-records.bin";
    std::fs::write(
        src.join("people").join(std::str::from_utf8(name).unwrap()),
        &secret,
    )
    .unwrap();
    for g in 0..3u64 {
        std::fs::write(src.join("other.bin"), random(200_000, 100 + g)).unwrap();
        std::fs::write(src.join("people/keep.txt"), format!("keep {g}")).unwrap();
        backup_dir(&repo, &src);
    }
    let before = all_plaintext(&repo);
    assert!(
        holds(&before, &secret),
        "the test must see the content before"
    );
    assert!(names(&before, name), "the test must see the name before");

    let ids: Vec<_> = repo.snapshots().unwrap().into_iter().map(|s| s.0).collect();
    let opts = RewriteOptions {
        excludes: vec!["**/subject-4711-*".into()],
        ..Default::default()
    };
    let dry = rewrite(
        &repo,
        &ids,
        &RewriteOptions {
            dry_run: true,
            ..opts.clone()
        },
    )
    .unwrap();
    assert_eq!(dry.len(), 3);
    assert!(dry.iter().all(|r| r.new.is_none() && r.removed.len() == 1));
    assert_eq!(repo.snapshots().unwrap().len(), 3);

    let done = rewrite(&repo, &ids, &opts).unwrap();
    assert_eq!(done.len(), 3);
    assert!(done.iter().all(|r| r.new.is_some()));
    assert_eq!(done[0].bytes_removed, secret.len() as u64);
    let snaps = repo.snapshots().unwrap();
    assert_eq!(snaps.len(), 3);
    assert!(snaps.iter().all(|(_, s)| s.original.is_some()));

    prune_all(&repo);
    let after = all_plaintext(&repo);
    assert!(!holds(&after, &secret), "removed content is still stored");
    assert!(
        !names(&after, name),
        "the removed file's name is still stored"
    );
    let c = full_check(&repo);
    assert_clean(&c);
    // Everything else is still there.
    assert!(holds(&after, &random(200_000, 102)));
    assert!(names(&after, b"other.bin"));
}
