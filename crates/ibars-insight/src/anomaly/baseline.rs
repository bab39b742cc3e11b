//! The baseline of a source: its earlier backups, and robust statistics over them.

use std::collections::HashSet;

use crate::record::{BackupRun, Record, RunKind, RunResult, Status};

/// Whether two backups are of the same source: the same host and the same set of paths.
pub fn same_source(a: &Record, b: &Record) -> bool {
    let (Some(x), Some(y)) = (&a.backup, &b.backup) else {
        return false;
    };
    if a.host != b.host || x.paths.len() != y.paths.len() {
        return false;
    }
    let mut p: Vec<_> = x.paths.iter().collect();
    let mut q: Vec<_> = y.paths.iter().collect();
    p.sort();
    q.sort();
    p == q
}

/// Snapshot ids whose anomaly an operator dismissed.
pub fn dismissed(history: &[Record]) -> HashSet<&str> {
    history
        .iter()
        .filter(|r| r.kind == RunKind::Dismissal)
        .filter_map(|r| r.dismissal.as_ref().map(|d| d.snapshot.as_str()))
        .collect()
}

/// Whether a backup's anomaly stands (flagged and not dismissed).
pub fn flagged(run: &BackupRun, dismissed: &HashSet<&str>) -> bool {
    run.verdict
        .as_ref()
        .is_some_and(|v| v.status == Status::Suspect)
        && !dismissed.contains(run.snapshot.as_str())
}

/// The earlier backups of `current`'s source that measured features, oldest first: the
/// baseline. Failed runs and standing anomalies are left out, so that an attack never becomes
/// normal; dismissed ones are kept, which is how the baseline learns from a false alarm. At
/// most `max` of the newest are kept.
pub fn baseline<'a>(history: &'a [Record], current: &Record, max: usize) -> Vec<&'a BackupRun> {
    let gone = dismissed(history);
    let mut runs: Vec<(&jiff::Timestamp, &BackupRun)> = history
        .iter()
        .filter(|r| r.kind == RunKind::Backup && r.result != RunResult::Failed)
        .filter(|r| r.time < current.time && same_source(r, current))
        .filter_map(|r| r.backup.as_ref().map(|b| (&r.time, b)))
        .filter(|(_, b)| b.features.is_some() && !flagged(b, &gone))
        .collect();
    runs.sort_by_key(|(t, _)| *t);
    let skip = runs.len().saturating_sub(max);
    runs.into_iter().skip(skip).map(|(_, b)| b).collect()
}

/// Median and median absolute deviation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Robust {
    pub median: f64,
    pub mad: f64,
    pub max: f64,
}

impl Robust {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        let median = median_sorted(&v);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        Self {
            median,
            mad: median_sorted(&dev),
            max: v[v.len() - 1],
        }
    }

    /// MAD scaled to estimate a standard deviation under normal noise.
    pub fn sigma(&self) -> f64 {
        1.4826 * self.mad
    }
}

fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_statistics() {
        let r = Robust::of([1.0, 2.0, 3.0, 4.0, 100.0]);
        assert_eq!((r.median, r.mad, r.max), (3.0, 1.0, 100.0));
        let e = Robust::of([]);
        assert_eq!(e, Robust::default());
        assert_eq!(Robust::of([f64::NAN, 2.0]).median, 2.0);
    }
}
