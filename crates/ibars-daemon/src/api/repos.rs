//! Repositories: the list with their stats, the history, the charts' series, and anomaly
//! findings (list, dismiss).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ibars_insight::series::{self, BackupPoint, SizePoint};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{noted, with_repo, Api, ApiError, AuditNote};
use crate::auth::{Principal, Role};
use crate::daemon::lock;

/// A repository as listed: never its password or keys.
#[derive(Serialize, ToSchema)]
pub struct RepositoryView {
    pub name: String,
    /// A directory, or `s3:https://host/bucket/prefix`.
    pub location: String,
    pub append_only: bool,
    /// Its last `ibars stats` (size, packs, scrub coverage, last check), once measured.
    #[schema(value_type = Option<Object>)]
    pub stats: Option<serde_json::Value>,
}

/// The repositories this caller may see.
#[utoipa::path(get, path = "/repositories", tag = "repositories",
    responses((status = 200, body = [RepositoryView]), (status = 401, body = ApiError)))]
pub async fn list(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
) -> Json<Vec<RepositoryView>> {
    let g = lock(&api.shared);
    Json(
        g.config
            .repositories
            .iter()
            .filter(|r| p.may_use(&r.name))
            .map(|r| RepositoryView {
                name: r.name.clone(),
                location: r.location.clone(),
                append_only: r.append_only,
                stats: g.repo_stats.get(&r.name).cloned(),
            })
            .collect(),
    )
}

/// Which records.
#[derive(Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// backup, restore, check, copy, forget, prune, drill, dismissal, job or audit.
    pub kind: Option<String>,
    /// Only records of the last this many days.
    pub days: Option<u32>,
    /// At most this many, newest first (default 200, at most 5000).
    pub limit: Option<usize>,
}

/// The run history, newest first: every backup, restore, check, copy, forget, prune, job
/// run and audit batch, as kept in the repository.
#[utoipa::path(get, path = "/repositories/{repo}/history", tag = "repositories",
    params(("repo" = String, Path, description = "The repository's name"), HistoryQuery),
    responses((status = 200, body = [Object]), (status = 400, body = ApiError),
        (status = 404, body = ApiError)))]
pub async fn history(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path(repo): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let kind = match &q.kind {
        Some(k) => Some(
            k.parse::<ibars_insight::record::RunKind>()
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?,
        ),
        None => None,
    };
    let since = q
        .days
        .map(|d| jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * i64::from(d)));
    let v = with_repo(&api, &p, &repo, Role::Viewer, move |h| {
        let all = h.history()?;
        Ok(all
            .iter()
            .rev()
            .filter(|(_, r)| kind.is_none_or(|k| r.kind == k))
            .filter(|(_, r)| since.is_none_or(|t| r.time >= t))
            .take(q.limit.unwrap_or(200).clamp(1, 5000))
            .map(|(name, r)| {
                let mut v = serde_json::to_value(r).expect("records serialize");
                v["id"] = name.clone().into();
                v
            })
            .collect())
    })
    .await?;
    Ok(Json(v))
}

/// The charts' data.
#[derive(Serialize, ToSchema)]
pub struct Series {
    /// Every saved backup: bytes added, duration, files changed, anomaly score.
    #[schema(value_type = [Object])]
    pub backups: Vec<BackupPoint>,
    /// The stored size after each run that changed it, up to now.
    #[schema(value_type = [Object])]
    pub size: Vec<SizePoint>,
    /// The size forecast for the next 30 days, one point a day from tomorrow, with its 95%
    /// interval; absent with too little history (`forecast_error` says why).
    pub forecast: Option<SizeForecast>,
    pub forecast_error: Option<String>,
}

/// A size forecast: per day, the expected size and its interval.
#[derive(Serialize, ToSchema)]
pub struct SizeForecast {
    pub times: Vec<jiff::Timestamp>,
    pub point: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub level: f64,
}

/// Days the charts' size forecast looks ahead.
const FORECAST_DAYS: usize = 30;

/// The series the dashboard charts: one point per backup, and the repository's size over
/// time (the history replayed back from the size measured now).
#[utoipa::path(get, path = "/repositories/{repo}/series", tag = "repositories",
    params(("repo" = String, Path, description = "The repository's name")),
    responses((status = 200, body = Series), (status = 404, body = ApiError)))]
