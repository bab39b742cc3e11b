//! Schedules that meet a recovery point objective (RPO) at the least cost.
//!
//! **The guarantee.** With an RPO of R, at any moment t every change made before t − R is in
//! the repository. A backup that starts at s holds every change made before s, once it ends.
//! So the planner keeps `clean_until`: the latest moment before which every change is known to
//! be in the repository (or in the backup running now). It is moved by a backup's start and by
//! a probe that finds nothing changed since. The worst case is a change just after
//! `clean_until`: it must be in the repository by `clean_until + R`, so a backup must start by
//! `clean_until + R − D`, where D bounds the backup's duration ([`duration_bound`]).
//!
//! **The policy.** A probe (a metadata scan, or the source's own change signal) runs every
//! `probe_every` while nothing has changed, and its clean results push `clean_until` forward.
//! Once a probe finds a change, the backup waits until the last moment that keeps the
//! guarantee, so that it holds every change of the next R − D in one run. Waiting costs
//! nothing (the RPO is still met) and saves runs: over a busy period, backups come R − D
//! apart; over a quiet one, none run at all. Where changes are near certain (the hour of the
//! week has nearly always shown one, [`ChangeStats`]), the probes in between are skipped: they
//! could only confirm what is known. The last probe before the deadline always runs.
//!
//! Everything here is pure: times are Unix seconds given by the caller, so the daemon, the
//! `schedule suggest` replay and the evaluation run the same code.

pub mod calendar;
pub mod replay;

use serde::{Deserialize, Serialize};

pub use calendar::{Calendar, Period, PeriodError};

/// An automatic job's settings.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The recovery point objective, in seconds.
    pub rpo: i64,
    /// Seconds between probes while nothing has changed.
    pub probe_every: i64,
    /// When backups may start.
    pub calendar: Calendar,
}

impl Policy {
    /// An RPO with the default probe interval: a twelfth of it, between 1 and 15 minutes.
    pub fn new(rpo: i64, calendar: Calendar) -> Self {
        Self {
            rpo,
            probe_every: (rpo / 12).clamp(60, 900),
            calendar,
        }
    }
}

/// What the planner knows of a job's source. The daemon keeps it in its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Knowledge {
    /// Every change made before this moment is in the repository (or in the running backup).
    pub clean_until: i64,
    /// A probe found a change after `clean_until`.
    pub dirty: bool,
    /// When the last probe started.
    pub probed: Option<i64>,
    /// The last probe found a change since the probe before it: the source is active.
    #[serde(default)]
    pub active: bool,
}

impl Knowledge {
    /// A job seen for the first time at `now`: nothing is known to be backed up, so the
    /// first probe comes at once and any change found is backed up at once.
    pub fn unknown(now: i64, rpo: i64) -> Self {
        Self {
            clean_until: now - rpo,
            dirty: false,
            probed: None,
            active: false,
        }
    }

    /// The moment the next probe looks for changes after: `clean_until` while nothing is
    /// known to have changed; once something has, the last probe (to tell whether the source
    /// is still active).
    pub fn probe_since(&self) -> i64 {
        match self.probed {
            Some(at) if self.dirty => at,
            _ => self.clean_until,
        }
    }

    /// A probe that started at `at` found a change since [`Knowledge::probe_since`], or none.
    pub fn probed(&mut self, at: i64, changed: bool) {
        self.probed = Some(at);
        self.active = changed;
        if changed {
            self.dirty = true;
        } else if !self.dirty {
            self.clean_until = self.clean_until.max(at);
        }
    }

    /// A backup started at `at`. Returns what was known before, for [`Knowledge::failed`].
    pub fn started(&mut self, at: i64) -> Knowledge {
        let before = *self;
        self.clean_until = self.clean_until.max(at);
        self.dirty = false;
        self.active = false;
        before
    }

