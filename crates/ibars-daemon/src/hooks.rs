//! Job hooks: the `before`, `after` and `on_failure` shell commands of a job, run by `/bin/sh
//! -c` with the job's facts in `IBARS_JOB_*` environment variables. A hook runs in a process
//! group of its own, so a timeout stops everything it started; its output is kept, up to a
//! bound, for the run's report.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The most output kept of a hook (the end of it).
pub const OUTPUT_KEPT: usize = 8 * 1024;

/// How long, after the shell ended, what it left in the background may hold its output open.
const LINGER: Duration = Duration::from_secs(1);

/// How a hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOutcome {
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// It ran past its timeout and was killed with its process group.
    pub timed_out: bool,
    /// The end of its standard output and error, interleaved as they came.
    pub output: String,
    pub duration: Duration,
}

impl HookOutcome {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// One line for reports: "exit 3", "killed by signal 9", "timed out after 30s".
    pub fn describe(&self) -> String {
        match (self.timed_out, self.code, self.signal) {
            (true, _, _) => format!("timed out after {:.0?}", self.duration),
            (_, Some(c), _) => format!("exit {c}"),
            (_, None, Some(s)) => format!("killed by signal {s}"),
            _ => "ended without a status".into(),
        }
    }
}

/// A hook could not be started at all.
#[derive(Debug, thiserror::Error)]
#[error("hook {command:?} could not start: {source}")]
pub struct HookError {
    pub command: String,
    #[source]
    pub source: std::io::Error,
}

/// Run `command` with `facts` added to the environment, for at most `timeout`.
pub fn run(
    command: &str,
    facts: &[(String, String)],
    timeout: Duration,
) -> Result<HookOutcome, HookError> {
    let started = Instant::now();
    let err = |source| HookError {
        command: command.to_string(),
        source,
    };
    let (reader, writer) = std::io::pipe().map_err(err)?;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .envs(facts.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(writer.try_clone().map_err(err)?)
        .stderr(writer)
        .process_group(0)
        .spawn()
        .map_err(err)?;
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    // The output is read on a thread of its own, so that a chatty hook never blocks on a
    // full pipe while it is being waited for.
    let (out_tx, out_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = out_tx.send(keep_tail(reader));
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let (status, timed_out) = match rx.recv_timeout(timeout) {
        Ok(s) => (s, false),
        Err(_) => {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            (
                rx.recv()
                    .unwrap_or_else(|_| Err(std::io::Error::other("lost"))),
                true,
            )
        }
    };
    let _ = waiter.join();
    // The output ends when the last process holding the pipe does. What the hook left
    // running in the background gets a moment, then its process group is killed; a process
    // that left the group (setsid) is not waited for.
    let output = match out_rx.recv_timeout(LINGER) {
        Ok(o) => o,
        Err(_) => {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            out_rx.recv_timeout(LINGER).unwrap_or_else(|_| {
                "(output not collected: a process the hook started still holds it)".into()
            })
        }
    };
    let status = status.map_err(err)?;
    Ok(HookOutcome {
        code: status.code(),
        signal: status.signal(),
        timed_out,
        output,
        duration: started.elapsed(),
    })
}

/// Read `r` to its end, keeping the last [`OUTPUT_KEPT`] bytes, as text.
fn keep_tail(mut r: impl Read) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * OUTPUT_KEPT {
                    kept.drain(..kept.len() - OUTPUT_KEPT);
                }
            }
        }
    }
    if kept.len() > OUTPUT_KEPT {
        kept.drain(..kept.len() - OUTPUT_KEPT);
    }
    String::from_utf8_lossy(&kept).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Vec<(String, String)> {
        vec![
            ("IBARS_JOB_NAME".into(), "home".into()),
            ("IBARS_JOB_KIND".into(), "backup".into()),
        ]
    }

    #[test]
    fn a_hook_sees_the_facts_and_its_output_and_status_are_kept() {
        let o = run(
            "echo \"$IBARS_JOB_NAME/$IBARS_JOB_KIND\"; echo oops >&2; exit 3",
            &facts(),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(o.code, Some(3));
        assert!(!o.success());
        assert_eq!(o.describe(), "exit 3");
        assert_eq!(o.output, "home/backup\noops\n");
        assert!(run("true", &[], Duration::from_secs(30)).unwrap().success());
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("late");
        // The background child would create the marker after 2 s if it survived.
        let cmd = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let o = run(&cmd, &[], Duration::from_millis(300)).unwrap();
        assert!(o.timed_out && !o.success(), "{o:?}");
        assert!(o.describe().starts_with("timed out"), "{}", o.describe());
        assert!(o.duration < Duration::from_secs(10), "{:?}", o.duration);
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "the hook's own child was stopped too");
    }

    #[test]
    fn a_background_process_left_behind_does_not_hold_the_hook() {
        let t0 = Instant::now();
        let o = run("sleep 60 & echo started", &[], Duration::from_secs(30)).unwrap();
        assert!(o.success(), "{o:?}");
        assert_eq!(o.output, "started\n");
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    }

    #[test]
    fn only_the_end_of_a_long_output_is_kept() {
        let o = run("seq 1 100000", &[], Duration::from_secs(30)).unwrap();
        assert!(o.success());
        assert!(o.output.len() <= OUTPUT_KEPT);
        assert!(
            o.output.ends_with("99999\n100000\n"),
            "{}",
            &o.output[o.output.len() - 20..]
        );
    }
}