pub async fn chart_series(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path(repo): Path<String>,
) -> Result<Json<Series>, ApiError> {
    let measured = lock(&api.shared)
        .repo_stats
        .get(&repo)
        .and_then(|s| s.get("pack_bytes"))
        .and_then(|v| v.as_u64());
    let s = with_repo(&api, &p, &repo, Role::Viewer, move |h| {
        let all = h.history()?;
        let records: Vec<_> = all.iter().map(|(_, r)| r.clone()).collect();
        let now_bytes = match measured {
            Some(b) => b,
            None => h.repo.stored_packs()?.values().sum::<u64>(),
        };
        let now = jiff::Timestamp::now();
        let (daily, predicted) = ibars_insight::forecast::repository_size(
            &records,
            now,
            now_bytes,
            FORECAST_DAYS,
            jiff::tz::TimeZone::system(),
        );
        let (forecast, forecast_error) = match predicted {
            Ok(p) => {
                let day = jiff::SignedDuration::from_hours(24);
                let last = daily.first_day + day * (daily.values.len() as i32);
                let times = (0..p.point.len())
                    .map(|i| last + day * (i as i32) + jiff::SignedDuration::from_hours(23))
                    .collect();
                let f = SizeForecast {
                    times,
                    point: p.point,
                    lower: p.lower,
                    upper: p.upper,
                    level: p.level,
                };
                (Some(f), None)
            }
            Err(e) => (None, Some(e.to_string())),
        };
        Ok(Series {
            backups: series::backups(&records),
            size: series::repository_size(&records, now, now_bytes),
            forecast,
            forecast_error,
        })
    })
    .await?;
    Ok(Json(s))
}

/// An anomaly finding.
#[derive(Serialize, ToSchema)]
pub struct FindingView {
    pub snapshot: super::snapshots::SnapshotView,
    pub score: f64,
    /// Plain sentences, the strongest first.
    pub reasons: Vec<String>,
    /// The directories most affected.
    pub affected: Vec<String>,
    /// The last clean snapshot of the source before it: what to restore.
    pub clean_point: Option<String>,
    /// Set when an operator called it a false alarm.
    #[schema(value_type = Option<Object>)]
    pub dismissed: Option<ibars_core::snapshot::Dismissed>,
}

/// Which findings.
#[derive(Deserialize, IntoParams)]
pub struct FindingsQuery {
    /// Dismissed ones too.
    pub all: Option<bool>,
}

/// Anomaly findings (suspected ransomware, mass deletion), newest first.
#[utoipa::path(get, path = "/repositories/{repo}/anomalies", tag = "anomalies",
    params(("repo" = String, Path, description = "The repository's name"), FindingsQuery),
    responses((status = 200, body = [FindingView]), (status = 404, body = ApiError)))]
pub async fn anomalies(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path(repo): Path<String>,
    Query(q): Query<FindingsQuery>,
) -> Result<Json<Vec<FindingView>>, ApiError> {
    let all_too = q.all.unwrap_or(false);
    let v = with_repo(&api, &p, &repo, Role::Viewer, move |h| {
        let snaps = h.snapshots()?;
        let mut out: Vec<FindingView> = ibars_core::ops::anomaly::findings(&snaps)
            .into_iter()
            .filter(|f| all_too || f.snapshot.flagged())
            .filter_map(|f| {
                let a = f.snapshot.anomaly.as_ref()?;
                Some(FindingView {
                    snapshot: super::snapshots::view(&f.id, &f.snapshot),
                    score: a.verdict.score,
                    reasons: a.verdict.reasons.clone(),
                    affected: a.verdict.dirs.clone(),
                    clean_point: f.clean_point.map(|c| c.to_hex()),
                    dismissed: a.dismissed.clone(),
                })
            })
            .collect();
        out.sort_by_key(|f| std::cmp::Reverse(f.snapshot.time));
        Ok(out)
    })
    .await?;
    Ok(Json(v))
}

/// Why a finding is dismissed.
#[derive(Deserialize, ToSchema, Default)]
pub struct Dismissal {
    pub reason: Option<String>,
}

/// The snapshot after the dismissal (it is saved anew, carrying the dismissal).
#[derive(Serialize, ToSchema)]
pub struct Dismissed {
    pub dismissed: String,
    pub snapshot: String,
}

