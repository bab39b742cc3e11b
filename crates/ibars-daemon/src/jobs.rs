//! The scheduler's decisions, apart from processes and clocks: which jobs start at a moment,
//! when to wake next, and what a finished run changes (retries, last success). Every function
//! takes the time it reasons about, so tests replay any sequence of events.

use ibars_insight::record::{JobOutcome, Record, RunKind, RunResult, Trigger};
use jiff::Timestamp;

use crate::auto::{Timing, Want};
use crate::config::{Config, Job};
use crate::run::Report;
use crate::schedule::{decide, Decision, ON_TIME};
use crate::state::{JobState, Running, State};

/// A run to start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub job: String,
    pub trigger: Trigger,
    pub due: Option<Timestamp>,
    pub attempt: u32,
    pub missed: u32,
    /// Why the RPO planner started it (automatic jobs).
    pub reason: Option<String>,
}

/// What a tick decided.
#[derive(Debug, Default)]
pub struct Tick {
    pub starts: Vec<Start>,
    /// The earliest moment something is due next (`None`: nothing is scheduled).
    pub wake: Option<Timestamp>,
    /// Due times that passed without a run and are not caught up, per job.
    pub skipped: Vec<(String, Vec<Timestamp>)>,
    /// Automatic jobs whose source to probe now, for changes after a moment (Unix seconds).
    pub probes: Vec<(String, i64)>,
}

fn earliest(a: Option<Timestamp>, b: Timestamp) -> Option<Timestamp> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// Decide at `now` for every job of `config` that is not running. Starts are marked running
/// in `state` (without a pid yet).
pub fn tick(config: &Config, state: &mut State, now: Timestamp) -> Tick {
    let mut t = Tick::default();
    for job in &config.jobs {
        let js = state.job(&job.name);
        js.first_seen.get_or_insert(now);
        let last_due = *js.last_due.get_or_insert(now);
        if js.running.is_some() {
            continue;
        }
        if let Some(at) = js.retry_at {
            if at <= now {
                let s = Start {
                    job: job.name.clone(),
                    trigger: Trigger::Retry,
                    due: js.retry_due,
                    attempt: js.failures + 1,
                    missed: 0,
                    reason: None,
                };
                js.retry_at = None;
                mark_running(js, &s, now);
                t.starts.push(s);
                continue;
            }
            t.wake = earliest(t.wake, at);
        }
        let cron = match &job.schedule {
            Timing::Cron(c) => c,
            Timing::Auto(a) => {
                if js.retry_at.is_some() {
                    continue;
                }
                match crate::auto::tick(job, a, js, now) {
                    Want::Start(s) => {
                        mark_running(js, &s, now);
                        t.starts.push(s);
                    }
                    Want::Probe { since } => t.probes.push((job.name.clone(), since)),
                    Want::Wait { until } => {
                        if let Some(u) = until {
                            t.wake = earliest(t.wake, u);
                        }
                    }
                }
                continue;
            }
        };
        match decide(cron, last_due, now, job.run_missed) {
            Decision::Run { due, missed } => {
                let late = now.duration_since(due).unsigned_abs();
                let s = Start {
                    job: job.name.clone(),
                    trigger: if late > ON_TIME {
                        Trigger::CatchUp
                    } else {
                        Trigger::Schedule
                    },
                    due: Some(due),
                    attempt: 1,
                    missed: missed.len() as u32,
                    reason: None,
                };
                js.last_due = Some(due);
                js.missed_total += missed.len() as u64;
                // A new due time replaces the retries of an older one.
                js.failures = 0;
                js.retry_at = None;
                js.retry_due = None;
                mark_running(js, &s, now);
                t.starts.push(s);
                if !missed.is_empty() {
                    t.skipped.push((job.name.clone(), missed));
                }
            }
            Decision::Wait { until, missed } => {
                if let Some(&last) = missed.last() {
                    js.last_due = Some(last);
                    js.missed_total += missed.len() as u64;
                    t.skipped.push((job.name.clone(), missed));
                }
                if until != Timestamp::MAX {
                    t.wake = earliest(t.wake, until);
                }
            }
        }
    }
    t
}

fn mark_running(js: &mut JobState, s: &Start, now: Timestamp) {
    js.running = Some(Running {
        started: now,
        trigger: s.trigger,
        due: s.due,
        attempt: s.attempt,
        missed: s.missed,
        pid: None,
    });
}

