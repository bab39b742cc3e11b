//! The dashboard and the API reference page: static files embedded in the binary, served
//! with a strict Content-Security-Policy. No framework and nothing from another origin: the
//! page is plain JavaScript talking to `/api/v1/`.
//!
//! For work on the dashboard itself, `IBARS_DASHBOARD_DIR` serves the files from that
//! directory instead (read at each request), so a change shows without a rebuild.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../assets/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/app.css"),
    ),
    (
        "docs.html",
        "text/html; charset=utf-8",
        include_bytes!("../../assets/docs.html"),
    ),
    (
        "vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/uPlot.iife.min.js"),
    ),
    (
        "vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/vendor/uPlot.min.css"),
    ),
    (
        "vendor/rapidoc-min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/rapidoc-min.js"),
    ),
];

/// The dashboard's policy: its own scripts only; styles set from script (uPlot) allowed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

fn file(name: &str) -> Response {
    let Some((_, ctype, embedded)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let body: Vec<u8> = match std::env::var_os("IBARS_DASHBOARD_DIR") {
        Some(dir) => match std::fs::read(std::path::Path::new(&dir).join(name)) {
            Ok(b) => b,
            Err(_) => embedded.to_vec(),
        },
        None => embedded.to_vec(),
    };
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
