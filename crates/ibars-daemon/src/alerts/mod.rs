//! Alerts: what deserves one, when it goes out, and where. A condition (a job failing, a
//! backup flagged as an anomaly, a check finding damage, a job older than its `max_age`) sends
//! one alert when it starts, a reminder every `remind_after` while it stands, and a recovery
//! when it ends: never a storm. Missed runs are single events. The [`Book`] of standing
//! conditions is kept in the daemon's state, so a restart neither repeats nor forgets them.

pub mod channel;

use std::collections::BTreeMap;
use std::time::Duration;

use ibars_insight::record::JobOutcome;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::{Action, Job};
use crate::run::Report;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A run failed, with no retry left.
    Failure,
    /// A backup looks like ransomware or mass deletion.
    Anomaly,
    /// A check found damage.
    Damage,
    /// The last success is older than the job's `max_age` (its RPO is breached).
    Overdue,
    /// Due times passed without a run (the daemon was down) and were not caught up.
    Missed,
    /// The forecast says a repository fills its disk or its quota within `fill_alert`.
    Filling,
}

impl Event {
    pub const ALL: [Event; 6] = [
        Event::Failure,
        Event::Anomaly,
        Event::Damage,
        Event::Overdue,
        Event::Missed,
        Event::Filling,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Failure => "failure",
            Event::Anomaly => "anomaly",
            Event::Damage => "damage",
            Event::Overdue => "overdue",
            Event::Missed => "missed",
            Event::Filling => "filling",
        }
    }
}

/// Where an alert stands in its condition's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Firing,
    Reminder,
    Resolved,
}

/// One alert, as every channel gets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub event: Event,
    pub phase: Phase,
    pub job: String,
    pub repository: String,
    pub host: String,
    pub time: Timestamp,
    /// Since when the condition stands.
    pub since: Timestamp,
    /// One line, for a subject or a chat message.
    pub summary: String,
    /// More lines, when there is more to say (the error, the anomaly's reasons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

/// A condition that stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    pub since: Timestamp,
    pub last_sent: Timestamp,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub repository: String,
}

/// The standing conditions, by `job/event`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Book {
    pub standing: BTreeMap<String, Standing>,
}

/// What a job's condition is now: standing (with what to say) or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub event: Event,
    pub standing: Option<(String, Option<String>)>,
    pub snapshot: Option<String>,
}

fn key(job: &str, e: Event) -> String {
    format!("{job}/{}", e.as_str())
}

impl Book {
    /// Take in what was observed of `job`; returns the alert that change calls for, if any.
    pub fn observe(
        &mut self,
        job: &Job,
        o: Observation,
        now: Timestamp,
        host: &str,
    ) -> Option<Alert> {
        self.observe_named(&job.name, &job.repository, o, now, host)
    }

    /// Take in what was observed of a repository itself (its fill date): its alerts name it
    /// as `repository NAME` where a job's name would be.
    pub fn observe_repository(
        &mut self,
        repository: &str,
        o: Observation,
        now: Timestamp,
        host: &str,
    ) -> Option<Alert> {
        self.observe_named(
            &format!("repository {repository}"),
            repository,
            o,
            now,
            host,
        )
    }

