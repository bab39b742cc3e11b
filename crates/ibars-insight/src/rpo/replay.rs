//! Replays a schedule over a sequence of changes: which backups it runs, what they store, and
//! how well it keeps an RPO. The same code judges the automatic policy and a fixed interval,
//! for `ibars schedule suggest` (over the recorded history) and for the evaluation.

use std::collections::HashMap;

use super::{duration_bound, next_step, ChangeStats, Knowledge, Policy, Step, Why};

/// One change of the source: at `at`, `file` was written, and now holds `bytes` that a
/// backup would store (once, however often the file changed since the last backup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub at: i64,
    pub file: u32,
    pub bytes: u64,
}

/// The schedule to replay.
#[derive(Debug, Clone)]
pub enum Plan {
    /// The automatic policy. `bound`: the duration bound it plans with, or `None` to learn it
    /// from the durations of its own runs ([`duration_bound`]).
    Auto { policy: Policy, bound: Option<i64> },
    /// A run every `every` seconds from the start (`*/N` cron); a run still going at a due
    /// time makes the daemon skip it.
    Fixed { every: i64 },
    /// A run at each of these times (a cron schedule's due times, sorted); a due time that
    /// passes while a run goes is skipped.
    At(Vec<i64>),
}

/// One backup of the replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub start: i64,
    pub end: i64,
    pub bytes: u64,
    /// The automatic policy's reason; `None` for a fixed schedule.
    pub why: Option<Why>,
}

/// What a replay did and how well it kept the RPO.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub runs: Vec<Run>,
    pub probes: u64,
    pub bytes: u64,
    /// The share of the time during which no change older than the RPO was missing.
    pub compliance: f64,
    /// The longest time a change waited to be in the repository, in seconds.
    pub worst_lag: i64,
}

/// Replay `plan` over `changes` (sorted by time) from `from` to `to`, where everything before
/// `from` is already backed up. `duration` gives a backup's duration in seconds from the
/// bytes it stores. `rpo` is the objective compliance is measured against.
pub fn replay(
    changes: &[Change],
    from: i64,
    to: i64,
    rpo: i64,
    plan: &Plan,
    duration: impl Fn(u64) -> i64,
) -> Outcome {
    let mut pending = Pending::new(changes);
    let mut runs = Vec::new();
    let mut probes = 0u64;
    match plan {
        Plan::Fixed { every } => {
            let every = (*every).max(1);
            let mut due = from + every;
            while due < to {
                let run = scheduled(&mut pending, due, &duration);
                runs.push(run);
                // Due times that pass while the run goes are skipped.
                due += every * ((run.end - due) / every + 1);
            }
        }
        Plan::At(times) => {
            let mut busy_until = i64::MIN;
            for &due in times.iter().filter(|&&t| t >= from && t < to) {
                if due < busy_until {
                    continue;
                }
                let run = scheduled(&mut pending, due, &duration);
                runs.push(run);
                busy_until = run.end;
            }
        }
        Plan::Auto { policy, bound } => {
            let mut k = Knowledge {
                clean_until: from,
                dirty: false,
                probed: Some(from),
                active: false,
            };
            let mut stats = ChangeStats::default();
            let mut recent: Vec<i64> = Vec::new();
            let mut t = from;
            while t < to {
                let d = bound.unwrap_or_else(|| duration_bound(&recent, policy.rpo));
                match next_step(policy, &k, t, d, &stats) {
                    Step::Probe => {
                        probes += 1;
                        let changed = pending.any_in(k.probe_since(), t);
                        stats.record(t, changed);
                        k.probed(t, changed);
                    }
                    Step::Backup(why) => {
                        let bytes = pending.take_before(t);
                        let took = duration(bytes).max(0);
                        k.started(t);
                        runs.push(Run {
                            start: t,
                            end: t + took,
                            bytes,
                            why: Some(why),
                        });
                        recent.push(took);
                        // The next decision comes when the run has ended (or a second on).
                        t += took.max(1);
                    }
                    Step::Wait { until, .. } => t = until.max(t + 1),
                }
            }
        }
    }
    let (compliance, worst_lag) = judge(changes, &runs, from, to, rpo);
    Outcome {
        bytes: runs.iter().map(|r| r.bytes).sum(),
        runs,
        probes,
        compliance,
        worst_lag,
    }
}

