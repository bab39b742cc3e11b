//! History records: one per run of an operation, kept in the repository's `history/` for years
//! (they survive `forget` and `prune`). They are the only input the models get. The JSON format
//! is specified in docs/format.md ("history record").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The payload version written now. Version 1 is the older check-only record, which
/// [`Record::parse`] still reads.
pub const VERSION: u32 = 2;

/// A record that could not be read: `what` names it (e.g. `history/<id>`).
#[derive(Debug, thiserror::Error)]
#[error("corrupt history record {what}: {reason}")]
pub struct RecordError {
    pub what: String,
    pub reason: String,
}

/// What ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Backup,
    Restore,
    Check,
    Copy,
    Forget,
    Prune,
    Drill,
    /// An operator marked an anomaly a false alarm.
    Dismissal,
    /// A run of a daemon job: why it ran, how it ended (beside the operation's own record).
    Job,
    /// Calls to the daemon's API that changed something, and logins (a batch of entries).
    Audit,
}

impl RunKind {
    pub const ALL: [RunKind; 10] = [
        RunKind::Backup,
        RunKind::Restore,
        RunKind::Check,
        RunKind::Copy,
        RunKind::Forget,
        RunKind::Prune,
        RunKind::Drill,
        RunKind::Dismissal,
        RunKind::Job,
        RunKind::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Backup => "backup",
            RunKind::Restore => "restore",
            RunKind::Check => "check",
            RunKind::Copy => "copy",
            RunKind::Forget => "forget",
            RunKind::Prune => "prune",
            RunKind::Drill => "drill",
            RunKind::Dismissal => "dismissal",
            RunKind::Job => "job",
            RunKind::Audit => "audit",
        }
    }
}

impl std::str::FromStr for RunKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RunKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = RunKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown kind '{s}' (use {})", names.join(", "))
            })
    }
}

impl std::fmt::Display for RunKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunResult {
    /// Everything it set out to do.
    Ok,
    /// Done, with errors on some items (unreadable files, damage found by a check).
    Partial,
    /// It stopped; nothing was saved.
    Failed,
}

impl std::fmt::Display for RunResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunResult::Ok => "ok",
            RunResult::Partial => "partial",
            RunResult::Failed => "failed",
        })
    }
}

/// One run of an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub version: u32,
    pub kind: RunKind,
    /// When it ran. For a backup, the snapshot's time (which `backup --time` sets), so that
    /// replayed histories keep their own clock.
    pub time: jiff::Timestamp,
    pub host: String,
    pub duration_ms: u64,
    pub result: RunResult,
    /// Items that failed (files not read, damage found, ...).
    pub errors: u64,
    /// Why a failed run stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Files and bytes the run covered: backed up (in the snapshot), restored, copied, freed.
    pub files: u64,
    pub bytes: u64,
    /// Snapshots involved (hex ids): the one made or restored, those forgotten or copied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<String>,
    /// Paths the run was limited to: a restore's `--include` patterns (none: everything).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Further counts of the operation, e.g. `packs_deleted` for prune.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dismissal: Option<Dismissal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forget: Option<ForgetRun>,
}

impl Record {
    /// A record of `kind` with every count zero.
    pub fn new(kind: RunKind, time: jiff::Timestamp, host: impl Into<String>) -> Self {
        Self {
            version: VERSION,
            kind,
            time,
            host: host.into(),
            duration_ms: 0,
            result: RunResult::Ok,
            errors: 0,
            error: None,
            files: 0,
            bytes: 0,
            snapshots: vec![],
            paths: vec![],
            counts: BTreeMap::new(),
            backup: None,
            check: None,
            dismissal: None,
            job: None,
            audit: None,
            forget: None,
        }
    }

    /// Parse a record's payload (JSON). `what` names it in errors. Version 1 (check records
    /// written before other runs had records) is read as a check record.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Self, RecordError> {
        let err = |reason: String| RecordError {
            what: what.to_string(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| err(e.to_string()))?;
        let version = value
            .get("version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| err("no version".into()))?;
        let rec = match version {
            1 => {
                let v1: CheckRecordV1 =
                    serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
                v1.into_record()
            }
            2 => serde_json::from_value::<Record>(value).map_err(|e| err(e.to_string()))?,
            v => return Err(err(format!("unsupported version {v}"))),
        };
        rec.validate().map_err(err)?;
        Ok(rec)
    }

    /// Serialize (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("records serialize")
    }

