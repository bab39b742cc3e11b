//! `prune`: remove data no snapshot references. It plans first (which packs to delete, which to
//! repack, what that frees and rewrites) and then executes, in an order that is safe to
//! interrupt at any point:
//!
//! 1. the used blobs of packs to repack are copied into new packs (verified on the way);
//! 2. a new, compact index naming every kept and new pack, and every pack marked for deletion,
//!    is written;
//! 3. the old index files are removed;
//! 4. the packs whose deletion is due, and their parity, are removed.
//!
//! Deletion has two phases (docs/locking.md). With a grace period (the default), prune holds a
//! prune lock, which backups run beside: unused, repacked and unindexed packs are only marked
//! for deletion in the index of step 2, and a later prune deletes a marked pack once the grace
//! period has passed, no process that may have loaded the index before the mark still holds a
//! lock, and no snapshot needs it (otherwise it is back in use). With no grace period, prune
//! holds an exclusive lock and deletes at once.
//!
//! Interrupted before 3, the repository holds duplicates; before 4, unindexed packs that a
//! later prune removes.

mod execute;
mod plan;

pub use plan::{PackAction, PrunePlan};

use std::time::Duration;

use crate::error::Result;
use crate::progress::Progress;
use crate::repo::{LockMode, Repository};

/// How long a pack stays marked for deletion, at least, by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60 * 60);

/// How to prune.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Unused space tolerated after pruning, in percent of the space in use: partly used
    /// packs are repacked, emptiest first, until the rest is below this.
    pub max_unused_percent: f64,
    /// Also repack packs smaller than a quarter of the target size, to merge them.
    pub repack_small: bool,
    /// Plan only.
    pub dry_run: bool,
    /// How long a pack marked for deletion stays, at least, before a later prune deletes it.
    /// It must exceed the clock differences between the hosts that use the repository. Zero
    /// deletes at once, under an exclusive lock (no backup runs beside such a prune).
    pub grace: Duration,
}

impl Default for PruneOptions {
    fn default() -> Self {
        Self {
            max_unused_percent: 5.0,
            repack_small: false,
            dry_run: false,
            grace: DEFAULT_GRACE,
        }
    }
}

/// What prune planned and did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PruneReport {
    pub plan: PrunePlan,
    pub dry_run: bool,
    pub packs_written: usize,
    pub bytes_written: u64,
    pub index_files_written: usize,
    pub index_files_removed: usize,
    /// Packs deleted in this run.
    pub packs_removed: usize,
    /// Their size: what this run freed.
    pub bytes_removed: u64,
    pub parity_files_removed: usize,
    pub duration_ms: u64,
}

/// Plan, and unless `dry_run`, execute.
pub fn prune(
    repo: &Repository,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneReport> {
    let run = crate::history::Run::start(crate::history::RunKind::Prune);
    let outcome = run_prune(repo, opts, progress);
    if opts.dry_run {
        return outcome;
    }
    run.finish(repo, outcome, |r, rec| {
        // Freed: the packs deleted in this run. What repacking wrote back is counted apart
        // (`bytes_written`): the stored size fell by the difference.
        rec.bytes = r.bytes_removed;
        rec.counts.insert("bytes_written".into(), r.bytes_written);
        rec.counts
            .insert("packs_removed".into(), r.packs_removed as u64);
        rec.counts
            .insert("packs_written".into(), r.packs_written as u64);
        rec.counts
            .insert("index_files_written".into(), r.index_files_written as u64);
    })
}

fn run_prune(
    repo: &Repository,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneReport> {
    let t0 = std::time::Instant::now();
    let immediate = opts.grace.is_zero();
    let lock = repo.lock(if immediate {
        LockMode::Exclusive
    } else {
        LockMode::Prune
    })?;
    // At least a millisecond: zero means "at once", which only the exclusive lock allows.
    let grace = (opts.grace.as_millis().min(i64::MAX as u128) as i64).max(i64::from(!immediate));
    let deadline = plan::Deadline {
        now: jiff::Timestamp::now().as_millisecond(),
        grace,
        oldest_lock: None,
        immediate,
    };
    let planned = plan::plan(repo, opts, &deadline)?;
    let mut report = PruneReport {
        plan: planned.summary.clone(),
        dry_run: opts.dry_run,
        ..Default::default()
    };
    if !opts.dry_run {
        execute::execute(repo, &lock, planned, grace, &mut report, progress)?;
    }
    report.duration_ms = t0.elapsed().as_millis() as u64;
    Ok(report)
}
