//! The repository's stored size under its retention policy. A forecast of the size series
//! alone overshoots once `forget` and `prune` free as much as backups add; this model applies
//! the policy to the backups to come instead.
//!
//! What a backup stores stays until no remaining snapshot holds it. A snapshot that is gone
//! (forgotten, then pruned) frees its data unless a later snapshot of its group still holds
//! it. The model: of the bytes backup `s` stored, a share β never changes again (it stays as
//! long as the group has a snapshot after `s`); the rest is still held `k` snapshots later
//! with probability p^k. So at time `t` the stored size is
//!
//! ```text
//!     C + Σ_s stored(s) · (β + (1 − β) · p^m(s,t))
//! ```
//!
//! where m(s,t) counts the group's snapshots from `s` to the first one not yet gone at `t`
//! (0 while `s` itself remains), and C is what the history does not explain (data from
//! before it). β, p and C are fitted to the daily size series by least relative squares on a
//! grid. The forecast then simulates what comes: backups at each group's recent interval and
//! mean stored bytes, and at each prune, at the recent prune interval, the policy applied to
//! the remaining snapshots, exactly as `forget` applies it ([`super::keeps`]).
//!
//! Contract: pure and panic-free. A history without a prune cannot say what is freed: the
//! model then refuses ([`ForecastError::NotEnoughHistory`]) and the caller forecasts the
//! size series alone.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{keeps, GroupBy, Policy};
use crate::forecast::{
    forecast, forecast_with, point_path, ForecastError, Path, Prediction, Settings,
};
use crate::record::{Record, RunKind, RunResult};

const DAY: i64 = 86_400;

/// One snapshot as the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snap {
    pub group: usize,
    pub time: Timestamp,
    /// Pack bytes its backup stored.
    pub stored: f64,
    /// When its data stopped counting: the first prune after a forget removed it.
    pub gone: Option<Timestamp>,
}

/// The lives of the snapshots, as the history tells them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifecycle {
    /// In time order.
    pub snaps: Vec<Snap>,
    /// When each one was forgotten (for the simulation: forgotten, not yet pruned).
    pub forgotten: Vec<Option<Timestamp>>,
    /// Prune times, in order.
    pub prunes: Vec<Timestamp>,
    /// The policy of the last forget that recorded one.
    pub policy: Option<(Policy, GroupBy)>,
}

impl Lifecycle {
    /// Read from the history: backups (their snapshots, grouped as the last policy groups
    /// them), forgets (which snapshots they removed) and prunes. Failed runs count for
    /// nothing.
    pub fn from_records(records: &[Record]) -> Self {
        let ok = |r: &&Record| r.result != RunResult::Failed;
        let policy = records
            .iter()
            .filter(ok)
            .filter(|r| r.kind == RunKind::Forget)
            .filter_map(|r| r.forget.as_ref())
            .next_back()
            .map(|f| (f.policy.clone(), f.group_by));
        let by = policy.as_ref().map(|p| p.1).unwrap_or_default();
        let mut backups: Vec<(&Record, &crate::record::BackupRun)> = records
            .iter()
            .filter(ok)
            .filter(|r| r.kind == RunKind::Backup)
            .filter_map(|r| Some((r, r.backup.as_ref()?)))
            .collect();
        backups.sort_by_key(|(r, _)| r.time);
        let mut groups: HashMap<String, usize> = HashMap::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut snaps = Vec::with_capacity(backups.len());
        for (r, b) in &backups {
            let mut paths = b.paths.clone();
            paths.sort();
            let mut tags = b.tags.clone();
            tags.sort();
            let key = format!(
                "{}\0{}\0{}",
                if by.host { r.host.as_str() } else { "" },
                if by.paths {
                    paths.join("\0")
                } else {
                    String::new()
                },
                if by.tags {
                    tags.join("\0")
                } else {
                    String::new()
                },
            );
            let n = groups.len();
            let group = *groups.entry(key).or_insert(n);
            index.insert(b.snapshot.as_str(), snaps.len());
            snaps.push(Snap {
                group,
                time: r.time,
                stored: b.bytes_stored as f64,
                gone: None,
            });
        }
        let mut forgotten = vec![None; snaps.len()];
        let mut prunes = Vec::new();
        let mut runs: Vec<&Record> = records.iter().filter(ok).collect();
        runs.sort_by_key(|r| r.time);
        for r in runs {
            match r.kind {
                RunKind::Forget => {
                    for id in &r.snapshots {
                        if let Some(&i) = index.get(id.as_str()) {
                            forgotten[i].get_or_insert(r.time);
                        }
                    }
                }
                RunKind::Prune => prunes.push(r.time),
                _ => {}
            }
        }
        for (s, f) in snaps.iter_mut().zip(&forgotten) {
            s.gone = f.and_then(|f| prunes.iter().copied().find(|p| *p >= f));
        }
        Lifecycle {
            snaps,
            forgotten,
            prunes,
            policy,
        }
    }
}

