//! Prometheus metrics: gauges per job (label `job_name`: Prometheus sets `job` to the scrape
//! job itself), set when a run ends (and at start, from the kept
//! state), rendered on each scrape by `metrics-exporter-prometheus`. A scrape reads only
//! these values; it never touches a repository.

use std::sync::Arc;

use jiff::Timestamp;
use metrics::{describe_gauge, gauge, with_local_recorder, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::config::Job;
use crate::state::JobState;

/// The daemon's metric values.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn secs(t: Timestamp) -> f64 {
    t.as_millisecond() as f64 / 1000.0
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let m = Self {
            recorder: Arc::new(recorder),
            handle,
        };
        m.with(|| {
            describe_gauge!("ibars_job_info", "A configured job (value 1), with its kind, repository and schedule");
            describe_gauge!("ibars_job_last_run_timestamp_seconds", Unit::Seconds, "When the job's last run ended");
            describe_gauge!("ibars_job_last_success_timestamp_seconds", Unit::Seconds, "When the job last ended successfully (a partial or anomalous backup saved a snapshot, and counts)");
            describe_gauge!("ibars_job_last_duration_seconds", Unit::Seconds, "How long the job's last run took");
            describe_gauge!("ibars_job_last_run_ok", "1 when the job's last run succeeded, else 0");
            describe_gauge!("ibars_job_last_exit_code", "Exit code of the last run's operation (-1: it did not run to an end)");
            describe_gauge!("ibars_job_running", "1 while the job runs");
            describe_gauge!("ibars_job_next_run_timestamp_seconds", Unit::Seconds, "When the job is due next");
            describe_gauge!("ibars_job_max_age_seconds", Unit::Seconds, "The job's max_age (its RPO)");
            describe_gauge!("ibars_job_overdue", "1 when the last success is older than max_age");
            describe_gauge!("ibars_job_bytes_added", Unit::Bytes, "Bytes the job's last backup added to the repository");
            describe_gauge!("ibars_job_files", "Files in the snapshot of the job's last backup");
            describe_gauge!("ibars_job_anomaly_score", "Anomaly score of the job's last backup (at least 1 is suspect)");
            describe_gauge!("ibars_job_runs", "Runs of the job by outcome, over the kept recent runs");
            describe_gauge!("ibars_repository_size_bytes", Unit::Bytes, "Bytes the repository stores (packs, parity, index, snapshots, history)");
            describe_gauge!("ibars_repository_snapshots", "Snapshots in the repository");
            describe_gauge!("ibars_repository_packs", "Pack files in the repository");
            describe_gauge!("ibars_repository_scrub_coverage_ratio", "Share of pack bytes read back and verified in the last 30 days");
            describe_gauge!("ibars_repository_last_check_timestamp_seconds", Unit::Seconds, "When the repository was last checked");
            describe_gauge!("ibars_repository_last_check_ok", "1 when the last check found nothing wrong");
            describe_gauge!("ibars_job_missed", "Due times the job missed (the daemon was down, or a run was still going)");
        });
        m
    }

    fn with(&self, f: impl FnOnce()) {
        with_local_recorder(self.recorder.as_ref(), f);
    }

    /// The Prometheus text exposition of every value.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Set the series of one repository from its `ibars stats --json`.
    pub fn update_repository(&self, name: &str, s: &serde_json::Value) {
        let n = |k: &str| s.get(k).and_then(|v| v.as_f64());
        self.with(|| {
            let label = || ("repository", name.to_string());
            if let Some(v) = n("total_bytes") {
                gauge!("ibars_repository_size_bytes", &[label()]).set(v);
            }
            if let Some(v) = n("snapshots") {
                gauge!("ibars_repository_snapshots", &[label()]).set(v);
            }
            if let Some(v) = n("packs") {
                gauge!("ibars_repository_packs", &[label()]).set(v);
            }
            if let Some(v) = n("scrub_coverage") {
                gauge!("ibars_repository_scrub_coverage_ratio", &[label()]).set(v);
            }
            if let Some(c) = s.get("last_check") {
                if let Some(t) = c
                    .get("time")
                    .and_then(|t| t.as_str())
                    .and_then(|t| t.parse::<Timestamp>().ok())
                {
                    gauge!("ibars_repository_last_check_timestamp_seconds", &[label()])
                        .set(secs(t));
                }
                let ok = c.get("ok").and_then(|v| v.as_bool()) == Some(true);
                gauge!("ibars_repository_last_check_ok", &[label()]).set(if ok {
                    1.0
                } else {
                    0.0
                });
            }
        });
    }

    /// Set the series of one job from its state at `now`.
    pub fn update_job(
        &self,
        job: &Job,
        js: &JobState,
        next_run: Option<Timestamp>,
        now: Timestamp,
    ) {
        let name = job.name.clone();
        self.with(|| {
            gauge!("ibars_job_info",
                "job_name" => name.clone(),
                "kind" => job.action.kind(),
                "repository" => job.repository.clone(),
                "schedule" => job.schedule.expr().to_string())
            .set(1.0);
            gauge!("ibars_job_running", "job_name" => name.clone()).set(if js.running.is_some() {
                1.0
            } else {
                0.0
            });
            gauge!("ibars_job_missed", "job_name" => name.clone()).set(js.missed_total as f64);
            if let Some(t) = next_run {
                gauge!("ibars_job_next_run_timestamp_seconds", "job_name" => name.clone())
                    .set(secs(t));
            }
            if let Some(m) = job.max_age {
                gauge!("ibars_job_max_age_seconds", "job_name" => name.clone())
                    .set(m.as_secs_f64());
                gauge!("ibars_job_overdue", "job_name" => name.clone()).set(
                    if crate::jobs::overdue(job, js, now) {
                        1.0
                    } else {
                        0.0
                    },
                );
            }
            if let Some(t) = js.last_success {
                gauge!("ibars_job_last_success_timestamp_seconds", "job_name" => name.clone())
                    .set(secs(t));
            }
            let mut by_outcome = std::collections::BTreeMap::new();
            for r in &js.recent {
                *by_outcome.entry(r.outcome.as_str()).or_insert(0u32) += 1;
            }
            for (outcome, n) in by_outcome {
                gauge!("ibars_job_runs", "job_name" => name.clone(), "outcome" => outcome)
                    .set(f64::from(n));
            }
            let Some(last) = js.last_run() else {
                return;
            };
            gauge!("ibars_job_last_run_timestamp_seconds", "job_name" => name.clone())
                .set(secs(last.ended));
            gauge!("ibars_job_last_duration_seconds", "job_name" => name.clone())
                .set(last.duration().as_secs_f64());
            gauge!("ibars_job_last_run_ok", "job_name" => name.clone())
                .set(if last.outcome.succeeded() { 1.0 } else { 0.0 });
            gauge!("ibars_job_last_exit_code", "job_name" => name.clone())
                .set(f64::from(last.exit_code.unwrap_or(-1)));
            if let Some(b) = last.summary_u64(&["summary", "bytes_added"]) {
                gauge!("ibars_job_bytes_added", "job_name" => name.clone()).set(b as f64);
                let files = last.files().unwrap_or(0);
                gauge!("ibars_job_files", "job_name" => name.clone()).set(files as f64);
            }
            if let Some(s) = last.anomaly_score() {
                gauge!("ibars_job_anomaly_score", "job_name" => name.clone()).set(s);
            }
        });
    }
}
