//! `forget` and `tag`: retention and snapshot labels.

use anyhow::{bail, Result};
use clap::Args;
use ibars_core::ops::forget::policy::{GroupBy, GroupKey, Policy};
use ibars_core::ops::forget::{forget, ForgetOptions};
use ibars_core::ops::tag::{tag, TagChanges};

use super::output::{local_time, parse_duration};
use super::{code, GlobalArgs, SnapshotFilterArgs};

/// `5` or `unlimited` (also `-1`, as restic).
fn parse_count(s: &str) -> Result<u32, String> {
    match s {
        "unlimited" | "-1" => Ok(u32::MAX),
        _ => s
            .parse()
            .map_err(|_| format!("'{s}': expected a count or 'unlimited'")),
    }
}

#[derive(Args, Debug)]
#[command(after_help = "\
Snapshots are grouped by host and paths (see --group-by); the policy applies within each group.
Calendar rules keep the newest snapshot of each of the N newest hours, days, ISO weeks, months or
years that have one, in the local time zone (set TZ to change it). The newest snapshot of every
group and every protected snapshot (`ibars tag --protect`) are always kept. A snapshot is removed
only when no rule keeps it. Data is freed by `ibars prune` (or `forget --prune`).

Examples:
  ibars forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --dry-run
  ibars forget --keep-within 30d --keep-tag release --prune
  ibars forget 1a2b3c4d")]
pub struct ForgetArgs {
    /// Snapshots to remove by id or id prefix, besides those the policy removes.
    pub snapshots: Vec<String>,
    /// Keep the N newest snapshots.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the N newest hours.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest days.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the N newest ISO weeks.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest months.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest years.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot taken within this long of the group's newest (e.g. 30d, 1y 6mo).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub keep_within: Option<jiff::SignedDuration>,
    /// Keep every snapshot with this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    pub keep_tag: Vec<String>,
    /// Group snapshots by these fields: a comma-separated subset of host, paths, tags; '' for
    /// one group.
    #[arg(long, default_value = "host,paths", value_name = "FIELDS")]
    pub group_by: GroupBy,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
    /// Show what would be kept and removed, and why, without removing anything.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Run `prune` afterwards.
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub prune_args: super::prune::PruneArgs,
}

fn group_title(k: &GroupKey) -> String {
    let mut parts = Vec::new();
    if let Some(h) = &k.host {
        parts.push(format!("host {h}"));
    }
    if let Some(p) = &k.paths {
        let p: Vec<_> = p.iter().map(|b| b.lossy().into_owned()).collect();
        parts.push(format!("paths {}", p.join(", ")));
    }
    if let Some(t) = &k.tags {
        parts.push(format!("tags {}", t.join(",")));
    }
    if parts.is_empty() {
        "all snapshots".into()
    } else {
        parts.join(", ")
    }
}

pub fn run(g: &GlobalArgs, a: &ForgetArgs) -> Result<u8> {
    let policy = Policy {
        last: a.keep_last,
        hourly: a.keep_hourly,
        daily: a.keep_daily,
        weekly: a.keep_weekly,
        monthly: a.keep_monthly,
        yearly: a.keep_yearly,
        within: a.keep_within,
        tags: a.keep_tag.clone(),
    };
    if policy.is_empty() && a.snapshots.is_empty() {
        bail!(
            "no policy and no snapshot given: nothing would be removed (see `ibars forget --help`)"
        );
    }
    let repo = g.open()?;
    let filter = a.filter.to_filter()?;
    let ids = if a.snapshots.is_empty() {
        Vec::new()
    } else {
        super::snapshots::select(&repo, &a.snapshots, &a.filter)?
    };
    let opts = ForgetOptions {
        policy,
        group_by: a.group_by,
        filter,
        ids,
        dry_run: a.dry_run,
        tz: None,
    };
    let report = forget(&repo, &opts)?;
    if g.json {
        let mut v = serde_json::to_value(&report)?;
        v["message_type"] = serde_json::json!("forget");
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else if !g.quiet {
        for grp in &report.groups {
            outln!("{}:", group_title(&grp.key));
            outln!("  {:<8}  {:<19}  {:<7}  Reasons", "ID", "Time", "Action");
            for d in &grp.decisions {
                let reasons: Vec<_> = d.reasons.iter().map(|r| r.to_string()).collect();
                outln!(
                    "  {:<8}  {:<19}  {:<7}  {}",
                    d.id.short(),
                    local_time(d.time),
                    if d.keep() { "keep" } else { "remove" },
                    reasons.join(", ")
                );
            }
            let kept = grp.decisions.iter().filter(|d| d.keep()).count();
            outln!("  {kept} kept, {} removed\n", grp.decisions.len() - kept);
        }
        let verb = if a.dry_run { "would remove" } else { "removed" };
        outln!("{verb} {} snapshot(s)", report.removed.len());
    }
    if a.prune && !a.dry_run {
        return super::prune::run(g, &repo, &a.prune_args);
    }
    Ok(code::OK)
}

#[derive(Args, Debug)]
#[command(after_help = "\
A snapshot is immutable and named by its content, so a changed snapshot is saved under a new id
(its `original` field names the first of its line) and the old one is removed.

Examples:
  ibars tag latest --add release
  ibars tag 1a2b3c4d --protect --reason 'audit hold'
  ibars tag 1a2b3c4d --unprotect")]
pub struct TagArgs {
    /// Snapshots: `latest`, ids or id prefixes.
    #[arg(required = true)]
    pub snapshots: Vec<String>,
    /// Add this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    pub add: Vec<String>,
    /// Remove this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    pub remove: Vec<String>,
    /// Replace all tags with these (repeatable; `--set ''` clears them).
    #[arg(long, value_name = "TAG")]
    pub set: Vec<String>,
    /// Protect the snapshots: `forget` never removes them.
    #[arg(long, conflicts_with = "unprotect")]
    pub protect: bool,
    /// Why they are protected, shown by `snapshots --json`.
    #[arg(long, default_value = "user", requires = "protect")]
    pub reason: String,
    /// Remove protection.
    #[arg(long)]
    pub unprotect: bool,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

pub fn run_tag(g: &GlobalArgs, a: &TagArgs) -> Result<u8> {
    let changes = TagChanges {
        add: a.add.clone(),
        remove: a.remove.clone(),
        set: (!a.set.is_empty()).then(|| a.set.iter().filter(|t| !t.is_empty()).cloned().collect()),
        protect: a.protect.then(|| a.reason.clone()),
        unprotect: a.unprotect,
    };
    if changes.is_empty() {
        bail!("nothing to change: give --add, --remove, --set, --protect or --unprotect");
    }
    let repo = g.open()?;
    let ids = super::snapshots::select(&repo, &a.snapshots, &a.filter)?;
    let out = tag(&repo, &ids, &changes)?;
    if g.json {
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else if !g.quiet {
        for r in &out {
            match r.new {
                Some(n) => outln!(
                    "{} -> {}  tags [{}]{}",
                    r.old.short(),
                    n.short(),
                    r.tags.join(","),
                    if r.protected { ", protected" } else { "" }
                ),
                None => outln!("{}  unchanged", r.old.short()),
            }
        }
    }
    Ok(code::OK)
}
