//! The daemon's configuration: one TOML file with `[daemon]`, `[[repository]]` and `[[job]]`
//! tables. Unknown keys are refused, and so are keys that do not belong to a job's kind; every
//! error names the file, the line and the key. A file either loads whole or not at all, so the
//! daemon never runs half configured.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ibars_core::backend::s3::S3Config;
use ibars_core::ops::check::Subset;
use ibars_core::ops::forget::policy::Policy;
use ibars_core::snapshot::BackupType;
use serde::Deserialize;
use toml::Spanned;

use crate::alerts::channel::{Channel, RawAlert};
use crate::auto::Timing;
use crate::schedule::{Retry, Schedule};
pub use job::{Action, BackupJob, Hooks, Job};

/// A mistake in the configuration, with where it is.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{}:{line}: {message}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the mistake is not on one line (the file could not be read).
    pub line: usize,
    /// The key at fault, when there is one.
    pub key: Option<String>,
    pub message: String,
}

/// The whole configuration, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub daemon: DaemonSettings,
    pub repositories: Vec<RepositoryConfig>,
    pub jobs: Vec<Job>,
    /// Where alerts go (`[[alert]]`).
    pub alerts: Vec<Channel>,
}

/// The `[daemon]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonSettings {
    /// The control socket (`ibars jobs ...` talks to it); mode 0600 unless `socket_group`.
    pub socket: Option<PathBuf>,
    /// A group whose members may use the socket too (mode 0660).
    pub socket_group: Option<String>,
    /// Where Prometheus scrapes `/metrics`, such as `127.0.0.1:9929`; off when unset.
    pub metrics_listen: Option<String>,
    /// The time zone of every schedule that names none (IANA); the system's when unset.
    pub time_zone: Option<String>,
    /// Local state (a cache of the repositories' history; it can always be rebuilt).
    pub state_dir: Option<PathBuf>,
    /// How often an alert is sent again while its condition stands, such as "24h" (the
    /// default).
    pub remind_after: Option<String>,
    /// How long a stopping daemon (SIGTERM) waits for running jobs before it stops them
    /// cleanly, such as "5m"; 60 s when unset.
    pub stop_grace: Option<String>,
    /// Where the API and the dashboard listen, such as `127.0.0.1:8080` or `[::]:8443`; off
    /// when unset. Anything but loopback needs `tls_cert` and `tls_key`.
    pub listen: Option<String>,
    /// The certificate chain (PEM) of the API's TLS, and its private key (PEM).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// The `[[repository]]` whose history keeps audit entries that concern no repository
    /// (logins, tokens); the first one when unset.
    pub audit_repository: Option<String>,
    /// Directories under which the API may restore; `STATE_DIR/restore` when empty.
    pub restore_roots: Vec<PathBuf>,
    /// Alert when a repository is forecast to fill its disk or its `quota` within this, such
    /// as "30d" (the default); "off" for never.
    pub fill_alert: Option<String>,
}

impl DaemonSettings {
    /// The control socket: as set, else `/run/ibars/ibars.sock` for root and
    /// `$XDG_RUNTIME_DIR/ibars/ibars.sock` (or `/tmp/ibars-UID/ibars.sock`) for a user.
    pub fn socket_path(&self) -> PathBuf {
        if let Some(s) = &self.socket {
            return s.clone();
        }
        let uid = nix::unistd::geteuid();
        if uid.is_root() {
            return PathBuf::from("/run/ibars/ibars.sock");
        }
        match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            Some(d) => PathBuf::from(d).join("ibars").join("ibars.sock"),
            None => PathBuf::from(format!("/tmp/ibars-{uid}")).join("ibars.sock"),
        }
    }

    /// The state directory: as set, else `/var/lib/ibars` for root and
    /// `$XDG_STATE_HOME/ibars` (or `~/.local/state/ibars`) for a user.
    pub fn state_path(&self) -> PathBuf {
        if let Some(s) = &self.state_dir {
            return s.clone();
        }
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/var/lib/ibars");
        }
        std::env::var_os("XDG_STATE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(|| PathBuf::from("/var/lib"))
            .join("ibars")
    }

    /// `remind_after` (checked when the file was read).
    pub fn remind_after(&self) -> Duration {
        self.remind_after
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or(Duration::from_secs(24 * 3600))
    }

    /// `stop_grace` (checked when the file was read).
    pub fn stop_grace(&self) -> Duration {
        self.stop_grace
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or(Duration::from_secs(60))
    }
}

