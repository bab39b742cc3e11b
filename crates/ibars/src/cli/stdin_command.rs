//! `backup --stdin-from-command`: a command's standard output as the backed-up file. The
//! command's exit status is checked at the end of its output, before anything is committed: a
//! dump that fails or is cut short fails the backup, and no snapshot is saved.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How much of the command's standard error is kept for the message.
const STDERR_KEPT: usize = 4096;

/// The output of a running command, read to its end.
pub struct CommandReader {
    command: String,
    child: Child,
    out: ChildStdout,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
    ended: Arc<AtomicBool>,
}

impl CommandReader {
    /// Start `command` under `/bin/sh -c`, in a process group of its own, which is stopped
    /// (SIGTERM) when `cancel` is set.
    pub fn spawn(command: &str, cancel: &Arc<AtomicBool>) -> std::io::Result<Self> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let out = child.stdout.take().expect("stdout is piped");
        let mut err = child.stderr.take().expect("stderr is piped");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&stderr);
        let stderr_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut k = kept.lock().unwrap_or_else(|e| e.into_inner());
                k.extend_from_slice(&buf[..n]);
                if k.len() > 2 * STDERR_KEPT {
                    let cut = k.len() - STDERR_KEPT;
                    k.drain(..cut);
                }
            }
        });
        // A backup stopped while the command runs: stop the command too, or the read of its
        // output would wait for it.
        let ended = Arc::new(AtomicBool::new(false));
        let (watch_ended, watch_cancel) = (Arc::clone(&ended), Arc::clone(cancel));
        let pgid = Pid::from_raw(child.id() as i32);
        std::thread::spawn(move || {
            while !watch_ended.load(Ordering::Relaxed) {
                if watch_cancel.load(Ordering::Relaxed) {
                    let _ = killpg(pgid, Signal::SIGTERM);
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Ok(Self {
            command: command.to_string(),
            child,
            out,
            stderr,
            stderr_thread: Some(stderr_thread),
            ended,
        })
    }

    /// The command's output has ended: it must have exited with 0.
    fn finish(&mut self) -> std::io::Result<()> {
        let status = self.child.wait()?;
        self.ended.store(true, Ordering::Relaxed);
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        if status.success() {
            return Ok(());
        }
        let err = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&err[err.len().saturating_sub(STDERR_KEPT)..]);
        let text = text.trim();
        Err(std::io::Error::other(format!(
            "command {:?} failed ({status}){}{text}",
            self.command,
            if text.is_empty() { "" } else { ": " }
        )))
    }
}

impl Read for CommandReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.out.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.ended.load(Ordering::Relaxed) {
            self.finish()?;
        }
        Ok(n)
    }
}

impl Drop for CommandReader {
    /// A backup that failed before the end of the output stops the command.
    fn drop(&mut self) {
        if !self.ended.swap(true, Ordering::Relaxed) {
            let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
            let _ = self.child.wait();
        }
    }
}
