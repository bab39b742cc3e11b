//! Starting from what an earlier daemon left: its state rebuilt from the repositories'
//! history when the state file is gone, and a run a crash or `kill -9` cut short found,
//! stopped, recorded and run again.

use std::time::Duration;

use jiff::Timestamp;
use tokio::task::JoinSet;

use super::{lock, record, Options, Shared};
use crate::config::Config;
use crate::run::{self, Report, Request};
use crate::state::State;

/// A daemon without its state (a new machine, a deleted state directory) takes what it knows
/// from the `job` records in its repositories' history: each job's last due time, last
/// success and recent runs. A repository that cannot be read is skipped with a warning.
pub(super) async fn rebuild(state: &mut State, config: &Config, opts: &Options) {
    let mut repos: Vec<&str> = config.jobs.iter().map(|j| j.repository.as_str()).collect();
    repos.sort_unstable();
    repos.dedup();
    let mut runs: Vec<(String, Report)> = vec![];
    for repo in repos {
        let cmd = crate::command::ibars(
            &opts.exe,
            &opts.config_file,
            repo,
            vec![
                "--json".into(),
                "history".into(),
                "--kind".into(),
                "job".into(),
            ],
        );
        match run::call(&cmd, None).await {
            Ok(out) => {
                match serde_json::from_str::<Vec<ibars_insight::record::Record>>(&strip_ids(&out)) {
                    Ok(records) => runs.extend(records.into_iter().filter_map(report_of)),
                    Err(e) => tracing::warn!("repository {repo}: job history unreadable: {e}"),
                }
            }
            Err(e) => tracing::warn!("repository {repo}: job history: {e}"),
        }
    }
    runs.sort_by_key(|(_, r)| r.started);
    let n = runs.len();
    for (job, r) in runs {
        if !config.jobs.iter().any(|j| j.name == job) {
            continue;
        }
        let js = state.job(&job);
        js.first_seen = Some(js.first_seen.map_or(r.started, |f| f.min(r.started)));
        if let Some(d) = r.due {
            js.last_due = Some(js.last_due.map_or(d, |l| l.max(d)));
        }
        js.push(r);
    }
    tracing::info!("no daemon state: rebuilt from {n} job record(s) in the repositories");
}

/// `ibars history --json` adds an `id` to each record, which the record type refuses.
fn strip_ids(out: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(out) {
        Ok(serde_json::Value::Array(mut a)) => {
            for v in &mut a {
                if let Some(o) = v.as_object_mut() {
                    o.remove("id");
                }
            }
            serde_json::Value::Array(a).to_string()
        }
        _ => out.to_string(),
    }
}

/// A job record as the run it tells of.
fn report_of(rec: ibars_insight::record::Record) -> Option<(String, Report)> {
    let j = rec.job?;
    let ended = rec
        .time
        .checked_add(jiff::SignedDuration::from_millis(rec.duration_ms as i64))
        .unwrap_or(rec.time);
    let summary = rec
        .snapshots
        .first()
        .map(|s| serde_json::json!({ "snapshot_id": s }));
    Some((
        j.name,
        Report {
            started: rec.time,
            ended,
            trigger: j.trigger,
            due: j.due,
            attempt: j.attempt,
            missed: j.missed,
            outcome: j.outcome,
            exit_code: j.exit_code,
            message: rec.error,
            summary,
        },
    ))
}

/// Runs a crash of the daemon cut short: stop what is left of them, clear the stale lock they
/// may have left, record them as interrupted, and let their job retry now.
pub(super) async fn recover(shared: &Shared, opts: &Options, records: &mut JoinSet<()>) {
    let cut: Vec<(crate::config::Job, crate::state::Running)> = {
        let g = lock(shared);
        g.config
            .jobs
            .iter()
            .filter_map(|j| {
                let r = g.state.jobs.get(&j.name)?.running.clone()?;
                Some((j.clone(), r))
            })
            .collect()
    };
    for (job, running) in cut {
        if let Some(pid) = running.pid {
            stop_orphan(pid).await;
        }
        let unlock = crate::command::ibars(
            &opts.exe,
            &opts.config_file,
            &job.repository,
            vec!["unlock".into()],
        );
        if let Err(e) = run::call(&unlock, None).await {
            tracing::warn!("job {}: clearing stale locks: {e}", job.name);
        }
        let now = Timestamp::now();
        let report = crate::state::interrupted(
            &running,
            now,
            "the daemon stopped during this run (found at the next start)".into(),
        );
        tracing::warn!(
            "job {}: its run of {} was cut short by the daemon's end; retrying",
            job.name,
            running.started
        );
        {
            let mut g = lock(shared);
            let js = g.state.job(&job.name);
            js.running = None;
            js.push(report.clone());
            // Run what was missed now, within the job's retry limit.
            if running.trigger != ibars_insight::record::Trigger::Manual
                && running.attempt <= job.retry.attempts
            {
                js.failures = running.attempt;
                js.retry_at = Some(now);
                js.retry_due = running.due;
            }
            g.save();
        }
        let request = Request {
            job: job.clone(),
            trigger: running.trigger,
            due: running.due,
            attempt: running.attempt,
            missed: running.missed,
            reason: None,
            exe: opts.exe.clone(),
            config_file: opts.config_file.clone(),
        };
        records.spawn(record(opts.clone(), Box::new(request), Box::new(report)));
    }
}

/// A job's child that outlived the daemon (it should not: it asks for SIGTERM when its parent
/// dies): stop it and wait for it to leave the repository consistent.
async fn stop_orphan(pid: u32) {
    use nix::sys::signal::{kill, Signal};
    let p = nix::unistd::Pid::from_raw(pid as i32);
    if kill(p, None).is_err() {
        return;
    }
    tracing::warn!("a job's process {pid} still runs from before; stopping it");
    let _ = kill(p, Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + run::STOP_GRACE;
    while kill(p, None).is_ok() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = kill(p, Signal::SIGKILL);
}