/// A duration such as "90s", "4h" or "7d" (days of 24 hours; weeks too, not months).
fn parse_span(s: &str) -> Result<jiff::SignedDuration, String> {
    let span: jiff::Span = s.trim().parse().map_err(|e| format!("{e}"))?;
    span.to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("{e}"))
}

/// A positive duration, as [`parse_span`] reads it.
fn parse_duration(s: &str) -> Option<Duration> {
    let d = parse_span(s).ok()?;
    d.is_positive().then(|| d.unsigned_abs())
}

/// A `[[repository]]`: the settings the CLI takes for `-r`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    pub name: String,
    /// A directory, or `s3:https://host/bucket/prefix`.
    pub location: String,
    pub password_file: Option<PathBuf>,
    pub password_command: Option<String>,
    #[serde(default)]
    pub append_only: bool,
    pub cache_dir: Option<PathBuf>,
    /// A size the repository should stay below, such as "2TiB": the daemon alerts when the
    /// forecast reaches it within `fill_alert`.
    pub quota: Option<String>,
    /// As the CLI's `[s3]` table; the URL gives the bucket and prefix.
    #[serde(default)]
    pub s3: S3Config,
    /// As the CLI's `[classify]` table: the class patterns of this repository's data, for
    /// `ibars --daemon-repository NAME classify` and `rewrite --sensitive`.
    #[serde(default)]
    pub classify: ibars_insight::classify::rules::UserRules,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    daemon: DaemonSettings,
    #[serde(default)]
    repository: Vec<Spanned<RepositoryConfig>>,
    #[serde(default)]
    job: Vec<Spanned<RawJob>>,
    #[serde(default)]
    alert: Vec<Spanned<RawAlert>>,
}

/// A `[[job]]` as written: the keys of every kind, checked against its kind afterwards.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: String,
    repository: String,
    kind: String,
    schedule: String,
    time_zone: Option<String>,
    #[serde(default)]
    run_missed: bool,
    timeout: Option<String>,
    retries: Option<u32>,
    retry_delay: Option<String>,
    nice: Option<i32>,
    ionice: Option<String>,
    limit_upload: Option<String>,
    limit_download: Option<String>,
    before: Option<String>,
    after: Option<String>,
    on_failure: Option<String>,
    max_age: Option<String>,
    // automatic schedules (backup)
    rpo: Option<String>,
    window: Option<auto::Periods>,
    avoid: Option<auto::Periods>,
    probe_command: Option<String>,
    // backup
    paths: Option<Vec<PathBuf>>,
    excludes: Option<Vec<String>>,
    exclude_if_present: Option<Vec<String>>,
    one_file_system: Option<bool>,
    host: Option<String>,
    tags: Option<Vec<String>>,
    #[serde(rename = "type")]
    backup_type: Option<String>,
    stdin_command: Option<String>,
    stdin_filename: Option<String>,
    class: Option<String>,
    // check
    read_data: Option<bool>,
    read_data_subset: Option<String>,
    // forget
    keep_last: Option<u32>,
    keep_hourly: Option<u32>,
    keep_daily: Option<u32>,
    keep_weekly: Option<u32>,
    keep_monthly: Option<u32>,
    keep_yearly: Option<u32>,
    keep_within: Option<String>,
    keep_tags: Option<Vec<String>>,
    prune: Option<bool>,
    grace: Option<String>,
    only_tags: Option<Vec<String>>,
    exclude_tags: Option<Vec<String>>,
    // copy
    target: Option<String>,
}

/// The default config file: `$XDG_CONFIG_HOME/ibars/ibars.toml` (or `~/.config/...`) for a
/// user, `/etc/ibars/ibars.toml` for root.
pub fn default_path() -> PathBuf {
    let user = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    match user {
        Some(d) if !nix::unistd::geteuid().is_root() => d.join("ibars").join("ibars.toml"),
        _ => PathBuf::from("/etc/ibars/ibars.toml"),
    }
}

