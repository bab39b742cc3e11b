//! The daemon process: it loads the config (whole, or it does not start), finds runs a crash
//! cut short, serves the control API on its Unix socket and `/metrics`, and runs jobs when
//! they are due. It sleeps until the next due time, a request or a signal: it does not poll.
//!
//! Signals: SIGHUP reloads the config (a bad file is refused and the old one kept; running
//! jobs go on). SIGTERM and SIGINT stop it: no new runs, running ones get `stop_grace`, then
//! they are stopped cleanly (the child `ibars` exits 130 with the repository consistent).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::alerts::{self, Alert};
use crate::config::{Config, ConfigError};
use crate::jobs::{self, Start};
use crate::metrics::Metrics;
use crate::run::{self, Report, Request};
use crate::state::{State, StateError};

mod recover;

/// The longest the scheduler sleeps at once: a wall clock that jumps (suspend, a clock set
/// by hand) is noticed within this.
const MAX_SLEEP: Duration = Duration::from_secs(15 * 60);

/// How often the audit journal is moved into the repositories' history.
const AUDIT_FLUSH: Duration = Duration::from_secs(30);

/// Why the daemon could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |source| DaemonError::Io { what, source }
}

/// How to start the daemon.
#[derive(Debug, Clone)]
pub struct Options {
    pub config_file: PathBuf,
    /// The `ibars` binary the jobs run.
    pub exe: PathBuf,
}

/// The daemon's knowledge, shared by the scheduler and the API.
pub(crate) struct Inner {
    pub config: Config,
    pub state: State,
    pub metrics: Metrics,
    pub state_dir: PathBuf,
    pub started: Timestamp,
    pub stopping: bool,
    /// The last `ibars stats` of each repository, by name.
    pub repo_stats: std::collections::HashMap<String, serde_json::Value>,
}

pub(crate) type Shared = Arc<Mutex<Inner>>;

/// Locks `shared`; a panic elsewhere never stops the daemon from answering.
pub(crate) fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn save(&self) {
        if let Err(e) = self.state.save(&self.state_dir) {
            tracing::error!("{e}");
        }
    }

    fn update_metrics(&mut self, now: Timestamp) {
        let empty = crate::state::JobState::default();
        for job in &self.config.jobs {
            let js = self.state.jobs.get(&job.name).unwrap_or(&empty);
            let next = jobs::next_run(job, js, now);
            self.metrics.update_job(job, js, next, now);
        }
    }
}

/// What the scheduler is told.
pub(crate) enum Event {
    Spawned {
        job: String,
        pid: u32,
    },
    Finished {
        request: Box<Request>,
        report: Box<Report>,
    },
    RunNow {
        job: String,
        reply: oneshot::Sender<RunNow>,
    },
    /// Measure a repository again (after a restore or check the API started).
    RefreshStats {
        repository: String,
    },
    /// `ibars stats` of a repository, for its metrics.
    Stats {
        repository: String,
        stats: serde_json::Value,
    },
    /// An automatic job's probe ended (`auto::probe`).
    Probed {
        job: String,
        at: Timestamp,
        found: Result<Option<String>, String>,
        output: Option<String>,
    },
    /// `ibars forecast` of a repository, for its fill alert.
    Forecast {
        repository: String,
        forecast: serde_json::Value,
    },
}

/// The answer to a request to run a job now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunNow {
    Started,
    AlreadyRunning,
    Unknown,
    Stopping,
}

/// Check the config, then run the daemon until SIGTERM or SIGINT.
pub fn run(opts: Options) -> Result<(), DaemonError> {
    let config = Config::load(&opts.config_file)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("starting the runtime"))?;
    rt.block_on(serve(opts, config))
}

