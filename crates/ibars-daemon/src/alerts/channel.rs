//! Where alerts go: `[[alert]]` tables of the config, each a webhook (JSON, HMAC-signed, or a
//! Slack-compatible body), an email over SMTP (STARTTLS by default, through `lettre` on
//! rustls), or a command. A delivery that fails is tried three times in all, then logged.

use std::path::PathBuf;
use std::time::Duration;

use hmac::{Hmac, Mac};
use lettre::message::Mailbox;
use serde::Deserialize;
use sha2::Sha256;

use super::{Alert, Event, Phase};
use crate::config::ConfigError;

/// One `[[alert]]`, checked.
#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    /// The events it gets (recoveries and reminders of them too); all when the config
    /// names none.
    pub events: Vec<Event>,
    /// The jobs it is about; all when the config names none.
    pub jobs: Vec<String>,
    pub target: Target,
}

/// How TLS is used towards an SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only for a relay on loopback.
    None,
}

#[derive(Debug, Clone)]
pub enum Target {
    Webhook {
        url: String,
        /// A Slack-compatible body (`{"text": ...}`) instead of the alert's JSON.
        slack: bool,
        /// The HMAC-SHA256 key of `X-Ibars-Signature`.
        secret: Option<Vec<u8>>,
    },
    Email {
        server: String,
        port: u16,
        tls: SmtpTls,
        /// A CA certificate (PEM) to trust besides the system's, for a private relay.
        ca_file: Option<PathBuf>,
        username: Option<String>,
        password_file: Option<PathBuf>,
        from: Box<Mailbox>,
        to: Vec<Mailbox>,
    },
    Command {
        command: String,
    },
}

/// An `[[alert]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlert {
    name: String,
    kind: String,
    events: Option<Vec<String>>,
    jobs: Option<Vec<String>>,
    // webhook
    url: Option<String>,
    format: Option<String>,
    secret_file: Option<PathBuf>,
    // email
    smtp_server: Option<String>,
    smtp_port: Option<u16>,
    tls: Option<String>,
    ca_file: Option<PathBuf>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    from: Option<String>,
    to: Option<Vec<String>>,
    // command
    command: Option<String>,
}

