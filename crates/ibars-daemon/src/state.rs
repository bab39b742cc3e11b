//! What the daemon remembers of its jobs between runs and restarts: when each last ran, its
//! recent runs, a pending retry, and the run in progress (so that a run cut short by a crash
//! is found at the next start). It lives in `state_dir/state.json`, written whole under a new
//! name and renamed into place. Losing it loses nothing that matters: every run is also
//! recorded in the repository's history.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use ibars_insight::record::{JobOutcome, Trigger};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::run::Report;

/// Runs kept per job.
pub const RECENT: usize = 50;

/// A state file that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("daemon state {}: {message}", path.display())]
pub struct StateError {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub jobs: BTreeMap<String, JobState>,
    /// Alert conditions that stand.
    pub alerts: crate::alerts::Book,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct JobState {
    /// The due time of the last scheduled run (or when the job was first seen: it never
    /// catches up on times before it existed).
    pub last_due: Option<Timestamp>,
    /// When the daemon first knew the job (the RPO of a job that never succeeded counts from
    /// here).
    pub first_seen: Option<Timestamp>,
    /// Failed attempts of the current due time.
    pub failures: u32,
    /// When the next retry starts, and the due time it stands for.
    pub retry_at: Option<Timestamp>,
    pub retry_due: Option<Timestamp>,
    pub running: Option<Running>,
    pub last_success: Option<Timestamp>,
    /// Newest last.
    pub recent: VecDeque<Report>,
    /// Due times skipped in all (not caught up).
    pub missed_total: u64,
    /// What the RPO planner knows, for a job with `schedule = "auto"`.
    pub auto: Option<crate::auto::AutoState>,
}

/// A run in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Running {
    pub started: Timestamp,
    /// schedule, catch_up, retry or manual.
    #[schema(value_type = String)]
    pub trigger: Trigger,
    pub due: Option<Timestamp>,
    pub attempt: u32,
    #[serde(default)]
    pub missed: u32,
    /// The child's pid, once it runs.
    pub pid: Option<u32>,
}

impl JobState {
    pub fn last_run(&self) -> Option<&Report> {
        self.recent.back()
    }

    /// Keep a finished run.
    pub fn push(&mut self, r: Report) {
        if r.outcome.succeeded() {
            self.last_success = Some(r.ended);
        }
        self.recent.push_back(r);
        while self.recent.len() > RECENT {
            self.recent.pop_front();
        }
    }
}

impl State {
    pub fn file(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    /// Read the state in `dir`; none yet is an empty state. A damaged file is set aside
    /// (renamed `.damaged`) and the daemon starts from the repository's history alone.
    pub fn load(dir: &Path) -> Result<State, StateError> {
        let path = Self::file(dir);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => {
                return Err(StateError {
                    path,
                    message: e.to_string(),
                })
            }
        };
        match serde_json::from_slice(&text) {
            Ok(s) => Ok(s),
            Err(e) => {
                let aside = path.with_extension("json.damaged");
                tracing::error!(
                    "daemon state {} is damaged ({e}); moved to {} and starting afresh",
                    path.display(),
                    aside.display()
                );
                let _ = std::fs::rename(&path, &aside);
                Ok(State::default())
            }
        }
    }

    /// Write the state into `dir` atomically.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let path = Self::file(dir);
        let err = |e: std::io::Error| StateError {
            path: path.clone(),
            message: e.to_string(),
        };
        let tmp = path.with_extension("json.new");
        let bytes = serde_json::to_vec(self).expect("state serializes");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(err)?;
            f.write_all(&bytes).map_err(err)?;
            f.sync_all().map_err(err)?;
        }
        std::fs::rename(&tmp, &path).map_err(err)?;
        Ok(())
    }

    pub fn job(&mut self, name: &str) -> &mut JobState {
        self.jobs.entry(name.to_string()).or_default()
    }
}

/// The outcome kept for a run found unfinished at start.
pub fn interrupted(r: &Running, now: Timestamp, why: String) -> Report {
    Report {
        started: r.started,
        ended: now,
        trigger: r.trigger,
        due: r.due,
        attempt: r.attempt,
        missed: r.missed,
        outcome: JobOutcome::Interrupted,
        exit_code: None,
        message: Some(why),
        summary: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        let mut s = State::default();
        let t: Timestamp = "2026-12-03T02:00:00Z".parse().unwrap();
        s.job("a").last_due = Some(t);
        s.job("a").running = Some(Running {
            started: t,
            trigger: Trigger::Schedule,
            due: Some(t),
            attempt: 1,
            missed: 0,
            pid: Some(42),
        });
        s.save(d.path()).unwrap();
        let back = State::load(d.path()).unwrap();
        assert_eq!(back.jobs["a"].last_due, Some(t));
        assert_eq!(back.jobs["a"].running.as_ref().unwrap().pid, Some(42));

        std::fs::write(State::file(d.path()), b"{not json").unwrap();
        let fresh = State::load(d.path()).unwrap();
        assert!(fresh.jobs.is_empty());
        assert!(d.path().join("state.json.damaged").exists());
    }

    #[test]
    fn recent_runs_are_bounded() {
        let mut j = JobState::default();
        let t: Timestamp = "2026-12-03T02:00:00Z".parse().unwrap();
        for i in 0..(RECENT + 5) {
            let mut r = interrupted(
                &Running {
                    started: t,
                    trigger: Trigger::Manual,
                    due: None,
                    attempt: 1,
                    missed: 0,
                    pid: None,
                },
                t,
                format!("{i}"),
            );
            r.outcome = JobOutcome::Ok;
            j.push(r);
        }
        assert_eq!(j.recent.len(), RECENT);
        assert_eq!(j.last_run().unwrap().message.as_deref(), Some("54"));
        assert_eq!(j.last_success, Some(t));
    }
}
