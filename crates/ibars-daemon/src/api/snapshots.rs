//! Snapshots: list and filter, one snapshot, a directory of its tree (paged), a download (a
//! file, or a directory as tar), and the diff of two.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ibars_core::id::SnapshotId;
use ibars_core::snapshot::{resolve, Snapshot, SnapshotFilter};
use ibars_core::tree::{Bytes as Name, NodeType};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{with_repo, Api, ApiError};
use crate::auth::{Principal, Role};

/// A snapshot as listed.
#[derive(Serialize, ToSchema)]
pub struct SnapshotView {
    pub id: String,
    pub short_id: String,
    pub time: jiff::Timestamp,
    pub host: String,
    pub username: String,
    pub tags: Vec<String>,
    pub paths: Vec<String>,
    /// full, incremental or differential.
    pub backup_type: String,
    pub parent: Option<String>,
    pub files: u64,
    pub bytes_total: u64,
    pub bytes_added: u64,
    pub duration_ms: u64,
    /// Flagged as an anomaly, and not dismissed.
    pub flagged: bool,
    /// The anomaly score, when a finding is attached.
    pub anomaly_score: Option<f64>,
    /// Protected from forget.
    pub protected: bool,
}

pub(super) fn view(id: &SnapshotId, s: &Snapshot) -> SnapshotView {
    let u = &s.summary;
    SnapshotView {
        id: id.to_hex(),
        short_id: id.short(),
        time: s.time,
        host: s.host.clone(),
        username: s.username.clone(),
        tags: s.tags.clone(),
        paths: s.paths.iter().map(|p| p.lossy().into_owned()).collect(),
        backup_type: s.backup_type.to_string(),
        parent: s.parent.map(|p| p.to_hex()),
        files: u.files_new + u.files_changed + u.files_unchanged,
        bytes_total: u.bytes_total,
        bytes_added: u.bytes_added,
        duration_ms: u.duration_ms,
        flagged: s.flagged(),
        anomaly_score: s.anomaly.as_ref().map(|a| a.verdict.score),
        protected: s.protected.is_some(),
    }
}

/// Filters and paging of the snapshot list.
#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only this host.
    pub host: Option<String>,
    /// Only snapshots with this tag.
    pub tag: Option<String>,
    /// Only snapshots holding this path.
    pub path: Option<String>,
    /// Skip this many (newest first).
    pub offset: Option<usize>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// A page of snapshots.
#[derive(Serialize, ToSchema)]
pub struct SnapshotPage {
    /// Snapshots matching the filters.
    pub total: usize,
    pub snapshots: Vec<SnapshotView>,
}

/// The repository's snapshots, newest first.
#[utoipa::path(get, path = "/repositories/{repo}/snapshots", tag = "snapshots",
    params(("repo" = String, Path, description = "The repository's name"), ListQuery),
    responses((status = 200, body = SnapshotPage), (status = 404, body = ApiError)))]
pub async fn list(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path(repo): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<SnapshotPage>, ApiError> {
    let page = with_repo(&api, &p, &repo, Role::Viewer, move |h| {
        let all = h.snapshots()?;
        let filter = SnapshotFilter {
            hosts: q.host.into_iter().collect(),
            tags: q.tag.into_iter().collect(),
            paths: q.path.map(|p| Name(p.into_bytes())).into_iter().collect(),
            ..SnapshotFilter::default()
        };
        let matching: Vec<_> = all
            .iter()
            .rev()
            .filter(|(_, s)| filter.matches(s))
            .collect();
        let limit = q.limit.unwrap_or(100).clamp(1, 1000);
        Ok(SnapshotPage {
            total: matching.len(),
            snapshots: matching
                .iter()
                .skip(q.offset.unwrap_or(0))
                .take(limit)
                .map(|(id, s)| view(id, s))
                .collect(),
        })
    })
    .await?;
    Ok(Json(page))
}

/// `spec` (`latest`, `latest-clean`, an id or a prefix) among the handle's snapshots.
fn find(h: &crate::repos::Handle, spec: &str) -> Result<(SnapshotId, Snapshot), ApiError> {
    let all = h.snapshots()?;
    Ok(resolve(&all, spec, &SnapshotFilter::default())?.clone())
}

/// One snapshot, whole (its summary and any anomaly finding included).
#[utoipa::path(get, path = "/repositories/{repo}/snapshots/{id}", tag = "snapshots",
    params(("repo" = String, Path, description = "The repository's name"),
        ("id" = String, Path, description = "latest, latest-clean, an id or an id prefix")),
    responses((status = 200, body = Object), (status = 404, body = ApiError)))]
