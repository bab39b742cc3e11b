//! One run of a job: the `before` hook, the operation as a child `ibars` process (with its
//! timeout, and stopped cleanly when the daemon shuts down; a backup's dump command is the
//! child's own, `backup --stdin-from-command`), then the `after` or `on_failure` hook. The outcome comes from the child's exit code and its final JSON summary.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use ibars_insight::record::{JobOutcome, Trigger};
use jiff::Timestamp;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::command::{self, ChildCommand};
use crate::config::Job;
use crate::hooks;

/// How long a child stopped with SIGTERM (timeout, shutdown) gets to leave the repository
/// consistent before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(60);

/// A hook runs at most this long when the job sets no timeout.
const HOOK_TIMEOUT: Duration = Duration::from_secs(3600);

/// Output kept of a child: the end of its standard output (its summary is the last JSON
/// value there) and of its standard error.
const STDOUT_KEPT: usize = 256 * 1024;
const STDERR_KEPT: usize = 8 * 1024;

/// What is asked of one run.
#[derive(Debug, Clone)]
pub struct Request {
    pub job: Job,
    pub trigger: Trigger,
    pub due: Option<Timestamp>,
    pub attempt: u32,
    pub missed: u32,
    /// Why the RPO planner started it.
    pub reason: Option<String>,
    /// The `ibars` binary and the config file the child reads its repository from.
    pub exe: PathBuf,
    pub config_file: PathBuf,
}

/// How a run went: what the API shows, the metrics export and the history record keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub started: Timestamp,
    pub ended: Timestamp,
    /// schedule, catch_up, retry or manual.
    #[schema(value_type = String)]
    pub trigger: Trigger,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Timestamp>,
    pub attempt: u32,
    #[serde(default)]
    pub missed: u32,
    /// ok, partial, anomaly, failed, skipped, timed_out or interrupted.
    #[schema(value_type = String)]
    pub outcome: JobOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it failed, what a hook said, or why the RPO planner ran or skipped it; one
    /// paragraph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The operation's JSON summary (the last JSON value it printed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub summary: Option<serde_json::Value>,
}

impl Report {
    pub fn duration(&self) -> Duration {
        self.ended.duration_since(self.started).unsigned_abs()
    }

    /// The snapshot a backup made.
    pub fn snapshot(&self) -> Option<&str> {
        self.summary.as_ref()?.get("snapshot_id")?.as_str()
    }

    /// A number in the summary, by path (`summary.bytes_added`).
    pub fn summary_u64(&self, path: &[&str]) -> Option<u64> {
        let mut v = self.summary.as_ref()?;
        for k in path {
            v = v.get(k)?;
        }
        v.as_u64()
    }

    /// Files in a backup's snapshot.
    pub fn files(&self) -> Option<u64> {
        let parts = ["files_new", "files_changed", "files_unchanged"]
            .map(|k| self.summary_u64(&["summary", k]));
        parts
            .iter()
            .any(Option::is_some)
            .then(|| parts.iter().flatten().sum())
    }

    /// A backup's anomaly score.
    pub fn anomaly_score(&self) -> Option<f64> {
        self.summary
            .as_ref()?
            .get("anomaly")?
            .get("score")?
            .as_f64()
    }
}

/// The outcome an `ibars` exit code stands for (see `ibars --help`).
pub fn outcome_of(code: i32) -> JobOutcome {
    match code {
        0 => JobOutcome::Ok,
        3 => JobOutcome::Partial,
        4 => JobOutcome::Anomaly,
        130 => JobOutcome::Interrupted,
        _ => JobOutcome::Failed,
    }
}

/// The `IBARS_JOB_*` facts a hook gets.
fn facts(r: &Request, report: Option<&Report>) -> Vec<(String, String)> {
    let mut f = vec![
        ("IBARS_JOB_NAME".to_string(), r.job.name.clone()),
        (
            "IBARS_JOB_KIND".to_string(),
            r.job.action.kind().to_string(),
        ),
        ("IBARS_JOB_REPOSITORY".to_string(), r.job.repository.clone()),
        ("IBARS_JOB_TRIGGER".to_string(), r.trigger.to_string()),
        ("IBARS_JOB_ATTEMPT".to_string(), r.attempt.to_string()),
    ];
    if let Some(d) = r.due {
        f.push(("IBARS_JOB_DUE".to_string(), d.to_string()));
    }
    if let Some(rep) = report {
        f.push(("IBARS_JOB_OUTCOME".to_string(), rep.outcome.to_string()));
        if let Some(c) = rep.exit_code {
            f.push(("IBARS_JOB_EXIT_CODE".to_string(), c.to_string()));
        }
        if let Some(m) = &rep.message {
            f.push(("IBARS_JOB_ERROR".to_string(), m.clone()));
        }
        if let Some(s) = rep.snapshot() {
            f.push(("IBARS_JOB_SNAPSHOT".to_string(), s.to_string()));
        }
        f.push((
            "IBARS_JOB_DURATION".to_string(),
            rep.duration().as_secs().to_string(),
        ));
    }
    f
}

