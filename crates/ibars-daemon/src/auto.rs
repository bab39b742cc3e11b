//! Backup jobs with `schedule = "auto"`: the daemon decides when they run, to keep their
//! recovery point objective (`rpo`) with as few runs as it can (`ibars_insight::rpo` holds the
//! planner and the guarantee it keeps). Between backups it probes the source:
//!
//! - paths: a walk by the backup's own rules that reads no file and stops at the first entry
//!   whose status changed ([`ibars_core::ops::backup::probe`]);
//! - a `probe_command`: its standard output, compared with the last one (for a database,
//!   a query of its own change counter, such as PostgreSQL's `pg_current_wal_lsn()`);
//! - a command source (`stdin_command`) without a probe: taken as always changed, so it runs
//!   every RPO less the backup's duration.
//!
//! Every decision is kept in the job's recent runs: backups with their reason, and spans of
//! probes that found nothing ("skipped 14:00–17:45: nothing changed since 13:58"), so that
//! `ibars jobs history` shows why a job ran or did not.

use ibars_insight::record::{JobOutcome, Trigger};
use ibars_insight::rpo::{duration_bound, next_step, ChangeStats, Knowledge, Policy, Step};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::{Action, Job};
use crate::jobs::Start;
use crate::run::Report;
use crate::schedule::Schedule;
use crate::state::JobState;

/// When a job runs.
#[derive(Debug, Clone)]
pub enum Timing {
    /// At the times of a cron expression.
    Cron(Box<Schedule>),
    /// When the RPO planner says.
    Auto(Box<AutoSchedule>),
}

impl Timing {
    /// As written: the cron expression, or `auto`.
    pub fn expr(&self) -> &str {
        match self {
            Timing::Cron(s) => s.expr(),
            Timing::Auto(_) => "auto",
        }
    }

    pub fn time_zone(&self) -> &str {
        match self {
            Timing::Cron(s) => s.time_zone(),
            Timing::Auto(a) => &a.time_zone,
        }
    }

    /// The next due time after `t`; none for an automatic job (it has no fixed times).
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Timing::Cron(s) => s.next_after(t),
            Timing::Auto(_) => None,
        }
    }

    /// The next `n` due times, as [`Schedule::upcoming`]; none for an automatic job.
    pub fn upcoming(&self, t: Timestamp, n: usize) -> Vec<jiff::Zoned> {
        match self {
            Timing::Cron(s) => s.upcoming(t, n),
            Timing::Auto(_) => vec![],
        }
    }
}

/// An automatic job's settings.
#[derive(Debug, Clone)]
pub struct AutoSchedule {
    pub policy: Policy,
    /// The RPO as written ("4h").
    pub rpo: String,
    /// A command whose output changes when the source does.
    pub probe_command: Option<String>,
    pub time_zone: String,
}

/// What the daemon keeps of an automatic job (in its state file).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AutoState {
    pub knowledge: Option<Knowledge>,
    /// The busy and quiet hours its probes found.
    pub stats: ChangeStats,
    /// What was known when the running backup started: restored if it fails.
    pub before: Option<Knowledge>,
    /// A probe is running (not kept across restarts).
    #[serde(skip)]
    pub probing: bool,
    /// The last output of the `probe_command`, hashed.
    pub probe_output: Option<String>,
    /// No new attempt before this, after a backup failed with its retries used up.
    pub hold_until: Option<Timestamp>,
}

/// What an automatic job wants now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    Start(Start),
    /// Probe for changes after `since` (Unix seconds).
    Probe {
        since: i64,
    },
    /// Nothing before `until`.
    Wait {
        until: Option<Timestamp>,
    },
}

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap_or(Timestamp::MAX)
}