    /// The parts a record of its kind must have.
    fn validate(&self) -> Result<(), String> {
        match self.kind {
            RunKind::Backup if self.backup.is_none() && self.result != RunResult::Failed => {
                Err("backup record without its backup part".into())
            }
            RunKind::Check if self.check.is_none() && self.result != RunResult::Failed => {
                Err("check record without its check part".into())
            }
            RunKind::Dismissal if self.dismissal.is_none() => {
                Err("dismissal record without its dismissal part".into())
            }
            RunKind::Job if self.job.is_none() => Err("job record without its job part".into()),
            RunKind::Audit if self.audit.as_ref().is_none_or(|a| a.entries.is_empty()) => {
                Err("audit record without entries".into())
            }
            _ => Ok(()),
        }
    }
}

/// What a backup did, and what it measured for the models.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRun {
    /// The snapshot's id, hex: the id it was saved under (later rewrites name it `original`).
    pub snapshot: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The source's paths (UTF-8, lossy). Host and paths identify the source.
    pub paths: Vec<String>,
    pub backup_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unchanged: u64,
    /// Files in the parent missing now (moves included).
    pub files_deleted: u64,
    /// Of the new files, those whose content vanished at another path (they are also counted
    /// in `files_new` and `files_deleted`).
    pub files_moved: u64,
    pub dirs_new: u64,
    pub dirs_changed: u64,
    pub dirs_unchanged: u64,
    pub dirs_deleted: u64,
    pub bytes_read: u64,
    pub bytes_total: u64,
    /// Size of the deleted files.
    pub bytes_deleted: u64,
    pub bytes_added: u64,
    pub bytes_stored: u64,
    /// Absent when the features were turned off for this backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Features>,
    /// The anomaly model's judgement, when features were measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
}

impl BackupRun {
    /// Files in the parent snapshot.
    pub fn files_before(&self) -> u64 {
        self.files_changed + self.files_unchanged + self.files_deleted
    }
}

/// A name (extension, file name, directory, format) with how often it occurred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count(pub String, pub u64);

/// What a backup measured inline, from bytes it read anyway (docs/insight.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    /// Windows of new content sampled, and how many passed the chi-square test for
    /// uniform bytes (looked random).
    pub windows: u64,
    pub windows_random: u64,
    /// New data bytes, and those zstd could not shrink (0 when compression is off).
    pub bytes_new: u64,
    pub bytes_incompressible: u64,
    /// Changed files that kept their size.
    pub same_size: u64,
    /// Changed files of several chunks where only the first chunk changed.
    pub head_chunk_only: u64,
    /// Mean, over changed files, of the share of their chunks that changed.
    pub changed_chunk_share: f64,
    pub suspicious: Suspicious,
    /// Extensions of new files, most frequent first (at most 64; "" for none).
    #[serde(default)]
    pub new_exts: Vec<Count>,
    /// Extensions of suspicious files, most frequent first (at most 8).
    #[serde(default)]
    pub suspicious_exts: Vec<Count>,
    /// Formats whose signature vanished (e.g. `pdf`), with the number of files.
    #[serde(default)]
    pub lost_formats: Vec<Count>,
    /// New file names that appeared in several directories that existed before (at most 3).
    #[serde(default)]
    pub repeated_names: Vec<Count>,
    /// Directories with the most suspicious files (at most 5).
    #[serde(default)]
    pub dirs: Vec<Count>,
    /// A few suspicious paths.
    #[serde(default)]
    pub examples: Vec<String>,
}

/// Files whose content looks like it was encrypted, by the first test they failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suspicious {
    /// The extension names a format with a signature, and the content no longer has it.
    pub lost_magic: u64,
    /// A changed file whose head looked structured before and random now.
    pub became_random: u64,
    /// Of those, files where only the head looks random (the rest as before).
    pub head_only: u64,
    /// A changed text or structured file with random-looking windows after its head.
    pub partly_random: u64,
    /// A new file whose content is random with no known format.
    pub new_random: u64,
}

impl Suspicious {
    /// Files suspicious for any reason (`head_only` is part of `became_random`).
    pub fn total(&self) -> u64 {
        self.lost_magic + self.became_random + self.partly_random + self.new_random
    }
}

/// The anomaly model's judgement of one backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub status: Status,
    /// 0 for nothing unusual; at least 1 is suspect.
    pub score: f64,
    /// Plain sentences, the strongest first.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// The directories most affected.
    #[serde(default)]
    pub dirs: Vec<String>,
    /// Earlier backups of the source the baseline was built from.
    pub baseline: u32,
}

/// Clean, still learning, or suspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Clean,
    Learning,
    Suspect,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Clean => "clean",
            Status::Learning => "learning",
            Status::Suspect => "suspect",
        })
    }
}

