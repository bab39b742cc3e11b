//! `prune`: free the space of data no snapshot references.

use anyhow::Result;
use clap::Args;
use ibars_core::ops::prune::{prune, PruneOptions, PruneReport};
use ibars_core::repo::Repository;

use super::output::{bytes, duration, parse_duration};
use super::progress::CliProgress;
use super::{code, GlobalArgs};

/// `5%` or `5` as a percentage (may be fractional, at least 0).
fn parse_unused(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if p >= 0.0 && p.is_finite() => Ok(p),
        _ => Err(format!("'{s}': expected a percentage such as 5%")),
    }
}

/// A duration such as `1h` or `30m`, or `0`.
fn parse_grace(s: &str) -> Result<jiff::SignedDuration, String> {
    match s.trim() {
        "0" => Ok(jiff::SignedDuration::ZERO),
        _ => parse_duration(s),
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
    /// Keep packs marked for deletion at least this long (e.g. 1h, 30m, 2d) before a later
    /// prune deletes them. It must exceed the clock differences between hosts. 0 deletes at
    /// once, under an exclusive lock: backups cannot run beside such a prune.
    #[arg(long, default_value = "1h", value_name = "DURATION", value_parser = parse_grace)]
    pub grace: jiff::SignedDuration,
}

#[derive(Args, Debug)]
#[command(after_help = "\
Prune plans first and then executes: new packs for the used blobs of packs being repacked (each
blob verified), then a compact index, then deletion. It is safe to interrupt at any point: at
worst a later prune finds duplicates or unindexed packs to remove.

Backups, restores, checks and copies run beside prune. Deletion therefore takes two prunes:
unused, repacked and unindexed packs are only marked for deletion in the index, and new backups
store again what is only in marked packs. A later prune deletes a marked pack once the grace
period (--grace) has passed and no process that started before the mark still holds a lock;
a marked pack that a snapshot made meanwhile needs is kept, back in use. With --grace 0, prune
takes an exclusive lock and deletes at once, as when erasing data (backups then wait for it
with --retry-lock, or fail with exit code 11). Two prunes (or forgets) never run at once. See
docs/locking.md.

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
        grace: a.grace.unsigned_abs(),
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
        print_report(&r, opts.grace.is_zero());
    }
    Ok(code::OK)
}

fn print_report(r: &PruneReport, immediate: bool) {
    let p = &r.plan;
    outln!(
        "{} snapshots; {} blobs indexed, {} in use, {} duplicate",
        p.snapshots,
        p.blobs_total,
        p.blobs_used,
        p.blobs_duplicate
    );
    let (verb, marks) = if immediate {
        ("delete", "")
    } else {
        ("mark", " for deletion")
    };
    outln!(
        "packs: {} total ({}), {} kept, {} unused to {verb}{marks} ({}), {} to repack ({}, {} of it rewritten), {} unindexed",
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
    if p.packs_expired + p.packs_waiting + p.packs_recovered > 0 {
        outln!(
            "marked earlier: {} to delete now ({}), {} kept marked for now ({}: grace period or a process that started before the mark), {} in use again",
            p.packs_expired,
            bytes(p.bytes_expired),
            p.packs_waiting,
            bytes(p.bytes_waiting),
            p.packs_recovered
        );
    }
    let later = p.bytes_delete + p.bytes_repack.saturating_sub(p.bytes_rewritten);
    let now = p.bytes_expired + if immediate { later } else { 0 };
    outln!(
        "{} {}{}; {} unused left in kept packs",
        if r.dry_run { "would free" } else { "freed" },
        bytes(now),
        if immediate {
            String::new()
        } else {
            format!(", and {} by a later prune", bytes(later))
        },
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
