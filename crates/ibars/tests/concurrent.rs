//! Many writers: four processes back up different trees into one repository at once, while a
//! fifth runs `forget --prune` in a loop. Afterwards every snapshot that was not forgotten
//! restores identical, and `check --read-data` passes.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{restored, same_tree, write, Env};

const WRITERS: usize = 4;
const ROUNDS: usize = 12;

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
            let (mut runs, mut removed) = (0, 0u64);
            while !done.load(Ordering::SeqCst) {
                let out = e
                    .cmd()
                    .args(["--json", "--retry-lock", "2m", "forget", "--keep-last", "2"])
                    .args(["--prune", "--max-unused", "0%"])
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
                removed += prune["packs_removed"].as_u64().unwrap_or(0);
                runs += 1;
            }
            (runs, removed)
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
                    let out = e
                        .cmd()
                        .args(["--json", "--retry-lock", "2m", "backup", "--host"])
                        .arg(format!("host{w}"))
                        .arg(&src)
                        .output()
                        .unwrap();
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
    let (runs, removed) = pruner.join().unwrap();
    eprintln!("the pruner ran {runs} times and removed {removed} packs");
    assert!(runs >= 2, "the pruner ran only {runs} time(s)");
    assert!(removed > 0, "the pruner never removed a pack");

    // One last forget + prune with nothing running, then everything kept must restore.
    e.cmd()
        .args(["forget", "--keep-last", "2", "--prune"])
        .assert()
        .success();
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