async fn serve(opts: Options, config: Config) -> Result<(), DaemonError> {
    let state_dir = config.daemon.state_path();
    make_private_dir(&state_dir)?;
    let lost = !State::file(&state_dir).exists();
    let mut state = State::load(&state_dir)?;
    if lost {
        recover::rebuild(&mut state, &config, &opts).await;
    }
    let socket = config.daemon.socket_path();
    let listener = crate::listen::bind_socket(&socket, config.daemon.socket_group.as_deref())?;
    let metrics_listener = match &config.daemon.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(io(format!("metrics_listen {addr}")))?,
        ),
        None => None,
    };
    let api_listener = crate::listen::api_listener(&config).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared: Shared = Arc::new(Mutex::new(Inner {
        config,
        state,
        metrics: Metrics::new(),
        state_dir,
        started: Timestamp::now(),
        stopping: false,
        repo_stats: Default::default(),
    }));
    let mut records = JoinSet::new();
    recover::recover(&shared, &opts, &mut records).await;

    let state_dir = lock(&shared).state_dir.clone();
    // The default restore root exists, private, so that restores through the API work.
    let default_root = state_dir.join("restore");
    if lock(&shared).config.daemon.restore_roots() == [default_root.clone()] {
        make_private_dir(&default_root)?;
    }
    let journal = Arc::new(crate::audit::Journal::new(&state_dir));
    let api = crate::api::router(crate::api::Api {
        shared: shared.clone(),
        tx: tx.clone(),
        auth: Arc::new(crate::auth::Auth::new(&state_dir)),
        journal: journal.clone(),
        repos: Arc::new(crate::repos::Repos::new(state_dir.join("cache"))),
        ops: Default::default(),
        opts: opts.clone(),
    });
    tokio::spawn(crate::listen::serve_socket(listener, api.clone()));
    if let Some((l, tls)) = api_listener {
        tokio::spawn(crate::listen::serve_tcp(l, tls, api));
    }
    if let Some(l) = metrics_listener {
        let m = crate::api::metrics_router(shared.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(l, m).await {
                tracing::error!("metrics listener: {e}");
            }
        });
    }
    let flusher = {
        let (journal, opts) = (journal.clone(), opts.clone());
        tokio::spawn(async move {
            let mut t = tokio::time::interval(AUDIT_FLUSH);
            loop {
                t.tick().await;
                crate::audit::flush(&journal, &opts.exe, &opts.config_file, &hostname()).await;
            }
        })
    };
    let mut hup = signal(SignalKind::hangup()).map_err(io("SIGHUP handler"))?;
    let mut term = signal(SignalKind::terminate()).map_err(io("SIGTERM handler"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(io("SIGINT handler"))?;
    crate::listen::watchdog();
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    tracing::info!("ibars daemon ready; control socket {}", socket.display());

    let ctx = Ctx {
        shared: shared.clone(),
        opts: opts.clone(),
        tx,
        stop_rx,
    };
    let repositories: Vec<String> = lock(&shared)
        .config
        .repositories
        .iter()
        .map(|r| r.name.clone())
        .collect();
    for r in repositories {
        ctx.refresh_stats(&r, &mut records);
    }
    loop {
        let now = Timestamp::now();
        let wake = ctx.tick(now, &mut records);
        let nap = wake
            .map(|w| w.duration_since(now).unsigned_abs())
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            Some(ev) = rx.recv() => ctx.handle(ev, &mut records),
            _ = hup.recv() => reload(&shared, &opts),
            _ = term.recv() => break,
            _ = int.recv() => break,
            Some(_) = records.join_next(), if !records.is_empty() => {}
        }
    }

    // Stopping: no new runs; running ones get the grace period, then a clean stop.
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let grace = {
        let mut g = lock(&shared);
        g.stopping = true;
        g.config.daemon.stop_grace()
    };
    let deadline = tokio::time::Instant::now() + grace;
    let mut stopped = false;
    while running(&shared) > 0 {
        tokio::select! {
            Some(ev) = rx.recv() => ctx.handle(ev, &mut records),
            _ = tokio::time::sleep_until(deadline), if !stopped => {
                tracing::warn!("stopping {} running job(s) after the grace period", running(&shared));
                let _ = stop_tx.send(true);
                stopped = true;
            }
        }
    }
    while records.join_next().await.is_some() {}
    flusher.abort();
    crate::audit::flush(&journal, &opts.exe, &opts.config_file, &hostname()).await;
    let _ = std::fs::remove_file(&socket);
    tracing::info!("ibars daemon stopped");
    Ok(())
}