impl RawAlert {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// Check a raw `[[alert]]`; `err(key, message)` makes an error at that key's line.
pub(crate) fn check(
    a: RawAlert,
    jobs: &[String],
    err: impl Fn(&str, String) -> ConfigError,
) -> Result<Channel, ConfigError> {
    let kinds: [(&str, bool, &[&str]); 12] = [
        ("url", a.url.is_some(), &["webhook"]),
        ("format", a.format.is_some(), &["webhook"]),
        ("secret_file", a.secret_file.is_some(), &["webhook"]),
        ("smtp_server", a.smtp_server.is_some(), &["email"]),
        ("smtp_port", a.smtp_port.is_some(), &["email"]),
        ("tls", a.tls.is_some(), &["email"]),
        ("ca_file", a.ca_file.is_some(), &["email"]),
        ("username", a.username.is_some(), &["email"]),
        ("password_file", a.password_file.is_some(), &["email"]),
        ("from", a.from.is_some(), &["email"]),
        ("to", a.to.is_some(), &["email"]),
        ("command", a.command.is_some(), &["command"]),
    ];
    if !["webhook", "email", "command"].contains(&a.kind.as_str()) {
        return Err(err(
            "kind",
            format!("unknown kind {:?} (use webhook, email or command)", a.kind),
        ));
    }
    for (key, set, of) in kinds {
        if set && !of.contains(&a.kind.as_str()) {
            return Err(err(
                key,
                format!(
                    "`{key}` is not a setting of a {} alert (it belongs to {})",
                    a.kind, of[0]
                ),
            ));
        }
    }
    let mut events = vec![];
    for e in a.events.iter().flatten() {
        match Event::ALL.into_iter().find(|x| x.as_str() == e) {
            Some(x) => events.push(x),
            None => {
                return Err(err(
                    "events",
                    format!("unknown event {e:?} (use failure, anomaly, damage, overdue, missed)"),
                ))
            }
        }
    }
    for j in a.jobs.iter().flatten() {
        if !jobs.contains(j) {
            return Err(err("jobs", format!("no [[job]] is named {j:?}")));
        }
    }
    let need = |key: &str, v: Option<String>| {
        v.ok_or_else(|| err(key, format!("a {} alert needs `{key}`", a.kind)))
    };
    let target = match a.kind.as_str() {
        "webhook" => {
            let url = need("url", a.url)?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(err(
                    "url",
                    format!("{url:?} is not an http:// or https:// URL"),
                ));
            }
            let slack = match a.format.as_deref() {
                None | Some("json") => false,
                Some("slack") => true,
                Some(f) => {
                    return Err(err(
                        "format",
                        format!("unknown format {f:?} (use json or slack)"),
                    ))
                }
            };
            let secret = match &a.secret_file {
                Some(p) => {
                    let text = std::fs::read(p).map_err(|e| {
                        err("secret_file", format!("cannot read {}: {e}", p.display()))
                    })?;
                    let key = text.trim_ascii().to_vec();
                    if key.is_empty() {
                        return Err(err("secret_file", format!("{} is empty", p.display())));
                    }
                    Some(key)
                }
                None => None,
            };
            Target::Webhook { url, slack, secret }
        }
        "email" => {
            let tls = match a.tls.as_deref() {
                None | Some("starttls") => SmtpTls::StartTls,
                Some("tls") => SmtpTls::Tls,
                Some("none") => SmtpTls::None,
                Some(t) => {
                    return Err(err(
                        "tls",
                        format!("unknown tls {t:?} (use starttls, tls or none)"),
                    ))
                }
            };
            let mailbox = |key: &str, s: &str| {
                s.parse::<Mailbox>()
                    .map_err(|e| err(key, format!("{s:?} is not a mail address: {e}")))
            };
            let from = mailbox("from", &need("from", a.from)?)?;
            let to_list = a.to.unwrap_or_default();
            if to_list.is_empty() {
                return Err(err(
                    "to",
                    "an email alert needs at least one address in `to`".into(),
                ));
            }
            let to = to_list
                .iter()
                .map(|t| mailbox("to", t))
                .collect::<Result<Vec<_>, _>>()?;
            if a.username.is_some() != a.password_file.is_some() {
                return Err(err(
                    "username",
                    "give username and password_file together".into(),
                ));
            }
            Target::Email {
                server: need("smtp_server", a.smtp_server)?,
                port: a.smtp_port.unwrap_or(match tls {
                    SmtpTls::StartTls => 587,
                    SmtpTls::Tls => 465,
                    SmtpTls::None => 25,
                }),
                tls,
                ca_file: a.ca_file,
                username: a.username,
                password_file: a.password_file,
                from: Box::new(from),
                to,
            }
        }
        _ => Target::Command {
            command: need("command", a.command)?,
        },
    };
    Ok(Channel {
        name: a.name,
        events,
        jobs: a.jobs.unwrap_or_default(),
        target,
    })
}

impl Channel {
    /// Whether this channel gets `alert`.
    pub fn wants(&self, alert: &Alert) -> bool {
        (self.events.is_empty() || self.events.contains(&alert.event))
            && (self.jobs.is_empty() || self.jobs.contains(&alert.job))
    }

    /// Deliver `alert`, trying three times in all.
    pub async fn deliver(&self, alert: &Alert) -> Result<(), String> {
        let mut wait = Duration::from_secs(2);
        let mut last = String::new();
        for attempt in 1..=3 {
            match self.send(alert).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!("alert {}: attempt {attempt}: {e}", self.name);
                    last = e;
                }
            }
            if attempt < 3 {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        Err(last)
    }

    async fn send(&self, alert: &Alert) -> Result<(), String> {
        match &self.target {
            Target::Webhook { url, slack, secret } => {
                webhook(url, *slack, secret.as_deref(), alert).await
            }
            Target::Email { .. } => email(&self.target, alert).await,
            Target::Command { command } => run_command(command, alert).await,
        }
    }
}

/// "[ibars] FAILURE: backup job home failed (attempt 3)".
pub fn subject(a: &Alert) -> String {
    let what = match a.phase {
        Phase::Firing => a.event.as_str().to_uppercase(),
        Phase::Reminder => format!("{} (reminder)", a.event.as_str().to_uppercase()),
        Phase::Resolved => "RESOLVED".to_string(),
    };
    format!("[ibars] {what}: {}", a.summary)
}

