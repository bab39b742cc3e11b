//! Dashboard logins (`/login`, `/logout`, `/session`) and API tokens (`/tokens`, admin).

use std::net::IpAddr;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::guard::cookie;
use super::{noted, Api, ApiError, AuditNote};
use crate::auth::session::{COOKIE, LIFETIME};
use crate::auth::store::{AuthFile, Role};
use crate::auth::{require, Principal};
use crate::listen::Peer;

/// A login.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// Who is logged in, with the token to send in `X-CSRF-Token`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub user: String,
    #[schema(value_type = String)]
    pub role: Role,
    /// Empty for a token or the socket: only sessions need it.
    pub csrf_token: String,
}

fn client_ip(peer: &Peer) -> IpAddr {
    match peer {
        Peer::Tcp { addr, .. } => addr.ip(),
        Peer::Socket { .. } => IpAddr::from([127, 0, 0, 1]),
    }
}

fn session_cookie(value: &str, max_age: u64, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("cookie values are hex")
}

/// Log in with a dashboard user's name and password; opens a session cookie.
#[utoipa::path(post, path = "/login", tag = "session", security(()), request_body = Login,
    responses(
        (status = 200, description = "Logged in; the cookie is set", body = SessionView),
        (status = 401, description = "Wrong name or password", body = ApiError),
        (status = 429, description = "Too many failed logins from this address", body = ApiError),
    ))]
pub async fn login(
    State(api): State<Api>,
    Extension(peer): Extension<Peer>,
    Json(l): Json<Login>,
) -> Response {
    let ip = client_ip(&peer);
    let note = |detail: Option<&str>| AuditNote {
        action: "login".into(),
        actor: Some(format!(
            "user:{}",
            l.username.chars().take(64).collect::<String>()
        )),
        detail: detail.map(str::to_string),
        ..AuditNote::default()
    };
    let wait = api
        .auth
        .limiter
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .wait(ip, Instant::now());
    if let Some(w) = wait {
        let secs = w.as_secs().max(1);
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins from {ip}; try again in {secs} s"),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return noted(r, note(Some("throttled")));
    }
    // argon2 takes a moment of CPU: off the async thread.
    let file = api.auth.file();
    let (name, password) = (l.username.clone(), l.password.clone());
    let who =
        tokio::task::spawn_blocking(move || file.authenticate_user(&name, password.as_bytes()))
            .await
            .ok()
            .flatten();
    let mut limiter = api.auth.limiter.lock().unwrap_or_else(|e| e.into_inner());
    let Some(p) = who else {
        limiter.failed(ip, Instant::now());
        drop(limiter);
        let r = ApiError::new(StatusCode::UNAUTHORIZED, "wrong user name or password");
        return noted(r.into_response(), note(Some("wrong user name or password")));
    };
    limiter.succeeded(ip);
    drop(limiter);
    let (cookie, s) = api
        .auth
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .open(p, Instant::now());
    let tls = matches!(peer, Peer::Tcp { tls: true, .. });
    let body = SessionView {
        user: s.principal.name.clone(),
        role: s.principal.role,
        csrf_token: s.csrf.clone(),
    };
    let mut r = Json(body).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&cookie, LIFETIME.as_secs(), tls),
    );
    noted(r, note(None))
}

/// End the session of the cookie sent.
#[utoipa::path(post, path = "/logout", tag = "session",
    responses((status = 204, description = "Logged out")))]
pub async fn logout(
    State(api): State<Api>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    if let Some(c) = cookie(&headers, COOKIE) {
        api.auth
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .close(c);
    }
    let tls = matches!(peer, Peer::Tcp { tls: true, .. });
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0, tls));
    noted(
        r,
        AuditNote {
            action: "logout".into(),
            ..AuditNote::default()
        },
    )
}

/// Who the credentials sent belong to (and a session's CSRF token).
#[utoipa::path(get, path = "/session", tag = "session",
    responses((status = 200, body = SessionView), (status = 401, body = ApiError)))]
pub async fn current(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
) -> Json<SessionView> {
    let csrf = cookie(&headers, COOKIE)
        .and_then(|c| api.auth.session(c))
        .map(|s| s.csrf)
        .unwrap_or_default();
    Json(SessionView {
        user: p.name,
        role: p.role,
        csrf_token: csrf,
    })
}

/// A token as listed: never its secret or hash.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
    pub repositories: Vec<String>,
    pub created: jiff::Timestamp,
    pub expires: Option<jiff::Timestamp>,
    pub revoked: Option<jiff::Timestamp>,
}

/// Every token, revoked and expired ones too (admin).
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    responses((status = 200, body = [TokenView]), (status = 403, body = ApiError)))]
pub async fn tokens(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    require(&p, Role::Admin, None)?;
    let v = api
        .auth
        .file()
        .tokens
        .into_iter()
        .map(|t| TokenView {
            id: t.id,
            name: t.name,
            role: t.role,
            repositories: t.repositories,
            created: t.created,
            expires: t.expires,
            revoked: t.revoked,
        })
        .collect();
    Ok(Json(v))
}

/// A token to make.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    pub name: String,
    /// viewer, operator or admin.
    pub role: String,
    /// The repositories it may use; all when empty.
    #[serde(default)]
    pub repositories: Vec<String>,
    /// Seconds until it expires; never when absent.
    pub expires_in: Option<u64>,
}

/// The new token's secret, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub id: String,
    pub name: String,
    pub token: String,
}

/// Make a token (admin). Its secret is in this answer only.
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ApiError),
        (status = 403, body = ApiError)))]
pub async fn create_token(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Json(t): Json<NewToken>,
) -> Response {
    let note = AuditNote {
        action: "token.create".into(),
        target: Some(t.name.clone()),
        ..AuditNote::default()
    };
    let r = (|| {
        require(&p, Role::Admin, None)?;
        let role: Role = t.role.parse().map_err(|e: crate::auth::store::AuthError| {
            ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
        })?;
        let now = jiff::Timestamp::now();
        let expires = t
            .expires_in
            .map(|s| now + jiff::SignedDuration::from_secs(s.min(100 * 365 * 86_400) as i64));
        let path = AuthFile::path(&crate::daemon::lock(&api.shared).state_dir);
        let (tok, secret) = AuthFile::edit(&path, |f| {
            f.create_token(&t.name, role, t.repositories.clone(), expires, now)
        })
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        Ok::<_, ApiError>(CreatedToken {
            id: tok.id,
            name: tok.name,
            token: secret,
        })
    })();
    let r = match r {
        Ok(c) => (StatusCode::CREATED, Json(c)).into_response(),
        Err(e) => e.into_response(),
    };
    noted(r, note)
}

/// Revoke a token by name or id (admin).
#[utoipa::path(delete, path = "/tokens/{name}", tag = "tokens",
    params(("name" = String, Path, description = "The token's name or id")),
    responses((status = 204, description = "Revoked"), (status = 404, body = ApiError),
        (status = 403, body = ApiError)))]
pub async fn revoke_token(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    let note = AuditNote {
        action: "token.revoke".into(),
        target: Some(name.clone()),
        ..AuditNote::default()
    };
    let r = (|| {
        require(&p, Role::Admin, None)?;
        let path = AuthFile::path(&crate::daemon::lock(&api.shared).state_dir);
        AuthFile::edit(&path, |f| f.revoke_token(&name, jiff::Timestamp::now()))
            .map_err(|e| ApiError::not_found(e.to_string()))?;
        Ok::<_, ApiError>(StatusCode::NO_CONTENT)
    })();
    noted(r.into_response(), note)
}