/// A check's scope and findings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckRun {
    pub read_data: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    pub packs_total: u64,
    pub packs_read: u64,
    pub bytes_read: u64,
    pub snapshots: u64,
    pub warnings: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub damaged_packs: Vec<String>,
    pub damaged_blobs: u64,
    pub affected_snapshots: u64,
    pub affected_paths: u64,
    /// The first errors (at most 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// One error a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: String,
    pub object: String,
    pub message: String,
}

/// An anomaly an operator called a false alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dismissal {
    /// The flagged snapshot, by the id its backup record names.
    pub snapshot: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub by: String,
}

/// The policy a `forget` applied (absent for one that removed snapshots by id only): what the
/// storage forecast applies to the backups to come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgetRun {
    pub policy: crate::retention::Policy,
    #[serde(default)]
    pub group_by: crate::retention::GroupBy,
}

/// A run of a daemon job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRun {
    /// The job's name in the daemon's config.
    pub name: String,
    /// What the job does: backup, check, forget, prune or copy.
    pub action: String,
    pub trigger: Trigger,
    /// The scheduled time this run stands for (none for a manual run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<jiff::Timestamp>,
    /// 1 for the first try of a due time, 2 for its first retry...
    pub attempt: u32,
    pub outcome: JobOutcome,
    /// The operation's exit code, when it ran to an end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Due times that passed without a run before this one (downtime, a long run).
    #[serde(default)]
    pub missed: u32,
}

/// Why a job ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Its schedule was due.
    Schedule,
    /// Due times passed while the daemon was down or the job ran; this run catches up.
    CatchUp,
    /// An earlier attempt failed.
    Retry,
    /// Somebody asked (`ibars jobs run`, the API).
    Manual,
    /// The RPO planner of a `schedule = "auto"` job decided (its reason is kept with the run).
    Auto,
}

/// How a job run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobOutcome {
    Ok,
    /// Done with errors on some items (exit code 3).
    Partial,
    /// A backup was saved and looks like ransomware or mass deletion (exit code 4).
    Anomaly,
    Failed,
    /// The `before` hook failed, so the operation did not run.
    Skipped,
    /// Stopped at the job's timeout.
    TimedOut,
    /// Stopped by the daemon's shutdown, or found unfinished after the daemon died.
    Interrupted,
}

impl JobOutcome {
    /// Whether the run did its work (a partial backup or one flagged as an anomaly did save a
    /// snapshot; the alert is separate).
    pub fn succeeded(self) -> bool {
        matches!(
            self,
            JobOutcome::Ok | JobOutcome::Partial | JobOutcome::Anomaly
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Ok => "ok",
            JobOutcome::Partial => "partial",
            JobOutcome::Anomaly => "anomaly",
            JobOutcome::Failed => "failed",
            JobOutcome::Skipped => "skipped",
            JobOutcome::TimedOut => "timed_out",
            JobOutcome::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for JobOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Trigger::Schedule => "schedule",
            Trigger::CatchUp => "catch_up",
            Trigger::Retry => "retry",
            Trigger::Manual => "manual",
            Trigger::Auto => "auto",
        })
    }
}

/// The check record of format version 1.
#[derive(Deserialize)]
struct CheckRecordV1 {
    time: jiff::Timestamp,
    host: String,
    duration_ms: u64,
    scope: ScopeV1,
    errors: u64,
    warnings: u64,
    #[serde(default)]
    damaged_packs: Vec<String>,
    #[serde(default)]
    damaged_blobs: u64,
    #[serde(default)]
    affected_snapshots: u64,
    #[serde(default)]
    affected_paths: u64,
    #[serde(default)]
    findings: Vec<Finding>,
}

#[derive(Deserialize)]
struct ScopeV1 {
    read_data: bool,
    #[serde(default)]
    subset: Option<String>,
    #[serde(default)]
    packs_total: u64,
    #[serde(default)]
    packs_read: u64,
    #[serde(default)]
    bytes_read: u64,
    #[serde(default)]
    snapshots: u64,
}

