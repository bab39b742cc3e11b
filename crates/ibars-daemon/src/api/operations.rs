//! Long operations: start a restore or a check, follow any operation (a job run too), cancel
//! it; and the audit log.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ibars_insight::record::{AuditEntry, RunKind};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{noted, with_repo, Api, ApiError, AuditNote};
use crate::auth::{require, Principal, Role};
use crate::daemon::lock;
use crate::operations::{self, Operation};

/// A restore to start.
#[derive(Deserialize, ToSchema)]
pub struct RestoreRequest {
    /// latest, latest-clean, an id or an id prefix.
    pub snapshot: String,
    /// An absolute directory inside one of the restore roots (`GET /restore-roots`).
    pub target: String,
    /// Only these paths of the snapshot (globs), with what is below them.
    #[serde(default)]
    pub include: Vec<String>,
    /// Read every restored file back and check it.
    #[serde(default)]
    pub verify: bool,
    /// Read from the repository at most this fast, such as `20MiB` (per second), to spare
    /// a shared link.
    pub limit_download: Option<String>,
}

/// A rate, size or share as a command-line value: letters, digits and `%/.` only.
fn plain_value(what: &str, v: &str) -> Result<(), ApiError> {
    let ok = !v.is_empty()
        && v.len() <= 16
        && v.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "%/.".contains(ch));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{what} {v:?}: not a valid value"),
        ))
    }
}

fn started(op: &operations::Shared) -> Response {
    let v = op.lock().unwrap_or_else(|e| e.into_inner()).clone();
    (StatusCode::ACCEPTED, Json(v)).into_response()
}

/// Check the caller and the repository (a 404 or 403 answer when not allowed).
fn allowed(api: &Api, p: &Principal, repo: &str, role: Role) -> Result<(), ApiError> {
    if lock(&api.shared).config.repository(repo).is_none() {
        return Err(ApiError::not_found(format!("no repository named {repo:?}")));
    }
    Ok(require(p, role, Some(repo))?)
}

/// Restore a snapshot to a directory on the daemon's host (operator). Answers at once with
/// the operation; follow it at `/operations/{id}`.
#[utoipa::path(post, path = "/repositories/{repo}/restores", tag = "operations",
    params(("repo" = String, Path, description = "The repository's name")),
    request_body = RestoreRequest,
    responses((status = 202, body = Operation), (status = 400, body = ApiError),
        (status = 403, description = "Not allowed, or the target is outside the restore roots",
            body = ApiError), (status = 404, body = ApiError)))]
pub async fn restore(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path(repo): Path<String>,
    Json(r): Json<RestoreRequest>,
) -> Response {
    let mut note = AuditNote {
        action: "restore.start".into(),
        repository: Some(repo.clone()),
        target: Some(format!("{} to {}", r.snapshot, r.target)),
        ..AuditNote::default()
    };
    let res = start_restore(&api, &p, &repo, r).await;
    if let Ok(op) = &res {
        let g = op.lock().unwrap_or_else(|e| e.into_inner());
        note.detail = Some(format!("operation {}", g.id));
    }
    noted(
        match res {
            Ok(op) => started(&op),
            Err(e) => e.into_response(),
        },
        note,
    )
}

async fn start_restore(
    api: &Api,
    p: &Principal,
    repo: &str,
    r: RestoreRequest,
) -> Result<operations::Shared, ApiError> {
    allowed(api, p, repo, Role::Operator)?;
    let roots = lock(&api.shared).config.daemon.restore_roots();
    let target = operations::contained(std::path::Path::new(&r.target), &roots)
        .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, e))?;
    // Resolve the snapshot now, so that a bad one is a 404 rather than a failed operation.
    let spec = r.snapshot.clone();
    let id = with_repo(api, p, repo, Role::Operator, move |h| {
        let all = h.snapshots()?;
        Ok(
            ibars_core::snapshot::resolve(&all, &spec, &Default::default())?
                .0
                .to_hex(),
        )
    })
    .await?;
    let mut args: Vec<std::ffi::OsString> = vec![
        "--json".into(),
        "restore".into(),
        id.clone().into(),
        "--target".into(),
        target.clone().into(),
    ];
    for i in &r.include {
        args.extend(["--include".into(), i.into()]);
    }
    if r.verify {
        args.push("--verify".into());
    }
    if let Some(l) = &r.limit_download {
        plain_value("limit_download", l)?;
        args.splice(0..0, ["--limit-download".into(), l.into()]);
    }
    let mut op = Operation::new("restore", repo, &p.name);
    op.snapshot = Some(id);
    op.target = Some(target.display().to_string());
    Ok(spawn(api, repo, op, args))
}

fn spawn(
    api: &Api,
    repo: &str,
    op: Operation,
    args: Vec<std::ffi::OsString>,
) -> operations::Shared {
    let cmd = crate::command::ibars(&api.opts.exe, &api.opts.config_file, repo, args);
    let op = api.ops.add(op);
    let (tx, repository) = (api.tx.clone(), repo.to_string());
    let running = op.clone();
    tokio::spawn(async move {
        operations::run(running, cmd).await;
        // A check changes the scrub coverage and the last check the overview shows.
        let _ = tx.send(crate::daemon::Event::RefreshStats { repository });
    });
    op
}

/// A check to start.
#[derive(Deserialize, ToSchema, Default)]
pub struct CheckRequest {
    /// Read and verify pack data too, not only the structure.
    #[serde(default)]
    pub read_data: bool,
    /// With read_data: a share such as `10%`, `1/5`, or `auto` (what was least recently
    /// verified).
    pub subset: Option<String>,
}

