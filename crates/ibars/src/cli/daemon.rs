//! `ibars daemon` (the job runner) and `ibars jobs` (its control client).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use ibars_daemon::client::{self, ClientError};
use ibars_daemon::config::Config;
use serde_json::Value;

use super::output::{duration, local_time};
use super::{code, GlobalArgs};

const DAEMON_ABOUT: &str = "\
The daemon runs the jobs of its config file on their schedules: backups, checks, forget and
prune, and copies to another repository. Every run is a child `ibars` process (with the job's
nice, ionice, rate limits and timeout) and is recorded in the repository's history
(`ibars history --kind job`). A failed run is retried with backoff; due times missed while the
daemon was down are caught up once with `run_missed = true`. A job never overlaps itself.

Config file: --config FILE (or IBARS_CONFIG), else $XDG_CONFIG_HOME/ibars/ibars.toml for a
user and /etc/ibars/ibars.toml for root. See dist/ibars.toml for every key.

Signals: SIGHUP reloads the config (a file with a mistake is refused and the old one kept);
SIGTERM waits `stop_grace` (60 s) for running jobs, then stops them cleanly (their
repositories stay consistent). Under systemd (Type=notify) it reports ready, reloading and
stopping, and pings the watchdog when WatchdogSec= is set.

Exit codes: 0 stopped by a signal; 1 could not start (the socket is taken, a directory cannot
be made); 2 the config file has a mistake (the message names its line and key).

API and dashboard: `listen = \"127.0.0.1:8080\"` in [daemon] serves them in plain HTTP on
loopback; any other address needs `tls_cert` and `tls_key` (PEM files). --generate-cert makes
a self-signed pair to try it out. Make a login with `ibars user add`, tokens with
`ibars token create`.

Examples:
  ibars daemon --check-config               # check the file, show each job's next five runs
  ibars daemon --generate-cert              # STATE_DIR/tls/cert.pem and key.pem
  ibars daemon --config /etc/ibars/ibars.toml";

/// Options of `ibars daemon`.
#[derive(Args, Debug)]
#[command(after_help = DAEMON_ABOUT)]
pub struct DaemonArgs {
    /// Check the config file and print each job's next five runs, then exit (0: the file is
    /// good; 2: it has a mistake).
    #[arg(long)]
    pub check_config: bool,
    /// Write a self-signed certificate and its key for the API's TLS (cert.pem and key.pem
    /// in --cert-dir, by default STATE_DIR/tls), print the lines to add to [daemon], and
    /// exit. Existing files are never overwritten.
    #[arg(long)]
    pub generate_cert: bool,
    /// Where --generate-cert writes.
    #[arg(long, value_name = "DIR", requires = "generate_cert")]
    pub cert_dir: Option<PathBuf>,
}

/// The config file of the daemon: --config, or the default.
fn config_path(g: &GlobalArgs) -> PathBuf {
    g.config
        .clone()
        .unwrap_or_else(ibars_daemon::config::default_path)
}

/// A config mistake: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct BadConfig(#[from] pub ibars_daemon::config::ConfigError);

pub fn run(g: &GlobalArgs, a: &DaemonArgs) -> Result<u8> {
    let path = config_path(g);
    if a.check_config {
        let c = Config::load(&path).map_err(BadConfig)?;
        print_check(g, &path, &c);
        return Ok(code::OK);
    }
    if a.generate_cert {
        return generate_cert(g, &path, a.cert_dir.as_deref());
    }
    let exe = std::env::current_exe()?;
    let opts = ibars_daemon::daemon::Options {
        config_file: path,
        exe,
    };
    match ibars_daemon::daemon::run(opts) {
        Ok(()) => Ok(code::OK),
        Err(ibars_daemon::daemon::DaemonError::Config(e)) => Err(BadConfig(e).into()),
        Err(e) => Err(e.into()),
    }
}

