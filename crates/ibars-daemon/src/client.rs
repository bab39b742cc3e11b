//! A client of the control API on the daemon's Unix socket, for `ibars jobs`.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;

/// Why a call to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the ibars daemon at {}: {error} (is it running? see `ibars daemon --help`)", socket.display())]
    Connect {
        socket: PathBuf,
        /// Not a `source`: the message says it already.
        error: std::io::Error,
    },
    #[error("talking to the ibars daemon: {0}")]
    Http(String),
    /// It took the connection but did not answer in time.
    #[error("the ibars daemon at {} did not answer within {} s", socket.display(), TIMEOUT.as_secs())]
    Timeout { socket: PathBuf },
    /// The daemon answered with an error status.
    #[error("{message} (HTTP {status})")]
    Status { status: u16, message: String },
}

/// How long a call may take: the API answers at once (long work runs in the background).
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// `method path` on the daemon at `socket`; the JSON it answered with.
pub fn call(socket: &Path, method: &str, path: &str) -> Result<serde_json::Value, ClientError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Http(e.to_string()))?;
    rt.block_on(async {
        tokio::time::timeout(TIMEOUT, call_async(socket, method, path))
            .await
            .unwrap_or_else(|_| {
                Err(ClientError::Timeout {
                    socket: socket.to_path_buf(),
                })
            })
    })
}

async fn call_async(
    socket: &Path,
    method: &str,
    path: &str,
) -> Result<serde_json::Value, ClientError> {
    let http = |e: &dyn std::fmt::Display| ClientError::Http(e.to_string());
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|error| ClientError::Connect {
            socket: socket.to_path_buf(),
            error,
        })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http(&e))?;
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "ibars")
        .header("accept", "application/json")
        .body(Full::new(Bytes::new()))
        .map_err(|e| http(&e))?;
    let resp = sender.send_request(req).await.map_err(|e| http(&e))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| http(&e))?
        .to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into()));
    if !status.is_success() {
        let message = value
            .get("error")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        return Err(ClientError::Status {
            status: status.as_u16(),
            message,
        });
    }
    Ok(value)
}
