//! `prune`: free the space of data no snapshot references.

use anyhow::Result;
use clap::Args;
use ibars_core::ops::prune::{prune, PruneOptions, PruneReport};
use ibars_core::repo::Repository;

use super::output::{bytes, duration};
use super::progress::CliProgress;
use super::{code, GlobalArgs};

/// `5%` or `5` as a percentage (may be fractional, at least 0).
fn parse_unused(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if p >= 0.0 && p.is_finite() => Ok(p),
        _ => Err(format!("'{s}': expected a percentage such as 5%")),
    }
}

/// Options shared by `prune` and `forget --prune`.
#[derive(Args, Debug, Clone)]
pub struct PruneArgs {
    /// Unused space to tolerate after pruning, in percent of the space in use. Partly used
    /// packs are repacked, emptiest first, until the unused rest is below this; 0% repacks
    /// every partly used pack.
    #[arg(long, default_value = "5%", value_name = "PERCENT", value_parser = parse_unused)]
    pub max_unused: f64,
    /// Also repack packs smaller than a quarter of the pack size, merging them.
    #[arg(long)]
    pub repack_small: bool,
}

#[derive(Args, Debug)]
#[command(after_help = "\
Prune plans first and then executes: new packs for the used blobs of packs being repacked (each
blob verified), then a compact index, then deletion of what no index names. It is safe to
interrupt at any point: at worst the next prune finds duplicates or unindexed packs to remove.
Prune takes an exclusive lock: backups wait for it with --retry-lock (see docs/locking.md).

Examples:
  ibars prune --dry-run
  ibars prune --max-unused 0%
  ibars forget --keep-daily 7 --prune")]
pub struct PruneCmd {
    #[command(flatten)]
    pub args: PruneArgs,
    /// Print the plan: packs to delete and repack, bytes freed and rewritten. Change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

pub fn run_cmd(g: &GlobalArgs, a: &PruneCmd) -> Result<u8> {
    let repo = g.open()?;
    prune_with(g, &repo, &a.args, a.dry_run)
}

/// Prune after `forget --prune`.
pub fn run(g: &GlobalArgs, repo: &Repository, a: &PruneArgs) -> Result<u8> {
    prune_with(g, repo, a, false)
}

fn prune_with(g: &GlobalArgs, repo: &Repository, a: &PruneArgs, dry_run: bool) -> Result<u8> {
    let opts = PruneOptions {
        max_unused_percent: a.max_unused,
        repack_small: a.repack_small,
        dry_run,
    };
    let progress = CliProgress::new("prune", g.json, g.quiet);
    let r = prune(repo, &opts, &progress);
    progress.finish();
    let r = r?;
    if g.json {
        let mut v = serde_json::to_value(&r)?;
        v["message_type"] = serde_json::json!("prune");
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else if !g.quiet {
        print_report(&r);
    }
    Ok(code::OK)
}

fn print_report(r: &PruneReport) {
    let p = &r.plan;
    outln!(
        "{} snapshots; {} blobs indexed, {} in use, {} duplicate",
        p.snapshots,
        p.blobs_total,
        p.blobs_used,
        p.blobs_duplicate
    );
    outln!(
        "packs: {} total ({}), {} kept, {} to delete ({}), {} to repack ({}, {} of it rewritten), {} unindexed",
        p.packs_total,
        bytes(p.bytes_total),
        p.packs_keep,
        p.packs_delete,
        bytes(p.bytes_delete),
        p.packs_repack,
        bytes(p.bytes_repack),
        bytes(p.bytes_rewritten),
        p.packs_unindexed
    );
    let freed = p.bytes_delete + p.bytes_repack.saturating_sub(p.bytes_rewritten);
    outln!(
        "{} {}; {} unused left in kept packs",
        if r.dry_run { "would free" } else { "freed" },
        bytes(freed),
        bytes(p.bytes_unused_after)
    );
    if !r.dry_run {
        outln!(
            "wrote {} pack(s) ({}) and {} index file(s); removed {} pack(s), {} parity file(s), {} index file(s) in {}",
            r.packs_written,
            bytes(r.bytes_written),
            r.index_files_written,
            r.packs_removed,
            r.parity_files_removed,
            r.index_files_removed,
            duration(r.duration_ms)
        );
    }
}