fn generate_cert(
    g: &GlobalArgs,
    config: &std::path::Path,
    dir: Option<&std::path::Path>,
) -> Result<u8> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => match Config::load(config) {
            Ok(c) => c.daemon.state_path().join("tls"),
            Err(_) => ibars_daemon::config::DaemonSettings::default()
                .state_path()
                .join("tls"),
        },
    };
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let c = ibars_daemon::listen::generate_cert(&dir, &host)?;
    if g.json {
        outln!(
            "{}",
            serde_json::json!({"message_type": "certificate", "cert": c.cert, "key": c.key,
                "sha256_fingerprint": c.fingerprint})
        );
        return Ok(code::OK);
    }
    outln!(
        "wrote {} and {} (self-signed, for localhost and {host})",
        c.cert.display(),
        c.key.display()
    );
    outln!("SHA-256 fingerprint: {}", c.fingerprint);
    outln!("\nAdd to [daemon] in {}:", config.display());
    outln!("  listen = \"0.0.0.0:8443\"");
    outln!("  tls_cert = {:?}", c.cert.display().to_string());
    outln!("  tls_key = {:?}", c.key.display().to_string());
    outln!("\nBrowsers warn about a self-signed certificate: compare the fingerprint, or use one from your CA.");
    Ok(code::OK)
}

fn print_check(g: &GlobalArgs, path: &std::path::Path, c: &Config) {
    let now = jiff::Timestamp::now();
    if g.json {
        let jobs: Vec<Value> = c
            .jobs
            .iter()
            .map(|j| {
                serde_json::json!({
                    "name": j.name,
                    "kind": j.action.kind(),
                    "repository": j.repository,
                    "schedule": j.schedule.expr(),
                    "time_zone": j.schedule.time_zone(),
                    "next_runs": j.schedule.upcoming(now, 5).iter().map(|z| z.timestamp().to_string()).collect::<Vec<_>>(),
                })
            })
            .collect();
        outln!(
            "{}",
            serde_json::json!({"config": path, "ok": true, "repositories": c.repositories.iter().map(|r| &r.name).collect::<Vec<_>>(), "jobs": jobs})
        );
        return;
    }
    outln!(
        "{}: ok ({} repositories, {} jobs)",
        path.display(),
        c.repositories.len(),
        c.jobs.len()
    );
    for j in &c.jobs {
        outln!(
            "\njob {} ({} on {}), \"{}\" in {}:",
            j.name,
            j.action.kind(),
            j.repository,
            j.schedule.expr(),
            j.schedule.time_zone()
        );
        if let Some(a) = j.auto() {
            outln!(
                "  when the RPO of {} needs it: probes every {} min while nothing changes{}",
                a.rpo,
                a.policy.probe_every / 60,
                if a.policy.calendar.is_always() {
                    ""
                } else {
                    ", starts only where window/avoid allow"
                }
            );
        }
        for z in j.schedule.upcoming(now, 5) {
            outln!("  {}", z.strftime("%a %Y-%m-%d %H:%M:%S %Z"));
        }
    }
}

const JOBS_ABOUT: &str = "\
Talks to the running daemon over its control socket: --socket, else the config file's
[daemon] socket, else /run/ibars/ibars.sock (root) or $XDG_RUNTIME_DIR/ibars/ibars.sock.

Exit codes: 0 success; 1 the job's run failed (run --wait) or the daemon refused; 2 no such
job; 14 the daemon could not be reached.

Examples:
  ibars jobs list
  ibars jobs run home --wait
  ibars jobs history home --json";

/// `ibars jobs`.
#[derive(Args, Debug)]
#[command(after_help = JOBS_ABOUT)]
pub struct JobsArgs {
    /// The daemon's control socket.
    #[arg(long, value_name = "PATH", env = "IBARS_SOCKET")]
    pub socket: Option<PathBuf>,
    #[command(subcommand)]
    pub command: JobsCommand,
}