    fn observe_named(
        &mut self,
        name: &str,
        repository: &str,
        o: Observation,
        now: Timestamp,
        host: &str,
    ) -> Option<Alert> {
        let k = key(name, o.event);
        let alert = |phase, since, summary: String, detail| Alert {
            event: o.event,
            phase,
            job: name.to_string(),
            repository: repository.to_string(),
            host: host.to_string(),
            time: now,
            since,
            summary,
            detail,
            snapshot: o.snapshot.clone(),
        };
        match (o.standing.clone(), self.standing.get(&k)) {
            (Some((summary, detail)), None) => {
                if o.event == Event::Missed {
                    // An event, not a state: it has nothing to recover from.
                    return Some(alert(Phase::Firing, now, summary, detail));
                }
                self.standing.insert(
                    k,
                    Standing {
                        since: now,
                        last_sent: now,
                        summary: summary.clone(),
                        detail: detail.clone(),
                        repository: repository.to_string(),
                    },
                );
                Some(alert(Phase::Firing, now, summary, detail))
            }
            // Still standing: reminders come from [`Book::reminders`]; keep the newest words.
            (Some((summary, detail)), Some(_)) => {
                let s = self.standing.get_mut(&k)?;
                s.summary = summary;
                s.detail = detail;
                None
            }
            (None, Some(_)) => {
                let s = self.standing.remove(&k)?;
                Some(alert(
                    Phase::Resolved,
                    s.since,
                    recovered(name, o.event),
                    None,
                ))
            }
            (None, None) => None,
        }
    }

    /// Reminders of conditions standing for `every` since their last alert.
    pub fn reminders(&mut self, now: Timestamp, every: Duration, host: &str) -> Vec<Alert> {
        let mut out = vec![];
        for (k, s) in &mut self.standing {
            if now.duration_since(s.last_sent).unsigned_abs() < every {
                continue;
            }
            s.last_sent = now;
            let (job, event) = k.rsplit_once('/').unwrap_or((k, ""));
            let Some(event) = Event::ALL.into_iter().find(|e| e.as_str() == event) else {
                continue;
            };
            out.push(Alert {
                event,
                phase: Phase::Reminder,
                job: job.to_string(),
                repository: s.repository.clone(),
                host: host.to_string(),
                time: now,
                since: s.since,
                summary: format!("still: {}", s.summary),
                detail: s.detail.clone(),
                snapshot: None,
            });
        }
        out
    }

    /// When the next reminder is due.
    pub fn next_reminder(&self, every: Duration) -> Option<Timestamp> {
        let every = jiff::SignedDuration::try_from(every).ok()?;
        self.standing
            .values()
            .filter_map(|s| s.last_sent.checked_add(every).ok())
            .min()
    }

    /// Forget the conditions of jobs no longer configured.
    pub fn retain_jobs(&mut self, jobs: &[Job]) {
        self.standing.retain(|k, _| {
            let job = k.rsplit_once('/').map_or(k.as_str(), |(j, _)| j);
            jobs.iter().any(|j| j.name == job)
        });
    }
}

fn recovered(job: &str, e: Event) -> String {
    match e {
        Event::Failure => format!("job {job} succeeds again"),
        Event::Anomaly => format!("job {job}: the latest backup is clean again"),
        Event::Damage => format!("job {job}: the repository checks clean again"),
        Event::Overdue => format!("job {job} is within its max_age again"),
        Event::Missed => format!("job {job}: runs again"),
        Event::Filling => format!("{job}: no longer forecast to fill within the alert horizon"),
    }
}

/// What a repository's forecast (`ibars --json forecast` with `--quota` when it has one)
/// says of its fill date: standing when the disk or the quota may fill within the forecast's
/// horizon (the interval's earliest day falls in it).
pub fn filling(forecast: &serde_json::Value) -> Observation {
    let r = &forecast["repository"];
    let mut lines = Vec::new();
    for (what, c) in [
        ("its disk", &r["disk"]["fills"]),
        ("its quota", &r["quota"]["reached"]),
    ] {
        if let Some(earliest) = c["earliest"].as_str() {
            let latest = c["latest"].as_str().unwrap_or("after the horizon");
            lines.push(format!("fill {what} between {earliest} and {latest}"));
        }
    }
    Observation {
        event: Event::Filling,
        standing: (!lines.is_empty()).then(|| {
            let summary = format!("the repository is forecast to {}", lines.join(", and to "));
            (summary, None)
        }),
        snapshot: None,
    }
}

