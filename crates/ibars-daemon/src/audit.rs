//! The audit log's journal: each entry is appended to `STATE_DIR/audit/REPOSITORY.jsonl` and
//! synced before the answer goes out, then moved in batches into that repository's history
//! (as `audit` records, by a child `ibars history --record`). A batch is marked moved only
//! once stored, so a crash or an unreachable repository delays entries and loses none; at
//! worst a batch is stored twice, which `ibars audit` shows as it is.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ibars_insight::record::AuditEntry;

/// The journal directory.
pub struct Journal {
    dir: PathBuf,
    /// Appends and the bookkeeping of moved batches exclude each other.
    lock: Mutex<()>,
}

/// A file name for a repository name: the name when it is plain, else its hex.
fn file_stem(repository: &str) -> String {
    let plain = !repository.is_empty()
        && !repository.starts_with('.')
        && repository
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if plain {
        repository.to_string()
    } else {
        format!("x-{}", hex::encode(repository))
    }
}

/// Entries waiting to be moved into a repository, and where they end in its journal.
pub struct Pending {
    pub repository: String,
    pub entries: Vec<AuditEntry>,
    end: u64,
}

impl Journal {
    pub fn new(state_dir: &Path) -> Self {
        Journal {
            dir: state_dir.join("audit"),
            lock: Mutex::new(()),
        }
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn paths(&self, repository: &str) -> (PathBuf, PathBuf) {
        let stem = file_stem(repository);
        (
            self.dir.join(format!("{stem}.jsonl")),
            self.dir.join(format!("{stem}.moved")),
        )
    }

    /// Append `entry` for `repository` and sync it to disk.
    pub fn append(&self, repository: &str, entry: &AuditEntry) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let _g = self.guard();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let (path, _) = self.paths(repository);
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)?;
        // A line cut by a crash is ended first, so that it spoils only itself.
        let len = f.metadata()?.len();
        let mut line = Vec::with_capacity(256);
        if len > 0 {
            let mut last = [0u8; 1];
            f.seek(std::io::SeekFrom::Start(len - 1))?;
            f.read_exact(&mut last)?;
            if last[0] != b'\n' {
                line.push(b'\n');
            }
        }
        serde_json::to_writer(&mut line, entry).expect("audit entries serialize");
        line.push(b'\n');
        f.write_all(&line)?;
        f.sync_data()
    }

    /// The entries not yet moved, per repository with a journal (unreadable lines skipped
    /// with a warning).
    pub fn pending(&self) -> Vec<Pending> {
        let _g = self.guard();
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        let mut out = vec![];
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".jsonl") else {
                continue;
            };
            let repository = match stem.strip_prefix("x-") {
                Some(h) => match hex::decode(h).ok().and_then(|b| String::from_utf8(b).ok()) {
                    Some(r) => r,
                    None => continue,
                },
                None => stem.to_string(),
            };
            let (path, moved) = self.paths(&repository);
            let start: u64 = std::fs::read_to_string(&moved)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let end = bytes.len() as u64;
            let Some(tail) = bytes.get(start as usize..) else {
                continue;
            };
            let mut entries = vec![];
            for line in tail.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                match serde_json::from_slice::<AuditEntry>(line) {
                    Ok(e) => entries.push(e),
                    Err(err) => {
                        tracing::warn!("{}: skipping a damaged line: {err}", path.display())
                    }
                }
            }
            if !entries.is_empty() {
                out.push(Pending {
                    repository,
                    entries,
                    end,
                });
            }
        }
        out.sort_by(|a, b| a.repository.cmp(&b.repository));
        out
    }

    /// The entries of `p` are stored in the repository: forget them. The journal is emptied
    /// when nothing was appended meanwhile.
    pub fn moved(&self, p: &Pending) -> std::io::Result<()> {
        let _g = self.guard();
        let (path, moved) = self.paths(&p.repository);
        let len = std::fs::metadata(&path)?.len();
        if len == p.end {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)?
                .set_len(0)?;
            return match std::fs::remove_file(&moved) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let tmp = moved.with_extension("moved.tmp");
        std::fs::write(&tmp, p.end.to_string())?;
        std::fs::rename(&tmp, &moved)
    }

    /// The latest `n` entries not yet moved, over all repositories, newest first.
    pub fn recent(&self, n: usize) -> Vec<(String, AuditEntry)> {
        let mut all: Vec<(String, AuditEntry)> = self
            .pending()
            .into_iter()
            .flat_map(|p| {
                let r = p.repository;
                p.entries.into_iter().map(move |e| (r.clone(), e))
            })
            .collect();
        all.sort_by_key(|e| std::cmp::Reverse(e.1.time));
        all.truncate(n);
        all
    }
}

/// Move what the journal holds into the repositories' history, one `audit` record per
/// repository, each by a child `ibars history --record` that opens the repository as the
/// jobs do. A repository that cannot take it keeps its entries for the next flush.
pub async fn flush(journal: &Journal, exe: &Path, config_file: &Path, host: &str) {
    for p in journal.pending() {
        let mut rec = ibars_insight::record::Record::new(
            ibars_insight::record::RunKind::Audit,
            p.entries[0].time,
            host,
        );
        rec.audit = Some(ibars_insight::record::AuditRun {
            entries: p.entries.clone(),
        });
        let cmd = crate::command::ibars(
            exe,
            config_file,
            &p.repository,
            vec!["--json".into(), "history".into(), "--record".into()],
        );
        match crate::run::call(&cmd, Some(rec.to_bytes())).await {
            Ok(_) => {
                if let Err(e) = journal.moved(&p) {
                    tracing::error!("audit journal of {}: {e}", p.repository);
                }
            }
            Err(e) => tracing::warn!(
                "audit: {} entries wait for repository {}: {e}",
                p.entries.len(),
                p.repository
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibars_insight::record::AuditResult;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            time: jiff::Timestamp::now(),
            actor: "user:ann".into(),
            action: action.into(),
            target: None,
            repository: None,
            remote: "127.0.0.1:5000".into(),
            status: 200,
            result: AuditResult::Ok,
            detail: None,
        }
    }

    #[test]
    fn entries_wait_until_moved_and_none_is_lost_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path());
        assert!(j.pending().is_empty());
        j.append("main", &entry("login")).unwrap();
        j.append("main", &entry("job.run")).unwrap();
        j.append("odd/name", &entry("login")).unwrap();
        let p = j.pending();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].repository, "main");
        assert_eq!(p[0].entries.len(), 2);
        assert_eq!(p[1].repository, "odd/name");
        // An entry appended after the batch was read stays pending.
        j.append("main", &entry("logout")).unwrap();
        j.moved(&p[0]).unwrap();
        let left = j.pending();
        assert_eq!(left[0].entries.len(), 1);
        assert_eq!(left[0].entries[0].action, "logout");
        j.moved(&left[0]).unwrap();
        j.moved(&left[1]).unwrap();
        assert!(j.pending().is_empty());
    }

    #[test]
    fn a_line_cut_by_a_crash_spoils_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path());
        j.append("main", &entry("a")).unwrap();
        let path = dir.path().join("audit/main.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"time\":\"2026-").unwrap();
        j.append("main", &entry("b")).unwrap();
        let p = j.pending();
        let actions: Vec<_> = p[0].entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["a", "b"]);
        assert_eq!(j.recent(1)[0].1.action, "b");
    }
}