#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// Every job: its state, last run and next run.
    List,
    /// One job in detail, or the daemon's health without a name.
    Status { name: Option<String> },
    /// Start a job now (it must not be running).
    Run {
        name: String,
        /// Wait for the run to end; exit 0 if it succeeded, 1 if not.
        #[arg(long)]
        wait: bool,
    },
    /// A job's recent runs, newest first (all of them: `ibars history --job NAME`).
    History { name: String },
}

/// The daemon could not be reached: exit code 14.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Unreachable(pub ClientError);

fn socket(g: &GlobalArgs, a: &JobsArgs) -> PathBuf {
    if let Some(s) = &a.socket {
        return s.clone();
    }
    let path = config_path(g);
    match Config::load(&path) {
        Ok(c) => c.daemon.socket_path(),
        // The file may have a mistake the running daemon refused at its reload: its socket
        // is still where the file says.
        Err(_) => {
            let table: Option<toml::Table> = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| toml::from_str(&t).ok());
            match table
                .as_ref()
                .and_then(|t| t.get("daemon")?.get("socket")?.as_str())
            {
                Some(s) => PathBuf::from(s),
                None => ibars_daemon::config::DaemonSettings::default().socket_path(),
            }
        }
    }
}

fn call(sock: &std::path::Path, method: &str, path: &str) -> Result<Value> {
    client::call(sock, method, path).map_err(|e| match e {
        ClientError::Connect { .. } | ClientError::Timeout { .. } => Unreachable(e).into(),
        other => anyhow::Error::from(other),
    })
}

/// Exit code for a daemon's error status.
pub fn status_code(e: &anyhow::Error) -> Option<u8> {
    if e.downcast_ref::<Unreachable>().is_some() {
        return Some(code::DAEMON_UNREACHABLE);
    }
    if e.downcast_ref::<BadConfig>().is_some() {
        return Some(code::CHECK_NOT_RUN);
    }
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::Status { status: 404, .. }) => Some(code::CHECK_NOT_RUN),
        _ => None,
    }
}

pub fn jobs(g: &GlobalArgs, a: &JobsArgs) -> Result<u8> {
    let sock = socket(g, a);
    match &a.command {
        JobsCommand::List => {
            let v = call(&sock, "GET", "/api/v1/jobs")?;
            if g.json {
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_list(&v);
            }
        }
        JobsCommand::Status { name } => {
            let path = match name {
                Some(n) => format!("/api/v1/jobs/{}", escape(n)),
                None => "/api/v1/health".to_string(),
            };
            let v = call(&sock, "GET", &path)?;
            if g.json || name.is_none() {
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_status(&v);
            }
        }
        JobsCommand::Run { name, wait } => {
            let path = format!("/api/v1/jobs/{}", escape(name));
            call(&sock, "POST", &format!("{path}/run"))?;
            if !wait {
                if g.json {
                    outln!("{}", serde_json::json!({"job": name, "started": true}));
                } else {
                    outln!("job {name} started");
                }
                return Ok(code::OK);
            }
            loop {
                std::thread::sleep(std::time::Duration::from_millis(500));
                let v = call(&sock, "GET", &path)?;
                if v["state"] == "running" {
                    continue;
                }
                let last = &v["last_run"];
                let outcome = last["outcome"].as_str().unwrap_or("unknown");
                if g.json {
                    outln!("{}", serde_json::to_string_pretty(last)?);
                } else {
                    outln!("job {name}: {}", run_line(last));
                }
                let ok = matches!(outcome, "ok" | "partial" | "anomaly");
                return Ok(if ok { code::OK } else { code::FATAL });
            }
        }
        JobsCommand::History { name } => {
            let v = call(
                &sock,
                "GET",
                &format!("/api/v1/jobs/{}/history", escape(name)),
            )?;
            if g.json {
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let runs = v.as_array().cloned().unwrap_or_default();
                for r in &runs {
                    outln!("{}", run_line(r));
                }
                outln!(
                    "{} run(s) kept by the daemon; all of them: ibars history --job {name}",
                    runs.len()
                );
            }
        }
    }
    Ok(code::OK)
}

