//! The API, HTTP with JSON bodies under `/api/v1/`, served on the Unix control socket (where
//! `ibars jobs` is its client) and on the `listen` address, with access control
//! ([`crate::auth`]) and an audit entry for every mutating call ([`guard`]). The OpenAPI
//! document is generated from the handlers (utoipa) and served at `/api/v1/openapi.json`.
//!
//! Errors are `{"error": "..."}` with a 4xx or 5xx status: 401 without valid credentials,
//! 403 for a role or repository not allowed or a missing CSRF token, 404 for an unknown
//! name, 409 for a conflict, 429 when logins are throttled, 503 while the daemon stops.

mod dashboard;
mod guard;
mod jobs;
mod operations;
mod repos;
mod session;
mod snapshots;

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::Journal;
use crate::auth::Auth;
use crate::daemon::{lock, Event, Shared};

pub use jobs::JobView;

/// What every handler reaches.
#[derive(Clone)]
pub(crate) struct Api {
    pub shared: Shared,
    pub tx: mpsc::UnboundedSender<Event>,
    pub auth: Arc<Auth>,
    pub journal: Arc<Journal>,
    pub repos: Arc<crate::repos::Repos>,
    pub ops: Arc<crate::operations::Operations>,
    pub opts: crate::daemon::Options,
}

/// An error answer: `{"error": message}` with its status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub error: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status: status.as_u16(),
            error: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<crate::auth::Denied> for ApiError {
    fn from(d: crate::auth::Denied) -> Self {
        ApiError {
            status: d.status(),
            error: d.message(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (status, Json(&self)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"ibars\""),
            );
        }
        r
    }
}