/// The text of an email or chat message.
pub fn text(a: &Alert) -> String {
    let mut t = format!("{}\n\n", a.summary);
    if let Some(d) = &a.detail {
        t += &format!("{d}\n\n");
    }
    t += &format!(
        "job: {}\nrepository: {}\nhost: {}\nevent: {} ({})\nsince: {}\ntime: {}\n",
        a.job,
        a.repository,
        a.host,
        a.event.as_str(),
        match a.phase {
            Phase::Firing => "firing",
            Phase::Reminder => "reminder",
            Phase::Resolved => "resolved",
        },
        a.since,
        a.time
    );
    if let Some(s) = &a.snapshot {
        t += &format!("snapshot: {s}\n");
    }
    t
}

/// The `X-Ibars-Signature` of `body`: `sha256=` and the hex HMAC-SHA256 under `key`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn webhook(url: &str, slack: bool, secret: Option<&[u8]>, a: &Alert) -> Result<(), String> {
    let body = if slack {
        serde_json::to_vec(&serde_json::json!({ "text": format!("{}\n{}", subject(a), text(a)) }))
    } else {
        serde_json::to_vec(a)
    }
    .map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("ibars/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-ibars-event", a.event.as_str());
    if let Some(k) = secret {
        req = req.header("x-ibars-signature", signature(k, &body));
    }
    let resp = req
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("POST {url}: HTTP {}", resp.status()));
    }
    Ok(())
}

async fn email(target: &Target, a: &Alert) -> Result<(), String> {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let Target::Email {
        server,
        port,
        tls,
        ca_file,
        username,
        password_file,
        from,
        to,
    } = target
    else {
        return Ok(());
    };
    let mut msg = Message::builder()
        .from((**from).clone())
        .subject(subject(a));
    for t in to {
        msg = msg.to(t.clone());
    }
    let msg = msg
        .body(text(a))
        .map_err(|e| format!("composing the email: {e}"))?;
    let params = || -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(server.clone());
        if let Some(f) = ca_file {
            let pem = std::fs::read(f).map_err(|e| format!("ca_file {}: {e}", f.display()))?;
            let cert =
                Certificate::from_pem(&pem).map_err(|e| format!("ca_file {}: {e}", f.display()))?;
            b = b.add_root_certificate(cert);
        }
        b.build().map_err(|e| format!("TLS for {server}: {e}"))
    };
    let tls = match tls {
        SmtpTls::StartTls => Tls::Required(params()?),
        SmtpTls::Tls => Tls::Wrapper(params()?),
        SmtpTls::None => Tls::None,
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server.as_str())
        .port(*port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)));
    if let (Some(u), Some(p)) = (username, password_file) {
        let pw = std::fs::read_to_string(p)
            .map_err(|e| format!("password_file {}: {e}", p.display()))?;
        b = b.credentials(Credentials::new(
            u.clone(),
            pw.trim_end_matches(['\n', '\r']).to_string(),
        ));
    }
    b.build()
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP {server}:{port}: {e}"))
}

async fn run_command(command: &str, a: &Alert) -> Result<(), String> {
    let json = serde_json::to_string(a).map_err(|e| e.to_string())?;
    let facts = vec![
        (
            "IBARS_ALERT_EVENT".to_string(),
            a.event.as_str().to_string(),
        ),
        (
            "IBARS_ALERT_PHASE".to_string(),
            serde_json::to_value(a.phase)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        ),
        ("IBARS_ALERT_JOB".to_string(), a.job.clone()),
        ("IBARS_ALERT_REPOSITORY".to_string(), a.repository.clone()),
        ("IBARS_ALERT_SUMMARY".to_string(), a.summary.clone()),
        ("IBARS_ALERT_SUBJECT".to_string(), subject(a)),
        ("IBARS_ALERT_JSON".to_string(), json),
    ];
    let cmd = command.to_string();
    let out = tokio::task::spawn_blocking(move || {
        crate::hooks::run(&cmd, &facts, Duration::from_secs(60))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    if out.success() {
        Ok(())
    } else {
        Err(format!("command {command:?}: {}", out.describe()))
    }
}