/// What a finished run says about its job's conditions. `retry_pending`: a retry is planned,
/// so a failure is not final yet.
pub fn after_run(job: &Job, r: &Report, retry_pending: bool) -> Vec<Observation> {
    let snapshot = r.snapshot().map(str::to_string);
    let obs = |event, standing| Observation {
        event,
        standing,
        snapshot: snapshot.clone(),
    };
    let mut out = vec![];
    let message = r.message.clone();
    let damaged = matches!(job.action, Action::Check { .. })
        && r.summary
            .as_ref()
            .and_then(|s| s.get("ok"))
            .and_then(|v| v.as_bool())
            == Some(false);
    if damaged {
        let errors = r
            .summary
            .as_ref()
            .and_then(|s| s.pointer("/report/errors"))
            .map(|e| e.to_string())
            .unwrap_or_else(|| "some".into());
        out.push(obs(
            Event::Damage,
            Some((
                format!(
                    "check job {} found damage in repository {} ({errors} errors)",
                    job.name, job.repository
                ),
                message.clone(),
            )),
        ));
    } else if matches!(job.action, Action::Check { .. }) && r.outcome.succeeded() {
        out.push(obs(Event::Damage, None));
    }
    if r.outcome.succeeded() {
        out.push(obs(Event::Failure, None));
        if job.max_age.is_some() {
            out.push(obs(Event::Overdue, None));
        }
    } else if !retry_pending && !damaged && r.outcome != JobOutcome::Interrupted {
        out.push(obs(
            Event::Failure,
            Some((
                format!(
                    "{} job {} {} (attempt {})",
                    job.action.kind(),
                    job.name,
                    match r.outcome {
                        JobOutcome::Skipped => "was skipped",
                        JobOutcome::TimedOut => "timed out",
                        _ => "failed",
                    },
                    r.attempt
                ),
                message.clone(),
            )),
        ));
    }
    if matches!(job.action, Action::Backup(_)) && r.outcome.succeeded() {
        let flagged = r.outcome == JobOutcome::Anomaly;
        out.push(obs(
            Event::Anomaly,
            flagged.then(|| {
                let score = r.anomaly_score().unwrap_or(0.0);
                let reasons: Vec<String> = r
                    .summary
                    .as_ref()
                    .and_then(|s| s.pointer("/anomaly/reasons"))
                    .and_then(|v| v.as_array())
                    .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                (
                    format!(
                        "backup job {} looks like ransomware or mass deletion (score {score:.2}); the snapshot and the last clean one are protected",
                        job.name
                    ),
                    (!reasons.is_empty()).then(|| reasons.join("\n")),
                )
            }),
        ));
    }
    out
}

/// The RPO condition of `job` at `now`.
pub fn overdue(job: &Job, js: &crate::state::JobState, now: Timestamp) -> Option<Observation> {
    let max = job.max_age?;
    let standing = crate::jobs::overdue(job, js, now).then(|| {
        let since = js
            .last_success
            .map(|t| format!("since {t}"))
            .unwrap_or_else(|| "ever".into());
        (
            format!(
                "job {}: no successful backup {since}, more than its max_age of {}",
                job.name,
                jiff::SignedDuration::try_from(max)
                    .map(|d| format!("{d:#}"))
                    .unwrap_or_default()
            ),
            None,
        )
    });
    Some(Observation {
        event: Event::Overdue,
        standing,
        snapshot: None,
    })
}

/// Due times of `job` that passed without a run.
pub fn missed(job: &Job, times: &[Timestamp]) -> Observation {
    let last = times.last().map(|t| t.to_string()).unwrap_or_default();
    Observation {
        event: Event::Missed,
        standing: Some((
            format!(
                "job {} missed {} scheduled run(s) while the daemon was down or busy (the last due {last}); not caught up (set run_missed = true to catch up)",
                job.name,
                times.len()
            ),
            None,
        )),
        snapshot: None,
    }
}

#[cfg(test)]
mod tests;
