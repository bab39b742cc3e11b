//! `restore`: a snapshot, whole or filtered, into a target directory.
//!
//! Plan: walk the trees, decide every file's fate (write, skip because it already matches,
//! hard link), and group every blob to write by pack, merging neighbouring blobs into one
//! ranged read. Execute: worker threads read ranges, decrypt (authenticate) each blob once, and
//! write it at every offset that needs it; holes are never written, so sparse files stay
//! sparse. Metadata comes last, directories deepest first so that their times stick.

mod meta;
mod plan;

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::backend::FileKind;
use crate::error::{Error, Result};
use crate::index::Index;
use crate::ops::filter::PathFilter;
use crate::pack;
use crate::progress::Progress;
use crate::repo::{parallel_map, LockMode, Repository, TreeCache};
use crate::snapshot::Snapshot;
use crate::tree::{ContentPart, NodeType};
use plan::{FileTask, Plan, ReadJob};

pub use plan::file_matches;

/// What to restore and where.
pub struct RestoreOptions {
    pub target: PathBuf,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
    /// Re-read every restored file afterwards and check it against the snapshot.
    pub verify: bool,
    pub threads: usize,
    pub cancel: Arc<AtomicBool>,
    /// The snapshot's id, for the history record.
    pub snapshot_id: Option<crate::id::SnapshotId>,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        Self {
            target: PathBuf::new(),
            includes: vec![],
            excludes: vec![],
            verify: false,
            threads: 3,
            cancel: Arc::new(AtomicBool::new(false)),
            snapshot_id: None,
        }
    }
}

/// What a restore did.
#[derive(Debug, Default, serde::Serialize)]
pub struct RestoreReport {
    pub files_restored: u64,
    /// Files already present with the right content; only their metadata was set.
    pub files_skipped: u64,
    pub dirs: u64,
    /// Files restored as a hard link to another restored file.
    pub hard_links: u64,
    pub symlinks: u64,
    /// FIFOs and device nodes.
    pub specials: u64,
    pub bytes_written: u64,
    pub bytes_total: u64,
    /// Files that could not be restored whole, with the reason (damaged blob, missing pack).
    pub errors: Vec<(PathBuf, String)>,
    /// Files checked by `--verify`, and those that did not match.
    pub verified: u64,
    pub verify_failures: Vec<(PathBuf, String)>,
}

/// Restore `snap` per `opts`, and record the run in the repository's history.
pub fn restore(
    repo: &Repository,
    snap: &Snapshot,
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let run = crate::history::Run::start(crate::history::RunKind::Restore);
    let outcome = run_restore(repo, snap, opts, progress);
    run.finish(repo, outcome, |r, rec| {
        rec.files = r.files_restored + r.files_skipped;
        rec.bytes = r.bytes_total;
        rec.errors = (r.errors.len() + r.verify_failures.len()) as u64;
        if rec.errors > 0 {
            rec.result = crate::history::RunResult::Partial;
        }
        rec.snapshots = opts.snapshot_id.iter().map(|i| i.to_hex()).collect();
        rec.paths = opts.includes.clone();
        rec.counts.insert("bytes_written".into(), r.bytes_written);
        rec.counts.insert("files_verified".into(), r.verified);
    })
}

fn run_restore(
    repo: &Repository,
    snap: &Snapshot,
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    let _lock = repo.lock(LockMode::Shared)?;
    let index = repo.load_index()?;
    let cache = TreeCache::new(64 << 20);
    let includes = PathFilter::new(&opts.includes)?;
    let excludes = PathFilter::new(&opts.excludes)?;
    std::fs::create_dir_all(&opts.target).map_err(|e| Error::io(&opts.target, e))?;
    let mut plan = Plan::build(
        repo,
        &index,
        &cache,
        snap,
        &opts.target,
        &includes,
        &excludes,
    )?;
    drop(cache); // every tree is read: free their packs before the data phase
    let mut report = RestoreReport {
        bytes_total: plan.files.iter().map(|f| f.node.size).sum(),
        ..Default::default()
    };
    progress.set_total(plan.files.len() as u64, report.bytes_total);

    let t = std::time::Instant::now();
    let phase = |name: &str| {
        if !tracing::enabled!(tracing::Level::INFO) {
            return;
        }
        let rss = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS"))
                    .map(|l| l.to_string())
            })
            .unwrap_or_default();
        tracing::info!(
            "restore: {name} done at {:.3}s {rss}",
            t.elapsed().as_secs_f64()
        )
    };
    phase("plan");
    plan.create_dirs_and_specials(&mut report)?;
    phase("directories");
    plan.mark_matching(repo, &index, &opts.cancel, &mut report)?;
    phase("matching files");
    let jobs = plan.prepare_files(
        &index,
        &mut report,
        plan::ReadShape::for_store(repo.backend().parallelism(), repo.config()),
    )?;
    phase("file preparation");
    execute(repo, &index, &plan.files, jobs, opts, progress, &mut report)?;
    phase("data");
    if opts.cancel.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    plan.finish(&mut report)?;
    phase("metadata");
    if opts.verify {
        verify(repo, &index, &plan.files, &opts.cancel, &mut report)?;
    }
    Ok(report)
}

/// What each restore worker keeps between jobs: open target files and decode buffers.
struct Worker {
    handles: HashMap<u32, File>,
    decoder: pack::BlobDecoder,
    is_root: bool,
}

impl Default for Worker {
    fn default() -> Self {
        Self {
            handles: HashMap::new(),
            decoder: pack::BlobDecoder::trusting_sealed_ids(),
            is_root: nix::unistd::geteuid().is_root(),
        }
    }
}