impl CheckRecordV1 {
    fn into_record(self) -> Record {
        // Read as the current version, so that it serializes as one.
        let mut r = Record::new(RunKind::Check, self.time, self.host);
        r.duration_ms = self.duration_ms;
        r.errors = self.errors;
        r.result = if self.errors > 0 {
            RunResult::Partial
        } else {
            RunResult::Ok
        };
        r.bytes = self.scope.bytes_read;
        r.check = Some(CheckRun {
            read_data: self.scope.read_data,
            subset: self.scope.subset,
            packs_total: self.scope.packs_total,
            packs_read: self.scope.packs_read,
            bytes_read: self.scope.bytes_read,
            snapshots: self.scope.snapshots,
            warnings: self.warnings,
            damaged_packs: self.damaged_packs,
            damaged_blobs: self.damaged_blobs,
            affected_snapshots: self.affected_snapshots,
            affected_paths: self.affected_paths,
            findings: self.findings,
        });
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup_record() -> Record {
        let mut r = Record::new(
            RunKind::Backup,
            "2026-11-03T02:00:00Z".parse().unwrap(),
            "h",
        );
        r.backup = Some(BackupRun {
            snapshot: "ab".repeat(32),
            paths: vec!["/srv".into()],
            backup_type: "incremental".into(),
            features: Some(Features {
                new_exts: vec![Count("pdf".into(), 3)],
                ..Default::default()
            }),
            ..Default::default()
        });
        r
    }

    #[test]
    fn round_trip() {
        let r = backup_record();
        assert_eq!(Record::parse(&r.to_bytes(), "x").unwrap(), r);
    }

    #[test]
    fn reads_version_1_check_records() {
        let v1 = br#"{"version":1,"time":"2026-11-21T01:32:47Z","host":"h","duration_ms":5,
            "scope":{"read_data":true,"subset":"auto/30d","packs_total":8,"packs_read":2,
            "bytes_read":100,"snapshots":3,"trees":4,"blobs":5},"errors":1,"warnings":0,
            "damaged_packs":["00"],"damaged_blobs":1,"affected_snapshots":1,"affected_paths":2,
            "findings":[{"kind":"pack_damaged","object":"pack 00","message":"bad"}]}"#;
        let r = Record::parse(v1, "history/x").unwrap();
        assert_eq!(Record::parse(&r.to_bytes(), "again").unwrap(), r);
        assert_eq!(r.kind, RunKind::Check);
        assert_eq!(r.result, RunResult::Partial);
        let c = r.check.unwrap();
        assert_eq!((c.packs_read, c.damaged_blobs), (2, 1));
        assert_eq!(c.findings[0].kind, "pack_damaged");
    }

    #[test]
    fn bad_records_name_themselves() {
        let good = backup_record().to_bytes();
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"[]".to_vec(),
            br#"{"version":3}"#.to_vec(),
            br#"{"version":2,"kind":"backup"}"#.to_vec(),
            String::from_utf8_lossy(&good)
                .replace("\"backup\":{", "\"bogus\":1,\"backup\":{")
                .into_bytes(),
            String::from_utf8_lossy(&good)
                .replace(",\"backup\":{", ",\"x\":{")
                .into_bytes(),
        ];
        for c in cases {
            let e = Record::parse(&c, "history/abc").unwrap_err();
            assert!(e.to_string().contains("history/abc"), "{e}");
        }
        // Every cut of a good record fails cleanly.
        for cut in 0..good.len() {
            assert!(Record::parse(&good[..cut], "x").is_err());
        }
    }
}

/// A batch of audit entries, as the daemon flushes them from its journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRun {
    pub entries: Vec<AuditEntry>,
}

/// One call to the daemon's API that changed something, or one login attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub time: jiff::Timestamp,
    /// Who: `user:NAME`, `token:NAME`, `socket:UID` (the local control socket), or for a
    /// refused call the name it claimed (`user:NAME?`) or `anonymous`.
    pub actor: String,
    /// What, as a verb on an object: `login`, `logout`, `job.run`, `restore.start`,
    /// `anomaly.dismiss`... For a call no handler named, `METHOD PATH`.
    pub action: String,
    /// What it acted on: a job, a snapshot, an operation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The `[[repository]]` it concerned, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// From where: the client's IP address and port, or `socket`.
    pub remote: String,
    /// The HTTP status of the answer.
    pub status: u16,
    pub result: AuditResult,
    /// Why it was refused or failed; never a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// How an audited call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditResult {
    Ok,
    /// Refused: not authenticated, not allowed, a bad CSRF token, rate-limited.
    Denied,
    /// Allowed, but it did not succeed.
    Failed,
}

impl AuditResult {
    /// The result an HTTP status stands for.
    pub fn of_status(status: u16) -> Self {
        match status {
            401 | 403 | 429 => AuditResult::Denied,
            s if s < 400 => AuditResult::Ok,
            _ => AuditResult::Failed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuditResult::Ok => "ok",
            AuditResult::Denied => "denied",
            AuditResult::Failed => "failed",
        }
    }
}