impl Config {
    /// Read and check the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: 0,
            key: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Check `text`, the content of the file `file` (named in errors).
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let doc = Doc { text, file };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| doc.line_of(s.start));
            doc.error(line, None, e.message().trim().to_string())
        })?;
        if let Some(tz) = &raw.daemon.time_zone {
            if jiff::tz::TimeZone::get(tz).is_err() {
                let line = doc.key_line(0..text.len(), "time_zone");
                return Err(doc.error(
                    line,
                    Some("time_zone"),
                    format!("[daemon] `time_zone`: unknown time zone {tz:?}"),
                ));
            }
        }
        for (key, v) in [
            ("stop_grace", &raw.daemon.stop_grace),
            ("remind_after", &raw.daemon.remind_after),
        ] {
            if let Some(g) = v {
                if parse_duration(g).is_none() {
                    let line = doc.key_line(0..text.len(), key);
                    return Err(doc.error(
                        line,
                        Some(key),
                        format!("[daemon] `{key}`: {g:?} is not a duration such as \"5m\""),
                    ));
                }
            }
        }
        let mut names = HashSet::new();
        let mut repositories = Vec::new();
        for r in raw.repository {
            let span = r.span();
            let r = r.into_inner();
            let line = doc.line_of(span.start);
            if !names.insert(r.name.clone()) {
                return Err(doc.error(
                    line,
                    Some("name"),
                    format!("`name`: repository {:?} is defined twice", r.name),
                ));
            }
            if r.password_file.is_none() && r.password_command.is_none() {
                return Err(doc.error(
                    line,
                    None,
                    format!("repository {:?} needs password_file or password_command (a daemon cannot prompt)", r.name),
                ));
            }
            if r.password_file.is_some() && r.password_command.is_some() {
                let l = doc.key_line(span, "password_command");
                return Err(doc.error(
                    l,
                    Some("password_command"),
                    format!(
                        "repository {:?}: `password_command`: give password_file or password_command, not both",
                        r.name
                    ),
                ));
            }
            if let Some(q) = r
                .quota
                .as_deref()
                .filter(|q| ibars_core::units::parse_size(q).is_none())
            {
                let l = doc.key_line(span, "quota");
                let m = format!(
                    "repository {:?}: `quota`: {q:?} is not a size such as \"2TiB\"",
                    r.name
                );
                return Err(doc.error(l, Some("quota"), m));
            }
            repositories.push(r);
        }
        let mut jobs = Vec::new();
        let mut job_names = HashSet::new();
        for j in raw.job {
            let span = j.span();
            let j = j.into_inner();
            let job = check_job(&doc, span.clone(), j, &raw.daemon, &names)?;
            if !job_names.insert(job.name.clone()) {
                return Err(doc.error(
                    doc.line_of(span.start),
                    Some("name"),
                    format!("`name`: job {:?} is defined twice", job.name),
                ));
            }
            jobs.push(job);
        }
        let job_names: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
        let mut alerts: Vec<Channel> = Vec::new();
        for a in raw.alert {
            let span = a.span();
            let a = a.into_inner();
            let name = a.name().to_string();
            if alerts.iter().any(|c| c.name == name) {
                return Err(doc.error(
                    doc.line_of(span.start),
                    Some("name"),
                    format!("`name`: alert {name:?} is defined twice"),
                ));
            }
            let err = |key: &str, message: String| {
                doc.error(
                    doc.key_line(span.clone(), key),
                    Some(key),
                    format!("alert {name:?}: `{key}`: {message}"),
                )
            };
            alerts.push(crate::alerts::channel::check(a, &job_names, err)?);
        }
        web::check(&doc, &raw.daemon, &names)?;
        Ok(Config {
            daemon: raw.daemon,
            repositories,
            jobs,
            alerts,
        })
    }

    pub fn repository(&self, name: &str) -> Option<&RepositoryConfig> {
        self.repositories.iter().find(|r| r.name == name)
    }
}

/// For tests: repositories `r` and `t` and one `[[job]]` named `j` on `r`, with the keys in
/// `body` (its kind, schedule...).
#[cfg(test)]
pub(crate) fn test_config(body: &str) -> Config {
    let text = format!(
        "[[repository]]\nname = \"r\"\nlocation = \"/tmp/r\"\npassword_file = \"/p\"\n\
         [[repository]]\nname = \"t\"\nlocation = \"/tmp/t\"\npassword_file = \"/p\"\n\
         [[job]]\nname = \"j\"\nrepository = \"r\"\n{body}"
    );
    Config::parse(&text, Path::new("t.toml")).expect("the test config parses")
}

