//! `prune`: remove data no snapshot references. It plans first (which packs to delete, which to
//! repack, what that frees and rewrites) and then executes, in an order that is safe to
//! interrupt at any point:
//!
//! 1. the used blobs of packs to repack are copied into new packs (verified on the way);
//! 2. a new, compact index naming every kept and new pack is written;
//! 3. the old index files are removed;
//! 4. the unused and repacked packs, and their parity, are removed.
//!
//! Interrupted before 3, the repository holds duplicates; before 4, unindexed packs that the
//! next prune removes. Prune holds an exclusive lock, so no backup runs beside it; see
//! docs/locking.md.

mod execute;
mod plan;

pub use plan::{PackAction, PrunePlan};

use crate::error::Result;
use crate::progress::Progress;
use crate::repo::{LockMode, Repository};

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
}

impl Default for PruneOptions {
    fn default() -> Self {
        Self {
            max_unused_percent: 5.0,
            repack_small: false,
            dry_run: false,
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
    pub packs_removed: usize,
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
        // Freed: packs deleted whole, and repacked ones less what was written again.
        rec.bytes = r.plan.bytes_delete + r.plan.bytes_repack.saturating_sub(r.bytes_written);
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
    let lock = repo.lock(LockMode::Exclusive)?;
    let planned = plan::plan(repo, opts)?;
    let mut report = PruneReport {
        plan: planned.summary.clone(),
        dry_run: opts.dry_run,
        ..Default::default()
    };
    if !opts.dry_run {
        execute::execute(repo, &lock, planned, &mut report, progress)?;
    }
    report.duration_ms = t0.elapsed().as_millis() as u64;
    Ok(report)
}
