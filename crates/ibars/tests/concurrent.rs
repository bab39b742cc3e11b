//! Many writers: four processes back up different trees into one repository at once, while a
//! fifth runs `forget --prune` in a loop with a short grace period, so that packs it marked are
//! deleted while backups run. No backup waits for a lock or fails, and afterwards every
//! snapshot that was not forgotten restores identical, and `check --read-data` passes.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{restored, same_tree, write, Env};

const WRITERS: usize = 4;
const ROUNDS: usize = 12;
/// Short, so that marked packs are deleted during the run (the default is an hour).
const GRACE: &str = "2s";

fn bytes_for(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// Change the tree of writer `w` for round `r`: files rewritten, one added, one shared by
/// every writer (dedup across hosts), some untouched, a large one that fills packs while the
/// backup runs, and one whose content comes back every third round: by then `forget` has
/// made it garbage, so a backup that dedups against an index a prune is emptying would lose it.
fn mutate(src: &Path, w: usize, r: usize) {
    write(
        &src.join("cycle.bin"),
        bytes_for(&format!("cycle{w}-{}", r % 3), 300_000),
    );
    write(
        &src.join("big.bin"),
        bytes_for(&format!("big{w}-{r}"), 2_500_000),
    );
    write(
        &src.join("stable.bin"),
        bytes_for(&format!("stable{w}"), 200_000),
    );
    write(&src.join("shared.bin"), bytes_for("shared", 150_000));
    write(
        &src.join("changing.bin"),
        bytes_for(&format!("c{w}-{r}"), 120_000 + 1000 * r),
    );
    write(
        &src.join(format!("new/round{r}.bin")),
        bytes_for(&format!("n{w}-{r}"), 60_000),
    );
    write(&src.join("round.txt"), format!("writer {w} round {r}"));
}

fn copy_tree(from: &Path, to: &Path) {
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn four_writers_and_a_pruner_lose_nothing() {
    let e = Arc::new(Env::new());
    let done = Arc::new(AtomicBool::new(false));
    // Snapshot id -> the copy of the tree it was taken from.
    let expected: Arc<Mutex<Vec<(String, std::path::PathBuf, std::path::PathBuf)>>> =
        Arc::default();

    let pruner = {
        let e = Arc::clone(&e);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let (mut runs, mut removed, mut waited, mut recovered) = (0, 0u64, 0u64, 0u64);
            while !done.load(Ordering::SeqCst) {
                let out = e
                    .cmd()
                    .args(["--json", "--retry-lock", "2m", "forget", "--keep-last", "2"])
                    .args(["--prune", "--max-unused", "0%", "--grace", GRACE])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "forget --prune: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let text = String::from_utf8(out.stdout).unwrap();
                // Two JSON documents: forget's, then prune's.
                let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&text)
                    .into_iter()
                    .map(Result::unwrap)
                    .collect();
                let prune = docs.last().unwrap();
                removed += prune["packs_removed"].as_u64().unwrap();
                waited += prune["plan"]["packs_waiting"].as_u64().unwrap();
                recovered += prune["plan"]["packs_recovered"].as_u64().unwrap();
                runs += 1;
            }
            (runs, removed, waited, recovered)
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let e = Arc::clone(&e);
            let expected = Arc::clone(&expected);
            std::thread::spawn(move || {
                let src = e.path(&format!("src{w}"));
                for r in 0..ROUNDS {
                    mutate(&src, w, r);
                    // No --retry-lock: a backup never waits for prune. Uploads are slowed so
                    // that a backup spans several prunes: one that deleted what an older backup
                    // deduplicated against, or had uploaded and not yet indexed, would lose data.
                    let out = e
                        .cmd()
                        .args(["--json", "--limit-upload", "1MiB", "backup", "--host"])
                        .arg(format!("host{w}"))
                        .arg(&src)
                        .output()
                        .unwrap();
                    assert_ne!(
                        out.status.code(),
                        Some(11),
                        "writer {w} round {r} found the repository locked: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    assert!(
                        out.status.success(),
                        "writer {w} round {r}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let text = String::from_utf8(out.stdout).unwrap();
                    let summary: serde_json::Value =
                        serde_json::from_str(text.lines().last().unwrap()).unwrap();
                    let id = summary["snapshot_id"].as_str().unwrap().to_string();
                    let copy = e.path(&format!("expected/{id}"));
                    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
                    copy_tree(&src, &copy);
                    expected.lock().unwrap().push((id, src.clone(), copy));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let (runs, removed, waited, recovered) = pruner.join().unwrap();
    eprintln!(
        "the pruner ran {runs} times and removed {removed} packs; packs waited {waited} times \
         and {recovered} marked packs were needed again"
    );
    assert!(runs >= 2, "the pruner ran only {runs} time(s)");
    assert!(removed > 0, "the pruner never removed a pack");
    assert!(
        waited > 0,
        "no deletion ever waited for a backup or the grace period"
    );

    // One last forget + prune with nothing running, and one more once the marks made there
    // are due: then everything kept must restore.
    let last = ["--prune", "--max-unused", "0%", "--grace", GRACE];
    e.cmd()
        .args(["forget", "--keep-last", "2"])
        .args(last)
        .assert()
        .success();
    std::thread::sleep(std::time::Duration::from_secs(3));
    e.cmd().arg("prune").args(&last[1..]).assert().success();
    // Everything marked was deleted, and nothing is left over.
    let plan = &e.json(&["prune", "--dry-run"])["plan"];
    for k in [
        "packs_waiting",
        "packs_delete",
        "packs_unindexed",
        "packs_repack",
    ] {
        assert_eq!(plan[k], 0, "{k}: {plan}");
    }
    let kept = e.snapshot_ids();
    assert_eq!(kept.len(), 2 * WRITERS, "{kept:?}");
    let expected = expected.lock().unwrap();
    for id in &kept {
        let (_, src, copy) = expected
            .iter()
            .find(|(i, _, _)| i == id)
            .unwrap_or_else(|| panic!("snapshot {id} was never made"));
        let target = e.path(&format!("restore/{id}"));
        e.cmd()
            .args(["restore", id, "--target"])
            .arg(&target)
            .assert()
            .success();
        assert!(same_tree(copy, &restored(&target, src)), "snapshot {id}");
    }
    e.cmd().args(["check", "--read-data"]).assert().success();
}