    /// The backup started with `before` as the knowledge failed: its changes are still
    /// missing, and so is anything the probes in between thought covered.
    pub fn failed(&mut self, before: Knowledge) {
        self.clean_until = before.clean_until;
        self.dirty = true;
    }
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Start a backup now.
    Backup(Why),
    /// Look for changes now.
    Probe,
    /// Nothing until `until` (or until told of a change).
    Wait { until: i64, why: Why },
}

/// The reason of a step, for the job's history ("skipped 14:00: nothing changed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "why")]
pub enum Why {
    /// Nothing changed since `since`.
    Unchanged { since: i64 },
    /// Changes since `since` wait to be backed up together; the RPO needs the backup to
    /// start by `deadline`.
    Batching { since: i64, deadline: i64 },
    /// The last moment that keeps the RPO for changes since `since`.
    Deadline { since: i64 },
    /// The RPO cannot be kept for changes since `since` (the periods forbid a start in time,
    /// or a backup failed): back up as soon as a start is allowed.
    Late { since: i64 },
    /// The source went quiet after changes since `since`, and its history says it stays
    /// quiet past the deadline: one run now holds them all.
    Quiet { since: i64 },
    /// Changes are near certain now; the next probe comes at `deadline`.
    Busy { deadline: i64 },
    /// The periods forbid a start until the wait ends.
    Closed,
}

impl Why {
    /// A short sentence, with times as `fmt` renders them.
    pub fn describe(&self, fmt: impl Fn(i64) -> String) -> String {
        match *self {
            Why::Unchanged { since } => format!("nothing changed since {}", fmt(since)),
            Why::Batching { since, deadline } => format!(
                "changed since {}; waiting until {} to back up more changes in one run",
                fmt(since),
                fmt(deadline)
            ),
            Why::Deadline { since } => format!(
                "changes since {} reach the RPO; last moment to start",
                fmt(since)
            ),
            Why::Late { since } => {
                format!(
                    "changes since {} are past the RPO; first allowed start",
                    fmt(since)
                )
            }
            Why::Quiet { since } => format!(
                "changed since {}, quiet now and likely to stay quiet",
                fmt(since)
            ),
            Why::Busy { deadline } => format!(
                "changes are near certain at this hour; next look at {}",
                fmt(deadline)
            ),
            Why::Closed => "outside the job's window".to_string(),
        }
    }
}

/// Decide at `now`. `duration` bounds the next backup's duration in seconds
/// ([`duration_bound`]); `stats` are the source's busy and quiet hours. A source that cannot
/// be probed is treated as always changed by the caller (`probed(at, true)`).
pub fn next_step(p: &Policy, k: &Knowledge, now: i64, duration: i64, stats: &ChangeStats) -> Step {
    let since = k.clean_until;
    let deadline = since + p.rpo - duration;
    let latest = p.calendar.latest_start(now, deadline);
    let cadence = k.probed.map_or(now, |at| at + p.probe_every);
    if k.dirty {
        return match latest {
            Some(t) if t <= now => Step::Backup(Why::Deadline { since }),
            // The source went quiet and is likely to stay so until the deadline: waiting would
            // only open a new window for the next change.
            Some(t)
                if k.probed.is_some()
                    && !k.active
                    && p.calendar.allows(now)
                    && stats.p_change(now, t, p.probe_every) < QUIET =>
            {
                Step::Backup(Why::Quiet { since })
            }
            Some(t) if cadence < t => {
                wait_or_probe(now, cadence, Why::Batching { since, deadline: t })
            }
            Some(t) => Step::Wait {
                until: t,
                why: Why::Batching { since, deadline: t },
            },
            None => match p.calendar.next_start(now) {
                Some(t) if t <= now => Step::Backup(Why::Late { since }),
                Some(t) => Step::Wait {
                    until: t,
                    why: Why::Closed,
                },
                None => Step::Wait {
                    until: now + p.probe_every,
                    why: Why::Closed,
                },
            },
        };
    }
    if k.probed.is_some_and(|at| at >= now) {
        // Probed this very moment (an RPO no longer than the backup): look again later.
        return Step::Wait {
            until: cadence,
            why: Why::Unchanged { since },
        };
    }
    let next = match latest {
        Some(t) if stats.busy(now) => return wait_or_probe(now, t, Why::Busy { deadline: t }),
        Some(t) => cadence.min(t),
        None => cadence,
    };
    wait_or_probe(now, next, Why::Unchanged { since })
}

