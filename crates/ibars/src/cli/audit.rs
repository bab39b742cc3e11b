//! `ibars audit`: the daemon's audit log as kept in the repository's history.

use anyhow::Result;
use clap::Args;
use ibars_core::history::{self, RunKind};
use ibars_insight::record::{AuditEntry, AuditResult};

use super::output::{local_time, parse_duration};
use super::GlobalArgs;

#[derive(Args, Debug)]
#[command(after_help = "\
The daemon records every call of its API that changes something (a job started, a restore,
a dismissed anomaly, a token created...) and every login, successful or failed: who (a user,
a token, or the local socket's uid), what, when, from where, and the result. It keeps them in
a journal in its state directory and moves them into the history of the repository they
concern within a minute; logins and calls that concern no repository go to the first
[[repository]] of its config. Records in the history are encrypted, and outlive forget and
prune.

Examples:
  ibars audit --since 7d
  ibars audit --denied              # refused calls and failed logins only
  ibars audit --json | jq '.[] | select(.actor == \"token:ci\")'")]
pub struct AuditArgs {
    /// Only entries within this long before now (e.g. 30d, 12h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<jiff::SignedDuration>,
    /// Only refused calls and failed logins, and calls that failed.
    #[arg(long)]
    pub denied: bool,
    /// Only entries of this actor (`user:ann`, `token:ci`).
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
}

pub fn run(g: &GlobalArgs, a: &AuditArgs) -> Result<u8> {
    let repo = g.open()?;
    let h = history::load_all(&repo)?;
    let since = a.since.map(|d| jiff::Timestamp::now() - d);
    let mut entries: Vec<&AuditEntry> = h
        .records
        .iter()
        .filter(|(_, r)| r.kind == RunKind::Audit)
        .filter_map(|(_, r)| r.audit.as_ref())
        .flat_map(|a| a.entries.iter())
        .filter(|e| since.is_none_or(|t| e.time >= t))
        .filter(|e| !a.denied || e.result != AuditResult::Ok)
        .filter(|e| a.actor.as_deref().is_none_or(|x| e.actor == x))
        .collect();
    entries.sort_by_key(|e| e.time);
    if g.json {
        outln!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        outln!(
            "{:<19}  {:<18}  {:<16}  {:<6}  {:<7}  {:<22}  Target",
            "Time",
            "Actor",
            "Action",
            "Status",
            "Result",
            "From"
        );
        for e in &entries {
            let target = [e.repository.as_deref(), e.target.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            let detail = e
                .detail
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            outln!(
                "{:<19}  {:<18}  {:<16}  {:<6}  {:<7}  {:<22}  {target}{detail}",
                local_time(e.time),
                e.actor,
                e.action,
                e.status,
                e.result.as_str(),
                e.remote
            );
        }
        outln!(
            "{} entr{}",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" }
        );
    }
    Ok(super::history::name_unreadable(&h))
}
