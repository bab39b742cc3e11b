//! `forget`: remove snapshots by a retention policy or by id. Data stays until `prune`.

pub mod policy;

use jiff::tz::TimeZone;

use crate::backend::FileKind;
use crate::error::{Error, Result};
use crate::id::SnapshotId;
use crate::ops::check::scrub;
use crate::repo::{LockMode, Repository};
use crate::snapshot::SnapshotFilter;
use policy::{apply, GroupBy, GroupPlan, Policy};

/// What to forget.
#[derive(Debug, Clone, Default)]
pub struct ForgetOptions {
    pub policy: Policy,
    pub group_by: GroupBy,
    /// Only snapshots matching this are considered; the others are left alone.
    pub filter: SnapshotFilter,
    /// Snapshots to remove by id, in addition to what the policy removes.
    pub ids: Vec<SnapshotId>,
    pub dry_run: bool,
    /// Time zone of the calendar buckets (hour, day, week...): the system's by default.
    pub tz: Option<TimeZone>,
}

/// What `forget` decided and did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ForgetReport {
    pub groups: Vec<GroupPlan>,
    /// Removed (or, in a dry run, to be removed), oldest first.
    pub removed: Vec<SnapshotId>,
    pub dry_run: bool,
}

/// Apply the policy (when set) and remove the snapshots it does not keep, plus `ids`.
/// A protected snapshot named in `ids` is an error, and nothing is removed.
pub fn forget(repo: &Repository, opts: &ForgetOptions) -> Result<ForgetReport> {
    let run = crate::history::Run::start(crate::history::RunKind::Forget);
    let outcome = run_forget(repo, opts);
    if opts.dry_run {
        return outcome;
    }
    run.finish(repo, outcome, |r, rec| {
        rec.snapshots = r.removed.iter().map(|i| i.to_hex()).collect();
        rec.counts
            .insert("snapshots_removed".into(), r.removed.len() as u64);
        if !opts.policy.is_empty() {
            rec.forget = Some(ibars_insight::record::ForgetRun {
                policy: opts.policy.clone(),
                group_by: opts.group_by,
            });
        }
    })
}

fn run_forget(repo: &Repository, opts: &ForgetOptions) -> Result<ForgetReport> {
    // Removing snapshots takes nothing a backup relies on: backups run beside forget.
    let _lock = repo.lock(LockMode::Prune)?;
    let mut all = repo.snapshots()?;
    // The last clean snapshot before a standing anomaly is kept like a protected one.
    crate::snapshot::protect_clean_points(&mut all);
    let mut removed = Vec::new();
    for id in &opts.ids {
        let (_, s) = all
            .iter()
            .find(|(i, _)| i == id)
            .ok_or_else(|| Error::Snapshot(format!("{id}: no such snapshot")))?;
        if s.protected.is_some() {
            return Err(Error::Invalid(format!(
                "snapshot {id} is protected; `ibars tag --unprotect` it first"
            )));
        }
        removed.push(*id);
    }
    let mut groups = Vec::new();
    if !opts.policy.is_empty() {
        let chosen: Vec<_> = all
            .iter()
            .filter(|(_, s)| opts.filter.matches(s))
            .cloned()
            .collect();
        let tz = opts.tz.clone().unwrap_or_else(TimeZone::system);
        groups = apply(&chosen, &opts.policy, opts.group_by, &tz);
        removed.extend(
            groups
                .iter()
                .flat_map(|g| &g.decisions)
                .filter(|d| !d.keep())
                .map(|d| d.id),
        );
    }
    removed.sort_by_key(|id| all.iter().position(|(i, _)| i == id));
    removed.dedup();
    if !opts.dry_run {
        remove_snapshots(repo, &removed)?;
    }
    Ok(ForgetReport {
        groups,
        removed,
        dry_run: opts.dry_run,
    })
}

/// Remove snapshot objects on purpose, telling the scrub state first so that `check` does not
/// report them lost. Call under a prune or exclusive lock.
pub fn remove_snapshots(repo: &Repository, ids: &[SnapshotId]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut state = scrub::load_state(repo)?;
    scrub::note_removed_snapshots(repo, &mut state, ids)?;
    for id in ids {
        repo.backend().remove(FileKind::Snapshot, &id.to_hex())?;
    }
    Ok(())
}
