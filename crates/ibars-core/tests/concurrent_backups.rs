//! Two backups of overlapping trees that run at the same moment store what they share once.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ibars_core::backend::{Backend, FileKind};
use ibars_core::ops::backup::{backup, BackupOptions};
use ibars_core::ops::prune::{prune, PruneOptions};
use ibars_core::progress::NoProgress;
use ibars_core::repo::{InitOptions, Repository};

/// Both parties wait here until the other arrives (or 60 s pass, so a failure cannot hang).
#[derive(Default)]
struct Meeting {
    arrived: Mutex<usize>,
    all_here: Condvar,
}

impl Meeting {
    fn meet(&self) {
        let mut n = self.arrived.lock().unwrap();
        *n += 1;
        self.all_here.notify_all();
        let _ = self
            .all_here
            .wait_timeout_while(n, Duration::from_secs(60), |n| *n < 2)
            .unwrap();
    }
}

fn random_file(path: &Path, len: usize, seed: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, common::random(len, seed)).unwrap();
}

#[test]
fn simultaneous_backups_store_shared_blobs_once() {
    // Parity too, so that the parity of a dropped pack must go with it.
    let opts = InitOptions {
        parity_percent: 10,
        ..common::cheap_init()
    };
    let store = common::test_store();
    Repository::init(store.clone(), b"pw", &opts).unwrap();
    let meeting = Arc::new(Meeting::default());
    let dirs: Vec<_> = (0..2u64)
        .map(|host| {
            let dir = tempfile::tempdir().unwrap();
            for i in 0..12 {
                random_file(&dir.path().join(format!("shared/{i}")), 200 << 10, 100 + i);
            }
            for i in 0..3 {
                random_file(
                    &dir.path().join(format!("own/{i}")),
                    200 << 10,
                    1000 * (host + 1) + i,
                );
            }
            dir
        })
        .collect();

    let reports: Vec<_> = std::thread::scope(|s| {
        let runs: Vec<_> = dirs
            .iter()
            .map(|dir| {
                // Holds its backup at its first commit attempt (its second listing of locks,
                // after the one that took its shared lock) until the other client is there
                // too: both have uploaded everything, and neither has indexed anything.
                let lock_lists = AtomicUsize::new(0);
                let meeting = meeting.clone();
                let client: Arc<dyn Backend> = Arc::new(common::Hooked {
                    inner: store.clone(),
                    hook: move |call, kind, _: &str| {
                        if (call, kind) == (common::Call::List, FileKind::Lock)
                            && lock_lists.fetch_add(1, Ordering::SeqCst) == 1
                        {
                            meeting.meet();
                        }
                        Ok(())
                    },
                });
                s.spawn(move || {
                    let repo = Repository::open(client, b"pw").unwrap();
                    let opts = BackupOptions {
                        paths: vec![dir.path().to_path_buf()],
                        ..Default::default()
                    };
                    backup(&repo, opts, &NoProgress).unwrap()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(*meeting.arrived.lock().unwrap(), 2, "both reached commit");

    // Each uploaded everything; whichever committed second dropped what the first stored.
    let added: Vec<u64> = reports
        .iter()
        .map(|r| r.snapshot.summary.bytes_added)
        .collect();
    let (first, second) = (added[0].max(added[1]), added[0].min(added[1]));
    assert!(first >= 15 * (200 << 10), "{added:?}");
    assert!(second < 4 * (200 << 10), "{added:?}");

    let repo = Repository::open(store, b"pw").unwrap();
    let plan = prune(
        &repo,
        &PruneOptions {
            dry_run: true,
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap()
    .plan;
    assert_eq!(plan.blobs_duplicate, 0, "{plan:?}");
    assert_eq!(plan.packs_unindexed, 0, "{plan:?}");
    // 18 distinct files of 200 KiB, random so incompressible, plus tree blobs and headers.
    let distinct = 18 * (200u64 << 10);
    assert!(
        plan.bytes_total < distinct + distinct / 20,
        "{} stored for {distinct}",
        plan.bytes_total
    );
    // Every blob both snapshots name is stored, intact, with its parity and nothing else.
    common::assert_clean(&common::full_check(&repo));
}
