//! The dashboard and the API reference page: static files embedded in the binary, served
//! with a strict Content-Security-Policy. No framework and nothing from another origin: the
//! page is plain JavaScript talking to `/api/v1/`.
//!
//! For work on the dashboard itself, `IBARS_DASHBOARD_DIR` serves the files from that
//! directory instead (read at each request), so a change shows without a rebuild.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Every file under `assets/`, embedded at build time.
#[derive(rust_embed::RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// The content type of a file, by its extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// The dashboard's policy: its own scripts only; styles set from script (uPlot) allowed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

fn file(name: &str) -> Response {
    // Only names of embedded files are served, so `..` or an absolute name never reaches
    // the file system, IBARS_DASHBOARD_DIR included.
    let Some(embedded) = Assets::get(name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let body: Vec<u8> = match std::env::var_os("IBARS_DASHBOARD_DIR") {
        Some(dir) => std::fs::read(std::path::Path::new(&dir).join(name))
            .unwrap_or_else(|_| embedded.data.into_owned()),
        None => embedded.data.into_owned(),
    };
    let ctype = content_type(name);
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    let cache = if name.starts_with("vendor/") {
        "public, max-age=86400"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// `/`: the dashboard.
pub async fn index() -> Response {
    file("index.html")
}

/// `/api/v1/docs`: the API reference (RapiDoc on the served OpenAPI document).
pub async fn docs() -> Response {
    file("docs.html")
}

/// `/assets/{*name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    file(&name)
}