/// A job name in a URL path.
fn escape(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn time(v: &Value) -> String {
    v.as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(local_time)
        .unwrap_or_else(|| "-".into())
}

/// "2026-12-03 02:00:01  ok  (schedule, attempt 1)  12.3s  snapshot 1a2b3c4d".
fn run_line(r: &Value) -> String {
    let started = time(&r["started"]);
    let ms = match (
        r["started"]
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok()),
        r["ended"]
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok()),
    ) {
        (Some(a), Some(b)) => b.duration_since(a).as_millis().max(0) as u64,
        _ => 0,
    };
    if r["trigger"] == "auto" && r["outcome"] == "skipped" {
        // A decision of the RPO planner: a span of probes, not a run.
        return format!(
            "{started}  {:<11}  (auto, {} probe(s) until {})  {}",
            "skipped",
            r["attempt"],
            time(&r["ended"]),
            r["message"].as_str().unwrap_or("")
        );
    }
    let mut s = format!(
        "{started}  {:<11}  ({}, attempt {})  {}",
        r["outcome"].as_str().unwrap_or("-"),
        r["trigger"].as_str().unwrap_or("-"),
        r["attempt"],
        duration(ms)
    );
    if let Some(id) = r["summary"]["snapshot_id"].as_str() {
        s += &format!("  snapshot {}", id.get(..8).unwrap_or(id));
    }
    if let Some(m) = r["message"].as_str() {
        s += &format!("  {m}");
    }
    s
}

fn print_list(v: &Value) {
    outln!(
        "{:<16}  {:<7}  {:<12}  {:<9}  {:<19}  {:<11}  {:<19}",
        "Job",
        "Kind",
        "Repository",
        "State",
        "Last run",
        "Result",
        "Next run"
    );
    for j in v.as_array().into_iter().flatten() {
        let state = match (j["state"].as_str(), j["overdue"].as_bool()) {
            (Some(s), Some(true)) => format!("{s}!"),
            (Some(s), _) => s.to_string(),
            _ => "-".into(),
        };
        outln!(
            "{:<16}  {:<7}  {:<12}  {:<9}  {:<19}  {:<11}  {:<19}",
            j["name"].as_str().unwrap_or("-"),
            j["kind"].as_str().unwrap_or("-"),
            j["repository"].as_str().unwrap_or("-"),
            state,
            time(&j["last_run"]["ended"]),
            j["last_run"]["outcome"].as_str().unwrap_or("-"),
            time(&j["next_run"])
        );
    }
    if v.as_array()
        .into_iter()
        .flatten()
        .any(|j| j["overdue"] == true)
    {
        outln!("!: the last success is older than the job's max_age");
    }
}

fn print_status(j: &Value) {
    outln!("job:          {}", j["name"].as_str().unwrap_or("-"));
    outln!(
        "does:         {} on repository {}",
        j["kind"].as_str().unwrap_or("-"),
        j["repository"].as_str().unwrap_or("-")
    );
    outln!(
        "schedule:     {} ({})",
        j["schedule"].as_str().unwrap_or("-"),
        j["time_zone"].as_str().unwrap_or("-")
    );
    outln!("state:        {}", j["state"].as_str().unwrap_or("-"));
    outln!("next run:     {}", time(&j["next_run"]));
    outln!("last success: {}", time(&j["last_success"]));
    if let Some(m) = j["max_age_seconds"].as_u64() {
        outln!(
            "max age:      {} ({})",
            duration(m * 1000),
            if j["overdue"] == true {
                "OVERDUE"
            } else {
                "met"
            }
        );
    }
    if j["last_run"].is_object() {
        outln!("last run:     {}", run_line(&j["last_run"]));
    }
    if j["missed_total"].as_u64().unwrap_or(0) > 0 {
        outln!("missed:       {} due time(s) in all", j["missed_total"]);
    }
}
