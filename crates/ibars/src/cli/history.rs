//! `ibars history`: the run records kept in the repository.

use anyhow::Result;
use clap::Args;
use ibars_core::history::{self, Record, RunKind};

use super::output::{bytes, duration, local_time, parse_duration};
use super::{code, GlobalArgs};

const ABOUT: &str = "\
Every backup, restore, check, copy, forget and prune leaves a record in the repository's
history/, and so does every dismissed anomaly. Records are encrypted like everything else, and
outlive forget and prune: they are what anomaly detection learns from. Times are those of the
runs; a backup made with --time carries that time.

A record that cannot be read (damaged, or from another repository) is named on standard
error, and the command exits with code 3 after listing the others.

Examples:
  ibars history --kind backup --since 30d
  ibars history --json | jq '.[] | select(.result == \"failed\")'";

#[derive(Args, Debug)]
#[command(after_help = ABOUT)]
pub struct HistoryArgs {
    /// Only runs of this kind: backup, restore, check, copy, forget, prune, drill, dismissal,
    /// job (a daemon job's run: why it ran and how it ended), audit (the daemon's API calls).
    #[arg(long)]
    pub kind: Option<RunKind>,
    /// Only the runs of this daemon job.
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
    /// Save the job or audit record read from standard input (JSON) instead of listing; the
    /// daemon records its job runs and its audit log this way.
    #[arg(long, hide = true, alias = "record-job")]
    pub record: bool,
    /// Only runs within this long before now (e.g. 30d, 12h, 1y).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<jiff::SignedDuration>,
}

/// A few words on what a run did.
fn detail(r: &Record) -> String {
    let short = |s: &str| s.get(..8).unwrap_or(s).to_string();
    if let Some(e) = &r.error {
        return e.clone();
    }
    let count = |k: &str| r.counts.get(k).copied().unwrap_or(0);
    match r.kind {
        RunKind::Backup => match &r.backup {
            Some(b) => {
                let verdict = b
                    .verdict
                    .as_ref()
                    .map(|v| format!(", {}", v.status))
                    .unwrap_or_default();
                format!(
                    "snapshot {}: {} new, {} changed, {} deleted{verdict}",
                    short(&b.snapshot),
                    b.files_new,
                    b.files_changed,
                    b.files_deleted
                )
            }
            None => String::new(),
        },
        RunKind::Check => match &r.check {
            Some(c) => format!(
                "{}{} packs read, {} errors, {} warnings",
                if c.read_data { "data, " } else { "" },
                c.packs_read,
                r.errors,
                c.warnings
            ),
            None => String::new(),
        },
        RunKind::Forget => format!("{} snapshots removed", count("snapshots_removed")),
        RunKind::Prune => format!("{} packs removed", count("packs_removed")),
        RunKind::Copy => format!("{} snapshots copied", count("snapshots_copied")),
        RunKind::Dismissal => match &r.dismissal {
            Some(d) => format!(
                "snapshot {} by {}{}",
                short(&d.snapshot),
                d.by,
                d.reason
                    .as_ref()
                    .map(|t| format!(": {t}"))
                    .unwrap_or_default()
            ),
            None => String::new(),
        },
        RunKind::Audit => match &r.audit {
            Some(a) => {
                let denied = a
                    .entries
                    .iter()
                    .filter(|e| e.result != ibars_insight::record::AuditResult::Ok)
                    .count();
                format!(
                    "{} API call(s) and logins, {denied} refused or failed (see `ibars audit`)",
                    a.entries.len()
                )
            }
            None => String::new(),
        },
        RunKind::Job => match &r.job {
            Some(j) => format!(
                "job {} ({}, {}, attempt {}): {}{}",
                j.name,
                j.action,
                j.trigger,
                j.attempt,
                j.outcome,
                j.exit_code
                    .map(|c| format!(", exit {c}"))
                    .unwrap_or_default()
            ),
            None => String::new(),
        },
        RunKind::Restore | RunKind::Drill => r
            .snapshots
            .first()
            .map(|s| format!("snapshot {}", short(s)))
            .unwrap_or_default(),
    }
}

/// Save a job or audit record given as JSON on standard input; prints its id with --json.
fn record(g: &GlobalArgs) -> Result<u8> {
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut text)?;
    let rec = Record::parse(&text, "standard input")?;
    anyhow::ensure!(
        matches!(rec.kind, RunKind::Job | RunKind::Audit),
        "only job and audit records are accepted, not {}",
        rec.kind
    );
    let repo = g.open()?;
    let id = history::save(&repo, &rec)?;
    if g.json {
        outln!(
            "{}",
            serde_json::json!({ "message_type": "recorded", "id": id })
        );
    }
    Ok(code::OK)
}

pub fn run(g: &GlobalArgs, a: &HistoryArgs) -> Result<u8> {
    if a.record {
        return record(g);
    }
    let repo = g.open()?;
    let h = history::load_all(&repo)?;
    let since = a.since.map(|d| jiff::Timestamp::now() - d);
    let shown: Vec<&(String, Record)> = h
        .records
        .iter()
        .filter(|(_, r)| a.kind.is_none_or(|k| r.kind == k))
        .filter(|(_, r)| since.is_none_or(|t| r.time >= t))
        .filter(|(_, r)| {
            a.job
                .as_deref()
                .is_none_or(|n| r.job.as_ref().is_some_and(|j| j.name == n))
        })
        .collect();
    if g.json {
        let v: Vec<_> = shown
            .iter()
            .map(|(name, r)| {
                let mut o = serde_json::to_value(r).expect("records serialize");
                o["id"] = serde_json::json!(name);
                o
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        outln!(
            "{:<19}  {:<9}  {:<14}  {:<7}  {:>8}  {:>8}  {:>10}  Detail",
            "Time",
            "Kind",
            "Host",
            "Result",
            "Duration",
            "Files",
            "Size"
        );
        for (_, r) in &shown {
            outln!(
                "{:<19}  {:<9}  {:<14}  {:<7}  {:>8}  {:>8}  {:>10}  {}",
                local_time(r.time),
                r.kind.to_string(),
                r.host,
                r.result.to_string(),
                duration(r.duration_ms),
                r.files,
                bytes(r.bytes),
                detail(r)
            );
        }
        outln!("{} record(s)", shown.len());
    }
    Ok(name_unreadable(&h))
}

/// Name each record that could not be read on standard error; the exit code: 3 if any.
pub fn name_unreadable(h: &history::History) -> u8 {
    for (name, e) in &h.unreadable {
        eprintln!("error: history/{name}: {e}");
    }
    if h.unreadable.is_empty() {
        code::OK
    } else {
        code::PARTIAL
    }
}
