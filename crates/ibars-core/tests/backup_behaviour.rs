//! Backup behaviour that needs a hook into the run: files changing while read, interruption,
//! and the statistics recorded in snapshots.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::test_repo;
use ibars_core::ops::backup::{backup, BackupOptions};
use ibars_core::progress::{NoProgress, Progress};
use ibars_core::Error;

/// Appends to a file the first time any bytes are reported read.
struct Meddler {
    target: PathBuf,
    done: AtomicBool,
    warnings: Mutex<Vec<String>>,
}

impl Progress for Meddler {
    fn bytes_done(&self, _bytes: u64) {
        if !self.done.swap(true, Ordering::SeqCst) {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&self.target)
                .unwrap();
            f.write_all(b"appended while the backup read the file")
                .unwrap();
        }
    }
    fn warn(&self, message: &str) {
        self.warnings.lock().unwrap().push(message.to_string());
    }
}

#[test]
fn a_file_changed_while_read_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("growing.log");
    std::fs::write(&file, vec![7u8; 200_000]).unwrap();
    let repo = test_repo(4096);
    let progress = Meddler {
        target: file.clone(),
        done: AtomicBool::new(false),
        warnings: Mutex::default(),
    };
    let r = backup(
        &repo,
        BackupOptions {
            paths: vec![dir.path().to_path_buf()],
            ..Default::default()
        },
        &progress,
    )
    .unwrap();
    assert_eq!(r.changed_while_read, vec![file.clone()]);
    assert_eq!(r.snapshot.summary.files_changed_while_read, 1);
    assert!(progress
        .warnings
        .lock()
        .unwrap()
        .iter()
        .any(|w| w.contains("changed while it was read")));
}

/// Sets the cancel flag once some data was read.
struct Canceller(Arc<AtomicBool>);

impl Progress for Canceller {
    fn bytes_done(&self, _bytes: u64) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn cancelled_backup_saves_no_snapshot_but_indexes_what_it_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..20 {
        let mut data = vec![0u8; 100_000];
        blake3::Hasher::new()
            .update(&[i])
            .finalize_xof()
            .fill(&mut data);
        std::fs::write(dir.path().join(format!("f{i}")), data).unwrap();
    }
    let repo = test_repo(4096);
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = BackupOptions {
        paths: vec![dir.path().to_path_buf()],
        cancel: Arc::clone(&cancel),
        ..Default::default()
    };
    let err = backup(&repo, opts, &Canceller(cancel)).unwrap_err();
    assert!(matches!(err, Error::Interrupted), "{err}");
    assert!(repo.snapshots().unwrap().is_empty());
    assert!(
        repo.load_index().unwrap().blob_count() > 0,
        "what was uploaded is indexed for reuse"
    );
    // The next backup completes and records exact statistics.
    let r = backup(
        &repo,
        BackupOptions {
            paths: vec![dir.path().to_path_buf()],
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    let s = &r.snapshot.summary;
    assert_eq!(s.files_new, 20);
    assert_eq!(s.bytes_total, 2_000_000);
    assert_eq!(s.bytes_read, 2_000_000);
    assert!(s.blobs_added > 0 && s.bytes_stored > 0);
    assert!(s.duration_ms > 0 && s.finished >= s.started);
    assert_eq!(repo.snapshots().unwrap().len(), 1);
}
