//! `--metrics-textfile PATH`: after a backup, check, forget, prune, copy or restore run from
//! cron, write its outcome in Prometheus's text format for node_exporter's textfile collector
//! (written under a new name and renamed into place, so a scrape never sees half a file). One
//! file holds one command's series; give each cron job its own file in the collector's
//! directory.

use std::path::Path;
use std::sync::Mutex;

use metrics::{gauge, with_local_recorder};
use metrics_exporter_prometheus::PrometheusBuilder;

/// Values a command adds to its file (`ibars_backup_bytes_added`...).
static NOTES: Mutex<Vec<(&'static str, f64)>> = Mutex::new(Vec::new());

/// Add a value to the textfile of this run.
pub fn note(name: &'static str, value: f64) {
    NOTES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((name, value));
}

/// The last success this file recorded, kept when this run failed.
fn previous_success(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find(|l| l.starts_with("ibars_last_success_timestamp_seconds"))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

/// Write the file for `command` on `repository`, which ended with `code` after `seconds`.
pub fn write(
    path: &Path,
    command: &str,
    repository: &str,
    code: u8,
    started: jiff::Timestamp,
    seconds: f64,
) -> std::io::Result<()> {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let ok = matches!(code, 0 | 3 | 4);
    let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    let last_success = if ok {
        Some(now)
    } else {
        previous_success(path)
    };
    let labels = [
        ("command", command.to_string()),
        ("repository", repository.to_string()),
    ];
    with_local_recorder(&recorder, || {
        gauge!("ibars_last_run_timestamp_seconds", &labels)
            .set(started.as_millisecond() as f64 / 1000.0);
        gauge!("ibars_last_run_duration_seconds", &labels).set(seconds);
        gauge!("ibars_last_exit_code", &labels).set(f64::from(code));
        gauge!("ibars_last_run_ok", &labels).set(if ok { 1.0 } else { 0.0 });
        if let Some(t) = last_success {
            gauge!("ibars_last_success_timestamp_seconds", &labels).set(t);
        }
        for (name, v) in NOTES.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            gauge!(*name, &labels).set(*v);
        }
    });
    let tmp = path.with_extension("prom.tmp");
    std::fs::write(&tmp, handle.render())?;
    std::fs::rename(&tmp, path)
}