async fn hook(cmd: &str, facts: Vec<(String, String)>, timeout: Duration) -> Result<(), String> {
    let cmd_owned = cmd.to_string();
    let r = tokio::task::spawn_blocking(move || hooks::run(&cmd_owned, &facts, timeout)).await;
    match r {
        Ok(Ok(o)) if o.success() => Ok(()),
        Ok(Ok(o)) => Err(format!(
            "hook {cmd:?}: {}{}",
            o.describe(),
            tail_line(&o.output)
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("hook {cmd:?}: {e}")),
    }
}

/// `: ` and the last non-empty line of `text`, or nothing.
fn tail_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default()
}

/// Run `r` to its end. `on_spawn` gets the child's pid as soon as it runs (the daemon keeps
/// it, to find the run after a crash). When `stop` turns true the child is asked to stop
/// (SIGTERM: it leaves the repository consistent), and killed after [`STOP_GRACE`].
pub async fn execute(
    r: &Request,
    on_spawn: impl FnOnce(u32),
    mut stop: watch::Receiver<bool>,
) -> Report {
    let started = Timestamp::now();
    let hook_timeout = r.job.timeout.unwrap_or(HOOK_TIMEOUT);
    let mut report = Report {
        started,
        ended: started,
        trigger: r.trigger,
        due: r.due,
        attempt: r.attempt,
        missed: r.missed,
        outcome: JobOutcome::Ok,
        exit_code: None,
        message: None,
        summary: None,
    };
    if let Some(before) = &r.job.hooks.before {
        if let Err(e) = hook(before, facts(r, None), hook_timeout).await {
            report.outcome = JobOutcome::Skipped;
            report.message = Some(format!("skipped: the before {e}"));
        }
    }
    if report.outcome == JobOutcome::Ok {
        let cmd = command::for_job(&r.exe, &r.config_file, &r.job);
        tracing::info!(job = %r.job.name, "running {}", cmd.display());
        let child = run_child(&cmd, r.job.timeout, on_spawn, &mut stop);
        let c = child.await;
        report.exit_code = c.code;
        report.summary = c.summary;
        report.outcome = match (c.timed_out, c.stopped, c.code) {
            (true, _, _) => JobOutcome::TimedOut,
            (_, true, _) => JobOutcome::Interrupted,
            (_, _, Some(code)) => outcome_of(code),
            (_, _, None) => JobOutcome::Failed,
        };
        report.message = c.message;
    }
    let after = if report.outcome.succeeded() {
        r.job.hooks.after.as_deref()
    } else {
        r.job.hooks.on_failure.as_deref()
    };
    report.ended = Timestamp::now();
    if report.message.is_none() {
        report.message = r.reason.clone();
    }
    if let Some(h) = after {
        if let Err(e) = hook(h, facts(r, Some(&report)), hook_timeout).await {
            let m = report
                .message
                .take()
                .map(|m| format!("{m}; "))
                .unwrap_or_default();
            report.message = Some(format!("{m}the {e}"));
        }
    }
    report.ended = Timestamp::now();
    report
}

/// How a child process ended.
#[derive(Debug, Default)]
struct ChildEnd {
    code: Option<i32>,
    timed_out: bool,
    stopped: bool,
    message: Option<String>,
    summary: Option<serde_json::Value>,
}

