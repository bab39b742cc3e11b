//! [`Backend`] over an OpenDAL operator. OpenDAL is async; this wrapper owns a small Tokio
//! runtime and blocks on it, so that the rest of ibars is plain threads. Many threads may call
//! in at once: each call is an independent `block_on`.
//!
//! Every request is logged at debug level with target `ibars::request` (`IBARS_LOG=
//! ibars::request=debug`): method and object path, never credentials.

use std::path::Path;

use opendal::{ErrorKind, Operator};

use super::s3::S3Config;
use super::{Backend, DiskSpace, FileKind, ListEntry};
use crate::error::{Error, Result};

/// Parallel requests that suit a local disk: writes are fast, and reads are parallel anyway
/// where decryption needs the cores.
const LOCAL_PARALLELISM: usize = 1;

/// A backend on any OpenDAL service.
pub struct OpendalBackend {
    op: Operator,
    rt: tokio::runtime::Runtime,
    location: String,
    parallelism: usize,
    /// The directory of a local repository.
    local_dir: Option<std::path::PathBuf>,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Local file I/O runs on Tokio's blocking pool; few threads keep the allocator's
        // per-thread arenas (and so peak memory) few.
        .max_blocking_threads(4)
        .thread_name("ibars-io")
        .enable_all()
        .build()
        .map_err(|e| Error::io("tokio runtime", e))
}

fn map_err(op: &'static str, path: &str, e: opendal::Error) -> Error {
    tracing::debug!(target: "ibars::request", "{op} {path} failed: {e}");
    Error::Backend {
        op,
        path: path.to_string(),
        not_found: e.kind() == ErrorKind::NotFound,
        transient: e.is_temporary(),
        message: describe(&e),
    }
}

/// `scheme://host:port` of the request URL in an OpenDAL error's context, if any.
fn server_of(full: &str) -> Option<&str> {
    let start = full.find("url: ").or_else(|| full.find("uri: "))? + 5;
    let url = &full[start..];
    let after_scheme = url.find("://")? + 3;
    let end = url[after_scheme..]
        .find(['/', ',', ' ', '}'])
        .map_or(url.len(), |i| after_scheme + i);
    Some(&url[..end])
}

