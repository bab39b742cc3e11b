//! `backup`: files, directories or standard input into a new snapshot.
//!
//! Threads: one walker (name order, compares with the parent), `readers` file readers (read,
//! chunk, hash, dedup), one compress/encrypt worker per core, one finisher (assembles trees in
//! post-order) and `uploaders` pack writers. All are joined by bounded channels, so memory stays
//! flat whatever the input. The snapshot is written last: a backup killed at any point leaves
//! every existing snapshot intact, and packs it uploaded are indexed when it stops cleanly.

mod commit;
mod judge;
pub mod probe;
mod reader;
mod saver;
mod scan;
mod walker;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::bounded;

use crate::chunker::StreamChunker;
use crate::compress::Compression;
use crate::error::{Error, Result};
use crate::features::FileSample;
use crate::history::{self, RunKind};
use crate::id::SnapshotId;
use crate::ops::filter::PathFilter;
use crate::progress::Progress;
use crate::repo::{hostname, username, LockMode, Repository, TreeCache};
use crate::snapshot::{BackupType, Snapshot, SnapshotFilter, Summary};
use crate::tree::{Bytes, ContentPart, Node, NodeType, Tree};
use saver::Saver;
pub use scan::Scan;
use walker::{virtual_root, Deleted, FinishStats, Walker};

/// Standard input as a source.
pub struct StdinSource {
    /// The file name it gets in the snapshot.
    pub name: String,
    pub reader: Box<dyn Read + Send>,
}

/// What to back up and how.
pub struct BackupOptions {
    pub paths: Vec<PathBuf>,
    pub stdin: Option<StdinSource>,
    pub tags: Vec<String>,
    pub host: Option<String>,
    pub compression: Option<Compression>,
    pub backup_type: BackupType,
    pub excludes: Vec<String>,
    pub exclude_if_present: Vec<String>,
    pub one_file_system: bool,
    /// Paths never to back up (the repository itself, when it is local).
    pub skip_paths: Vec<PathBuf>,
    /// Set from another thread (Ctrl-C) to stop; the backup then fails with `Interrupted`.
    pub cancel: Arc<AtomicBool>,
    /// Walk the sources once more in the background to estimate totals for progress.
    pub estimate: bool,
    /// Packs written at once: one suits a local disk; object stores want more.
    pub upload_threads: usize,
    /// The snapshot's time instead of the start of the backup, as restic's `--time`, for
    /// importing and replaying histories. History records and models use this time.
    pub time: Option<jiff::Timestamp>,
    /// Measure the anomaly features and judge the backup against its source's history.
    pub detect: bool,
    /// A scan of these sources started early ([`Scan::start`]), for example before the
    /// repository's key is derived; used if it was started with the same paths and rules.
    pub scan: Option<Scan>,
}

impl Default for BackupOptions {
    fn default() -> Self {
        Self {
            paths: vec![],
            stdin: None,
            tags: vec![],
            host: None,
            compression: None,
            backup_type: BackupType::Incremental,
            excludes: vec![],
            exclude_if_present: vec![],
            one_file_system: false,
            skip_paths: vec![],
            cancel: Arc::new(AtomicBool::new(false)),
            estimate: false,
            upload_threads: 1,
            time: None,
            detect: true,
            scan: None,
        }
    }
}

/// The result of a backup.
#[derive(Debug)]
pub struct BackupReport {
    pub id: SnapshotId,
    pub snapshot: Snapshot,
    /// Paths that could not be read (the snapshot was saved without them).
    pub errors: Vec<(PathBuf, String)>,
    /// Files whose size or mtime changed while they were read.
    pub changed_while_read: Vec<PathBuf>,
    /// The anomaly model's judgement (`None` with detection off).
    pub verdict: Option<ibars_insight::record::Verdict>,
    /// The name of the history record, if it could be saved.
    pub record: Option<String>,
}

