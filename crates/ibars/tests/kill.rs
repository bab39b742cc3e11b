//! Crash tests: kill -9 a backup at points spread across its run, and after every kill prove
//! that the repository passes `check --read-data`, that earlier snapshots restore identical,
//! and that the next backup succeeds.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use common::{random_bytes, restored, write, Env};

const KILLS: usize = 50;
const FILES: usize = 30;

/// Path (relative) → BLAKE3 of content, for every file under `root`.
fn manifest(root: &Path) -> BTreeMap<String, String> {
    common::files_under(root)
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let hash = blake3::hash(&std::fs::read(&p).unwrap());
            (rel, hash.to_hex().to_string())
        })
        .collect()
}

/// Rewrite a third of the files with new content and add one, so every backup uploads data.
fn mutate(src: &Path, round: usize) {
    for f in (round % 3..FILES).step_by(3) {
        let seed = (round * FILES + f) as u64;
        let mut data = random_bytes(700_000 + (f * 977) % 200_000, seed);
        data.extend_from_slice(format!("round {round} file {f}").as_bytes());
        write(&src.join(format!("d{}/f{f}.bin", f % 4)), data);
    }
    write(
        &src.join(format!("new/r{round}.txt")),
        format!("round {round}\n").repeat(2000),
    );
}

fn restore_matches(e: &Env, id: &str, src: &Path, want: &BTreeMap<String, String>, n: usize) {
    let target = e.path(&format!("restore-{n}"));
    e.cmd()
        .args(["restore", id, "--target"])
        .arg(&target)
        .assert()
        .success();
    assert_eq!(
        &manifest(&restored(&target, src)),
        want,
        "snapshot {id} differs"
    );
    std::fs::remove_dir_all(&target).unwrap();
}

#[test]
fn backups_killed_at_fifty_points_leave_a_sound_repository() {
    let e = Env::new();
    let src = e.path("src");
    mutate(&src, 0);
    for f in 0..FILES {
        if !src.join(format!("d{}/f{f}.bin", f % 4)).exists() {
            write(
                &src.join(format!("d{}/f{f}.bin", f % 4)),
                random_bytes(100_000, f as u64),
            );
        }
    }
    let mut states: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    e.cmd().arg("backup").arg(&src).assert().success();
    states.insert(e.snapshot_ids().pop().unwrap(), manifest(&src));
    // Time an uninterrupted backup of a tree changed as each round changes it: the kill
    // points spread over it.
    mutate(&src, 1);
    let t0 = Instant::now();
    e.cmd().arg("backup").arg(&src).assert().success();
    let mut full = t0.elapsed();
    for id in e.snapshot_ids() {
        states.entry(id).or_insert_with(|| manifest(&src));
    }

    let mut restores = 0;
    // Kills after which the backup had finished anyway, and kills that left new unindexed
    // packs (killed between uploading packs and writing their index).
    let (mut finished, mut left_packs, mut leftover) = (0, 0, 0);
    for i in 0..KILLS {
        mutate(&src, i + 2);
        let current = manifest(&src);
        // Most of a small backup is start-up (key derivation); spread the kills over the
        // part after it, where data is read and packs are written.
        let t0 = Instant::now();
        e.cmd().args(["-q", "snapshots"]).assert().success();
        let startup = t0.elapsed().min(full);
        let delay = startup + (full - startup).mul_f64((i as f64 + 0.5) / KILLS as f64);
        let mut child = e
            .spawnable()
            .args(["-q", "backup"])
            .arg(&src)
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // A backup that finished before the kill saved a snapshot of the current tree.
        let before = states.len();
        for id in e.snapshot_ids() {
            states.entry(id).or_insert_with(|| current.clone());
        }
        finished += usize::from(states.len() > before);

        let out = e
            .cmd()
            .args(["--json", "check", "--read-data", "--no-record"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kill {i} at {delay:?}: check failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let summary = stdout.lines().rfind(|l| l.contains("\"summary\"")).unwrap();
        let report: serde_json::Value = serde_json::from_str(summary).unwrap();
        let unindexed = report["report"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["kind"] == "pack_unindexed")
            .count();
        left_packs += usize::from(unindexed > leftover);
        leftover = unindexed;
        let (first, want) = states.iter().next().unwrap();
        restore_matches(&e, first, &src, want, restores);
        restores += 1;
        // The next backup succeeds; its duration calibrates the next kill point.
        let t0 = Instant::now();
        e.cmd().arg("backup").arg(&src).assert().success();
        full = t0.elapsed();
        for id in e.snapshot_ids() {
            states.entry(id).or_insert_with(|| current.clone());
        }
    }
    eprintln!(
        "{KILLS} kills spread over backups of ~{full:?}: {finished} backups finished before the kill, \
         {left_packs} left new unindexed packs, {} left none (killed before the first upload, \
         or after the index)",
        KILLS - finished - left_packs
    );
    assert!(finished < KILLS / 2, "most kills must interrupt the backup");
    assert!(
        left_packs > 0,
        "some kills must land between pack upload and index"
    );
    // Every snapshot ever taken restores identical.
    for (id, want) in &states {
        restore_matches(&e, id, &src, want, restores);
        restores += 1;
    }
    e.cmd().args(["check", "--read-data"]).assert().success();
}