fn wait_or_probe(now: i64, at: i64, why: Why) -> Step {
    if at <= now {
        Step::Probe
    } else {
        Step::Wait { until: at, why }
    }
}

/// A bound on the next backup's duration, in seconds, from the durations of the recent
/// ones (newest last): half again the longest of the last ten, plus a minute, and never more
/// than half the RPO (a backup that needs longer cannot meet it anyway; the job's `max_age`
/// alert says so). With no history, a quarter of the RPO.
pub fn duration_bound(recent: &[i64], rpo: i64) -> i64 {
    let tail = &recent[recent.len().saturating_sub(10)..];
    match tail.iter().copied().max() {
        Some(m) => (m.max(0).saturating_mul(3) / 2 + 60).min(rpo / 2),
        None => rpo / 4,
    }
}

/// How often each hour of the week has shown a change: probes made in it, and those that
/// found one. Learned by the daemon from its own probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeStats {
    /// Per hour of the week (Monday 00:00 UTC first): probes, and probes that found changes.
    pub slots: Vec<(u32, u32)>,
}

impl Default for ChangeStats {
    fn default() -> Self {
        Self {
            slots: vec![(0, 0); 168],
        }
    }
}

/// Probes a slot needs before its rate is trusted.
const MIN_PROBES: u32 = 8;
/// The share of probes that found changes above which the hour counts as busy.
const BUSY: f64 = 0.9;
/// A quiet source is backed up early when a change before the deadline is less likely than
/// this.
const QUIET: f64 = 0.3;

fn slot(t: i64) -> usize {
    // 1970-01-01 was a Thursday: shift so that Monday 00:00 UTC is slot 0.
    ((t.div_euclid(3600) + 3 * 24).rem_euclid(168)) as usize
}

impl ChangeStats {
    /// A probe at `at` found changes or none.
    pub fn record(&mut self, at: i64, changed: bool) {
        if self.slots.len() != 168 {
            *self = Self::default();
        }
        let s = &mut self.slots[slot(at)];
        s.0 = s.0.saturating_add(1);
        s.1 = s.1.saturating_add(changed as u32);
        if s.0 == u32::MAX {
            // Halve both, so the rate keeps following the present.
            *s = (s.0 / 2, s.1 / 2);
        }
    }

    /// The share of probes in `at`'s hour of the week that found changes, with half a change
    /// of prior: ½ for an hour never probed.
    fn rate(&self, at: i64) -> f64 {
        let (n, c) = self.slots.get(slot(at)).copied().unwrap_or((0, 0));
        (c as f64 + 0.5) / (n as f64 + 1.0)
    }

    /// The chance of at least one change in `[from, to)`, probe interval by probe interval,
    /// each with its hour's rate (independent intervals). An hour probed fewer than 8 times is
    /// taken to change for certain: quiet is only believed once learned.
    pub fn p_change(&self, from: i64, to: i64, every: i64) -> f64 {
        let mut quiet = 1.0;
        let mut t = from;
        while t < to && quiet > 1e-6 {
            let known = self.slots.get(slot(t)).is_some_and(|s| s.0 >= MIN_PROBES);
            quiet *= if known { 1.0 - self.rate(t) } else { 0.0 };
            t += every.max(60);
        }
        1.0 - quiet
    }

    /// Whether changes are near certain at `at`: at least 8 probes in its hour of the week,
    /// and (changed + ½) / (probes + 1) ≥ 0.9.
    pub fn busy(&self, at: i64) -> bool {
        let n = self.slots.get(slot(at)).map_or(0, |s| s.0);
        n >= MIN_PROBES && self.rate(at) >= BUSY
    }
}

#[cfg(test)]
mod tests;