/// The file being checked, for errors that name a line.
struct Doc<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Doc<'_> {
    fn line_of(&self, offset: usize) -> usize {
        1 + self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
    }

    /// The line where `key = ...` is set in the table that starts at `span` (up to the next
    /// table header), else the table's first line.
    fn key_line(&self, span: Range<usize>, key: &str) -> usize {
        let start = span.start.min(self.text.len());
        let mut at = start;
        for (i, l) in self.text[start..].split_inclusive('\n').enumerate() {
            let t = l.trim_start();
            if i > 0 && t.starts_with('[') {
                break;
            }
            if let Some(rest) = t.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return self.line_of(at);
                }
            }
            at += l.len();
        }
        self.line_of(start)
    }

    fn error(&self, line: usize, key: Option<&str>, message: String) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line,
            key: key.map(str::to_string),
            message,
        }
    }
}

fn check_job(
    doc: &Doc,
    span: Range<usize>,
    j: RawJob,
    daemon: &DaemonSettings,
    repos: &HashSet<String>,
) -> Result<Job, ConfigError> {
    let name = j.name.clone();
    let err = |key: &str, msg: String| {
        let msg = if msg.contains(&format!("`{key}`")) {
            format!("job {name:?}: {msg}")
        } else {
            format!("job {name:?}: `{key}`: {msg}")
        };
        doc.error(doc.key_line(span.clone(), key), Some(key), msg)
    };
    if !kinds::KINDS.contains(&j.kind.as_str()) {
        return Err(err(
            "kind",
            format!(
                "unknown kind {:?} (use {})",
                j.kind,
                kinds::KINDS.join(", ")
            ),
        ));
    }
    if !repos.contains(&j.repository) {
        return Err(err(
            "repository",
            format!("no [[repository]] is named {:?}", j.repository),
        ));
    }
    for (key, set, kinds) in kinds::kind_keys(&j) {
        if set && !kinds.contains(&j.kind.as_str()) {
            return Err(err(
                key,
                format!(
                    "`{key}` is not a setting of a {} job (it belongs to {})",
                    j.kind,
                    kinds.join(", ")
                ),
            ));
        }
    }
    let tz = j.time_zone.as_deref().or(daemon.time_zone.as_deref());
    let schedule = if j.schedule.trim() == "auto" {
        Timing::Auto(Box::new(auto::schedule(&j, tz, &err)?))
    } else {
        for (key, set) in [
            ("rpo", j.rpo.is_some()),
            ("window", j.window.is_some()),
            ("avoid", j.avoid.is_some()),
            ("probe_command", j.probe_command.is_some()),
        ] {
            if set {
                return Err(err(key, format!("`{key}` belongs to schedule = \"auto\"")));
            }
        }
        Timing::Cron(Box::new(Schedule::parse(&j.schedule, tz).map_err(|e| {
            let key = if matches!(e, crate::schedule::ScheduleError::TimeZone(_))
                && j.time_zone.is_some()
            {
                "time_zone"
            } else {
                "schedule"
            };
            err(key, e.to_string())
        })?))
    };
    let duration = |key: &str, v: &Option<String>| -> Result<Option<Duration>, ConfigError> {
        let Some(s) = v else { return Ok(None) };
        let d = parse_span(s).map_err(|e| {
            err(
                key,
                format!("{s:?} is not a duration such as \"30m\", \"4h\" or \"7d\": {e}"),
            )
        })?;
        if d.is_negative() || d.is_zero() {
            return Err(err(key, format!("{s:?} must be longer than zero")));
        }
        Ok(Some(d.unsigned_abs()))
    };
    let rate = |key: &str, v: &Option<String>| -> Result<Option<u64>, ConfigError> {
        let Some(s) = v else { return Ok(None) };
        match ibars_core::units::parse_rate(s) {
            Some(n) => Ok(Some(n)),
            _ => Err(err(
                key,
                format!(
                    "{s:?} is not a rate such as \"10MiB\" (per second; a bare number is KiB/s)"
                ),
            )),
        }
    };
    let mut retry = Retry::default();
    if let Some(n) = j.retries {
        retry.attempts = n;
    }
    if let Some(d) = duration("retry_delay", &j.retry_delay)? {
        retry.initial = d;
        retry.max = retry.max.max(d);
    }
    if let Some(n) = j.nice {
        if !(-20..=19).contains(&n) {
            return Err(err("nice", format!("{n} is outside -20..=19")));
        }
    }
    if let Some(c) = &j.ionice {
        let ok = match c.split_once(':') {
            None => matches!(c.as_str(), "idle" | "best-effort" | "realtime"),
            Some((class, level)) => {
                matches!(class, "best-effort" | "realtime")
                    && level.parse::<u8>().is_ok_and(|l| l <= 7)
            }
        };
        if !ok {
            return Err(err(
                "ionice",
                format!("{c:?}: use idle, best-effort[:0-7] or realtime[:0-7]"),
            ));
        }
    }
    // A grace of zero is allowed (delete at once), unlike the other durations.
    let grace = match &j.grace {
        Some(g) => Some(
            parse_span(g)
                .ok()
                .filter(|d| !d.is_negative())
                .map(|d| d.unsigned_abs())
                .ok_or_else(|| {
                    err(
                        "grace",
                        format!("{g:?} is not a duration such as \"1h\" or \"0s\""),
                    )
                })?,
        ),
        None => None,
    };
    let action = match j.kind.as_str() {
        "backup" => {
            let paths = j.paths.clone().unwrap_or_default();
            if paths.is_empty() && j.stdin_command.is_none() {
                return Err(err(
                    "paths",
                    "a backup job needs paths or stdin_command".into(),
                ));
            }
            if !paths.is_empty() && j.stdin_command.is_some() {
                return Err(err(
                    "stdin_command",
                    "give paths or stdin_command, not both".into(),
                ));
            }
            if let Some(p) = paths.iter().find(|p| !p.is_absolute()) {
                return Err(err(
                    "paths",
                    format!("{} is not an absolute path", p.display()),
                ));
            }
            let backup_type = match &j.backup_type {
                None => BackupType::Incremental,
                Some(t) => t.parse().map_err(|e| err("type", format!("{e}")))?,
            };
            Action::Backup(BackupJob {
                paths,
                excludes: j.excludes.clone().unwrap_or_default(),
                exclude_if_present: j.exclude_if_present.clone().unwrap_or_default(),
                one_file_system: j.one_file_system.unwrap_or(false),
                host: j.host.clone(),
                tags: j.tags.clone().unwrap_or_default(),
                backup_type,
                stdin_filename: j
                    .stdin_command
                    .as_ref()
                    .map(|_| j.stdin_filename.clone().unwrap_or_else(|| "stdin".into())),
                stdin_command: j.stdin_command.clone(),
                class: match &j.class {
                    Some(c) => Some(c.parse().map_err(|e| err("class", e))?),
                    None => None,
                },
            })
        }
        "check" => {
            let subset = match &j.read_data_subset {
                None => Subset::All,
                Some(s) => s
                    .parse()
                    .map_err(|e| err("read_data_subset", format!("{e}")))?,
            };
            Action::Check {
                read_data: j.read_data.unwrap_or(false) || j.read_data_subset.is_some(),
                subset,
            }
        }
        "forget" => {
            let within = duration("keep_within", &j.keep_within)?
                .map(|d| jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX));
            let policy = Policy {
                last: j.keep_last,
                hourly: j.keep_hourly,
                daily: j.keep_daily,
                weekly: j.keep_weekly,
                monthly: j.keep_monthly,
                yearly: j.keep_yearly,
                within,
                tags: j.keep_tags.clone().unwrap_or_default(),
            };
            if policy.is_empty() {
                return Err(err(
                    "kind",
                    "a forget job needs at least one keep_* rule".into(),
                ));
            }
            Action::Forget {
                policy,
                only_tags: j.only_tags.clone().unwrap_or_default(),
                exclude_tags: j.exclude_tags.clone().unwrap_or_default(),
                prune: j.prune.unwrap_or(false),
                grace,
            }
        }
        "prune" => Action::Prune { grace },
        _ => {
            let target = j
                .target
                .clone()
                .ok_or_else(|| err("target", "a copy job needs a target repository".into()))?;
            if !repos.contains(&target) {
                return Err(err(
                    "target",
                    format!("no [[repository]] is named {target:?}"),
                ));
            }
            if target == j.repository {
                return Err(err(
                    "target",
                    "the target is the job's own repository".into(),
                ));
            }
            Action::Copy { target }
        }
    };
    Ok(Job {
        name: j.name.clone(),
        repository: j.repository.clone(),
        schedule,
        run_missed: j.run_missed,
        timeout: duration("timeout", &j.timeout)?,
        retry,
        nice: j.nice,
        ionice: j.ionice.clone(),
        limit_upload: rate("limit_upload", &j.limit_upload)?,
        limit_download: rate("limit_download", &j.limit_download)?,
        hooks: Hooks {
            before: j.before.clone(),
            after: j.after.clone(),
            on_failure: j.on_failure.clone(),
        },
        max_age: duration("max_age", &j.max_age)?,
        action,
    })
}

mod auto;
mod job;
mod kinds;
#[cfg(test)]
mod tests;
mod web;
