//! When a job runs: a cron expression (through `croner`) in a stated time zone, and what the
//! scheduler does at a given moment. Nothing here reads a clock: every function takes the time
//! it reasons about, so tests replay any calendar, DST changes included.
//!
//! DST: a fixed-time run that falls into the gap of a spring change runs once, at the first
//! valid time after it; one that falls into the doubled hour of an autumn change runs once, at
//! the first of the two (croner's rules). Interval schedules (`*/10 * * * *`) keep running
//! through both, by the wall clock.

use std::str::FromStr;
use std::time::Duration;

use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// What is wrong with a schedule.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("schedule \"{expr}\": {why}")]
    Expression { expr: String, why: String },
    #[error("time zone \"{0}\" is unknown (use an IANA name such as Europe/Berlin, or UTC)")]
    TimeZone(String),
    #[error("schedule \"{0}\" never runs")]
    Never(String),
}

/// Due times walked one by one at most in [`decide`]; after a longer downtime it jumps to the
/// present (the list of missed times keeps the last [`MISSED_LISTED`] anyway).
const WALK_LIMIT: usize = 100_000;

/// A job's schedule: `minute hour day-of-month month day-of-week` (an optional seconds field
/// first), or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`, in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    cron: Cron,
    tz: TimeZone,
    tz_name: String,
}

impl Schedule {
    /// Parse `expr` for the time zone `tz` (an IANA name; `None` is the system's zone).
    pub fn parse(expr: &str, tz: Option<&str>) -> Result<Self, ScheduleError> {
        let cron = Cron::from_str(expr).map_err(|e| ScheduleError::Expression {
            expr: expr.to_string(),
            why: e.to_string(),
        })?;
        let (tz, tz_name) = match tz {
            Some(name) => (
                TimeZone::get(name).map_err(|_| ScheduleError::TimeZone(name.to_string()))?,
                name.to_string(),
            ),
            None => {
                let tz = TimeZone::system();
                let name = tz.iana_name().unwrap_or("local").to_string();
                (tz, name)
            }
        };
        let s = Self {
            expr: expr.to_string(),
            cron,
            tz,
            tz_name,
        };
        // An expression such as "0 0 30 2 *" parses but never matches.
        s.next_after(Timestamp::UNIX_EPOCH)
            .ok_or_else(|| ScheduleError::Never(expr.to_string()))?;
        Ok(s)
    }

    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The time zone's name.
    pub fn time_zone(&self) -> &str {
        &self.tz_name
    }

    /// The first due time strictly after `t`, or `None` if there is none within croner's
    /// search limit.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let z = t.to_zoned(self.tz.clone());
        self.cron
            .find_next_occurrence(&z, false)
            .ok()
            .map(|z| z.timestamp())
    }

    /// The next `n` due times after `t`, in the schedule's zone (for `--check-config`).
    pub fn upcoming(&self, t: Timestamp, n: usize) -> Vec<Zoned> {
        let mut out = Vec::with_capacity(n);
        let mut at = t;
        while out.len() < n {
            let Some(next) = self.next_after(at) else {
                break;
            };
            out.push(next.to_zoned(self.tz.clone()));
            at = next;
        }
        out
    }
}

/// What the scheduler does for one job at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start a run now, for the due time `due`. `missed` are the due times before it that
    /// passed without a run (the daemon was down, or the job was still running).
    Run {
        due: Timestamp,
        missed: Vec<Timestamp>,
    },
    /// Nothing to start before `until`. `missed` as above: due times that passed and are
    /// skipped (the job does not catch up).
    Wait {
        until: Timestamp,
        missed: Vec<Timestamp>,
    },
}

/// How late a run may start and still count as on time: a daemon that wakes a little late, or
/// a job whose previous run ended just after the due time, is not a missed run.
pub const ON_TIME: Duration = Duration::from_secs(60);

/// At most this many missed due times are listed (an hourly job down for a year would
/// otherwise list 8,760).
pub const MISSED_LISTED: usize = 100;

/// Decide for a job at `now` that is not running. `last_due` is the due time of its last run
/// (or the moment the job was first configured: it never catches up on times before it
/// existed). With `run_missed`, due times that passed are caught up by one run, not a burst;
/// without it, they are skipped and reported.
pub fn decide(s: &Schedule, last_due: Timestamp, now: Timestamp, run_missed: bool) -> Decision {
    let mut passed = std::collections::VecDeque::new();
    let mut at = last_due;
    let mut next = None;
    let mut count = 0usize;
    while let Some(t) = s.next_after(at) {
        if t > now {
            next = Some(t);
            break;
        }
        if passed.len() == MISSED_LISTED {
            passed.pop_front();
        }
        passed.push_back(t);
        count += 1;
        at = t;
        if count > WALK_LIMIT {
            // A very long downtime: jump to the present rather than walk every due time.
            at = now;
        }
    }
    let until = next.unwrap_or(Timestamp::MAX);
    let mut passed: Vec<Timestamp> = passed.into();
    let Some(&latest) = passed.last() else {
        return Decision::Wait {
            until,
            missed: vec![],
        };
    };
    let late = now.duration_since(latest).unsigned_abs();
    if late <= ON_TIME {
        passed.pop();
        return Decision::Run {
            due: latest,
            missed: passed,
        };
    }
    if run_missed {
        passed.pop();
        Decision::Run {
            due: latest,
            missed: passed,
        }
    } else {
        Decision::Wait {
            until,
            missed: passed,
        }
    }
}

/// Retries of a failed run: `attempts` more runs at most, waiting `initial`, then twice as long
/// each time, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub attempts: u32,
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Retry {
    /// Three retries after 1, 2 and 4 minutes.
    fn default() -> Self {
        Self {
            attempts: 3,
            initial: Duration::from_secs(60),
            max: Duration::from_secs(3600),
        }
    }
}

impl Retry {
    /// When to retry after `failures` failed runs of the same due time, ended at `ended`;
    /// `None` when the attempts are used up or the retry would not start before `next_due`
    /// (the next scheduled run does the work instead).
    pub fn after(&self, failures: u32, ended: Timestamp, next_due: Timestamp) -> Option<Timestamp> {
        if failures == 0 || failures > self.attempts {
            return None;
        }
        let factor = 1u32.checked_shl(failures - 1).unwrap_or(u32::MAX);
        let wait = self.initial.saturating_mul(factor).min(self.max);
        let at = ended
            .checked_add(jiff::SignedDuration::try_from(wait).ok()?)
            .ok()?;
        (at < next_due).then_some(at)
    }
}

#[cfg(test)]
mod tests;