/// Bytes by their distance m to the nearest snapshot that still holds them (u32::MAX: none
/// does), at one moment.
type Held = Vec<(u32, f64)>;

const NONE_LEFT: u32 = u32::MAX;

/// What the snapshots made by `t` hold at `t`.
fn held_at(snaps: &[Snap], groups: &[Vec<usize>], t: Timestamp) -> Held {
    let mut out: Vec<(u32, f64)> = Vec::new();
    for g in groups {
        let made = g.partition_point(|&i| snaps[i].time <= t);
        let mut next: Option<usize> = None;
        for k in (0..made).rev() {
            let s = &snaps[g[k]];
            if s.gone.is_none_or(|x| x > t) {
                next = Some(k);
            }
            let m = next.map_or(NONE_LEFT, |n| (n - k).min(FAR as usize) as u32);
            out.push((m, s.stored));
        }
    }
    out.sort_by_key(|x| x.0);
    let mut merged: Held = Vec::new();
    for (m, b) in out {
        match merged.last_mut() {
            Some(last) if last.0 == m => last.1 += b,
            _ => merged.push((m, b)),
        }
    }
    merged
}

/// Distances beyond this count as this: p^m is then negligible for every p fitted.
const FAR: u32 = 2000;

/// Bytes still held (m known) and bytes weighted by p^m.
fn sums(h: &Held, p: f64) -> (f64, f64) {
    h.iter()
        .filter(|(m, _)| *m != NONE_LEFT)
        .fold((0.0, 0.0), |(b, w), &(m, x)| {
            (b + x, w + x * p.powi(m as i32))
        })
}

fn value(h: &Held, f: &Fit) -> f64 {
    let (b, w) = sums(h, f.p);
    f.beta * b + (1.0 - f.beta) * w + f.offset
}

/// The fitted share β that never changes, persistence p, and offset C.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub beta: f64,
    pub p: f64,
    pub offset: f64,
}

/// The most recent days a fit reads: β and p may drift, and the fit stays cheap.
const FIT_DAYS: usize = 120;

/// β, p and C that best explain `y` from `held` (one per value), by least relative squares
/// over the last [`FIT_DAYS`] values.
fn fit(y: &[f64], held: &[Held]) -> Fit {
    const PS: [f64; 15] = [
        0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995,
    ];
    let from = y.len().saturating_sub(FIT_DAYS);
    let (y, held) = (&y[from..], &held[from..]);
    let w: Vec<f64> = y.iter().map(|v| 1.0 / v.abs().max(1.0).powi(2)).collect();
    let wsum: f64 = w.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let mut best = (
        f64::INFINITY,
        Fit {
            beta: 1.0,
            p: 0.0,
            offset: 0.0,
        },
    );
    for p in PS {
        let bw: Vec<(f64, f64)> = held.iter().map(|h| sums(h, p)).collect();
        for bi in 0..=20 {
            let beta = bi as f64 / 20.0;
            let v = bw.iter().map(|(b, x)| beta * b + (1.0 - beta) * x);
            let r: Vec<f64> = y.iter().zip(v).map(|(a, m)| a - m).collect();
            let offset = r.iter().zip(&w).map(|(r, w)| w * r).sum::<f64>() / wsum;
            let sse: f64 = r
                .iter()
                .zip(&w)
                .map(|(r, w)| w * (r - offset).powi(2))
                .sum();
            if sse < best.0 {
                best = (sse, Fit { beta, p, offset });
            }
        }
    }
    best.1
}

fn median_gap(times: &[Timestamp]) -> Option<SignedDuration> {
    let mut gaps: Vec<i64> = times
        .windows(2)
        .map(|w| w[1].as_second() - w[0].as_second())
        .collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(SignedDuration::from_secs(gaps[gaps.len() / 2]))
}

