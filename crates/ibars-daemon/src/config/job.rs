//! A `[[job]]` once checked: when it runs, how, and what it does.

use std::path::PathBuf;
use std::time::Duration;

use ibars_core::ops::check::Subset;
use ibars_core::ops::forget::policy::Policy;
use ibars_core::snapshot::BackupType;

use crate::auto::{AutoSchedule, Timing};
use crate::schedule::Retry;

/// One `[[job]]`, checked.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    /// The name of its `[[repository]]`.
    pub repository: String,
    /// A cron schedule, or `auto` (backup jobs with an `rpo`).
    pub schedule: Timing,
    /// Catch up once after downtime instead of skipping what was missed.
    pub run_missed: bool,
    pub timeout: Option<Duration>,
    pub retry: Retry,
    /// CPU priority (-20..=19) and I/O class (`idle`, `best-effort[:0-7]`, `realtime[:0-7]`).
    pub nice: Option<i32>,
    pub ionice: Option<String>,
    /// Bytes per second.
    pub limit_upload: Option<u64>,
    pub limit_download: Option<u64>,
    pub hooks: Hooks,
    /// A backup job's recovery point objective: alert when its last success is older.
    pub max_age: Option<Duration>,
    pub action: Action,
}

/// Shell commands run around a job, with its facts in `IBARS_JOB_*` variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// A failing `before` skips the run and reports it.
    pub before: Option<String>,
    pub after: Option<String>,
    pub on_failure: Option<String>,
}

/// What a job does.
#[derive(Debug, Clone)]
pub enum Action {
    Backup(BackupJob),
    Check {
        read_data: bool,
        subset: Subset,
    },
    Forget {
        policy: Policy,
        prune: bool,
        /// How long packs stay marked before a prune deletes them (`prune --grace`); the
        /// CLI's default (1 h) when unset. Zero deletes at once, under an exclusive lock.
        grace: Option<Duration>,
        /// Only snapshots with one of these tags (`--tag`), and none with one of these
        /// (`--exclude-tag`): a class's snapshots keep a retention of their own.
        only_tags: Vec<String>,
        exclude_tags: Vec<String>,
    },
    Prune {
        grace: Option<Duration>,
    },
    /// Copy every snapshot to the repository named `target`.
    Copy {
        target: String,
    },
}

impl Job {
    /// The automatic schedule's settings, when it has one.
    pub fn auto(&self) -> Option<&AutoSchedule> {
        match &self.schedule {
            Timing::Auto(a) => Some(a),
            Timing::Cron(_) => None,
        }
    }
}

impl Action {
    /// The kind as the config names it: backup, check, forget, prune or copy.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Backup(_) => "backup",
            Action::Check { .. } => "check",
            Action::Forget { .. } => "forget",
            Action::Prune { .. } => "prune",
            Action::Copy { .. } => "copy",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupJob {
    pub paths: Vec<PathBuf>,
    pub excludes: Vec<String>,
    pub exclude_if_present: Vec<String>,
    pub one_file_system: bool,
    pub host: Option<String>,
    pub tags: Vec<String>,
    pub backup_type: BackupType,
    /// A command whose standard output is backed up as `stdin_filename` (a database dump).
    pub stdin_command: Option<String>,
    pub stdin_filename: Option<String>,
    /// Only the data of this class (`backup --class`): a critical set on its own schedule.
    pub class: Option<ibars_insight::classify::Class>,
}
