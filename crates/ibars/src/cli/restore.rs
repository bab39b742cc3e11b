//! `ibars restore`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use ibars_core::ops::restore::{restore, RestoreOptions};

use super::backup::install_interrupt;
use super::output::{bytes, duration};
use super::progress::CliProgress;
use super::snapshots::find;
use super::{code, GlobalArgs, SnapshotFilterArgs};

/// Restore a snapshot into a directory. Files land at TARGET/<their path in the snapshot>.
/// Files already in the target with the right content are not written again.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Snapshot: `latest`, `latest-clean` (the newest before any standing anomaly), an id or
    /// an id prefix.
    pub snapshot: String,
    /// Directory to restore into (created if missing).
    #[arg(short, long, value_name = "DIR")]
    pub target: PathBuf,
    /// Restore only paths matching a glob, with what is below them (repeatable).
    #[arg(short, long = "include", value_name = "GLOB")]
    pub includes: Vec<String>,
    /// Do not restore paths matching a glob (repeatable).
    #[arg(short, long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,
    /// Read every restored file back and check it against the snapshot.
    #[arg(long)]
    pub verify: bool,
    /// Parallel pack reads (at least --connections).
    #[arg(long, default_value_t = 3)]
    pub threads: usize,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

pub fn run(g: &GlobalArgs, a: &RestoreArgs) -> Result<u8> {
    let repo = g.open()?;
    let (id, snap) = find(&repo, &a.snapshot, &a.filter)?;
    let cancel = Arc::new(AtomicBool::new(false));
    install_interrupt(&cancel);
    let progress = CliProgress::new("restore", g.json, g.quiet);
    let opts = RestoreOptions {
        target: a.target.clone(),
        includes: a.includes.clone(),
        excludes: a.excludes.clone(),
        verify: a.verify,
        threads: a.threads.max(repo.backend().parallelism()),
        cancel,
        snapshot_id: Some(id),
    };
    let t0 = std::time::Instant::now();
    let report = restore(&repo, &snap, &opts, &progress);
    progress.finish();
    let r = report?;
    if g.json {
        outln!(
            "{}",
            serde_json::json!({"message_type": "summary", "snapshot_id": id, "target": a.target, "report": r,
                "duration_ms": t0.elapsed().as_millis() as u64})
        );
    } else if !g.quiet {
        outln!(
            "restored snapshot {} to {}: {} files written, {} already matched (skipped), {} dirs, {} hard links, {} symlinks, {} special files",
            id.short(),
            a.target.display(),
            r.files_restored,
            r.files_skipped,
            r.dirs,
            r.hard_links,
            r.symlinks,
            r.specials
        );
        outln!(
            "{} written in {}",
            bytes(r.bytes_written),
            duration(t0.elapsed().as_millis() as u64)
        );
        if a.verify {
            outln!(
                "verified {} files: {} mismatches",
                r.verified,
                r.verify_failures.len()
            );
        }
    }
    for (p, e) in &r.errors {
        eprintln!("error: {}: {e}", p.display());
    }
    for (p, e) in &r.verify_failures {
        eprintln!("verify failed: {}: {e}", p.display());
    }
    if r.errors.is_empty() && r.verify_failures.is_empty() {
        Ok(code::OK)
    } else {
        eprintln!(
            "{} file(s) could not be restored, {} failed verification",
            r.errors.len(),
            r.verify_failures.len()
        );
        Ok(code::PARTIAL)
    }
}
