//! Run history: one sealed record per run in `history/`, written by every operation and read
//! by the models (`ibars-insight`). Records outlive `forget` and `prune`: nothing removes them.

use std::time::Instant;

pub use ibars_insight::record::{Record, RunKind, RunResult};

use crate::backend::FileKind;
use crate::error::{Error, Result};
use crate::repo::{hostname, parallel_map, Repository};
use crate::sealed::ObjectKind;

/// Seal and store a record; returns its name.
pub fn save(repo: &Repository, rec: &Record) -> Result<String> {
    let id = repo.save_sealed(
        FileKind::History,
        ObjectKind::HistoryRecord,
        &rec.to_bytes(),
        true,
    )?;
    Ok(hex::encode(id))
}

/// Store a record, warning instead of failing: the run it describes has already happened, and
/// its own result matters more than its record.
pub fn save_or_warn(repo: &Repository, rec: &Record) -> Option<String> {
    match save(repo, rec) {
        Ok(name) => Some(name),
        Err(e) => {
            tracing::warn!("could not save the {} record: {e}", rec.kind);
            None
        }
    }
}

/// One record, by name.
pub fn load(repo: &Repository, name: &str) -> Result<Record> {
    let what = format!("history/{name}");
    let payload = repo.load_sealed(FileKind::History, ObjectKind::HistoryRecord, name)?;
    Record::parse(&payload, &what).map_err(|e| Error::corrupt(e.what, e.reason))
}

/// The whole history as read: records oldest first, and those that could not be read.
#[derive(Debug, Default)]
pub struct History {
    pub records: Vec<(String, Record)>,
    /// Unreadable records (corrupt, foreign, of an unknown version), each with its error.
    pub unreadable: Vec<(String, Error)>,
}

/// Read every record. One that cannot be read is reported in `unreadable` and never hides
/// the others; only a failure to list `history/` is an error.
pub fn load_all(repo: &Repository) -> Result<History> {
    let names = repo.backend().list(FileKind::History)?;
    let loaded = parallel_map(&names, 8, |e| Ok((e.name.clone(), load(repo, &e.name))))?;
    let mut h = History::default();
    for (name, r) in loaded {
        match r {
            Ok(rec) => h.records.push((name, rec)),
            // Removed between listing and reading: not part of the history any more.
            Err(e) if e.is_not_found() => {}
            Err(e) => h.unreadable.push((name, e)),
        }
    }
    h.records
        .sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
    Ok(h)
}

/// Times a run, then turns its outcome into a record.
pub struct Run {
    kind: RunKind,
    time: jiff::Timestamp,
    clock: Instant,
}

impl Run {
    /// A run of `kind` starting now.
    pub fn start(kind: RunKind) -> Self {
        Self {
            kind,
            time: jiff::Timestamp::now(),
            clock: Instant::now(),
        }
    }

    /// The record of a run that ended with `outcome`; `fill` adds what a successful run did.
    pub fn record<T>(&self, outcome: &Result<T>, fill: impl FnOnce(&T, &mut Record)) -> Record {
        let mut rec = Record::new(self.kind, self.time, hostname());
        rec.duration_ms = self.clock.elapsed().as_millis() as u64;
        match outcome {
            Ok(v) => fill(v, &mut rec),
            Err(e) => {
                rec.result = RunResult::Failed;
                rec.error = Some(e.to_string());
            }
        }
        rec
    }

    /// Record the outcome in the repository (warning on failure) and pass it on.
    pub fn finish<T>(
        self,
        repo: &Repository,
        outcome: Result<T>,
        fill: impl FnOnce(&T, &mut Record),
    ) -> Result<T> {
        if recorded(&outcome) {
            let mut rec = self.record(&outcome, fill);
            // The free-space forecast reads the disk's free bytes from the history.
            if let Some(disk) = repo.backend().disk_space() {
                rec.counts.insert("fs_free".into(), disk.free);
            }
            save_or_warn(repo, &rec);
        }
        outcome
    }

    /// As [`Run::finish`] for a run that records its own success: only a failure is recorded.
    pub fn finish_failed<T>(self, repo: &Repository, outcome: Result<T>) -> Result<T> {
        if outcome.is_err() && recorded(&outcome) {
            save_or_warn(repo, &self.record(&outcome, |_, _| {}));
        }
        outcome
    }
}

/// Whether an outcome gets a record: an interrupted run is the user's choice, and a locked
/// repository did not start.
fn recorded<T>(outcome: &Result<T>) -> bool {
    !matches!(outcome, Err(Error::Interrupted | Error::Locked(_)))
}