/// Days since a prune first freed a snapshot's data that the model needs before it says what
/// prunes free: fitted on less, it took the first small frees for the rule.
pub const PRUNED_DAYS: usize = 14;

/// The daily stored size after `first_day`, one value per day (the size at each day's end),
/// and its forecast: see the module's description.
pub struct Model<'a> {
    life: &'a Lifecycle,
    y: &'a [f64],
    first_day: Timestamp,
    tz: TimeZone,
    /// The snapshots of each group, in time order.
    groups: Vec<Vec<usize>>,
    /// What the history holds at each day's end.
    held: Vec<Held>,
    /// When a prune first freed a snapshot's data.
    first_gone: Option<Timestamp>,
}

impl<'a> Model<'a> {
    /// `y[i]` is the stored size at the end of the day that starts `i` days after
    /// `first_day`; `tz` is the time zone `forget` buckets days and weeks in.
    pub fn new(life: &'a Lifecycle, y: &'a [f64], first_day: Timestamp, tz: TimeZone) -> Self {
        let ngroups = life.snaps.iter().map(|s| s.group + 1).max().unwrap_or(0);
        let mut groups = vec![Vec::new(); ngroups];
        for (i, s) in life.snaps.iter().enumerate() {
            groups[s.group].push(i);
        }
        let held = (0..y.len())
            .map(|d| held_at(&life.snaps, &groups, Self::day_end(first_day, d)))
            .collect();
        Model {
            life,
            y,
            first_day,
            tz,
            groups,
            held,
            first_gone: life.snaps.iter().filter_map(|s| s.gone).min(),
        }
    }

    fn day_end(first_day: Timestamp, d: usize) -> Timestamp {
        Timestamp::from_second(first_day.as_second() + (d as i64 + 1) * DAY - 1)
            .unwrap_or(Timestamp::MAX)
    }

    /// The fit on the first `c` days: refused before [`PRUNED_DAYS`] days since a prune
    /// first freed a snapshot.
    pub fn fit(&self, c: usize) -> Result<Fit, ForecastError> {
        let cut = Self::day_end(self.first_day, c.saturating_sub(1));
        let have = self.first_gone.map_or(0, |g| {
            ((cut.as_second() - g.as_second()).max(-1) / DAY + 1).max(0) as usize
        });
        if c == 0 || have < PRUNED_DAYS {
            return Err(ForecastError::NotEnoughHistory {
                have,
                need: PRUNED_DAYS,
            });
        }
        Ok(fit(&self.y[..c], &self.held[..c]))
    }

