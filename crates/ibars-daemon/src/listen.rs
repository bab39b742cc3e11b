//! The daemon's listeners: the Unix control socket, and the API's TCP address in plain HTTP
//! (loopback only) or TLS (rustls on ring). Each connection is served by hyper (HTTP/1.1)
//! with a header timeout, and each request carries the [`Peer`] it came from, which access
//! control and the audit log read.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};

use crate::daemon::DaemonError;

/// A client that sends no complete request header within this is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// A TLS handshake that takes longer is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at most; more connections wait in the kernel's backlog.
const HANDSHAKES: usize = 64;

/// Where a request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// The Unix control socket, with the connecting process's user id.
    Socket { uid: u32 },
    /// The TCP listener.
    Tcp { addr: SocketAddr, tls: bool },
}

impl Peer {
    /// For the audit log: `socket` or the client's address and port.
    pub fn remote(&self) -> String {
        match self {
            Peer::Socket { .. } => "socket".into(),
            Peer::Tcp { addr, .. } => addr.to_string(),
        }
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// Serve `app` on the control socket until the task is dropped.
pub async fn serve_socket(l: UnixListener, app: Router) {
    loop {
        let (stream, _) = match l.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("control socket: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let uid = stream.peer_cred().map(|c| c.uid()).unwrap_or(u32::MAX);
        tokio::spawn(connection(stream, Peer::Socket { uid }, app.clone()));
    }
}

/// Serve `app` on TCP, through TLS when `tls` is given, until the task is dropped.
pub async fn serve_tcp(l: TcpListener, tls: Option<Arc<rustls::ServerConfig>>, app: Router) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let handshakes = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES));
    loop {
        let (tcp, addr) = match l.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("API listener: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        match &acceptor {
            None => {
                tokio::spawn(connection(tcp, Peer::Tcp { addr, tls: false }, app));
            }
            Some(acceptor) => {
                let Ok(permit) = handshakes.clone().acquire_owned().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let shake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
                    let stream = match shake.await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!("TLS handshake with {addr}: {e}");
                            return;
                        }
                        Err(_) => return,
                    };
                    drop(permit);
                    connection(stream, Peer::Tcp { addr, tls: true }, app).await;
                });
            }
        }
    }
}

async fn connection<I>(io: I, peer: Peer, app: Router)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use tower_service::Service;
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(peer.clone());
        let mut app = app.clone();
        app.call(req)
    });
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    if let Err(e) = b
        .serve_connection(hyper_util::rt::TokioIo::new(io), svc)
        .await
    {
        tracing::debug!("connection: {e}");
    }
}

/// The TLS settings from a certificate chain and a private key in PEM files.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, DaemonError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |p: &Path, m: String| DaemonError::Other(format!("tls: {}: {m}", p.display()));
    let cert_pem = std::fs::read(cert).map_err(io(format!("tls_cert {}", cert.display())))?;
    let key_pem = std::fs::read(key).map_err(io(format!("tls_key {}", key.display())))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, format!("not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(bad(cert, "holds no certificate".into()));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad(key, format!("not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| {
            bad(
                cert,
                format!("the certificate and key do not go together: {e}"),
            )
        })?;
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(c))
}

/// A self-signed certificate for trying the API out.
pub struct GeneratedCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// SHA-256 of the certificate (DER), hex with colons, to compare with what a browser shows.
    pub fingerprint: String,
}

/// Write `cert.pem` and `key.pem` (mode 0600) into `dir`: an ECDSA P-256 certificate for
/// localhost, 127.0.0.1, ::1 and `hostname`, valid ten years. Existing files are kept: it
/// refuses to overwrite them.
pub fn generate_cert(dir: &Path, hostname: &str) -> Result<GeneratedCert, DaemonError> {
    use sha2::Digest;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let gen = |e: rcgen::Error| DaemonError::Other(format!("generating a certificate: {e}"));
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if !hostname.is_empty() && hostname != "localhost" {
        names.push(hostname.into());
    }
    let mut p = rcgen::CertificateParams::new(names).map_err(gen)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        format!("ibars daemon on {hostname}"),
    );
    p.distinguished_name = dn;
    let year = jiff::Zoned::now().year();
    p.not_before = rcgen::date_time_ymd(i32::from(year) - 1, 1, 1);
    p.not_after = rcgen::date_time_ymd(i32::from(year) + 10, 1, 1);
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().map_err(gen)?;
    let cert = p.self_signed(&key).map_err(gen)?;
    std::fs::create_dir_all(dir).map_err(io(format!("{}", dir.display())))?;
    let out = GeneratedCert {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        fingerprint: sha2::Sha256::digest(cert.der())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
    };
    for (path, body, mode) in [
        (&out.key, key.serialize_pem(), 0o600),
        (&out.cert, cert.pem(), 0o644),
    ] {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(io(format!("{}", path.display())))?;
        f.write_all(body.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(io(format!("{}", path.display())))?;
    }
    Ok(out)
}