fn running(shared: &Shared) -> usize {
    lock(shared)
        .state
        .jobs
        .values()
        .filter(|j| j.running.is_some())
        .count()
}

/// What a scheduled run needs to start and report.
struct Ctx {
    shared: Shared,
    opts: Options,
    tx: mpsc::UnboundedSender<Event>,
    stop_rx: watch::Receiver<bool>,
}

impl Ctx {
    /// Start what is due and send the alerts time calls for (missed runs, max_age passed,
    /// reminders); returns when to look again.
    fn tick(&self, now: Timestamp, tasks: &mut JoinSet<()>) -> Option<Timestamp> {
        let mut g = lock(&self.shared);
        if g.stopping {
            return None;
        }
        let inner = &mut *g;
        let t = jobs::tick(&inner.config, &mut inner.state, now);
        let host = hostname();
        let mut sent = vec![];
        for (job, missed) in &t.skipped {
            tracing::warn!(
                "job {job}: {} due time(s) passed without a run (the last {}); not caught up",
                missed.len(),
                missed.last().map(|m| m.to_string()).unwrap_or_default()
            );
            if let Some(j) = inner.config.jobs.iter().find(|j| &j.name == job) {
                sent.extend(
                    inner
                        .state
                        .alerts
                        .observe(j, alerts::missed(j, missed), now, &host),
                );
            }
        }
        let mut wake = t.wake;
        for j in &inner.config.jobs {
            // tick() made every job's state.
            let Some(js) = inner.state.jobs.get(&j.name) else {
                continue;
            };
            if let Some(o) = alerts::overdue(j, js, now) {
                sent.extend(inner.state.alerts.observe(j, o, now, &host));
            }
            if let Some(at) = jobs::overdue_at(j, js).filter(|&at| at > now) {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        }
        let every = inner.config.daemon.remind_after();
        sent.extend(inner.state.alerts.reminders(now, every, &host));
        if let Some(at) = inner.state.alerts.next_reminder(every) {
            wake = Some(wake.map_or(at, |w| w.min(at)));
        }
        if !t.starts.is_empty() || !t.skipped.is_empty() || !sent.is_empty() {
            inner.save();
        }
        for s in t.starts {
            self.start(inner, s);
        }
        for (name, since) in t.probes {
            let tx = self.tx.clone();
            crate::auto::spawn_probe(inner, &name, since, now, move |job, at, found, output| {
                let _ = tx.send(Event::Probed {
                    job,
                    at,
                    found,
                    output,
                });
            });
        }
        inner.update_metrics(now);
        dispatch(&inner.config, sent, tasks);
        wake
    }

    /// Measure a repository (`ibars stats`, in the background) for its metrics.
    fn refresh_stats(&self, repository: &str, tasks: &mut JoinSet<()>) {
        let args = vec!["--json".into(), "stats".into()];
        self.ask(repository, "stats", args, tasks, |repository, stats| {
            Event::Stats { repository, stats }
        });
    }

    /// Run `ibars ARGS` on `repository` in the background, and send `event` of its last JSON
    /// value; a failure is logged as `what`.
    fn ask(
        &self,
        repository: &str,
        what: &'static str,
        args: Vec<std::ffi::OsString>,
        tasks: &mut JoinSet<()>,
        event: impl FnOnce(String, serde_json::Value) -> Event + Send + 'static,
    ) {
        let cmd = crate::command::ibars(&self.opts.exe, &self.opts.config_file, repository, args);
        let tx = self.tx.clone();
        let name = repository.to_string();
        tasks.spawn(async move {
            match run::call(&cmd, None).await {
                Ok(out) => {
                    if let Some(v) = run::last_json(&out) {
                        let _ = tx.send(event(name, v));
                    }
                }
                Err(e) => tracing::warn!("repository {name}: {what}: {e}"),
            }
        });
    }

    /// Forecast a repository's fill date (`ibars forecast`, in the background) for its alert,
    /// when `fill_alert` is on.
    fn forecast(&self, config: &Config, repository: &str, tasks: &mut JoinSet<()>) {
        let Some(days) = config.daemon.fill_alert_days() else {
            return;
        };
        let mut args: Vec<std::ffi::OsString> = vec![
            "--json".into(),
            "forecast".into(),
            "--horizon".into(),
            format!("{days}d").into(),
        ];
        if let Some(q) = config.repository(repository).and_then(|r| r.quota.clone()) {
            args.extend(["--quota".into(), q.into()]);
        }
        self.ask(
            repository,
            "forecast",
            args,
            tasks,
            |repository, forecast| Event::Forecast {
                repository,
                forecast,
            },
        );
    }

    fn start(&self, inner: &Inner, s: Start) {
        let Some(job) = inner.config.jobs.iter().find(|j| j.name == s.job) else {
            return;
        };
        tracing::info!(
            "job {}: starting ({}, attempt {})",
            s.job,
            s.trigger,
            s.attempt
        );
        let request = Request {
            job: job.clone(),
            trigger: s.trigger,
            due: s.due,
            attempt: s.attempt,
            missed: s.missed,
            reason: s.reason.clone(),
            exe: self.opts.exe.clone(),
            config_file: self.opts.config_file.clone(),
        };
        let tx = self.tx.clone();
        let stop = self.stop_rx.clone();
        tokio::spawn(async move {
            let name = request.job.name.clone();
            let spawned = tx.clone();
            let report = run::execute(
                &request,
                move |pid| {
                    let _ = spawned.send(Event::Spawned { job: name, pid });
                },
                stop,
            )
            .await;
            let _ = tx.send(Event::Finished {
                request: Box::new(request),
                report: Box::new(report),
            });
        });
    }

    fn handle(&self, ev: Event, records: &mut JoinSet<()>) {
        let now = Timestamp::now();
        let mut g = lock(&self.shared);
        match ev {
            Event::Spawned { job, pid } => {
                if let Some(r) = g.state.job(&job).running.as_mut() {
                    r.pid = Some(pid);
                }
                g.save();
            }
            Event::Finished { request, report } => {
                tracing::info!(
                    "job {}: {} after {:.1?}{}",
                    request.job.name,
                    report.outcome,
                    report.duration(),
                    report
                        .message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                );
                let inner = &mut *g;
                let js = inner.state.job(&request.job.name);
                let mut sent = vec![];
                match inner
                    .config
                    .jobs
                    .iter()
                    .find(|j| j.name == request.job.name)
                {
                    Some(job) => {
                        jobs::finish(job, js, (*report).clone());
                        let retry_pending = js.retry_at.is_some();
                        let host = hostname();
                        for o in alerts::after_run(job, &report, retry_pending) {
                            sent.extend(inner.state.alerts.observe(job, o, now, &host));
                        }
                    }
                    // Removed by a reload while it ran.
                    None => {
                        js.running = None;
                        js.push((*report).clone());
                    }
                }
                inner.save();
                dispatch(&inner.config, sent, records);
                self.refresh_stats(&request.job.repository, records);
                if let crate::config::Action::Copy { target } = &request.job.action {
                    self.refresh_stats(target, records);
                }
                inner.update_metrics(now);
                records.spawn(record(self.opts.clone(), request, report));
            }
            Event::Probed {
                job,
                at,
                found,
                output,
            } => {
                crate::auto::probe_ended(g.state.job(&job), &job, at, found, output);
                g.save();
            }
            Event::RefreshStats { repository } => self.refresh_stats(&repository, records),
            Event::Stats { repository, stats } => {
                g.metrics.update_repository(&repository, &stats);
                self.forecast(&g.config, &repository, records);
                g.repo_stats.insert(repository, stats);
            }
            Event::Forecast {
                repository,
                forecast,
            } => {
                let o = alerts::filling(&forecast);
                let host = hostname();
                let sent: Vec<Alert> = g
                    .state
                    .alerts
                    .observe_repository(&repository, o, now, &host)
                    .into_iter()
                    .collect();
                if !sent.is_empty() {
                    g.save();
                    dispatch(&g.config, sent, records);
                }
            }
            Event::RunNow { job, reply } => {
                let answer = if g.stopping {
                    RunNow::Stopping
                } else if !g.config.jobs.iter().any(|j| j.name == job) {
                    RunNow::Unknown
                } else {
                    match jobs::start_manual(&mut g.state, &job, now) {
                        Some(s) => {
                            g.save();
                            self.start(&g, s);
                            g.update_metrics(now);
                            RunNow::Started
                        }
                        None => RunNow::AlreadyRunning,
                    }
                };
                let _ = reply.send(answer);
            }
        }
    }
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Send each alert to the channels that want it, in the background (shutdown waits for them).
fn dispatch(config: &Config, sent: Vec<Alert>, tasks: &mut JoinSet<()>) {
    for a in sent {
        tracing::warn!("alert: {}", alerts::channel::subject(&a));
        for ch in config.alerts.iter().filter(|c| c.wants(&a)) {
            let ch = ch.clone();
            let a = a.clone();
            tasks.spawn(async move {
                match ch.deliver(&a).await {
                    Ok(()) => tracing::info!("alert {}: sent", ch.name),
                    Err(e) => tracing::error!("alert {}: not delivered: {e}", ch.name),
                }
            });
        }
    }
}

/// Keep a run in the repository's history (by a child `ibars`, which opens the repository as
/// the job did).
async fn record(opts: Options, request: Box<Request>, report: Box<Report>) {
    let rec = jobs::record(&request.job, &report, &hostname());
    let cmd = crate::command::ibars(
        &opts.exe,
        &opts.config_file,
        &request.job.repository,
        vec!["--json".into(), "history".into(), "--record".into()],
    );
    if let Err(e) = run::call(&cmd, Some(rec.to_bytes())).await {
        tracing::error!(
            "job {}: could not record the run in repository {}: {e}",
            request.job.name,
            request.job.repository
        );
    }
}

/// SIGHUP: read the config again; keep the old one if the new one has a mistake.
fn reload(shared: &Shared, opts: &Options) {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
    match Config::load(&opts.config_file) {
        Ok(c) => {
            let mut g = lock(shared);
            if c.daemon.socket_path() != g.config.daemon.socket_path()
                || c.daemon.metrics_listen != g.config.daemon.metrics_listen
                || c.daemon.state_path() != g.config.daemon.state_path()
                || c.daemon.listen != g.config.daemon.listen
                || c.daemon.tls_cert != g.config.daemon.tls_cert
                || c.daemon.tls_key != g.config.daemon.tls_key
            {
                tracing::warn!(
                    "socket, metrics_listen, state_dir, listen and TLS take effect at the next start"
                );
            }
            tracing::info!("config reloaded: {} job(s)", c.jobs.len());
            g.state.alerts.retain_jobs(&c.jobs);
            g.config = c;
        }
        Err(e) => tracing::error!("config not reloaded, the old one stays: {e}"),
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
}

fn make_private_dir(dir: &Path) -> Result<(), DaemonError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format!("state directory {}", dir.display())))
}