/// One line for a user: what kind of failure, then the store's own error code and message
/// when it sent one (S3's error document), else the root cause (connection refused, a
/// timeout), and the HTTP status. OpenDAL's full text, with the request's context, goes to
/// the debug log (`IBARS_LOG=ibars::request=debug`).
fn describe(e: &opendal::Error) -> String {
    let full = e.to_string();
    let message = full.split_once(" => ").map_or("", |(_, m)| {
        m.split_once(", source: ").map_or(m, |(m, _)| m)
    });
    let quoted = |key: &str| {
        let start = message.find(&format!("{key}: \""))? + key.len() + 3;
        let len = message[start..].find('"')?;
        Some(&message[start..start + len])
    };
    let status: String = full
        .split_once("status: ")
        .map(|(_, rest)| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    let mut out = match e.kind() {
        ErrorKind::NotFound => "not found".to_string(),
        ErrorKind::PermissionDenied => "permission denied".to_string(),
        ErrorKind::RateLimited => "slowed down by the store".to_string(),
        ErrorKind::ConfigInvalid => "refused".to_string(),
        _ => "failed".to_string(),
    };
    if let Some(code) = quoted("code") {
        out = format!("{out}: {code}");
        if let Some(m) = quoted("message").filter(|m| !m.is_empty()) {
            out = format!("{out}: {m}");
        }
    } else {
        let mut root: &dyn std::error::Error = e;
        while let Some(next) = root.source() {
            root = next;
        }
        let cause = if std::ptr::addr_eq(root, e as &dyn std::error::Error) {
            message.to_string()
        } else {
            root.to_string()
        };
        if !cause.is_empty() {
            out = format!("{out}: {cause}");
        }
        // No answer from the store: say which store did not answer.
        if let Some(server) = server_of(&full) {
            out = format!("{out} (from {server})");
        }
    }
    if !status.is_empty() {
        out = format!("{out} (HTTP {status})");
    }
    out
}

impl OpendalBackend {
    /// A repository in a local directory. With `create`, the directory is made if missing;
    /// without it, a missing directory is [`Error::NoRepository`].
    pub fn local(dir: &Path, create: bool) -> Result<Self> {
        if create {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        } else if !dir.is_dir() {
            return Err(Error::NoRepository(dir.display().to_string()));
        }
        let root = dir.to_string_lossy().to_string();
        let tmp = dir.join("tmp");
        let builder = opendal::services::Fs::default()
            .root(&root)
            .atomic_write_dir(&tmp.to_string_lossy());
        let op = Operator::new(builder)
            .map_err(|e| map_err("open", &root, e))?
            .finish();
        Ok(Self {
            op,
            rt: runtime()?,
            location: root,
            parallelism: LOCAL_PARALLELISM,
            local_dir: Some(dir.to_path_buf()),
        })
    }

    /// A repository in an S3 bucket. Nothing is contacted yet; a wrong endpoint or key shows
    /// on the first request. Requests that take too long ([`S3Config::timeouts`]) are cut off
    /// with a transient error, for [`super::RetryBackend`] to retry.
    pub fn s3(cfg: &S3Config) -> Result<Self> {
        let location = cfg.location();
        let mut b = opendal::services::S3::default()
            .bucket(&cfg.bucket)
            .root(&format!("/{}", cfg.prefix))
            .region(cfg.region.as_deref().unwrap_or("us-east-1"));
        if let Some(e) = &cfg.endpoint {
            b = b.endpoint(e);
        }
        if !cfg.use_path_style() {
            b = b.enable_virtual_host_style();
        }
        if let (Some(id), Some(secret)) = (&cfg.access_key_id, &cfg.secret_access_key) {
            // Explicit credentials: do not let ~/.aws or instance metadata override them.
            b = b
                .access_key_id(id)
                .secret_access_key(secret)
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(t) = &cfg.session_token {
                b = b.session_token(t);
            }
        }
        let (timeout, io_timeout) = cfg.timeouts();
        let op = Operator::new(b)
            .map_err(|e| map_err("open", &location, e))?
            .layer(
                // A whole upload counts as one io operation, so its limit must allow a pack
                // over a slow uplink; a dead connection is still cut off in the end.
                opendal::layers::TimeoutLayer::new()
                    .with_timeout(timeout)
                    .with_io_timeout(io_timeout),
            )
            .finish();
        Ok(Self {
            op,
            rt: runtime()?,
            location,
            parallelism: cfg.connections(),
            local_dir: None,
        })
    }

    /// Keep up to `n` requests in flight (see [`Backend::parallelism`]).
    pub fn set_parallelism(&mut self, n: usize) {
        self.parallelism = n.max(1);
    }

    /// An in-memory repository, for tests.
    pub fn memory() -> Result<Self> {
        let op = Operator::new(opendal::services::Memory::default())
            .map_err(|e| map_err("open", "memory", e))?
            .finish();
        Ok(Self {
            op,
            rt: runtime()?,
            location: "memory".into(),
            parallelism: LOCAL_PARALLELISM,
            local_dir: None,
        })
    }
}

impl Backend for OpendalBackend {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn parallelism(&self) -> usize {
        self.parallelism
    }

    fn disk_space(&self) -> Option<DiskSpace> {
        let s = nix::sys::statvfs::statvfs(self.local_dir.as_deref()?).ok()?;
        let f = s.fragment_size() as u64;
        Some(DiskSpace {
            free: (s.blocks_available() as u64).saturating_mul(f),
            size: (s.blocks() as u64).saturating_mul(f),
        })
    }

    fn list(&self, kind: FileKind) -> Result<Vec<ListEntry>> {
        let dir = kind.dir();
        tracing::debug!(target: "ibars::request", "LIST {dir}");
        let entries = self.rt.block_on(async {
            match self.op.list_with(dir).recursive(true).await {
                Ok(v) => Ok(v),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(map_err("list", dir, e)),
            }
        })?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            if !e.metadata().is_file() {
                continue;
            }
            let name = e.name().to_string();
            if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue; // not ours (editor droppings, temp files)
            }
            let mut size = e.metadata().content_length();
            if size == 0 {
                // Listing does not always carry sizes; an object removed since (a lock being
                // refreshed, a pack being pruned) is simply no longer listed.
                size = match self.size(kind, &name) {
                    Ok(s) => s,
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e),
                };
            }
            out.push(ListEntry { name, size });
        }
        Ok(out)
    }

    fn read(&self, kind: FileKind, name: &str) -> Result<bytes::Bytes> {
        let path = kind.path(name);
        tracing::debug!(target: "ibars::request", "GET {path}");
        self.rt
            .block_on(self.op.read(&path))
            .map(|b| b.to_bytes())
            .map_err(|e| map_err("read", &path, e))
    }

    fn read_range(
        &self,
        kind: FileKind,
        name: &str,
        offset: u64,
        len: u64,
    ) -> Result<bytes::Bytes> {
        let path = kind.path(name);
        tracing::debug!(target: "ibars::request", "GET {path} bytes={offset}+{len}");
        self.rt
            .block_on(async { self.op.read_with(&path).range(offset..offset + len).await })
            .map(|b| b.to_bytes())
            .map_err(|e| map_err("read", &path, e))
    }

    fn write(&self, kind: FileKind, name: &str, data: bytes::Bytes) -> Result<()> {
        let path = kind.path(name);
        tracing::debug!(target: "ibars::request", "PUT {path} ({} bytes)", data.len());
        self.rt
            .block_on(self.op.write(&path, data))
            .map(|_| ())
            .map_err(|e| map_err("write", &path, e))
    }

    fn remove(&self, kind: FileKind, name: &str) -> Result<()> {
        let path = kind.path(name);
        tracing::debug!(target: "ibars::request", "DELETE {path}");
        match self.rt.block_on(self.op.delete(&path)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(map_err("delete", &path, e)),
        }
    }

    fn size(&self, kind: FileKind, name: &str) -> Result<u64> {
        let path = kind.path(name);
        tracing::debug!(target: "ibars::request", "HEAD {path}");
        self.rt
            .block_on(self.op.stat(&path))
            .map(|m| m.content_length())
            .map_err(|e| map_err("stat", &path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_round_trip() {
        let b = OpendalBackend::memory().unwrap();
        let name = "ab".repeat(32);
        b.write(
            FileKind::Pack,
            &name,
            bytes::Bytes::from_static(b"hello world"),
        )
        .unwrap();
        assert_eq!(&b.read(FileKind::Pack, &name).unwrap()[..], b"hello world");
        assert_eq!(
            &b.read_range(FileKind::Pack, &name, 6, 5).unwrap()[..],
            b"world"
        );
        let l = b.list(FileKind::Pack).unwrap();
        assert_eq!(
            l,
            vec![ListEntry {
                name: name.clone(),
                size: 11
            }]
        );
        b.remove(FileKind::Pack, &name).unwrap();
        assert!(b.read(FileKind::Pack, &name).unwrap_err().is_not_found());
        b.remove(FileKind::Pack, &name).unwrap();
    }

    #[test]
    fn errors_are_told_in_one_line_with_the_store_code_or_the_root_cause() {
        let s3 = opendal::Error::new(
            ErrorKind::ConfigInvalid,
            r#"S3Error { code: "NoSuchBucket", message: "Bucket not found: b", resource: "/b/config", request_id: "" }"#,
        )
        .with_operation("read")
        .with_context("response", "Parts { status: 404, version: HTTP/1.1 }");
        assert_eq!(
            describe(&s3),
            "refused: NoSuchBucket: Bucket not found: b (HTTP 404)"
        );
        let refused = opendal::Error::new(ErrorKind::Unexpected, "send http request")
            .with_operation("read")
            .with_context("url", "http://127.0.0.1:1/b/config")
            .set_source(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
            .set_temporary();
        assert_eq!(
            describe(&refused),
            "failed: connection refused (from http://127.0.0.1:1)"
        );
        let timeout = opendal::Error::new(ErrorKind::Unexpected, "operation timeout reached")
            .with_operation("write")
            .with_context("timeout", "1");
        assert_eq!(describe(&timeout), "failed: operation timeout reached");
    }
}