/// Make a path absolute and lexically clean, without resolving symlinks.
pub fn absolute(p: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(p).map_err(|e| Error::io(p, e))?;
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Paths with what went wrong reading them.
type PathErrors = Vec<(PathBuf, String)>;
/// The walk's result: where the root tree id will arrive, the paths it could not read, and
/// what it found deleted.
type Walked = (
    crossbeam_channel::Receiver<crate::id::BlobId>,
    PathErrors,
    Deleted,
);

/// Run a backup, and record it in the repository's history (a failed one too).
pub fn backup(
    repo: &Repository,
    opts: BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupReport> {
    let run = history::Run::start(RunKind::Backup);
    run.finish_failed(repo, run_backup(repo, opts, progress))
}

fn run_backup(
    repo: &Repository,
    mut opts: BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupReport> {
    let started = jiff::Timestamp::now();
    let t0 = Instant::now();
    let rules = scan::rules(&opts)?;
    let paths = &rules.paths;
    let snap_paths: Vec<Bytes> = match &opts.stdin {
        Some(s) => vec![Bytes(format!("/{}", s.name).into_bytes())],
        None if paths.is_empty() => {
            return Err(Error::Invalid(
                "nothing to back up: give paths or --stdin".into(),
            ))
        }
        None => paths
            .iter()
            .map(|p| Bytes::from_os(p.as_os_str()))
            .collect(),
    };
    let host = opts.host.clone().unwrap_or_else(hostname);

    let lock = repo.lock(LockMode::Shared)?;
    let (index, seen_index) = repo.load_index_named()?;
    let snapshots = repo.snapshots()?;
    let same_source = SnapshotFilter {
        hosts: vec![host.clone()],
        tags: vec![],
        paths: snap_paths.clone(),
        ..SnapshotFilter::default()
    };
    let parent = match opts.backup_type {
        BackupType::Full => None,
        t => snapshots
            .iter()
            .filter(|(_, s)| {
                same_source.matches(s)
                    && (t == BackupType::Incremental || s.backup_type == BackupType::Full)
            })
            .max_by(|a, b| a.1.time.cmp(&b.1.time)),
    };
    let cache = TreeCache::new(32 << 20);
    let parent_root = match parent {
        Some((_, s)) => Some((s.tree, repo.load_tree(&index, &cache, &s.tree)?)),
        None => None,
    };
    let compression = opts.compression.unwrap_or(repo.config().compression);
    let saver = Saver::new(repo, &index, compression);
    let chunker = repo.config().chunker;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let stdin = opts.stdin.take();

    let detect = opts.detect;
    let early_scan = opts.scan.take();
    let outcome: Result<(crate::id::BlobId, FinishStats, PathErrors, Deleted)> =
        std::thread::scope(|s| {
            let (work_tx, work_rx) = bounded(cores);
            // Rendezvous: a full pack waits in its worker, not in a queue, to bound memory.
            let (up_tx, up_rx) = bounded(0);
            let (file_tx, file_rx) = bounded::<reader::FileJob>(256);
            let (dir_tx, dir_rx) = bounded(256);
            let saver = &saver;
            let cancel = &*opts.cancel;

            let uploaders: Vec<_> = (0..opts.upload_threads.max(1))
                .map(|_| {
                    let rx = up_rx.clone();
                    s.spawn(move || saver.upload_worker(rx))
                })
                .collect();
            drop(up_rx);
            let workers: Vec<_> = (0..cores)
                .map(|_| {
                    let (rx, up) = (work_rx.clone(), up_tx.clone());
                    s.spawn(move || saver.compress_worker(rx, up))
                })
                .collect();
            drop(work_rx);
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let rx = file_rx.clone();
                    let tx = work_tx.clone();
                    s.spawn(move || {
                        let mut ctx = reader::ReadCtx {
                            saver,
                            tx,
                            chunker: StreamChunker::new(chunker),
                            cancel,
                            progress,
                            features: detect,
                        };
                        for job in rx {
                            let r = reader::read_file(&mut ctx, &job.path);
                            let _ = job.reply.send(r);
                        }
                    })
                })
                .collect();
            drop(file_rx);
            let fin_tx = work_tx.clone();
            let finisher =
                s.spawn(move || walker::finisher(saver, fin_tx, dir_rx, progress, detect));
            if opts.estimate && stdin.is_none() {
                match parent {
                    // The parent's totals: as good an estimate, without a second walk.
                    Some((_, p)) => {
                        let t = &p.summary;
                        progress.set_total(
                            t.files_new + t.files_changed + t.files_unchanged,
                            t.bytes_total,
                        );
                    }
                    None => {
                        let (paths, filter) = (&rules.paths, &rules.filter);
                        s.spawn(move || estimate(paths, filter, cancel, progress));
                    }
                }
            }

            let walked = match stdin {
                Some(src) => {
                    drop(file_tx);
                    stdin_root(
                        &mut reader::ReadCtx {
                            saver,
                            tx: work_tx.clone(),
                            chunker: StreamChunker::new(chunker),
                            cancel,
                            progress,
                            features: detect,
                        },
                        src,
                    )
                }
                None => {
                    let scan = Scan::reuse(early_scan, rules.clone(), opts.cancel.clone());
                    let mut w = Walker {
                        repo,
                        index: &index,
                        cache: &cache,
                        saver,
                        rules: &rules,
                        scan: Some(scan.feed),
                        reread_all: opts.backup_type == BackupType::Full,
                        names: Default::default(),
                        file_tx,
                        dir_tx: dir_tx.clone(),
                        cancel,
                        progress,
                        errors: vec![],
                        features: detect,
                        deleted: Deleted::default(),
                    };
                    let root = virtual_root(paths);
                    w.walk_root(&root, parent_root).map(|rx| {
                        (
                            rx,
                            std::mem::take(&mut w.errors),
                            std::mem::take(&mut w.deleted),
                        )
                    })
                }
            };
            drop(dir_tx);
            let fin = finisher
                .join()
                .unwrap_or_else(|_| Err(Error::Invalid("finisher panicked".into())));
            for r in readers {
                let _ = r.join();
            }
            drop(work_tx);
            for w in workers {
                let _ = w.join();
            }
            drop(up_tx);
            for u in uploaders {
                let _ = u.join();
            }
            let (rx, walk_errors, deleted) = walked?;
            let stats = fin?;
            let root = rx
                .recv()
                .map_err(|_| Error::Invalid("root tree missing".into()))?;
            Ok((root, stats, walk_errors, deleted))
        });

    // Index whatever was uploaded, even after a failure, so that the next backup reuses it;
    // but not with a lock that may have gone stale: a prune may have deleted these packs.
    lock.check()?;
    let dedup = commit::commit(repo, &index, &seen_index, saver.take_written())?;
    if let Some(e) = saver.take_error() {
        return Err(e);
    }
    let (root, mut stats, walk_errors, deleted) = outcome?;
    // A stop asked for after the last chunk (a dump cut short by it ends in a plain EOF)
    // must not save a snapshot either.
    if opts.cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    // Blobs found in the index at the start are only safe to reference while the lock held.
    lock.check()?;

    let mut errors = walk_errors;
    errors.extend(stats.errors.iter().cloned());
    let finished = jiff::Timestamp::now();
    let st = &saver.stats;
    let summary = Summary {
        started: Some(started),
        finished: Some(finished),
        duration_ms: t0.elapsed().as_millis() as u64,
        files_new: stats.files_new,
        files_changed: stats.files_changed,
        files_unchanged: stats.files_unchanged,
        dirs_new: stats.dirs_new,
        dirs_changed: stats.dirs_changed,
        dirs_unchanged: stats.dirs_unchanged,
        bytes_read: stats.bytes_read,
        bytes_total: stats.bytes_total,
        blobs_added: st.blobs_added.load(std::sync::atomic::Ordering::Relaxed) - dedup.blobs,
        bytes_added: st.bytes_added.load(std::sync::atomic::Ordering::Relaxed) - dedup.bytes,
        bytes_stored: st.bytes_stored.load(std::sync::atomic::Ordering::Relaxed) - dedup.stored,
        errors: errors.len() as u64,
        error_paths: errors
            .iter()
            .map(|(p, _)| Bytes::from_os(p.as_os_str()))
            .collect(),
        files_changed_while_read: stats.changed_while_read.len() as u64,
        files_deleted: deleted.files,
        dirs_deleted: deleted.dirs,
        bytes_deleted: deleted.bytes,
        files_moved: moves(deleted.sigs, &stats.new_sigs),
    };
    let mut snapshot = Snapshot {
        version: 1,
        time: opts.time.unwrap_or(started),
        host,
        username: username(),
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        tags: opts.tags.clone(),
        paths: snap_paths,
        tree: root,
        parent: parent.map(|p| p.0),
        // Without a parent everything was read: that is a full backup, whatever was asked.
        backup_type: if parent.is_some() {
            opts.backup_type
        } else {
            BackupType::Full
        },
        program_version: format!("ibars {}", env!("CARGO_PKG_VERSION")),
        excludes: rules.excludes.clone(),
        summary,
        original: None,
        protected: None,
        anomaly: None,
    };
    let features = stats.collector.take().map(|c| {
        c.finish(
            snapshot.summary.bytes_added,
            st.bytes_incompressible
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    });
    let mut rec = judge::record(&snapshot, features);
    let mut verdict = None;
    if detect {
        let (v, anomaly) = judge::assess(repo, &rec, &snapshot, &snapshots, progress);
        snapshot.protected = anomaly.as_ref().map(judge::protection);
        snapshot.anomaly = anomaly;
        verdict = v;
    }
    let id = repo.save_snapshot(&snapshot)?;
    rec.snapshots = vec![id.to_hex()];
    if let Some(b) = &mut rec.backup {
        b.snapshot = id.to_hex();
        b.verdict = verdict.clone();
    }
    let record = history::save_or_warn(repo, &rec);
    Ok(BackupReport {
        id,
        snapshot,
        errors,
        changed_while_read: stats.changed_while_read,
        verdict,
        record,
    })
}

/// New files whose content signature matches a deleted file's: moves. Each deleted file
/// explains at most one new file.
fn moves(mut deleted: std::collections::HashMap<u128, u32>, new: &[u128]) -> u64 {
    let mut n = 0;
    for sig in new {
        if let Some(c) = deleted.get_mut(sig) {
            if *c > 0 {
                *c -= 1;
                n += 1;
            }
        }
    }
    n
}

/// The tree for a standard-input backup: one file at the root.
fn stdin_root(ctx: &mut reader::ReadCtx<'_, '_>, src: StdinSource) -> Result<Walked> {
    let name = PathBuf::from(&src.name);
    let mut content: Vec<ContentPart> = Vec::new();
    let mut sample = FileSample::default();
    let mut secrets = crate::features::SecretSample::for_path(&name);
    let size = reader::chunk_stream(
        ctx,
        src.reader,
        &name,
        &mut content,
        &mut sample,
        &mut secrets,
    )?;
    let now = jiff::Timestamp::now().as_nanosecond() as i64;
    let node = Node {
        name: Bytes(src.name.into_bytes()),
        kind: NodeType::File,
        mode: 0o644,
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        user: Some(username()),
        group: None,
        mtime: now,
        atime: None,
        ctime: now,
        inode: 0,
        dev: 0,
        links: 1,
        size,
        content,
        subtree: None,
        target: None,
        rdev: 0,
        xattrs: vec![],
        class: ctx.features.then(|| sample.class().to_string()),
        secrets: secrets.finish(),
    };
    let (id, _) = ctx.saver.submit(
        &ctx.tx,
        crate::pack::BlobKind::Tree,
        Tree::new(vec![node]).to_bytes(),
    )?;
    let (rtx, rrx) = bounded(1);
    let _ = rtx.send(id);
    Ok((rrx, vec![], Deleted::default()))
}

/// Count files and bytes under the sources for progress totals.
fn estimate(paths: &[PathBuf], filter: &PathFilter, cancel: &AtomicBool, progress: &dyn Progress) {
    use std::os::unix::fs::MetadataExt;
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(
                    rd.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|c| !filter.matches(c)),
                );
            }
        } else if md.is_file() {
            files += 1;
            bytes += md.size();
            if files % 1000 == 0 {
                progress.set_total(files, bytes);
            }
        }
    }
    progress.set_total(files, bytes);
}
