//! Time series drawn from the history, for the dashboard's charts (and the forecasts that
//! will read the same series): one point per backup, and the repository's stored size over
//! time.

use serde::Serialize;

use crate::record::{Record, RunKind, RunResult, Status};

/// One backup, as its charts show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupPoint {
    pub time: jiff::Timestamp,
    pub snapshot: String,
    /// The source: host and paths.
    pub host: String,
    pub paths: Vec<String>,
    pub duration_ms: u64,
    /// Plaintext bytes new to the repository, and what they took in packs.
    pub bytes_added: u64,
    pub bytes_stored: u64,
    pub files_new: u64,
    pub files_changed: u64,
    pub files_deleted: u64,
    /// The anomaly score, when the backup was judged.
    pub score: Option<f64>,
    /// Judged suspect.
    pub flagged: bool,
}

/// Every saved backup in `records` (oldest first, as the history is read).
pub fn backups(records: &[Record]) -> Vec<BackupPoint> {
    records
        .iter()
        .filter(|r| r.kind == RunKind::Backup && r.result != RunResult::Failed)
        .filter_map(|r| {
            let b = r.backup.as_ref()?;
            Some(BackupPoint {
                time: r.time,
                snapshot: b.snapshot.clone(),
                host: r.host.clone(),
                paths: b.paths.clone(),
                duration_ms: r.duration_ms,
                bytes_added: b.bytes_added,
                bytes_stored: b.bytes_stored,
                files_new: b.files_new,
                files_changed: b.files_changed,
                files_deleted: b.files_deleted,
                score: b.verdict.as_ref().map(|v| v.score),
                flagged: b
                    .verdict
                    .as_ref()
                    .is_some_and(|v| v.status == Status::Suspect),
            })
        })
        .collect()
}

/// The repository's pack bytes over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SizePoint {
    pub time: jiff::Timestamp,
    pub bytes: u64,
}

/// What a run changed in the stored bytes: a backup adds what it stored, a copy into the
/// repository what it sent, a prune takes away the packs it deleted less what it wrote back
/// by repacking their live blobs.
fn delta(r: &Record) -> i128 {
    if r.result == RunResult::Failed {
        return 0;
    }
    match r.kind {
        RunKind::Backup => r.backup.as_ref().map_or(0, |b| i128::from(b.bytes_stored)),
        RunKind::Copy => i128::from(r.counts.get("bytes_stored").copied().unwrap_or(0)),
        RunKind::Prune => {
            i128::from(r.counts.get("bytes_written").copied().unwrap_or(0)) - i128::from(r.bytes)
        }
        _ => 0,
    }
}

/// The stored size after each run that changed it, ending with `now_bytes` at `now`: the
/// history replayed backwards from the size measured now, so the series ends where the
/// repository is, whatever happened before the history began. A run that wrote elsewhere
/// (a copy out) changes nothing here.
pub fn repository_size(records: &[Record], now: jiff::Timestamp, now_bytes: u64) -> Vec<SizePoint> {
    let mut out = vec![SizePoint {
        time: now,
        bytes: now_bytes,
    }];
    let mut size = i128::from(now_bytes);
    for r in records.iter().rev().filter(|r| r.time <= now) {
        let d = delta(r);
        if d == 0 {
            continue;
        }
        out.push(SizePoint {
            time: r.time,
            bytes: size.max(0) as u64,
        });
        size -= d;
    }
    out.reverse();
    out
}

/// The value of the count `name` in every record that has it (such as `fs_free`, the free
/// bytes of a local repository's file system when the run ended), oldest first.
pub fn counted(records: &[Record], name: &str) -> Vec<SizePoint> {
    records
        .iter()
        .filter_map(|r| {
            Some(SizePoint {
                time: r.time,
                bytes: *r.counts.get(name)?,
            })
        })
        .collect()
}

const DAY: i64 = 86_400;

/// The UTC day (days since the epoch) of `t`.
fn day_of(t: jiff::Timestamp) -> i64 {
    t.as_second().div_euclid(DAY)
}

/// A daily series: the start of its first day, and one value per day.
#[derive(Debug, Clone, PartialEq)]
pub struct Daily {
    pub first_day: jiff::Timestamp,
    pub values: Vec<f64>,
}

/// The size at the end of each UTC day from the first point's day to `end`'s day, the last
/// value carried over days without a change. Empty without points.
pub fn daily_size(points: &[SizePoint], end: jiff::Timestamp) -> Daily {
    let (Some(first), last_day) = (points.first(), day_of(end)) else {
        return Daily {
            first_day: end,
            values: vec![],
        };
    };
    let first_day = day_of(first.time);
    let mut values = Vec::new();
    let mut i = 0;
    let mut current = first.bytes as f64;
    for d in first_day..=last_day {
        while i < points.len() && day_of(points[i].time) <= d {
            current = points[i].bytes as f64;
            i += 1;
        }
        values.push(current);
    }
    Daily {
        first_day: jiff::Timestamp::from_second(first_day * DAY).unwrap_or(end),
        values,
    }
}

/// Bytes added per UTC day by the backups of one source, from its first backup's day to
/// `end`'s day (zero on days without one).
pub fn daily_added(backups: &[&BackupPoint], end: jiff::Timestamp) -> Daily {
    let Some(first) = backups.first() else {
        return Daily {
            first_day: end,
            values: vec![],
        };
    };
    let first_day = day_of(first.time);
    let days = (day_of(end) - first_day + 1).max(0) as usize;
    let mut values = vec![0.0; days];
    for b in backups {
        if let Some(v) = values.get_mut((day_of(b.time) - first_day).max(0) as usize) {
            *v += b.bytes_added as f64;
        }
    }
    Daily {
        first_day: jiff::Timestamp::from_second(first_day * DAY).unwrap_or(end),
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::BackupRun;

    fn at(h: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + h * 3600).unwrap()
    }

    fn backup(h: i64, stored: u64) -> Record {
        let mut r = Record::new(RunKind::Backup, at(h), "h");
        r.backup = Some(BackupRun {
            snapshot: format!("s{h}"),
            bytes_stored: stored,
            bytes_added: stored * 2,
            ..BackupRun::default()
        });
        r
    }

    #[test]
    fn the_size_series_replays_the_history_back_from_now() {
        let mut prune = Record::new(RunKind::Prune, at(3), "h");
        prune.bytes = 80;
        prune.counts.insert("bytes_written".into(), 30);
        let mut failed = backup(4, 999);
        failed.result = RunResult::Failed;
        let recs = vec![backup(1, 100), backup(2, 200), prune, failed, backup(5, 10)];
        let s = repository_size(&recs, at(6), 1000);
        let got: Vec<(jiff::Timestamp, u64)> = s.iter().map(|p| (p.time, p.bytes)).collect();
        // After the last backup 1000; before it 990; the prune freed 50: 1040 before it.
        assert_eq!(
            got,
            [
                (at(1), 840),
                (at(2), 1040),
                (at(3), 990),
                (at(5), 1000),
                (at(6), 1000)
            ]
        );
        let b = backups(&recs);
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].bytes_added, b[0].flagged), (200, false));
        // Hours 1 to 6 fall on one day: its end holds the last size.
        let d = daily_size(&s, at(50));
        assert_eq!(d.values, vec![1000.0, 1000.0, 1000.0]);
        let refs: Vec<&BackupPoint> = b.iter().collect();
        let a = daily_added(&refs, at(30));
        assert_eq!(a.values, vec![200.0 + 400.0 + 20.0, 0.0]);
    }
}