/// Check the repository (operator); answers at once with the operation.
#[utoipa::path(post, path = "/repositories/{repo}/checks", tag = "operations",
    params(("repo" = String, Path, description = "The repository's name")),
    request_body = CheckRequest,
    responses((status = 202, body = Operation), (status = 400, body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub async fn check(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path(repo): Path<String>,
    body: Option<Json<CheckRequest>>,
) -> Response {
    let c = body.map(|b| b.0).unwrap_or_default();
    let note = AuditNote {
        action: "check.start".into(),
        repository: Some(repo.clone()),
        ..AuditNote::default()
    };
    let res = (|| -> Result<operations::Shared, ApiError> {
        allowed(&api, &p, &repo, Role::Operator)?;
        let mut args: Vec<std::ffi::OsString> = vec!["--json".into(), "check".into()];
        if let Some(s) = &c.subset {
            plain_value("subset", s)?;
            args.extend(["--read-data-subset".into(), s.into()]);
        } else if c.read_data {
            args.push("--read-data".into());
        }
        Ok(spawn(
            &api,
            &repo,
            Operation::new("check", &repo, &p.name),
            args,
        ))
    })();
    noted(
        match res {
            Ok(op) => started(&op),
            Err(e) => e.into_response(),
        },
        note,
    )
}

/// The operations of the last while (at most 100), newest first.
#[utoipa::path(get, path = "/operations", tag = "operations",
    responses((status = 200, body = [Operation])))]
pub async fn list(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
) -> Json<Vec<Operation>> {
    Json(
        api.ops
            .all()
            .iter()
            .map(|o| o.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .filter(|o| p.may_use(&o.repository))
            .collect(),
    )
}

fn find(api: &Api, p: &Principal, id: &str) -> Result<operations::Shared, ApiError> {
    api.ops
        .get(id)
        .filter(|o| p.may_use(&o.lock().unwrap_or_else(|e| e.into_inner()).repository))
        .ok_or_else(|| ApiError::not_found(format!("no operation {id:?}")))
}

/// One operation: its state, progress and result.
#[utoipa::path(get, path = "/operations/{id}", tag = "operations",
    params(("id" = String, Path, description = "The operation's id")),
    responses((status = 200, body = Operation), (status = 404, body = ApiError)))]
pub async fn one(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Operation>, ApiError> {
    let op = find(&api, &p, &id)?;
    let v = op.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Json(v))
}

/// Cancel a running operation (operator): its process stops cleanly.
#[utoipa::path(delete, path = "/operations/{id}", tag = "operations",
    params(("id" = String, Path, description = "The operation's id")),
    responses((status = 202, body = Operation), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, description = "It has ended", body = ApiError)))]
pub async fn cancel(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let note = AuditNote {
        action: "operation.cancel".into(),
        target: Some(id.clone()),
        ..AuditNote::default()
    };
    let res = (|| {
        let op = find(&api, &p, &id)?;
        let repo = op
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .repository
            .clone();
        require(&p, Role::Operator, Some(&repo))?;
        if !operations::cancel(&op) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("operation {id} has ended"),
            ));
        }
        Ok((op, repo))
    })();
    let r = match res {
        Ok((op, repo)) => {
            let r = started(&op);
            return noted(
                r,
                AuditNote {
                    repository: Some(repo),
                    ..note
                },
            );
        }
        Err(e) => e.into_response(),
    };
    noted(r, note)
}

/// Where restores may go.
#[utoipa::path(get, path = "/restore-roots", tag = "operations",
    responses((status = 200, body = [String]), (status = 403, body = ApiError)))]
pub async fn restore_roots(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
) -> Result<Json<Vec<String>>, ApiError> {
    require(&p, Role::Operator, None)?;
    let roots = lock(&api.shared).config.daemon.restore_roots();
    Ok(Json(
        roots.iter().map(|r| r.display().to_string()).collect(),
    ))
}

/// Which audit entries.
#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Of the last this many days (default 30).
    pub days: Option<u32>,
    /// At most this many, newest first (default 200, at most 5000).
    pub limit: Option<usize>,
}

/// The audit log (admin): entries in the repositories' history, and those still in the
/// daemon's journal, newest first.
#[utoipa::path(get, path = "/audit", tag = "operations", params(AuditQuery),
    responses((status = 200, body = [Object]), (status = 403, body = ApiError)))]
pub async fn audit(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    require(&p, Role::Admin, None)?;
    let since = jiff::Timestamp::now()
        - jiff::SignedDuration::from_hours(24 * i64::from(q.days.unwrap_or(30).min(36_500)));
    let limit = q.limit.unwrap_or(200).clamp(1, 5000);
    let mut out: Vec<AuditEntry> = api
        .journal
        .recent(limit)
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let names: Vec<String> = lock(&api.shared)
        .config
        .repositories
        .iter()
        .map(|r| r.name.clone())
        .collect();
    for name in names {
        let got = with_repo(&api, &p, &name, Role::Admin, |h| {
            Ok(h.history()?
                .iter()
                .filter(|(_, r)| r.kind == RunKind::Audit)
                .filter_map(|(_, r)| r.audit.clone())
                .flat_map(|a| a.entries)
                .collect::<Vec<_>>())
        })
        .await;
        match got {
            Ok(v) => out.extend(v),
            Err(e) => tracing::warn!("audit log of repository {name}: {}", e.error),
        }
    }
    out.retain(|e| e.time >= since);
    out.sort_by_key(|e| std::cmp::Reverse(e.time));
    out.dedup();
    out.truncate(limit);
    Ok(Json(out))
}