pub async fn one(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path((repo, id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let v = with_repo(&api, &p, &repo, Role::Viewer, move |h| {
        let (id, s) = find(h, &id)?;
        let mut v = serde_json::to_value(&s).expect("snapshots serialize");
        v["id"] = id.to_hex().into();
        v["short_id"] = id.short().into();
        Ok(v)
    })
    .await?;
    Ok(Json(v))
}

/// A directory to list.
#[derive(Deserialize, IntoParams)]
pub struct TreeQuery {
    /// The directory, from the snapshot's root (default `/`).
    pub path: Option<String>,
    pub offset: Option<usize>,
    /// At most this many entries (default 500, at most 5000).
    pub limit: Option<usize>,
}

/// An entry of a directory.
#[derive(Serialize, ToSchema)]
pub struct EntryView {
    pub name: String,
    /// file, dir, symlink, fifo, chardev, blockdev or socket.
    #[serde(rename = "type")]
    pub kind: String,
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub mtime: i64,
    pub mode: u32,
    pub user: Option<String>,
    pub group: Option<String>,
    /// A symlink's target.
    pub target: Option<String>,
}

/// A page of a directory.
#[derive(Serialize, ToSchema)]
pub struct TreePage {
    pub path: String,
    pub total: usize,
    pub offset: usize,
    pub entries: Vec<EntryView>,
}

fn kind_name(k: NodeType) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// One directory of a snapshot, in name order, a page at a time.
#[utoipa::path(get, path = "/repositories/{repo}/snapshots/{id}/tree", tag = "snapshots",
    params(("repo" = String, Path, description = "The repository's name"),
        ("id" = String, Path, description = "latest, an id or an id prefix"), TreeQuery),
    responses((status = 200, body = TreePage), (status = 404, body = ApiError),
        (status = 400, description = "Not a directory, or `..` in the path", body = ApiError)))]
pub async fn tree(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path((repo, id)): Path<(String, String)>,
    Query(q): Query<TreeQuery>,
) -> Result<Json<TreePage>, ApiError> {
    let page = with_repo(&api, &p, &repo, Role::Viewer, move |h| {
        let (_, snap) = find(h, &id)?;
        let index = h.index()?;
        let path = q.path.unwrap_or_else(|| "/".into());
        let node = ibars_core::ops::dump::lookup(
            &h.repo,
            &index,
            &h.cache,
            &snap.tree,
            std::path::Path::new(&path),
        )?;
        let (NodeType::Dir, Some(sub)) = (node.kind, node.subtree) else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{path} is not a directory"),
            ));
        };
        let t = h.tree(&index, &sub)?;
        let offset = q.offset.unwrap_or(0);
        let limit = q.limit.unwrap_or(500).clamp(1, 5000);
        Ok(TreePage {
            path,
            total: t.nodes.len(),
            offset,
            entries: t
                .nodes
                .iter()
                .skip(offset)
                .take(limit)
                .map(|n| EntryView {
                    name: n.name.lossy().into_owned(),
                    kind: kind_name(n.kind),
                    size: n.size,
                    mtime: n.mtime,
                    mode: n.mode,
                    user: n.user.clone(),
                    group: n.group.clone(),
                    target: n.target.as_ref().map(|t| t.lossy().into_owned()),
                })
                .collect(),
        })
    })
    .await?;
    Ok(Json(page))
}

/// What to download.
#[derive(Deserialize, IntoParams)]
pub struct DownloadQuery {
    /// A file (sent as it is) or a directory (sent as a tar stream).
    pub path: String,
}

/// A writer into the response body: chunks of 256 KiB through a small channel, so a slow
/// client slows the reading down instead of filling memory.
struct BodyWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl std::io::Write for BodyWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 256 << 10 {
            self.flush()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

/// Download a file, or a directory as a tar stream (operator). Every byte is verified before
/// it is sent; a damaged file cuts the stream short (the transfer then fails, and a tar has
/// no end marker).
#[utoipa::path(get, path = "/repositories/{repo}/snapshots/{id}/download", tag = "snapshots",
    params(("repo" = String, Path, description = "The repository's name"),
        ("id" = String, Path, description = "latest, an id or an id prefix"), DownloadQuery),
    responses((status = 200, description = "The file's bytes, or a tar stream",
            content_type = "application/octet-stream"),
        (status = 400, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError)))]
