//! The middleware in front of every route: it finds who is calling (the socket, a token or a
//! session), refuses what needs credentials without them, checks the CSRF token of a
//! session's mutating requests, and writes the audit entry of every mutating call, whatever
//! its outcome, before the answer leaves.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ibars_insight::record::{AuditEntry, AuditResult};

use super::{Api, ApiError, AuditNote};
use crate::auth::session::{COOKIE, CSRF_HEADER};
use crate::auth::{Denied, Principal, Role};
use crate::daemon::lock;
use crate::listen::Peer;

/// Routes anybody may call: logging in, the API's description, and the dashboard's files
/// (which hold no data: the page logs in before it asks for any).
fn public(method: &Method, path: &str) -> bool {
    (method == Method::POST && path == "/api/v1/login")
        || (method == Method::GET
            && (matches!(path, "/" | "/api/v1/openapi.json" | "/api/v1/docs")
                || path.starts_with("/assets/")))
}

fn mutating(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The value of cookie `name` in `headers`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Who is calling, if anybody can be told. A session without its CSRF token is refused
/// with its user named, for the audit log.
fn identify(
    api: &Api,
    req: &Request,
    peer: &Peer,
) -> Result<Option<Principal>, (Denied, Option<String>)> {
    if let Peer::Socket { uid } = peer {
        return Ok(Some(Principal {
            name: format!("socket:{uid}"),
            role: Role::Admin,
            repositories: vec![],
        }));
    }
    let headers = req.headers();
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let bearer = v
            .to_str()
            .ok()
            .and_then(|s| s.strip_prefix("Bearer "))
            .ok_or((
                Denied::Unauthenticated("the Authorization header is not `Bearer TOKEN`"),
                None,
            ))?;
        return api
            .auth
            .token(bearer.trim())
            .map(Some)
            .map_err(|d| (d, None));
    }
    if let Some(c) = cookie(headers, COOKIE) {
        let Some(s) = api.auth.session(c) else {
            return Err((
                Denied::Unauthenticated("the session ended; log in again"),
                None,
            ));
        };
        if mutating(req.method()) {
            let given = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !s.csrf_ok(given) {
                return Err((
                    Denied::Forbidden(format!(
                        "missing or wrong {CSRF_HEADER} header (a session's changes need it)"
                    )),
                    Some(s.principal.name),
                ));
            }
        }
        return Ok(Some(s.principal));
    }
    Ok(None)
}

pub(super) async fn guard(State(api): State<Api>, mut req: Request, next: Next) -> Response {
    let Some(peer) = req.extensions().get::<Peer>().cloned() else {
        return ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "request without a peer",
        )
        .into_response();
    };
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let who = identify(&api, &req, &peer);
    let (principal, response) = match who {
        Ok(Some(p)) => {
            req.extensions_mut().insert(p.clone());
            (Some(p), next.run(req).await)
        }
        // A public route is served whatever stale credentials come with it.
        Ok(None) | Err(_) if public(&method, &path) => (None, next.run(req).await),
        Ok(None) => (
            None,
            ApiError::from(Denied::Unauthenticated(
                "log in, or send Authorization: Bearer TOKEN",
            ))
            .into_response(),
        ),
        Err((d, actor)) => {
            let detail = d.message();
            let r = ApiError::from(d).into_response();
            let note = AuditNote {
                detail: Some(detail),
                actor,
                ..AuditNote::default()
            };
            (None, super::noted(r, note))
        }
    };
    let response = jsonify(response).await;
    if mutating(&method) {
        record(&api, &peer, principal.as_ref(), &method, &path, &response);
    }
    response
}

/// Errors of axum's own extractors (a body that is not JSON, a bad query) come as plain
/// text: give them the API's `{"error": ...}` shape, as every other error has.
async fn jsonify(response: Response) -> Response {
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !plain || !response.status().is_client_error() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 << 10)
        .await
        .unwrap_or_default();
    let body = serde_json::json!({ "error": String::from_utf8_lossy(&text) }).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Write the audit entry of a mutating call. If it cannot be written, the daemon says so in
/// its log; the call has happened either way.
fn record(
    api: &Api,
    peer: &Peer,
    principal: Option<&Principal>,
    method: &Method,
    path: &str,
    response: &Response,
) {
    let note = response
        .extensions()
        .get::<AuditNote>()
        .cloned()
        .unwrap_or_default();
    let status = response.status().as_u16();
    let entry = AuditEntry {
        time: jiff::Timestamp::now(),
        actor: note
            .actor
            .clone()
            .or_else(|| principal.map(|p| p.name.clone()))
            .unwrap_or_else(|| "anonymous".into()),
        action: if note.action.is_empty() {
            format!("{method} {path}")
        } else {
            note.action.clone()
        },
        target: note.target.clone(),
        repository: note.repository.clone(),
        remote: peer.remote(),
        status,
        result: AuditResult::of_status(status),
        detail: note.detail.clone(),
    };
    let repository = match &note.repository {
        Some(r) => Some(r.clone()),
        None => {
            let g = lock(&api.shared);
            g.config
                .daemon
                .audit_repository(&g.config)
                .map(str::to_string)
        }
    };
    let Some(repository) = repository else {
        tracing::warn!("audit: no repository configured to keep {}", entry.action);
        return;
    };
    if let Err(e) = api.journal.append(&repository, &entry) {
        tracing::error!(
            "audit: could not journal {} by {}: {e}",
            entry.action,
            entry.actor
        );
    }
}