/// A manual run of `job` (`ibars jobs run`), unless it runs already.
pub fn start_manual(state: &mut State, job: &str, now: Timestamp) -> Option<Start> {
    let js = state.job(job);
    if js.running.is_some() {
        return None;
    }
    let s = Start {
        job: job.to_string(),
        trigger: Trigger::Manual,
        due: None,
        attempt: 1,
        missed: 0,
        reason: None,
    };
    mark_running(js, &s, now);
    Some(s)
}

/// Take a finished run into `js`: keep it, and plan a retry of a failure while attempts are
/// left and the retry comes before the job's next due time. A skipped run (its `before` hook
/// failed) and a manual run are not retried, and neither is a run the daemon's shutdown
/// stopped (the next start finds nothing running and carries on by the schedule).
pub fn finish(job: &Job, js: &mut JobState, report: Report) {
    js.running = None;
    let retryable = matches!(report.outcome, JobOutcome::Failed | JobOutcome::TimedOut)
        && report.trigger != Trigger::Manual
        // Exit code 2 is a command line the daemon built wrong: retrying cannot help.
        && report.exit_code != Some(2);
    if report.outcome.succeeded() {
        js.failures = 0;
        js.retry_at = None;
        js.retry_due = None;
    } else if retryable {
        js.failures = report.attempt;
        let next_due = job
            .schedule
            .next_after(report.ended)
            .unwrap_or(Timestamp::MAX);
        js.retry_at = job.retry.after(js.failures, report.ended, next_due);
        js.retry_due = report.due;
        if js.retry_at.is_none() {
            js.failures = 0;
        }
    }
    crate::auto::finished(job, js, report.outcome.succeeded(), report.ended);
    js.push(report);
}

/// The history record of a job's run.
pub fn record(job: &Job, report: &Report, host: &str) -> Record {
    let mut rec = Record::new(RunKind::Job, report.started, host);
    rec.duration_ms = report.duration().as_millis() as u64;
    rec.result = match report.outcome {
        JobOutcome::Ok | JobOutcome::Anomaly => RunResult::Ok,
        JobOutcome::Partial => RunResult::Partial,
        _ => RunResult::Failed,
    };
    if !report.outcome.succeeded() {
        rec.error = report.message.clone();
    }
    if let Some(s) = report.snapshot() {
        rec.snapshots.push(s.to_string());
    }
    rec.bytes = report.summary_u64(&["summary", "bytes_added"]).unwrap_or(0);
    rec.files = report.files().unwrap_or(0);
    rec.errors = report.summary_u64(&["summary", "errors"]).unwrap_or(0);
    rec.job = Some(ibars_insight::record::JobRun {
        name: job.name.clone(),
        action: job.action.kind().to_string(),
        trigger: report.trigger,
        due: report.due,
        attempt: report.attempt,
        outcome: report.outcome,
        exit_code: report.exit_code,
        missed: report.missed,
    });
    rec
}

/// When `job` starts next, as far as the schedule and a pending retry tell (not while it
/// runs).
pub fn next_run(job: &Job, js: &JobState, now: Timestamp) -> Option<Timestamp> {
    if js.running.is_some() {
        return None;
    }
    let scheduled = job.schedule.next_after(now);
    match (js.retry_at, scheduled) {
        (Some(r), Some(s)) => Some(r.min(s)),
        (r, s) => r.or(s),
    }
}

/// When `job` turns overdue, if it has a `max_age` and is not overdue yet.
pub fn overdue_at(job: &Job, js: &JobState) -> Option<Timestamp> {
    let max = jiff::SignedDuration::try_from(job.max_age?).ok()?;
    let since = js.last_success.or(js.first_seen)?;
    since
        .checked_add(max)
        .ok()?
        .checked_add(jiff::SignedDuration::from_secs(1))
        .ok()
}

/// Whether a job's last success is older than its `max_age` at `now` (its RPO is breached).
/// A job that never succeeded counts from when it was first seen.
pub fn overdue(job: &Job, js: &JobState, now: Timestamp) -> bool {
    let Some(max) = job.max_age else {
        return false;
    };
    let Some(since) = js.last_success.or(js.first_seen) else {
        return false;
    };
    now.duration_since(since).unsigned_abs() > max
}

#[cfg(test)]
mod tests;
