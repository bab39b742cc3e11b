//! `rewrite`: remove paths from existing snapshots.

use anyhow::Result;
use clap::Args;
use ibars_core::ops::rewrite::{rewrite, RewriteOptions};

use super::output::bytes;
use super::{code, GlobalArgs, SnapshotFilterArgs};

#[derive(Args, Debug)]
#[command(after_help = "\
Matching files and directories are cut from the snapshots; each changed snapshot is saved under a
new id (its `original` field names the first of its line) and the old one is removed. The data
stays in the repository until prune deletes it: `ibars prune --grace 0 --max-unused 0%` does so
at once (under an exclusive lock), after which no byte of the removed files remains; use this
to honour an erasure request in the backup history too. A plain `ibars prune` only marks it for
deletion, and a later prune deletes it.

With --sensitive, every file `ibars classify --sensitive --list` would list is cut too: files in
which their backup found secrets (keys, tokens, .env secrets, card numbers, IBANs, address
lists), and files with a sensitive name or matching the config file's [classify] `sensitive`
patterns. Run it with --dry-run first: the list is the compliance record of what holds secrets.

Examples:
  ibars rewrite --exclude '/home/*/.cache' --dry-run
  ibars rewrite --sensitive --dry-run
  ibars rewrite --exclude '**/customer-4711*' && ibars prune --grace 0 --max-unused 0%")]
pub struct RewriteArgs {
    /// Snapshots: `latest`, ids or id prefixes. Default: every snapshot matching the filters.
    pub snapshots: Vec<String>,
    /// Remove paths matching this pattern, as for `backup --exclude` (repeatable).
    #[arg(
        short,
        long,
        value_name = "PATTERN",
        required_unless_present = "sensitive"
    )]
    pub exclude: Vec<String>,
    /// Remove every file flagged sensitive (see `ibars classify`).
    #[arg(long)]
    pub sensitive: bool,
    /// Keep the original snapshots beside the rewritten ones.
    #[arg(long)]
    pub keep_original: bool,
    /// Show what would be removed, and change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

pub fn run(g: &GlobalArgs, a: &RewriteArgs) -> Result<u8> {
    let repo = g.open()?;
    let ids = super::snapshots::select(&repo, &a.snapshots, &a.filter)?;
    let sensitive = match a.sensitive {
        true => Some(g.class_rules(&Default::default())?),
        false => None,
    };
    let opts = RewriteOptions {
        excludes: a.exclude.clone(),
        sensitive,
        keep_original: a.keep_original,
        dry_run: a.dry_run,
    };
    let out = rewrite(&repo, &ids, &opts)?;
    if g.json {
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(code::OK);
    }
    if g.quiet {
        return Ok(code::OK);
    }
    let mut changed = 0;
    for r in &out {
        if r.removed.is_empty() {
            continue;
        }
        changed += 1;
        match r.new {
            Some(n) => outln!(
                "{} -> {}: removed {} path(s), {}",
                r.original.short(),
                n.short(),
                r.removed.len(),
                bytes(r.bytes_removed)
            ),
            None => outln!(
                "{}: would remove {} path(s), {}",
                r.original.short(),
                r.removed.len(),
                bytes(r.bytes_removed)
            ),
        }
        for p in &r.removed {
            outln!("  - {p}");
        }
    }
    outln!(
        "{changed} of {} snapshot(s) {}",
        out.len(),
        if a.dry_run {
            "would change"
        } else {
            "rewritten; run `ibars prune` to free the data"
        }
    );
    Ok(code::OK)
}
