//! The control API, HTTP with JSON bodies, under `/api/v1/`. The daemon serves it on its
//! Unix socket (`ibars jobs` is its client); the TCP listener with TLS and access control
//! builds on the same router. `/metrics` is served on the socket and on `metrics_listen`.
//!
//! Routes:
//! - `GET /api/v1/health`: the daemon's version, uptime and job counts;
//! - `GET /api/v1/jobs`: every job with its state, last run and next run;
//! - `GET /api/v1/jobs/{name}`: one job;
//! - `POST /api/v1/jobs/{name}/run`: start it now (202; 409 while it runs; 404 unknown);
//! - `GET /api/v1/jobs/{name}/history`: its recent runs, newest first.
//!
//! Errors are `{"error": "..."}` with a 4xx or 5xx status.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::config::Job;
use crate::daemon::{lock, Event, RunNow, Shared};
use crate::jobs;
use crate::run::Report;
use crate::state::{JobState, Running};

#[derive(Clone)]
struct Api {
    shared: Shared,
    tx: mpsc::UnboundedSender<Event>,
}

/// The control API with `/metrics`.
pub(crate) fn router(shared: Shared, tx: mpsc::UnboundedSender<Event>) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/jobs", get(list))
        .route("/api/v1/jobs/{name}", get(one))
        .route("/api/v1/jobs/{name}/run", post(run_now))
        .route("/api/v1/jobs/{name}/history", get(history))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(Api { shared, tx })
}

/// `/metrics` alone, for the `metrics_listen` address.
pub(crate) fn metrics_router(shared: Shared) -> Router {
    let (tx, _) = mpsc::unbounded_channel();
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(Api { shared, tx })
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such resource")
}

/// A job as the API shows it.
#[derive(Serialize)]
pub struct JobView {
    pub name: String,
    pub kind: &'static str,
    pub repository: String,
    pub schedule: String,
    pub time_zone: String,
    /// idle, running or retrying (a retry is pending).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<Running>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
    /// The last success is older than `max_age`.
    pub overdue: bool,
    pub missed_total: u64,
}

fn view(job: &Job, js: &JobState, now: Timestamp) -> JobView {
    JobView {
        name: job.name.clone(),
        kind: job.action.kind(),
        repository: job.repository.clone(),
        schedule: job.schedule.expr().to_string(),
        time_zone: job.schedule.time_zone().to_string(),
        state: match (&js.running, js.retry_at) {
            (Some(_), _) => "running",
            (None, Some(_)) => "retrying",
            _ => "idle",
        },
        running: js.running.clone(),
        next_run: jobs::next_run(job, js, now),
        retry_at: js.retry_at,
        last_run: js.last_run().cloned(),
        last_success: js.last_success,
        max_age_seconds: job.max_age.map(|d| d.as_secs()),
        overdue: jobs::overdue(job, js, now),
        missed_total: js.missed_total,
    }
}

async fn health(State(api): State<Api>) -> Response {
    let g = lock(&api.shared);
    let now = Timestamp::now();
    let running = g
        .state
        .jobs
        .values()
        .filter(|j| j.running.is_some())
        .count();
    let overdue = g
        .config
        .jobs
        .iter()
        .filter(|j| {
            g.state
                .jobs
                .get(&j.name)
                .is_some_and(|s| jobs::overdue(j, s, now))
        })
        .count();
    Json(json!({
        "status": if g.stopping { "stopping" } else { "ok" },
        "version": env!("CARGO_PKG_VERSION"),
        "started": g.started,
        "jobs": g.config.jobs.len(),
        "running": running,
        "overdue": overdue,
    }))
    .into_response()
}

async fn list(State(api): State<Api>) -> Response {
    let g = lock(&api.shared);
    let now = Timestamp::now();
    let empty = JobState::default();
    let v: Vec<JobView> = g
        .config
        .jobs
        .iter()
        .map(|j| view(j, g.state.jobs.get(&j.name).unwrap_or(&empty), now))
        .collect();
    Json(v).into_response()
}

/// `f` of the job called `name`, or a 404 response.
fn with_job<T: Serialize>(api: &Api, name: &str, f: impl FnOnce(&Job, &JobState) -> T) -> Response {
    let g = lock(&api.shared);
    let Some(job) = g.config.jobs.iter().find(|j| j.name == name) else {
        return error(StatusCode::NOT_FOUND, format!("no job named {name:?}"));
    };
    let empty = JobState::default();
    Json(f(job, g.state.jobs.get(name).unwrap_or(&empty))).into_response()
}

async fn one(State(api): State<Api>, Path(name): Path<String>) -> Response {
    with_job(&api, &name, |j, s| view(j, s, Timestamp::now()))
}

async fn history(State(api): State<Api>, Path(name): Path<String>) -> Response {
    with_job(&api, &name, |_, s| {
        s.recent.iter().rev().cloned().collect::<Vec<_>>()
    })
}

async fn run_now(State(api): State<Api>, Path(name): Path<String>) -> Response {
    let (reply, answer) = oneshot::channel();
    if api
        .tx
        .send(Event::RunNow {
            job: name.clone(),
            reply,
        })
        .is_err()
    {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping");
    }
    match answer.await {
        Ok(RunNow::Started) => (
            StatusCode::ACCEPTED,
            Json(json!({ "job": name, "started": true })),
        )
            .into_response(),
        Ok(RunNow::AlreadyRunning) => error(
            StatusCode::CONFLICT,
            format!("job {name:?} is running already"),
        ),
        Ok(RunNow::Unknown) => error(StatusCode::NOT_FOUND, format!("no job named {name:?}")),
        Ok(RunNow::Stopping) | Err(_) => {
            error(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping")
        }
    }
}

async fn metrics(State(api): State<Api>) -> Response {
    let text = lock(&api.shared).metrics.render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
