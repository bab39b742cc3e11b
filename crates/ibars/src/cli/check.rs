//! `ibars check`.

use anyhow::Result;
use clap::Args;
use ibars_core::ops::check::{check, CheckOptions, CheckReport, ParityStatus, Subset};

use super::output::{bytes, duration, local_time};
use super::progress::CliProgress;
use super::GlobalArgs;

/// Exit codes of `check`, which differ from the other commands' so that scripts can tell
/// damage from a check that did not run.
const CHECK_EXIT: &str = "\
Exit codes of check:
  0  the repository is whole (warnings, such as unindexed packs left by an interrupted
     backup, are allowed)
  1  errors found: damaged or missing data; the report names the packs, blobs, snapshots
     and paths affected
  2  the check could not run (no repository, wrong password, locked, storage unreachable)";

/// Verify the repository.
///
/// Without options, check the structure: every index file reads, every indexed pack exists
/// with the right size, every snapshot's trees exist and every blob they name is indexed, and
/// locks are sane. With --read-data, also read packs and decrypt and authenticate every blob
/// in them, compare each pack with its name and its header with the index, and check parity
/// files. Damage is traced to every snapshot and path it touches.
///
/// Each check is recorded in the repository (`history/`), with when each pack was last
/// verified, which `--read-data-subset auto/30d` uses to spread reading over time.
#[derive(Args, Debug)]
#[command(after_help = CHECK_EXIT)]
pub struct CheckArgs {
    /// Read every pack and verify every blob.
    #[arg(long)]
    pub read_data: bool,
    /// Read only some packs (implies --read-data): `N/M` is part N of M (parts 1..M cover every
    /// pack once), `X%` a random share, a size such as `2G` random packs up to that size,
    /// and `auto/30d` the packs verified longest ago, enough that each is read every 30 days.
    #[arg(long, value_name = "SUBSET")]
    pub read_data_subset: Option<Subset>,
    /// Packs read at once (at least --connections).
    #[arg(long, default_value_t = 3)]
    pub threads: usize,
    /// Do not record this check in the repository.
    #[arg(long)]
    pub no_record: bool,
}

/// Marks errors that kept the check from running: exit code 2.
#[derive(Debug)]
pub struct CouldNotRun;

impl std::fmt::Display for CouldNotRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "check could not run")
    }
}

pub fn run(g: &GlobalArgs, a: &CheckArgs) -> Result<u8> {
    let report = run_check(g, a).map_err(|e| e.context(CouldNotRun))?;
    if g.json {
        outln!(
            "{}",
            serde_json::json!({"message_type": "summary", "ok": report.ok(), "report": report})
        );
    } else {
        print_report(&report, g.quiet);
    }
    Ok(u8::from(!report.ok()))
}

fn run_check(g: &GlobalArgs, a: &CheckArgs) -> Result<CheckReport> {
    let repo = g.open_uncached()?;
    let progress = CliProgress::new("check", g.json, g.quiet);
    let opts = CheckOptions {
        read_data: a.read_data || a.read_data_subset.is_some(),
        subset: a.read_data_subset.clone().unwrap_or(Subset::All),
        threads: a.threads.max(repo.backend().parallelism()),
        record: !a.no_record,
    };
    let r = check(&repo, &opts, &progress);
    progress.finish();
    Ok(r?)
}

const MAX_PATHS: usize = 20;

fn print_report(r: &CheckReport, quiet: bool) {
    for f in &r.errors {
        eprintln!("error: {}: {}", f.object, f.message);
    }
    for f in &r.warnings {
        eprintln!("warning: {}: {}", f.object, f.message);
    }
    let s = &r.scope;
    if !quiet {
        outln!(
            "checked {} snapshots, {} trees, {} blobs, {} packs",
            s.snapshots,
            s.trees,
            s.blobs,
            s.packs_total
        );
        if s.read_data {
            let secs = (r.duration_ms as f64 / 1000.0).max(0.001);
            outln!(
                "read {} of {} packs ({}) in {}, {}/s",
                s.packs_read,
                s.packs_total,
                bytes(s.bytes_read),
                duration(r.duration_ms),
                bytes((s.bytes_read as f64 / secs) as u64)
            );
        }
    }
    if !r.damaged_packs.is_empty() {
        outln!("damaged packs: {}", r.damaged_packs.len());
        for d in &r.damaged_packs {
            let fix = match d.parity {
                ParityStatus::Repairable => "repairable from parity: run `ibars repair packs`",
                ParityStatus::Unrepairable => "parity cannot rebuild it",
                ParityStatus::None => "no parity",
            };
            outln!(
                "  pack {}: {} ({} blobs lost; {fix})",
                d.pack,
                d.reason,
                d.blobs.len()
            );
        }
    }
    if !r.affected.is_empty() {
        outln!("affected snapshots: {}", r.affected.len());
        for a in &r.affected {
            outln!(
                "  snapshot {} ({}, {}): {} path(s)",
                a.snapshot.short(),
                local_time(a.time),
                a.host,
                a.paths.len()
            );
            for p in a.paths.iter().take(MAX_PATHS) {
                outln!("    {p}");
            }
            if a.paths.len() > MAX_PATHS {
                outln!(
                    "    ... and {} more (--json lists all)",
                    a.paths.len() - MAX_PATHS
                );
            }
        }
    }
    if r.ok() {
        if !quiet {
            outln!("no errors found ({} warnings)", r.warnings.len());
        }
    } else {
        outln!(
            "{} error(s), {} warning(s): the repository is damaged",
            r.errors.len(),
            r.warnings.len()
        );
    }
}
