//! Checks of the `[daemon]` keys of the API: `listen`, `tls_cert`, `tls_key`,
//! `audit_repository`.

use std::collections::HashSet;
use std::net::SocketAddr;

use super::{ConfigError, DaemonSettings, Doc};

impl DaemonSettings {
    /// `listen`, parsed (checked when the file was read).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.as_deref().and_then(|l| l.parse().ok())
    }

    /// How far ahead a fill date raises an alert, in whole days; `None` when off.
    pub fn fill_alert_days(&self) -> Option<u64> {
        match self.fill_alert.as_deref() {
            Some("off") => None,
            Some(d) => super::parse_duration(d).map(|d| (d.as_secs() / 86_400).max(1)),
            None => Some(30),
        }
    }

    /// Where the API may restore: `restore_roots`, else `STATE_DIR/restore`.
    pub fn restore_roots(&self) -> Vec<std::path::PathBuf> {
        if self.restore_roots.is_empty() {
            vec![self.state_path().join("restore")]
        } else {
            self.restore_roots.clone()
        }
    }

    /// The `[[repository]]` that keeps audit entries concerning no repository.
    pub fn audit_repository<'a>(&'a self, config: &'a super::Config) -> Option<&'a str> {
        self.audit_repository
            .as_deref()
            .or_else(|| config.repositories.first().map(|r| r.name.as_str()))
    }
}

/// The line of `key` in the `[daemon]` table.
fn line(doc: &Doc<'_>, key: &str) -> usize {
    let start = doc
        .text
        .find("\n[daemon]")
        .map(|i| i + 1)
        .or_else(|| doc.text.starts_with("[daemon]").then_some(0))
        .unwrap_or(0);
    doc.key_line(start..doc.text.len(), key)
}

pub(super) fn check(
    doc: &Doc<'_>,
    d: &DaemonSettings,
    repositories: &HashSet<String>,
) -> Result<(), ConfigError> {
    let err = |key: &str, message: String| {
        doc.error(
            line(doc, key),
            Some(key),
            format!("[daemon] `{key}`: {message}"),
        )
    };
    match (&d.tls_cert, &d.tls_key) {
        (Some(_), None) => return Err(err("tls_cert", "needs tls_key too".into())),
        (None, Some(_)) => return Err(err("tls_key", "needs tls_cert too".into())),
        _ => {}
    }
    if let Some(l) = &d.listen {
        let addr: SocketAddr = l.parse().map_err(|_| {
            err(
                "listen",
                format!(
                    "{l:?} is not an address and port such as \"127.0.0.1:8080\" or \"[::]:8443\""
                ),
            )
        })?;
        if d.tls_cert.is_none() && !addr.ip().is_loopback() {
            return Err(err(
                "listen",
                format!(
                    "{l:?} is not a loopback address: plain HTTP would send passwords and \
                     tokens in the clear; set tls_cert and tls_key (`ibars daemon \
                     --generate-cert` makes a pair to try it out)"
                ),
            ));
        }
    } else if d.tls_cert.is_some() {
        return Err(err(
            "tls_cert",
            "set `listen` too: the address to serve TLS on".into(),
        ));
    }
    for r in &d.restore_roots {
        if !r.is_absolute() {
            return Err(err(
                "restore_roots",
                format!("{}: must be an absolute path", r.display()),
            ));
        }
    }
    if let Some(f) = &d.fill_alert {
        if f != "off" && super::parse_duration(f).is_none() {
            return Err(err(
                "fill_alert",
                format!("{f:?} is not a duration such as \"30d\", nor \"off\""),
            ));
        }
    }
    if let Some(r) = &d.audit_repository {
        if !repositories.contains(r) {
            return Err(err(
                "audit_repository",
                format!("no [[repository]] named {r:?}"),
            ));
        }
    }
    Ok(())
}