/// A time for a decision's text: local wall clock, to the minute.
pub fn clock(s: i64) -> String {
    ts(s)
        .to_zoned(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// Decide for an automatic job at `now` (not running, no retry pending).
pub fn tick(job: &Job, auto: &AutoSchedule, js: &mut JobState, now: Timestamp) -> Want {
    let rpo = auto.policy.rpo;
    // A job seen for the first time counts from its last success (or knows nothing).
    let since_success = js
        .recent
        .iter()
        .rev()
        .find(|r| r.outcome.succeeded())
        .map(|r| r.started.as_second());
    let durations: Vec<i64> = js
        .recent
        .iter()
        .filter(|r| r.outcome.succeeded() && r.summary.is_some())
        .map(|r| r.duration().as_secs() as i64)
        .collect();
    let st = js.auto.get_or_insert_with(AutoState::default);
    if st.probing {
        return Want::Wait { until: None };
    }
    if let Some(h) = st.hold_until.filter(|&h| h > now) {
        return Want::Wait { until: Some(h) };
    }
    let now_s = now.as_second();
    let k = st.knowledge.get_or_insert_with(|| match since_success {
        Some(s) => Knowledge {
            clean_until: s,
            dirty: false,
            probed: None,
            active: false,
        },
        None => Knowledge::unknown(now_s, rpo),
    });
    let d = duration_bound(&durations, rpo);
    match next_step(&auto.policy, k, now_s, d, &st.stats) {
        Step::Probe => {
            st.probing = true;
            Want::Probe {
                since: k.probe_since(),
            }
        }
        Step::Backup(why) => {
            st.before = Some(k.started(now_s));
            Want::Start(Start {
                job: job.name.clone(),
                trigger: Trigger::Auto,
                due: Some(now),
                attempt: 1,
                missed: 0,
                reason: Some(why.describe(clock)),
            })
        }
        Step::Wait { until, .. } => Want::Wait {
            until: Some(ts(until)),
        },
    }
}

/// A probe that started at `at` ended: it found a change (`Ok(Some(what))`), none, or failed
/// (then the source is taken as changed, so the RPO holds anyway). Keeps the decision in the
/// job's recent runs.
pub fn probed(js: &mut JobState, at: Timestamp, found: Result<Option<String>, String>) {
    let st = js.auto.get_or_insert_with(AutoState::default);
    st.probing = false;
    let changed = !matches!(found, Ok(None));
    st.stats.record(at.as_second(), changed);
    let Some(k) = st.knowledge.as_mut() else {
        return;
    };
    let was_dirty = k.dirty;
    let since = k.clean_until;
    k.probed(at.as_second(), changed);
    let text = match &found {
        Ok(None) if !was_dirty => format!("{UNCHANGED} since {}", clock(since)),
        Ok(None) => return,
        Ok(Some(_)) if was_dirty => return,
        Ok(Some(what)) => {
            format!("changed ({what}); waiting to back up more changes in one run, within the RPO")
        }
        Err(e) => format!("the probe failed ({e}); taken as changed"),
    };
    note(js, at, text);
}

/// The start of the note of a probe that found nothing.
const UNCHANGED: &str = "skipped: nothing changed";

/// Keep a decision among the job's recent runs; a span of probes that found nothing is one
/// entry, extended (its end and its count of probes, in `attempt`) rather than repeated.
fn note(js: &mut JobState, at: Timestamp, text: String) {
    if let Some(last) = js.recent.back_mut() {
        if last.trigger == Trigger::Auto
            && last.outcome == JobOutcome::Skipped
            && text.starts_with(UNCHANGED)
            && last
                .message
                .as_deref()
                .is_some_and(|m| m.starts_with(UNCHANGED))
        {
            last.ended = at;
            last.attempt = last.attempt.saturating_add(1);
            return;
        }
    }
    if js.recent.len() >= crate::state::RECENT {
        js.recent.pop_front();
    }
    js.recent.push_back(Report {
        started: at,
        ended: at,
        trigger: Trigger::Auto,
        due: None,
        attempt: 1,
        missed: 0,
        outcome: JobOutcome::Skipped,
        exit_code: None,
        message: Some(text),
        summary: None,
    });
}

/// An automatic job's backup ended (called after its retry is planned): a failure with its
/// retries used up puts back what was known before it, so its changes are still due, and the
/// next attempt waits a quarter of the RPO (the failure alert has gone out).
pub fn finished(job: &Job, js: &mut JobState, succeeded: bool, ended: Timestamp) {
    let Some(auto) = job.auto() else { return };
    let retrying = js.retry_at.is_some();
    let st = js.auto.get_or_insert_with(AutoState::default);
    if succeeded {
        st.before = None;
        st.hold_until = None;
        return;
    }
    if retrying {
        // The retry stands for the same start: what it holds is still on its way.
        return;
    }
    if let (Some(k), Some(b)) = (st.knowledge.as_mut(), st.before.take()) {
        k.failed(b);
    }
    let wait = jiff::SignedDuration::from_secs((auto.policy.rpo / 4).max(60));
    st.hold_until = ended.checked_add(wait).ok();
}

/// Whether the job's source can be probed by a walk of its paths.
pub fn walks(job: &Job) -> bool {
    matches!(&job.action, Action::Backup(b) if b.stdin_command.is_none())
}

/// Probe `job`'s source for changes after `since` (Unix seconds). `last_output` is the hash of
/// the `probe_command`'s last output; the new one comes back with the finding.
pub async fn probe(
    job: Job,
    since: i64,
    last_output: Option<String>,
) -> (Result<Option<String>, String>, Option<String>) {
    let Action::Backup(b) = &job.action else {
        return (Ok(Some("not a backup".into())), None);
    };
    if let Some(cmd) = job.auto().and_then(|a| a.probe_command.clone()) {
        let out = tokio::time::timeout(
            PROBE_TIMEOUT,
            tokio::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&cmd)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await;
        return match out {
            Err(_) => (
                Err(format!("probe_command timed out after {PROBE_TIMEOUT:?}")),
                last_output,
            ),
            Ok(Err(e)) => (Err(format!("probe_command: {e}")), last_output),
            Ok(Ok(o)) if !o.status.success() => (
                Err(format!(
                    "probe_command exited with {}: {}",
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
                last_output,
            ),
            Ok(Ok(o)) => {
                let h = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&o.stdout));
                let changed = last_output.as_deref() != Some(h.as_str());
                (
                    Ok(changed.then(|| "probe_command output".to_string())),
                    Some(h),
                )
            }
        };
    }
    if b.stdin_command.is_some() {
        return (
            Ok(Some("a command source without probe_command".into())),
            None,
        );
    }
    let opts = ibars_core::ops::backup::BackupOptions {
        paths: b.paths.clone(),
        excludes: b.excludes.clone(),
        exclude_if_present: b.exclude_if_present.clone(),
        one_file_system: b.one_file_system,
        ..Default::default()
    };
    let found = tokio::task::spawn_blocking(move || {
        ibars_core::ops::backup::probe::changed_since(&opts, since)
    })
    .await;
    let found = match found {
        Ok(Ok(p)) => Ok(p.changed.map(|p| p.display().to_string())),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("the probe stopped: {e}")),
    };
    (found, None)
}

/// Start the probe of job `name` in the background; `done` gets its finding.
pub(crate) fn spawn_probe(
    inner: &mut crate::daemon::Inner,
    name: &str,
    since: i64,
    now: Timestamp,
    done: impl FnOnce(String, Timestamp, Result<Option<String>, String>, Option<String>)
        + Send
        + 'static,
) {
    let Some(job) = inner.config.jobs.iter().find(|j| j.name == name).cloned() else {
        return;
    };
    let last = inner
        .state
        .job(name)
        .auto
        .as_ref()
        .and_then(|a| a.probe_output.clone());
    let name = name.to_string();
    tokio::spawn(async move {
        let (found, output) = probe(job, since, last).await;
        done(name, now, found, output);
    });
}

/// Take a probe's finding into the job's state (see [`probed`]).
pub fn probe_ended(
    js: &mut JobState,
    job: &str,
    at: Timestamp,
    found: Result<Option<String>, String>,
    output: Option<String>,
) {
    let was_dirty = js
        .auto
        .as_ref()
        .and_then(|a| a.knowledge)
        .is_some_and(|k| k.dirty);
    match &found {
        Err(e) => tracing::warn!("job {job}: {e}"),
        Ok(Some(what)) if !was_dirty => tracing::info!("job {job}: changed ({what})"),
        Ok(_) => {}
    }
    probed(js, at, found);
    if let Some(st) = js.auto.as_mut() {
        st.probe_output = output.or(st.probe_output.take());
    }
}

/// How long a `probe_command` may take.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

#[cfg(test)]
mod tests;