    /// The forecast of `horizon` days after the first `c`, from the model fitted on them.
    pub fn predict(&self, c: usize, horizon: usize) -> Result<Path, ForecastError> {
        let f = self.fit(c)?;
        let cut = Self::day_end(self.first_day, c - 1);
        let end = Self::day_end(self.first_day, c - 1 + horizon);
        let mut snaps: Vec<Snap> = Vec::new();
        let mut pending: Vec<usize> = Vec::new();
        let mut alive: Vec<usize> = Vec::new();
        for (i, s) in self.life.snaps.iter().enumerate() {
            if s.time > cut {
                break;
            }
            let mut s = s.clone();
            match s.gone {
                Some(g) if g <= cut => {}
                _ => {
                    s.gone = None;
                    if self.life.forgotten[i].is_some_and(|f| f <= cut) {
                        pending.push(snaps.len());
                    } else {
                        alive.push(snaps.len());
                    }
                }
            }
            snaps.push(s);
        }
        // Backups to come: each group that backed up within a week keeps its pace and size.
        let mut events: Vec<(Timestamp, Option<Snap>)> = Vec::new();
        for (gi, g) in self.groups.iter().enumerate() {
            let times: Vec<Timestamp> = g
                .iter()
                .map(|&i| self.life.snaps[i].time)
                .filter(|t| *t <= cut)
                .collect();
            let Some(&last) = times.last() else { continue };
            if cut.as_second() - last.as_second() > 7 * DAY {
                continue;
            }
            let recent = &times[times.len().saturating_sub(11)..];
            let gap = median_gap(recent)
                .unwrap_or(SignedDuration::from_hours(24))
                .max(SignedDuration::from_mins(1));
            // The first backup stores the whole source: not what later ones add.
            let later: Vec<f64> = g
                .iter()
                .skip(1)
                .map(|&i| &self.life.snaps[i])
                .filter(|s| s.time <= cut)
                .map(|s| s.stored)
                .collect();
            let tail = &later[later.len().saturating_sub(14)..];
            let stored = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
            let mut t = last;
            while let Ok(next) = t.checked_add(gap) {
                if next > end {
                    break;
                }
                t = next;
                events.push((
                    t,
                    Some(Snap {
                        group: gi,
                        time: t,
                        stored,
                        gone: None,
                    }),
                ));
            }
        }
        // Prunes to come, at the recent pace rounded to whole days.
        let past: Vec<Timestamp> = self
            .life
            .prunes
            .iter()
            .copied()
            .filter(|p| *p <= cut)
            .collect();
        if let Some(&last) = past.last() {
            let days = median_gap(&past[past.len().saturating_sub(11)..]).map_or(1, |g| {
                (g.as_secs() as f64 / DAY as f64).round().max(1.0) as i64
            });
            let gap = SignedDuration::from_secs(days * DAY);
            let mut t = last;
            while let Ok(next) = t.checked_add(gap) {
                if next > end {
                    break;
                }
                t = next;
                if t > cut {
                    events.push((t, None));
                }
            }
        }
        // A prune sorts after a backup at the same time: forget runs after the backup.
        events.sort_by_key(|(t, s)| (*t, s.is_none()));
        for (t, e) in events {
            match e {
                Some(s) => {
                    alive.push(snaps.len());
                    snaps.push(s);
                }
                None => {
                    if let Some((policy, _)) = &self.life.policy {
                        let mut next_alive = Vec::with_capacity(alive.len());
                        for gi in 0..self.groups.len() {
                            let members: Vec<usize> = alive
                                .iter()
                                .copied()
                                .filter(|&i| snaps[i].group == gi)
                                .collect();
                            let times: Vec<Timestamp> =
                                members.iter().map(|&i| snaps[i].time).collect();
                            for (i, keep) in members.iter().zip(keeps(&times, policy, &self.tz)) {
                                if keep {
                                    next_alive.push(*i);
                                } else {
                                    pending.push(*i);
                                }
                            }
                        }
                        next_alive.sort_unstable();
                        alive = next_alive;
                    }
                    for i in pending.drain(..) {
                        snaps[i].gone = Some(t);
                    }
                }
            }
        }
        let mut groups = vec![Vec::new(); self.groups.len()];
        let mut order: Vec<usize> = (0..snaps.len()).collect();
        order.sort_by_key(|&i| snaps[i].time);
        for i in order {
            groups[snaps[i].group].push(i);
        }
        let base = value(&self.held[c - 1], &f);
        let last = self.y[c - 1];
        let point = (0..horizon)
            .map(|h| {
                let t = Self::day_end(self.first_day, c + h);
                last + value(&held_at(&snaps, &groups, t), &f) - base
            })
            .collect();
        Ok((point, "retention"))
    }
}

/// The forecast of the daily size series `y` (starting at `first_day`) for `horizon` days:
/// the retention model when the history holds a prune, and the size series' own forecast
/// otherwise. The retention model's intervals are calibrated on its own errors at earlier
/// cuts, those it would have been used at ([`PRUNED_DAYS`] after a prune first freed a
/// snapshot); only when too few such cuts exist, or the last is too early, is the size
/// series' own forecast used where the model is not.
pub fn forecast_size(
    life: &Lifecycle,
    y: &[f64],
    first_day: Timestamp,
    horizon: usize,
    tz: TimeZone,
) -> Result<Prediction, ForecastError> {
    let s = Settings::daily_total();
    if life.prunes.is_empty() {
        return forecast(y, horizon, &s);
    }
    let model = Model::new(life, y, first_day, tz);
    // Each cut's forecast, made once for both calibrations below.
    let made = std::cell::RefCell::new(std::collections::HashMap::new());
    let predict = |c: usize| {
        made.borrow_mut()
            .entry(c)
            .or_insert_with(|| model.predict(c, horizon))
            .clone()
    };
    if let Ok(own) = forecast_with(y, horizon, &s, predict) {
        if own.calibrated_on > 0 {
            return Ok(own);
        }
    }
    forecast_with(y, horizon, &s, |c| {
        predict(c).or_else(|_| point_path(&y[..c], horizon, &s))
    })
}