/// Call a finding a false alarm (operator). The snapshot is saved anew with the dismissal,
/// and the protection of its clean point lifts.
#[utoipa::path(post, path = "/repositories/{repo}/anomalies/{id}/dismiss", tag = "anomalies",
    params(("repo" = String, Path, description = "The repository's name"),
        ("id" = String, Path, description = "The flagged snapshot: an id or an id prefix")),
    request_body = Dismissal,
    responses((status = 200, body = Dismissed), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub async fn dismiss(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path((repo, id)): Path<(String, String)>,
    body: Option<Json<Dismissal>>,
) -> Response {
    let reason = body.and_then(|b| b.0.reason);
    let mut note = AuditNote {
        action: "anomaly.dismiss".into(),
        target: Some(id.clone()),
        repository: Some(repo.clone()),
        detail: reason.clone(),
        ..AuditNote::default()
    };
    let by = p.name.clone();
    let r = with_repo(&api, &p, &repo, Role::Operator, move |h| {
        let snaps = h.snapshots()?;
        let (sid, s) = ibars_core::snapshot::resolve(&snaps, &id, &Default::default())?.clone();
        if !s.flagged() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("snapshot {} has no standing finding", sid.short()),
            ));
        }
        let new = ibars_core::ops::anomaly::dismiss(&h.repo, &sid, reason, &by);
        h.invalidate();
        let new = new?;
        Ok(Dismissed {
            dismissed: sid.to_hex(),
            snapshot: new.to_hex(),
        })
    })
    .await;
    if let Ok(d) = &r {
        note.target = Some(d.dismissed.clone());
    }
    noted(
        match r {
            Ok(d) => Json(d).into_response(),
            Err(e) => e.into_response(),
        },
        note,
    )
}

/// A repository on the overview.
#[derive(Serialize, ToSchema)]
pub struct RepositorySummary {
    pub name: String,
    pub location: String,
    /// Its last `ibars stats`, once measured.
    #[schema(value_type = Option<Object>)]
    pub stats: Option<serde_json::Value>,
    pub snapshots: usize,
    /// The newest snapshot's time.
    pub latest: Option<jiff::Timestamp>,
    /// Standing anomaly findings.
    pub anomalies: usize,
    /// Why it could not be read, if it could not.
    pub error: Option<String>,
}

/// What the dashboard's first page shows, in one answer.
#[derive(Serialize, ToSchema)]
pub struct Overview {
    pub jobs: Vec<super::JobView>,
    pub repositories: Vec<RepositorySummary>,
    /// Standing findings over all repositories.
    pub anomalies: usize,
    /// Jobs whose last success is older than their max_age.
    pub overdue: usize,
    /// Jobs whose last run did not succeed.
    pub failing: usize,
}

/// Every job and repository at a glance: states, last and next runs, overdue and failing
/// jobs, snapshot counts and standing anomalies.
#[utoipa::path(get, path = "/overview", tag = "repositories",
    responses((status = 200, body = Overview), (status = 401, body = ApiError)))]
pub async fn overview(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
) -> Json<Overview> {
    let jobs = super::jobs::views(&api, &p);
    let repos: Vec<(crate::config::RepositoryConfig, Option<serde_json::Value>)> = {
        let g = lock(&api.shared);
        g.config
            .repositories
            .iter()
            .filter(|r| p.may_use(&r.name))
            .map(|r| (r.clone(), g.repo_stats.get(&r.name).cloned()))
            .collect()
    };
    let mut repositories = Vec::new();
    for (r, stats) in repos {
        let counted = with_repo(&api, &p, &r.name, Role::Viewer, |h| {
            let snaps = h.snapshots()?;
            Ok((
                snaps.len(),
                snaps.iter().map(|(_, s)| s.time).max(),
                snaps.iter().filter(|(_, s)| s.flagged()).count(),
            ))
        })
        .await;
        let (snapshots, latest, anomalies, error) = match counted {
            Ok((n, l, a)) => (n, l, a, None),
            Err(e) => (0, None, 0, Some(e.error)),
        };
        repositories.push(RepositorySummary {
            name: r.name,
            location: r.location,
            stats,
            snapshots,
            latest,
            anomalies,
            error,
        });
    }
    let failing = jobs
        .iter()
        .filter(|j| j.last_run.as_ref().is_some_and(|r| !r.outcome.succeeded()))
        .count();
    Json(Overview {
        anomalies: repositories.iter().map(|r| r.anomalies).sum(),
        overdue: jobs.iter().filter(|j| j.overdue).count(),
        failing,
        jobs,
        repositories,
    })
}
