//! The daemon's jobs and health: list, inspect, run now, history; and `/metrics`.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::oneshot;

use super::{noted, Api, ApiError, AuditNote};
use crate::auth::{require, Principal, Role};
use crate::config::Job;
use crate::daemon::{lock, Event, RunNow};
use crate::jobs;
use crate::run::Report;
use crate::state::{JobState, Running};

/// A job as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
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

/// The daemon's health: version, start time, jobs, running and overdue ones.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// ok, or stopping.
    pub status: &'static str,
    pub version: &'static str,
    pub started: Timestamp,
    pub jobs: usize,
    pub running: usize,
    pub overdue: usize,
}

/// The daemon's health.
#[utoipa::path(get, path = "/health", tag = "daemon",
    responses((status = 200, body = Health), (status = 401, body = ApiError)))]
pub async fn health(State(api): State<Api>) -> Json<Health> {
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
    Json(Health {
        status: if g.stopping { "stopping" } else { "ok" },
        version: env!("CARGO_PKG_VERSION"),
        started: g.started,
        jobs: g.config.jobs.len(),
        running,
        overdue,
    })
}

/// Every job with its state, last run and next run.
#[utoipa::path(get, path = "/jobs", tag = "jobs",
    responses((status = 200, body = [JobView]), (status = 401, body = ApiError)))]
pub async fn list(State(api): State<Api>, Extension(p): Extension<Principal>) -> Response {
    Json(views(&api, &p)).into_response()
}

/// The jobs `p` may see (those of its repositories).
pub(super) fn views(api: &Api, p: &Principal) -> Vec<JobView> {
    let g = lock(&api.shared);
    let now = Timestamp::now();
    let empty = JobState::default();
    g.config
        .jobs
        .iter()
        .filter(|j| p.may_use(&j.repository))
        .map(|j| view(j, g.state.jobs.get(&j.name).unwrap_or(&empty), now))
        .collect()
}

/// `f` of the job called `name`, or a 404 response (also for a job of a repository `p` may
/// not use).
fn with_job<T: Serialize>(
    api: &Api,
    p: &Principal,
    name: &str,
    f: impl FnOnce(&Job, &JobState) -> T,
) -> Response {
    let g = lock(&api.shared);
    let found = g
        .config
        .jobs
        .iter()
        .find(|j| j.name == name && p.may_use(&j.repository));
    let Some(job) = found else {
        return ApiError::not_found(format!("no job named {name:?}")).into_response();
    };
    let empty = JobState::default();
    Json(f(job, g.state.jobs.get(name).unwrap_or(&empty))).into_response()
}

/// One job.
#[utoipa::path(get, path = "/jobs/{name}", tag = "jobs",
    params(("name" = String, Path, description = "The job's name")),
    responses((status = 200, body = JobView), (status = 404, body = ApiError)))]
pub async fn one(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    with_job(&api, &p, &name, |j, s| view(j, s, Timestamp::now()))
}

/// A job's recent runs (up to 50), newest first.
#[utoipa::path(get, path = "/jobs/{name}/history", tag = "jobs",
    params(("name" = String, Path, description = "The job's name")),
    responses((status = 200, body = [Report]), (status = 404, body = ApiError)))]
pub async fn history(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    with_job(&api, &p, &name, |_, s| {
        s.recent.iter().rev().cloned().collect::<Vec<_>>()
    })
}

/// The answer to a started run.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Started {
    pub job: String,
    pub started: bool,
    /// Follow the run at `/operations/{id}`.
    pub operation: String,
}

/// Start a job now (operator, on the job's repository).
#[utoipa::path(post, path = "/jobs/{name}/run", tag = "jobs",
    params(("name" = String, Path, description = "The job's name")),
    responses((status = 202, description = "Started", body = Started),
        (status = 403, body = ApiError), (status = 404, body = ApiError),
        (status = 409, description = "It is running already", body = ApiError),
        (status = 503, description = "The daemon is stopping", body = ApiError)))]
pub async fn run_now(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    let repository = lock(&api.shared)
        .config
        .jobs
        .iter()
        .find(|j| j.name == name)
        .map(|j| j.repository.clone());
    let note = AuditNote {
        action: "job.run".into(),
        target: Some(name.clone()),
        repository: repository.clone(),
        ..AuditNote::default()
    };
    let r = match repository {
        None => ApiError::not_found(format!("no job named {name:?}")).into_response(),
        Some(repo) => match require(&p, Role::Operator, Some(&repo)) {
            Err(d) => ApiError::from(d).into_response(),
            Ok(()) => start(&api, &name, &p.name, &repo).await,
        },
    };
    noted(r, note)
}

/// Follow a job's run for its operation: its process while it runs, its outcome once it
/// ended. Polls the daemon's state twice a second, only while the run lasts.
async fn follow(api: Api, op: crate::operations::Shared, job: String) {
    let since = op.lock().unwrap_or_else(|e| e.into_inner()).started;
    let early = since - jiff::SignedDuration::from_secs(2);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let g = lock(&api.shared);
        let Some(js) = g.state.jobs.get(&job) else {
            continue;
        };
        if let Some(r) = &js.running {
            op.lock().unwrap_or_else(|e| e.into_inner()).pid = r.pid;
            continue;
        }
        let Some(rep) = js.recent.iter().rev().find(|r| r.started >= early) else {
            continue;
        };
        let mut o = op.lock().unwrap_or_else(|e| e.into_inner());
        o.pid = None;
        o.ended = Some(rep.ended);
        o.state = match rep.outcome {
            ibars_insight::record::JobOutcome::Interrupted if o.cancel_requested => "cancelled",
            x if x.succeeded() => "succeeded",
            _ => "failed",
        };
        if o.state == "succeeded" {
            o.progress.percent = 1.0;
        } else {
            o.error = rep
                .message
                .clone()
                .or(Some(rep.outcome.as_str().to_string()));
        }
        o.result = rep.summary.clone();
        return;
    }
}

async fn start(api: &Api, name: &str, by: &str, repo: &str) -> Response {
    let stopping = || ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping");
    let (reply, answer) = oneshot::channel();
    let event = Event::RunNow {
        job: name.to_string(),
        reply,
    };
    if api.tx.send(event).is_err() {
        return stopping().into_response();
    }
    match answer.await {
        Ok(RunNow::Started) => {
            let mut op = crate::operations::Operation::new("job", repo, by);
            op.job = Some(name.to_string());
            let op = api.ops.add(op);
            let id = op.lock().unwrap_or_else(|e| e.into_inner()).id.clone();
            tokio::spawn(follow(api.clone(), op, name.to_string()));
            (
                StatusCode::ACCEPTED,
                Json(Started {
                    job: name.to_string(),
                    started: true,
                    operation: id,
                }),
            )
                .into_response()
        }
        Ok(RunNow::AlreadyRunning) => ApiError::new(
            StatusCode::CONFLICT,
            format!("job {name:?} is running already"),
        )
        .into_response(),
        Ok(RunNow::Unknown) => {
            ApiError::not_found(format!("no job named {name:?}")).into_response()
        }
        Ok(RunNow::Stopping) | Err(_) => stopping().into_response(),
    }
}

/// The daemon's metrics in Prometheus's text format (viewer).
pub async fn metrics(State(api): State<Api>) -> Response {
    let text = lock(&api.shared).metrics.render();
    metrics_text(text)
}

pub(super) fn metrics_text(text: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