pub async fn download(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path((repo, id)): Path<(String, String)>,
    Query(q): Query<DownloadQuery>,
) -> Result<Response, ApiError> {
    let path = q.path.clone();
    let (h, snap, node) = with_repo(&api, &p, &repo, Role::Operator, move |h| {
        let (_, snap) = find(h, &id)?;
        let index = h.index()?;
        let node = ibars_core::ops::dump::lookup(
            &h.repo,
            &index,
            &h.cache,
            &snap.tree,
            std::path::Path::new(&q.path),
        )?;
        Ok((h.clone(), snap, node))
    })
    .await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let errors = tx.clone();
    let what = PathBuf::from(&path);
    tokio::task::spawn_blocking(move || {
        let mut w = BodyWriter {
            tx,
            buf: Vec::with_capacity(256 << 10),
        };
        let r = h.index().map_err(|e| e.to_string()).and_then(|index| {
            ibars_core::ops::dump::dump(
                &h.repo, &index, &h.cache, &snap.tree, &what, &mut w, "download",
            )
            .map_err(|e| e.to_string())
        });
        let r = r.and_then(|_| std::io::Write::flush(&mut w).map_err(|e| e.to_string()));
        if let Err(e) = r {
            tracing::warn!("download of {}: {e}", what.display());
            let _ = errors.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let name = std::path::Path::new(&path)
        .file_name()
        .map(|n| String::from_utf8_lossy(n.as_bytes()).into_owned())
        .unwrap_or_else(|| "snapshot".into());
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let (ctype, file) = if node.kind == NodeType::File {
        ("application/octet-stream", safe)
    } else {
        ("application/x-tar", format!("{safe}.tar"))
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, ctype.parse().expect("a valid type"));
    h.insert(
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{file}\"")
            .parse()
            .expect("a sanitized name"),
    );
    if node.kind == NodeType::File {
        h.insert(header::CONTENT_LENGTH, node.size.into());
    }
    h.insert("x-content-type-options", "nosniff".parse().expect("valid"));
    Ok(r.into_response())
}

/// The two snapshots to compare.
#[derive(Deserialize, IntoParams)]
pub struct DiffQuery {
    pub from: String,
    pub to: String,
    /// At most this many changes (default 1000, at most 100000).
    pub limit: Option<usize>,
}

/// One change.
#[derive(Serialize, ToSchema)]
pub struct ChangeView {
    pub path: String,
    /// added, removed, modified, metadata or type.
    pub change: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub old_size: u64,
    pub new_size: u64,
}

/// A diff.
#[derive(Serialize, ToSchema)]
pub struct DiffView {
    pub from: String,
    pub to: String,
    pub total: usize,
    pub changes: Vec<ChangeView>,
    #[schema(value_type = Object)]
    pub stats: ibars_core::ops::walk::DiffStats,
}

/// What changed between two snapshots.
#[utoipa::path(get, path = "/repositories/{repo}/diff", tag = "snapshots",
    params(("repo" = String, Path, description = "The repository's name"), DiffQuery),
    responses((status = 200, body = DiffView), (status = 404, body = ApiError)))]
pub async fn diff(
    State(api): State<Api>,
    Extension(p): Extension<Principal>,
    Path(repo): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<DiffView>, ApiError> {
    let v = with_repo(&api, &p, &repo, Role::Viewer, move |h| {
        let (ida, a) = find(h, &q.from)?;
        let (idb, b) = find(h, &q.to)?;
        let index = h.index()?;
        let mut out = Vec::new();
        let stats =
            ibars_core::ops::walk::diff(&h.repo, &index, &h.cache, &a.tree, &b.tree, &mut out)?;
        let limit = q.limit.unwrap_or(1000).clamp(1, 100_000);
        Ok(DiffView {
            from: ida.to_hex(),
            to: idb.to_hex(),
            total: out.len(),
            changes: out
                .into_iter()
                .take(limit)
                .map(|e| ChangeView {
                    path: e.path.display().to_string(),
                    change: serde_json::to_value(e.change)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    kind: kind_name(e.kind),
                    old_size: e.old_size,
                    new_size: e.new_size,
                })
                .collect(),
            stats,
        })
    })
    .await?;
    Ok(Json(v))
}