/// Listen on `path` (mode 0600, or 0660 for `group`), in a directory only its users reach.
/// Another daemon listening there already is an error; a socket left by a dead one is
/// replaced.
pub fn bind_socket(path: &Path, group: Option<&str>) -> Result<UnixListener, DaemonError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let what = || format!("control socket {}", path.display());
    let gid = match group {
        Some(name) => Some(
            nix::unistd::Group::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| DaemonError::Other(format!("socket_group {name:?}: no such group")))?
                .gid,
        ),
        None => None,
    };
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(if gid.is_some() { 0o750 } else { 0o700 })
                .create(dir)
                .map_err(io(what()))?;
            if let Some(g) = gid {
                nix::unistd::chown(dir, None, Some(g))
                    .map_err(|e| io(what())(std::io::Error::from(e)))?;
            }
        }
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(DaemonError::Other(format!(
                "{}: another ibars daemon is listening there",
                what()
            )));
        }
        std::fs::remove_file(path).map_err(io(what()))?;
    }
    let l = UnixListener::bind(path).map_err(io(what()))?;
    let mode = if gid.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(what()))?;
    if let Some(g) = gid {
        nix::unistd::chown(path, None, Some(g)).map_err(|e| io(what())(std::io::Error::from(e)))?;
    }
    Ok(l)
}

pub(crate) type ApiListener = (tokio::net::TcpListener, Option<Arc<rustls::ServerConfig>>);

/// The API's TCP listener, when `listen` is set: TLS with `tls_cert`, else plain HTTP (which
/// the config allows on loopback only).
pub(crate) async fn api_listener(
    config: &crate::config::Config,
) -> Result<Option<ApiListener>, DaemonError> {
    let d = &config.daemon;
    let Some(addr) = d.listen_addr() else {
        return Ok(None);
    };
    let tls = match (&d.tls_cert, &d.tls_key) {
        (Some(c), Some(k)) => Some(tls_config(c, k)?),
        _ => None,
    };
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(io(format!("listen {addr}")))?;
    if tls.is_some() {
        tracing::info!("API and dashboard on https://{addr}/");
    } else {
        tracing::warn!(
            "API and dashboard on http://{addr}/ in plain HTTP (loopback only); \
             set tls_cert and tls_key to serve HTTPS"
        );
    }
    Ok(Some((l, tls)))
}

/// systemd's watchdog, when the unit asks for one (`WatchdogSec=`): a ping at half the
/// interval. Nothing runs without it.
pub(crate) fn watchdog() {
    // As libsystemd reads them: WATCHDOG_PID, when set, must be this process.
    let usec: u64 = match std::env::var("WATCHDOG_USEC")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(u) if u > 0 => u,
        _ => return,
    };
    if let Ok(p) = std::env::var("WATCHDOG_PID") {
        if p.parse::<u32>().ok() != Some(std::process::id()) {
            return;
        }
    }
    let every = Duration::from_micros(usec / 2);
    tokio::spawn(async move {
        let mut t = tokio::time::interval(every);
        loop {
            t.tick().await;
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_loads_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let g = generate_cert(dir.path(), "backup1.example").unwrap();
        assert_eq!(g.fingerprint.len(), 32 * 3 - 1);
        tls_config(&g.cert, &g.key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&g.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let before = std::fs::read(&g.key).unwrap();
        assert!(generate_cert(dir.path(), "x").is_err());
        assert_eq!(std::fs::read(&g.key).unwrap(), before);
        // A key that does not match, and a file that is not PEM, are named.
        let other = tempfile::tempdir().unwrap();
        let h = generate_cert(other.path(), "y").unwrap();
        let e = tls_config(&g.cert, &h.key).err().unwrap().to_string();
        assert!(e.contains("do not go together"), "{e}");
        let e = tls_config(&g.key, &g.key).err().unwrap().to_string();
        assert!(e.contains("cert.pem") || e.contains("key.pem"), "{e}");
    }
}