/// Damaged files, keyed by file number, with the first reason seen.
type Damage = Mutex<HashMap<u32, String>>;

fn execute(
    repo: &Repository,
    index: &Index,
    files: &[FileTask],
    jobs: Vec<ReadJob>,
    opts: &RestoreOptions,
    progress: &dyn Progress,
    report: &mut RestoreReport,
) -> Result<()> {
    let damage: Damage = Mutex::new(HashMap::new());
    let written = AtomicU64::new(0);
    let fatal: Mutex<Option<Error>> = Mutex::new(None);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..opts.threads.max(1) {
            s.spawn(|| {
                let mut worker = Worker::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs.len()
                        || opts.cancel.load(Ordering::Relaxed)
                        || fatal.lock().map(|f| f.is_some()).unwrap_or(true)
                    {
                        break;
                    }
                    if let Err(e) = run_job(
                        repo,
                        index,
                        files,
                        &jobs[i],
                        &mut worker,
                        &damage,
                        &written,
                        progress,
                    ) {
                        let mut f = fatal.lock().unwrap_or_else(|p| p.into_inner());
                        f.get_or_insert(e);
                    }
                }
            });
        }
    });
    if let Some(e) = fatal.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    report.bytes_written = written.into_inner();
    let mut damaged: Vec<(PathBuf, String)> = damage
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|(f, why)| (files[f as usize].path.clone(), why))
        .collect();
    damaged.sort();
    report.errors.extend(damaged);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_job(
    repo: &Repository,
    index: &Index,
    files: &[FileTask],
    job: &ReadJob,
    worker: &mut Worker,
    damage: &Damage,
    written: &AtomicU64,
    progress: &dyn Progress,
) -> Result<()> {
    let pack_id = index.pack_id_at(job.pack);
    let mark = |blob: &plan::BlobWrite, why: &str| {
        let mut d = damage.lock().unwrap_or_else(|p| p.into_inner());
        for t in &blob.targets {
            d.entry(t.0).or_insert_with(|| why.to_string());
        }
    };
    let data = match repo.backend().read_range(
        FileKind::Pack,
        &pack_id.to_hex(),
        job.start,
        job.end - job.start,
    ) {
        Ok(d) => d,
        Err(e) => {
            for b in &job.blobs {
                mark(b, &e.to_string());
            }
            return Ok(());
        }
    };
    for b in &job.blobs {
        let lo = (b.entry.offset as u64 - job.start) as usize;
        let hi = lo + b.entry.length as usize;
        let plain = match data.get(lo..hi) {
            Some(stored) => worker.decoder.decode(repo.key(), pack_id, &b.entry, stored),
            None => Err(Error::corrupt(
                format!("pack {pack_id}"),
                format!("truncated before blob {}", b.entry.id),
            )),
        };
        let plain = match plain {
            Ok(p) => p,
            Err(e) => {
                mark(b, &e.to_string());
                continue;
            }
        };
        for &(file, offset) in &b.targets {
            if worker.handles.len() > 64 {
                worker.handles.clear();
            }
            let task = &files[file as usize];
            let f = match worker.handles.entry(file) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    // The first writer creates the file, in its final permissions where the
                    // umask allows (so that they need not be set again), but always writable
                    // by its owner, for the other workers' writes. Only a trailing hole needs
                    // the length set; it is the final length, whichever worker sets it.
                    use std::os::unix::fs::OpenOptionsExt;
                    let f = crate::source::longpath::reach(&task.path)
                        .and_then(|r| {
                            std::fs::OpenOptions::new()
                                .write(true)
                                .create(true)
                                .truncate(false)
                                .mode((task.node.mode & 0o777) | 0o600)
                                .open(&*r)
                        })
                        .map_err(|e| Error::io(&task.path, e))?;
                    if matches!(task.node.content.last(), Some(ContentPart::Hole(_))) {
                        f.set_len(task.node.size)
                            .map_err(|e| Error::io(&task.path, e))?;
                    }
                    v.insert(f)
                }
            };
            f.write_all_at(plain, offset)
                .map_err(|e| Error::io(&task.path, e))?;
            written.fetch_add(plain.len() as u64, Ordering::Relaxed);
            progress.bytes_done(plain.len() as u64);
            if task.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                // Last write of this file: set its metadata through the open descriptor and
                // close it, while it is hot.
                if let Some(f) = worker.handles.remove(&file) {
                    match meta::apply_fd(&f, &task.path, &task.node, worker.is_root) {
                        Ok(()) => task.meta_done.store(true, Ordering::Relaxed),
                        Err(e) => tracing::debug!("{e}; retried by path later"),
                    }
                }
            }
        }
    }
    Ok(())
}

fn verify(
    repo: &Repository,
    index: &Index,
    files: &[FileTask],
    cancel: &AtomicBool,
    report: &mut RestoreReport,
) -> Result<()> {
    let failed: std::collections::HashSet<&PathBuf> =
        report.errors.iter().map(|(p, _)| p).collect();
    let todo: Vec<&FileTask> = files
        .iter()
        .filter(|f| f.node.kind == NodeType::File && !failed.contains(&f.path))
        .collect();
    let results = parallel_map(&todo, 2, |f| {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        Ok(match file_matches(repo, index, &f.path, &f.node) {
            Ok(true) => None,
            Ok(false) => Some((
                f.path.clone(),
                "content differs from the snapshot".to_string(),
            )),
            Err(e) => Some((f.path.clone(), e.to_string())),
        })
    })?;
    report.verified = todo.len() as u64;
    report.verify_failures = results.into_iter().flatten().collect();
    Ok(())
}