/// A fixed schedule's run at `due`: what it stores, and when it ends.
fn scheduled(pending: &mut Pending<'_>, due: i64, duration: &impl Fn(u64) -> i64) -> Run {
    let bytes = pending.take_before(due);
    Run {
        start: due,
        end: due + duration(bytes).max(0),
        bytes,
        why: None,
    }
}

/// The changes not yet in a backup, with each file's last size.
struct Pending<'a> {
    changes: &'a [Change],
    next: usize,
    files: HashMap<u32, u64>,
}

impl<'a> Pending<'a> {
    fn new(changes: &'a [Change]) -> Self {
        Self {
            changes,
            next: 0,
            files: HashMap::new(),
        }
    }

    /// The bytes a backup starting at `t` stores: every file changed before `t` since the
    /// last backup, at its last size.
    fn take_before(&mut self, t: i64) -> u64 {
        while let Some(c) = self.changes.get(self.next).filter(|c| c.at < t) {
            self.files.insert(c.file, c.bytes);
            self.next += 1;
        }
        self.files.drain().map(|(_, b)| b).sum()
    }

    /// Whether a change happened in `[from, to)`.
    fn any_in(&self, from: i64, to: i64) -> bool {
        let i = self.changes.partition_point(|c| c.at < from);
        self.changes.get(i).is_some_and(|c| c.at < to)
    }
}

/// The share of `[from, to)` with no change older than `rpo` missing, and the longest wait of
/// a change. A change at `c` is in the repository once a backup that started after it ends.
fn judge(changes: &[Change], runs: &[Run], from: i64, to: i64, rpo: i64) -> (f64, i64) {
    let mut bad = 0i64;
    let mut covered_to = i64::MIN; // the end of the union of bad intervals so far
    let mut worst = 0i64;
    let mut r = 0usize;
    for c in changes.iter().filter(|c| c.at >= from && c.at < to) {
        while runs.get(r).is_some_and(|run| run.start <= c.at) {
            r += 1;
        }
        let covered = runs.get(r).map_or(to, |run| run.end);
        worst = worst.max(covered - c.at);
        let (a, b) = ((c.at + rpo).max(covered_to), covered.min(to));
        if b > a {
            bad += b - a;
            covered_to = b;
        }
    }
    let span = (to - from).max(1);
    (1.0 - bad as f64 / span as f64, worst)
}

/// A backup's duration in seconds as a fixed cost plus bytes at a throughput, fitted to past
/// backups `(bytes, seconds)`: the cost is the 20th percentile of the durations, the
/// throughput the median of the bytes per second beyond it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DurationModel {
    pub fixed: f64,
    pub bytes_per_sec: f64,
}

impl DurationModel {
    /// `None` without any past backup.
    pub fn fit(points: &[(u64, f64)]) -> Option<Self> {
        let mut d: Vec<f64> = points.iter().map(|p| p.1.max(0.0)).collect();
        if d.is_empty() {
            return None;
        }
        d.sort_by(f64::total_cmp);
        let fixed = d[(d.len() - 1) / 5];
        let mut rates: Vec<f64> = points
            .iter()
            .filter(|(b, s)| *b > 0 && *s > fixed)
            .map(|(b, s)| *b as f64 / (s - fixed))
            .collect();
        rates.sort_by(f64::total_cmp);
        let bytes_per_sec = rates.get(rates.len() / 2).copied().unwrap_or(f64::INFINITY);
        Some(Self {
            fixed,
            bytes_per_sec,
        })
    }

    /// The duration of a backup storing `bytes`, in whole seconds.
    pub fn seconds(&self, bytes: u64) -> i64 {
        (self.fixed + bytes as f64 / self.bytes_per_sec).ceil() as i64
    }
}