/// The status a core error answers with.
fn core_status(e: &ibars_core::Error) -> StatusCode {
    use ibars_core::Error;
    match e {
        Error::NoSuchPath(_) | Error::Snapshot(_) => StatusCode::NOT_FOUND,
        Error::Invalid(_) => StatusCode::BAD_REQUEST,
        Error::Locked(_) => StatusCode::CONFLICT,
        Error::Backend { .. } | Error::NoRepository(_) | Error::WrongPassword(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<crate::repos::RepoError> for ApiError {
    fn from(e: crate::repos::RepoError) -> Self {
        use crate::repos::RepoError;
        let status = match &e {
            RepoError::Unknown(_) => StatusCode::NOT_FOUND,
            RepoError::Password { .. } => StatusCode::SERVICE_UNAVAILABLE,
            RepoError::Core { source, .. } => core_status(source),
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<ibars_core::Error> for ApiError {
    fn from(e: ibars_core::Error) -> Self {
        ApiError::new(core_status(&e), e.to_string())
    }
}

/// Run `f` on the handle of repository `name`, off the async thread, once `p` is allowed
/// `role` on it.
pub(crate) async fn with_repo<T: Send + 'static>(
    api: &Api,
    p: &crate::auth::Principal,
    name: &str,
    role: crate::auth::Role,
    f: impl FnOnce(&Arc<crate::repos::Handle>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let config = lock(&api.shared)
        .config
        .repository(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no repository named {name:?}")))?;
    crate::auth::require(p, role, Some(name))?;
    let repos = api.repos.clone();
    tokio::task::spawn_blocking(move || {
        let h = repos.get(&config)?;
        f(&h)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// What a handler tells the audit log about a mutating call, in the response's extensions.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    /// `job.run`, `login`...
    pub action: String,
    pub target: Option<String>,
    pub repository: Option<String>,
    /// Who, when the request's credentials do not say (a login names the user it tried).
    pub actor: Option<String>,
    pub detail: Option<String>,
}

/// `r` with `note` for the audit log.
pub fn noted(mut r: Response, note: AuditNote) -> Response {
    r.extensions_mut().insert(note);
    r
}

struct Security;

/// The answers any operation may give besides its own: a malformed request (400, or 422
/// for a body of the wrong shape), missing credentials (401), and for one with a body, a
/// body that is not JSON (415). All are `{"error": ...}`.
fn common_responses(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |what: &str| {
        ResponseBuilder::new()
            .description(what)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ApiError")))
                    .build(),
            )
            .build()
    };
    for item in api.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            let r = &mut op.responses.responses;
            let mut add = |code: &str, what: &str| {
                r.entry(code.to_string())
                    .or_insert_with(|| error(what).into());
            };
            add("400", "A malformed request: a bad path, query or body");
            add("401", "No valid credentials");
            if op.request_body.is_some() {
                add("415", "The body is not JSON");
                add("422", "The JSON body does not have the documented shape");
            }
        }
    }
}

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ibt_... (ibars token create)")
                    .build(),
            ),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::session::COOKIE,
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ibars daemon API",
        description = "Jobs, snapshots, restores, checks, anomalies and history of the ibars daemon. \
            Authenticate with a token (`Authorization: Bearer ibt_...`, made by `ibars token create`) \
            or a dashboard session (`POST /api/v1/login`); a session's mutating requests also carry \
            `X-CSRF-Token`. Roles: viewer reads, operator also runs jobs, restores and dismisses \
            anomalies, admin does everything."
    ),
    modifiers(&Security),
    security(("token" = []), ("session" = [])),
    tags(
        (name = "jobs", description = "The daemon's scheduled jobs"),
        (name = "repositories", description = "Repositories, their history and charts"),
        (name = "snapshots", description = "Snapshots: list, browse, download, diff"),
        (name = "anomalies", description = "Suspected ransomware and mass deletion"),
        (name = "operations", description = "Restores, checks and job runs in progress; the audit log"),
        (name = "session", description = "Dashboard logins"),
        (name = "tokens", description = "API tokens (admin)"),
        (name = "daemon", description = "Health and metrics"),
    )
)]
struct ApiDoc;

/// The routes of `/api/v1`, with their OpenAPI description.
fn v1() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(jobs::health))
        .routes(routes!(jobs::list))
        .routes(routes!(jobs::one))
        .routes(routes!(jobs::run_now))
        .routes(routes!(jobs::history))
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::current))
        .routes(routes!(session::tokens, session::create_token))
        .routes(routes!(session::revoke_token))
        .routes(routes!(repos::overview))
        .routes(routes!(repos::list))
        .routes(routes!(repos::history))
        .routes(routes!(repos::chart_series))
        .routes(routes!(repos::anomalies))
        .routes(routes!(repos::dismiss))
        .routes(routes!(snapshots::list))
        .routes(routes!(snapshots::one))
        .routes(routes!(snapshots::tree))
        .routes(routes!(snapshots::download))
        .routes(routes!(snapshots::diff))
        .routes(routes!(operations::restore))
        .routes(routes!(operations::check))
        .routes(routes!(operations::list))
        .routes(routes!(operations::one, operations::cancel))
        .routes(routes!(operations::restore_roots))
        .routes(routes!(operations::audit))
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = OpenApiRouter::<Api>::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1())
        .into_openapi();
    common_responses(&mut doc);
    doc
}

/// The whole API with `/metrics`, behind access control and the audit log.
pub(crate) fn router(api: Api) -> Router {
    let (r, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1())
        .split_for_parts();
    common_responses(&mut doc);
    let json = axum::body::Bytes::from(
        doc.to_pretty_json()
            .expect("the OpenAPI document serializes"),
    );
    r.route(
        "/api/v1/openapi.json",
        get(move || {
            let j = json.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], j) }
        }),
    )
    .route("/metrics", get(jobs::metrics))
    .route("/", get(dashboard::index))
    .route("/api/v1/docs", get(dashboard::docs))
    .route("/assets/{*name}", get(dashboard::asset))
    .fallback(not_found)
    .layer(axum::middleware::from_fn_with_state(
        api.clone(),
        guard::guard,
    ))
    .with_state(api)
}

/// `/metrics` alone, for the `metrics_listen` address (no credentials: Prometheus scrapes it;
/// bind it to an address only it reaches).
pub(crate) fn metrics_router(shared: Shared) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let text = lock(&shared).metrics.render();
                async move { jobs::metrics_text(text) }
            }),
        )
        .fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such resource")
}
