//! Anomaly scoring: each backup is judged against the earlier backups of its own source.
//!
//! Three signals, each compared with a threshold that is the largest of a fixed floor, the
//! baseline's median plus six robust deviations, and 1.5 times the largest value the baseline
//! has seen (so that an event the operator dismissed, or a source that is busy by nature,
//! raises its own bar):
//!
//! - **suspicious files**: changed or new files whose content looks encrypted (see
//!   [`crate::record::Suspicious`]), in this backup and summed over the last three against 1.5 times the bar (a slow
//!   attack);
//! - **repeated new names**: one new file name in many directories that existed before
//!   (ransom notes);
//! - **net deletion**: files deleted and not replaced.
//!
//! The score is the largest signal-to-threshold ratio, or the root of the summed squares of
//! the ratios of at least 0.5 when that is larger; at least 1 is suspect. Until the source has
//! [`Params::learning`] earlier backups with features, the verdict is `learning`. The numbers
//! are in docs/insight.md, with their measured accuracy.

pub mod baseline;
mod explain;

use std::collections::HashSet;

use crate::record::{BackupRun, Features, Record, Status, Verdict};
use baseline::{baseline, Robust};

/// The model's settings.
#[derive(Debug, Clone)]
pub struct Params {
    /// Earlier backups with features a source needs before verdicts are given.
    pub learning: usize,
    /// Newest earlier backups the baseline is built from.
    pub window: usize,
    /// Robust deviations above the median a signal must reach.
    pub deviations: f64,
    /// How far above the largest baseline value a signal must be.
    pub above_max: f64,
    /// Suspicious files: at least this many, and this share of the files.
    pub suspicious_min: f64,
    pub suspicious_share: f64,
    /// Repeated new names: in at least this many directories, and this share of them.
    pub notes_min: f64,
    pub notes_share: f64,
    /// Net deletion: at least this many files, and this share of them.
    pub deleted_min: f64,
    pub deleted_share: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            learning: 5,
            window: 60,
            deviations: 6.0,
            above_max: 1.5,
            suspicious_min: 5.0,
            suspicious_share: 0.005,
            notes_min: 8.0,
            notes_share: 0.1,
            deleted_min: 20.0,
            deleted_share: 0.2,
        }
    }
}

/// One signal of one backup against its threshold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signal {
    pub value: f64,
    pub threshold: f64,
}

impl Signal {
    pub(crate) fn ratio(&self) -> f64 {
        if self.threshold > 0.0 {
            self.value / self.threshold
        } else {
            0.0
        }
    }
}

/// The signals of a backup, as measured.
#[derive(Debug, Clone, Copy, Default)]
struct Values {
    suspicious: f64,
    notes: f64,
    deleted: f64,
}

fn values(run: &BackupRun, f: &Features) -> Values {
    Values {
        suspicious: f.suspicious.total() as f64,
        notes: f.repeated_names.first().map_or(0.0, |c| c.1 as f64),
        deleted: run.files_deleted.saturating_sub(run.files_new) as f64,
    }
}

/// The evidence that made a verdict, for its explanation.
pub(crate) struct Evidence<'a> {
    pub run: &'a BackupRun,
    pub features: &'a Features,
    pub suspicious: Signal,
    pub recent: Signal,
    pub notes: Signal,
    pub deleted: Signal,
    /// Extensions of new files seen in the baseline.
    pub known_exts: HashSet<&'a str>,
    /// The baseline's median share of read bytes that were new.
    pub usual_new_share: Option<f64>,
}

/// Judge `current` (a backup record with features and no verdict) against `history` (any
/// records of the repository, in any order). Returns `None` when the backup measured no
/// features.
pub fn judge(history: &[Record], current: &Record, p: &Params) -> Option<Verdict> {
    let run = current.backup.as_ref()?;
    let f = run.features.as_ref()?;
    let base = baseline(history, current, p.window);
    let past: Vec<Values> = base
        .iter()
        .filter_map(|b| b.features.as_ref().map(|f| values(b, f)))
        .collect();
    let now = values(run, f);
    let files = run.files_before().max(1) as f64;
    let dirs = (run.dirs_changed + run.dirs_unchanged + run.dirs_deleted).max(1) as f64;
    let threshold = |pick: fn(&Values) -> f64, min: f64, share: f64, scale: f64| {
        let r = Robust::of(past.iter().map(pick));
        (min.max(share * scale))
            .max(r.median + p.deviations * r.sigma())
            .max(p.above_max * r.max)
    };
    let suspicious = Signal {
        value: now.suspicious,
        threshold: threshold(
            |v| v.suspicious,
            p.suspicious_min,
            p.suspicious_share,
            files,
        ),
    };
    // A slow attack: the last three backups together, against 1.5 times the single bar.
    let recent_sum = now.suspicious + past.iter().rev().take(2).map(|v| v.suspicious).sum::<f64>();
    let recent = Signal {
        value: recent_sum,
        threshold: 1.5 * suspicious.threshold,
    };
    let notes = Signal {
        value: now.notes,
        threshold: threshold(|v| v.notes, p.notes_min, p.notes_share, dirs),
    };
    let deleted = Signal {
        value: now.deleted,
        threshold: threshold(|v| v.deleted, p.deleted_min, p.deleted_share, files),
    };
    // The recent sum includes this backup, so it and the single signal count as one.
    let ratios = [
        suspicious.ratio().max(recent.ratio()),
        notes.ratio(),
        deleted.ratio(),
    ];
    let max = ratios.iter().copied().fold(0.0, f64::max);
    let combined = ratios
        .iter()
        .filter(|r| **r >= 0.5)
        .map(|r| r * r)
        .sum::<f64>()
        .sqrt();
    let score = max.max(combined);
    let learning = base.len() < p.learning;
    let status = if learning {
        Status::Learning
    } else if score >= 1.0 {
        Status::Suspect
    } else {
        Status::Clean
    };
    let evidence = Evidence {
        run,
        features: f,
        suspicious,
        recent,
        notes,
        deleted,
        known_exts: base
            .iter()
            .filter_map(|b| b.features.as_ref())
            .flat_map(|f| f.new_exts.iter().map(|c| c.0.as_str()))
            .collect(),
        usual_new_share: (!base.is_empty()).then(|| {
            Robust::of(
                base.iter()
                    .filter(|b| b.bytes_read > 0)
                    .map(|b| b.bytes_added as f64 / b.bytes_read as f64),
            )
            .median
        }),
    };
    let reasons = if score >= 1.0 {
        explain::reasons(&evidence)
    } else {
        vec![]
    };
    Some(Verdict {
        status,
        score: (score * 1000.0).round() / 1000.0,
        reasons,
        dirs: f.dirs.iter().map(|c| c.0.clone()).collect(),
        baseline: base.len() as u32,
    })
}

#[cfg(test)]
mod tests;
