//! Progress on the terminal (indicatif) or as JSON lines (`--json`).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ibars_core::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Counters shared by both renderings.
#[derive(Default)]
struct Counters {
    files: AtomicU64,
    bytes: AtomicU64,
    total_files: AtomicU64,
    total_bytes: AtomicU64,
}

/// The progress display of one command.
pub struct CliProgress {
    c: Arc<Counters>,
    bar: Option<ProgressBar>,
    json: bool,
    verb: &'static str,
    started: Instant,
    last_json: Mutex<Instant>,
}

impl CliProgress {
    /// A bar when stderr is a terminal (and not quiet), JSON lines with `json`, else silence.
    pub fn new(verb: &'static str, json: bool, quiet: bool) -> Self {
        let bar = (!json && !quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(4));
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.enable_steady_tick(Duration::from_millis(250));
            b
        });
        Self {
            c: Arc::default(),
            bar,
            json,
            verb,
            started: Instant::now(),
            last_json: Mutex::new(Instant::now()),
        }
    }

    fn json_line(&self, force: bool) {
        if !self.json {
            return;
        }
        let mut last = self.last_json.lock().unwrap_or_else(|p| p.into_inner());
        if !force && last.elapsed() < Duration::from_secs(1) {
            return;
        }
        *last = Instant::now();
        let (b, tb) = (
            self.c.bytes.load(Ordering::Relaxed),
            self.c.total_bytes.load(Ordering::Relaxed),
        );
        let line = serde_json::json!({
            "message_type": "status",
            "action": self.verb,
            "seconds_elapsed": self.started.elapsed().as_secs(),
            "percent_done": if tb > 0 { (b as f64 / tb as f64).min(1.0) } else { 0.0 },
            "files_done": self.c.files.load(Ordering::Relaxed),
            "bytes_done": b,
            "total_files": self.c.total_files.load(Ordering::Relaxed),
            "total_bytes": tb,
        });
        // Progress is best effort: a closed stdout must not stop the work.
        let _ = writeln!(std::io::stdout(), "{line}");
    }

    /// Clear the bar before the summary is printed.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Progress for CliProgress {
    fn set_total(&self, files: u64, bytes: u64) {
        self.c.total_files.store(files, Ordering::Relaxed);
        self.c.total_bytes.store(bytes, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.set_length(bytes);
        }
    }

    fn file_done(&self, _path: &Path, _bytes: u64) {
        let n = self.c.files.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(b) = &self.bar {
            if n.is_multiple_of(64) {
                b.set_message(format!("{n} files"));
            }
        }
        self.json_line(false);
    }

    fn bytes_done(&self, bytes: u64) {
        self.c.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
        // A large file takes long: its progress shows before it is done.
        self.json_line(false);
    }

    fn warn(&self, message: &str) {
        if self.json {
            eprintln!(
                "{}",
                serde_json::json!({"message_type": "warning", "message": message})
            );
        } else if let Some(b) = &self.bar {
            b.suspend(|| eprintln!("warning: {message}"));
        } else {
            eprintln!("warning: {message}");
        }
    }
}