async fn run_child(
    cmd: &ChildCommand,
    timeout: Option<Duration>,
    on_spawn: impl FnOnce(u32),
    stop: &mut watch::Receiver<bool>,
) -> ChildEnd {
    let mut c = cmd.to_tokio();
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            return ChildEnd {
                message: Some(format!("could not start {}: {e}", cmd.program.display())),
                ..ChildEnd::default()
            }
        }
    };
    let pid = child.id();
    if let Some(p) = pid {
        on_spawn(p);
    }
    let out = tokio::spawn(read_tail(child.stdout.take(), STDOUT_KEPT));
    let err = tokio::spawn(read_tail(child.stderr.take(), STDERR_KEPT));

    let mut end = ChildEnd::default();
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let status = tokio::select! {
        s = child.wait() => Some(s),
        _ = sleep_until(deadline) => { end.timed_out = true; None }
        _ = stop.wait_for(|s| *s) => { end.stopped = true; None }
    };
    let status = match status {
        Some(s) => s,
        None => terminate(&mut child, pid).await,
    };
    let stdout = out.await.unwrap_or_default();
    let stderr = err.await.unwrap_or_default();
    end.summary = last_json(&stdout).map(trim_summary);
    match status {
        Ok(s) => {
            end.code = s.code();
            if s.code().is_none() {
                end.message = Some(format!("the operation was killed ({s})"));
            }
        }
        Err(e) => end.message = Some(format!("waiting for the operation: {e}")),
    }
    let errors = error_lines(&stderr);
    if end.timed_out {
        end.message = Some(format!(
            "timed out after {:.0?}; stopped",
            timeout.unwrap_or_default()
        ));
    } else if end.stopped {
        end.message = Some("stopped by the daemon's shutdown".into());
    } else if end.code != Some(0) && !errors.is_empty() {
        end.message = Some(errors);
    }
    end
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// SIGTERM (ibars stops cleanly, exit 130, stopping a dump command it reads too), then
/// SIGKILL after [`STOP_GRACE`].
async fn terminate(
    child: &mut tokio::process::Child,
    pid: Option<u32>,
) -> std::io::Result<std::process::ExitStatus> {
    if let Some(p) = pid {
        let _ = kill(Pid::from_raw(p as i32), Signal::SIGTERM);
    }
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(s) => s,
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await
        }
    }
}

/// Read a pipe to its end, keeping the last `keep` bytes.
async fn read_tail<R: tokio::io::AsyncRead + Unpin>(r: Option<R>, keep: usize) -> String {
    let Some(mut r) = r else {
        return String::new();
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * keep {
                    kept.drain(..kept.len() - keep);
                }
            }
        }
    }
    if kept.len() > keep {
        kept.drain(..kept.len() - keep);
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// The last JSON value printed: a line starting with `{` from which the rest of the output
/// parses (one-line summaries after progress lines, and pretty-printed reports alike).
pub fn last_json(out: &str) -> Option<serde_json::Value> {
    let mut ends: Vec<usize> = out.match_indices('\n').map(|(i, _)| i + 1).collect();
    ends.insert(0, 0);
    for &start in ends.iter().rev() {
        let rest = &out[start..];
        if rest.starts_with('{') {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(rest) {
                return Some(v);
            }
        }
    }
    None
}

/// Paths that failed, kept with a run: the first few (the repository's history and the
/// command's own output have them all); the state keeps 50 runs per job.
const ERRORS_KEPT: usize = 20;

fn trim_summary(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(errors) = v.get_mut("errors").and_then(|e| e.as_array_mut()) {
        errors.truncate(ERRORS_KEPT);
    }
    v
}

/// The `error:` lines of an ibars child's standard error, else its last line.
fn error_lines(stderr: &str) -> String {
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(|l| l.trim_start_matches("error:").trim())
        .collect();
    if errors.is_empty() {
        tail_line(stderr).trim_start_matches(": ").to_string()
    } else {
        errors.join("; ")
    }
}

/// Run a short `ibars` command (recording a run, clearing locks) to its end, with `stdin`;
/// its standard output, or why it failed.
pub async fn call(cmd: &ChildCommand, stdin: Option<Vec<u8>>) -> Result<String, String> {
    use tokio::io::AsyncWriteExt;
    let mut c = cmd.to_tokio();
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", cmd.program.display()))?;
    if let (Some(data), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(&data)
            .await
            .map_err(|e| format!("writing to {}: {e}", cmd.display()))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("waiting for {}: {e}", cmd.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{} ({})",
            error_lines(&String::from_utf8_lossy(&out.stderr)),
            out.status
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_the_last_json_value() {
        let out = "{\"message_type\":\"status\",\"done\":1}\n{\"message_type\":\"summary\",\"snapshot_id\":\"ab\"}\n";
        assert_eq!(last_json(out).unwrap()["snapshot_id"], "ab");
        let pretty = "{\"p\":1}\n{\n  \"message_type\": \"prune\",\n  \"packs\": 3\n}\n";
        assert_eq!(last_json(pretty).unwrap()["packs"], 3);
        assert_eq!(last_json("no json\n"), None);
        let many: Vec<_> = (0..500).map(|i| serde_json::json!({"path": i})).collect();
        let s = trim_summary(serde_json::json!({"snapshot_id": "ab", "errors": many}));
        assert_eq!(s["errors"].as_array().unwrap().len(), ERRORS_KEPT);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(outcome_of(0), JobOutcome::Ok);
        assert_eq!(outcome_of(3), JobOutcome::Partial);
        assert_eq!(outcome_of(4), JobOutcome::Anomaly);
        assert_eq!(outcome_of(11), JobOutcome::Failed);
        assert_eq!(outcome_of(130), JobOutcome::Interrupted);
        assert_eq!(
            error_lines("warning: x\nerror: the repository is locked\n"),
            "the repository is locked"
        );
    }
}
