//! Long operations started through the API: restores and checks, each a child `ibars --json`
//! process (as jobs are), and manual job runs. Each gets an id at once; its progress is read
//! from the child's JSON status lines, its result from its summary, and it can be cancelled
//! (SIGTERM: the child stops cleanly with exit code 130, the repository consistent).
//!
//! The last [`KEPT`] operations are kept in memory; the history records of the runs
//! themselves are what lasts.

use std::collections::VecDeque;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use crate::command::ChildCommand;

/// Operations kept for `GET /operations`.
pub const KEPT: usize = 100;

/// Progress as the child reports it.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Progress {
    /// 0 to 1.
    pub percent: f64,
    pub files_done: u64,
    pub total_files: u64,
    pub bytes_done: u64,
    pub total_bytes: u64,
    pub seconds_elapsed: u64,
}

/// One operation, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Operation {
    pub id: String,
    /// restore, check or job.
    pub kind: &'static str,
    pub repository: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// running, succeeded, failed or cancelled.
    pub state: &'static str,
    pub started: jiff::Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<jiff::Timestamp>,
    /// Who started it.
    pub by: String,
    pub progress: Progress,
    /// The child's summary (its last JSON value), once it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The child, while it runs.
    #[serde(skip)]
    pub pid: Option<u32>,
    #[serde(skip)]
    pub(crate) cancel_requested: bool,
}

impl Operation {
    pub fn new(kind: &'static str, repository: &str, by: &str) -> Self {
        let mut id = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        Operation {
            id: hex::encode(id),
            kind,
            repository: repository.into(),
            job: None,
            snapshot: None,
            target: None,
            state: "running",
            started: jiff::Timestamp::now(),
            ended: None,
            by: by.into(),
            progress: Progress::default(),
            result: None,
            error: None,
            pid: None,
            cancel_requested: false,
        }
    }
}

pub type Shared = Arc<Mutex<Operation>>;

fn guard(op: &Shared) -> std::sync::MutexGuard<'_, Operation> {
    op.lock().unwrap_or_else(|e| e.into_inner())
}

/// The operations table.
#[derive(Default)]
pub struct Operations {
    list: Mutex<VecDeque<Shared>>,
}

impl Operations {
    pub fn add(&self, op: Operation) -> Shared {
        let op = Arc::new(Mutex::new(op));
        let mut l = self.list.lock().unwrap_or_else(|e| e.into_inner());
        l.push_front(op.clone());
        // Forget the oldest finished ones beyond the limit; a running one is never dropped.
        while l.len() > KEPT {
            match l.iter().rposition(|o| guard(o).state != "running") {
                Some(i) => {
                    l.remove(i);
                }
                None => break,
            }
        }
        op
    }

    pub fn get(&self, id: &str) -> Option<Shared> {
        self.list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|o| guard(o).id == id)
            .cloned()
    }

    /// Newest first.
    pub fn all(&self) -> Vec<Shared> {
        self.list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// Ask a running operation's child to stop. False when it is not running.
pub fn cancel(op: &Shared) -> bool {
    let mut g = guard(op);
    if g.state != "running" {
        return false;
    }
    g.cancel_requested = true;
    if let Some(pid) = g.pid {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    true
}

/// Run `cmd` for `op` to its end: progress from its status lines, the result from its last
/// JSON value, the error from its standard error.
pub async fn run(op: Shared, cmd: ChildCommand) {
    let mut c = cmd.to_tokio();
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            let mut g = guard(&op);
            g.state = "failed";
            g.error = Some(format!("starting {}: {e}", cmd.program.display()));
            g.ended = Some(jiff::Timestamp::now());
            return;
        }
    };
    guard(&op).pid = child.id();
    let stderr = child.stderr.take();
    let err_task = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(mut s) = stderr {
            let _ = s.read_to_string(&mut text).await;
        }
        text
    });
    let mut last: Option<serde_json::Value> = None;
    if let Some(out) = child.stdout.take() {
        let mut lines = tokio::io::BufReader::new(out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v["message_type"] == "status" {
                let n = |k: &str| v[k].as_u64().unwrap_or(0);
                guard(&op).progress = Progress {
                    percent: v["percent_done"].as_f64().unwrap_or(0.0),
                    files_done: n("files_done"),
                    total_files: n("total_files"),
                    bytes_done: n("bytes_done"),
                    total_bytes: n("total_bytes"),
                    seconds_elapsed: n("seconds_elapsed"),
                };
            } else {
                last = Some(v);
            }
        }
    }
    let status = child.wait().await;
    let stderr = err_task.await.unwrap_or_default();
    let mut g = guard(&op);
    g.pid = None;
    g.ended = Some(jiff::Timestamp::now());
    let code = status.ok().and_then(|s| s.code());
    g.state = match code {
        Some(0) => "succeeded",
        Some(130) if g.cancel_requested => "cancelled",
        _ if g.cancel_requested => "cancelled",
        _ => "failed",
    };
    if g.state == "succeeded" {
        g.progress.percent = 1.0;
    } else {
        let msg = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .trim_start_matches("error: ")
            .to_string();
        g.error = Some(match code {
            Some(3) => format!("some files could not be restored or verified: {msg}"),
            Some(c) => format!("exit code {c}: {msg}"),
            None => format!("stopped by a signal: {msg}"),
        });
    }
    g.result = last;
}

/// Check that `target` lies within one of `roots` and return it as it will be used:
/// absolute, without `..`, and with the symbolic links of its existing part resolved, so
/// neither a `..` nor a link can lead out of the roots.
pub fn contained(target: &Path, roots: &[PathBuf]) -> Result<PathBuf, String> {
    if !target.is_absolute() {
        return Err(format!(
            "{}: the target must be an absolute path",
            target.display()
        ));
    }
    if target
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(format!(
            "{}: `..` and `.` are not allowed in the target",
            target.display()
        ));
    }
    // The longest part that exists, with its links resolved; the rest does not exist yet,
    // so it holds no link.
    let mut existing = target.to_path_buf();
    let mut rest = Vec::new();
    while std::fs::symlink_metadata(&existing).is_err() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut resolved = existing
        .canonicalize()
        .map_err(|e| format!("{}: {e}", existing.display()))?;
    for name in rest.iter().rev() {
        resolved.push(name);
    }
    for root in roots {
        if let Ok(r) = root.canonicalize() {
            if resolved.starts_with(&r) && resolved != r {
                return Ok(resolved);
            }
        }
    }
    let allowed: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    Err(format!(
        "{} is not inside an allowed restore root ({}); set [daemon] restore_roots",
        target.display(),
        allowed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_targets_cannot_escape_their_roots() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("restore");
        std::fs::create_dir_all(root.join("a")).unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let roots = vec![root.clone()];
        let canon = root.canonicalize().unwrap();
        assert_eq!(
            contained(&root.join("a/new/deeper"), &roots).unwrap(),
            canon.join("a/new/deeper")
        );
        assert_eq!(
            contained(&root.join("fresh"), &roots).unwrap(),
            canon.join("fresh")
        );
        for bad in [
            root.join("../outside"),
            root.join("a/../../outside"),
            root.join("link"),
            root.join("link/sub"),
            root.clone(),
            outside.clone(),
            PathBuf::from("relative/path"),
            PathBuf::from("/etc"),
        ] {
            assert!(
                contained(&bad, &roots).is_err(),
                "{} was let through",
                bad.display()
            );
        }
        assert!(contained(&root.join("a"), &[]).is_err());
    }
}
