//! Finding the repository, getting the password, opening.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use ibars_core::backend::cache::tag_cache_dir;
use ibars_core::backend::s3::S3Config;
use ibars_core::backend::{AppendOnlyBackend, Backend, CachedBackend};
use ibars_core::compress::Compression;
use ibars_core::repo::{InitOptions, Repository};

use ibars_daemon::config::RepositoryConfig;

use super::location::{Location, Settings, Transport};
use super::output::parse_size;

/// Options every command takes.
#[derive(Args, Debug)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Repository location: a directory, or an S3 bucket as
    /// `s3:http://HOST:PORT/BUCKET/PREFIX` (credentials from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY, or the config file). Default: the config file's `repository`,
    /// else $XDG_DATA_HOME/ibars/repo.
    #[arg(
        short = 'r',
        long = "repo",
        env = "IBARS_REPOSITORY",
        global = true,
        value_name = "LOCATION"
    )]
    pub repo: Option<String>,
    /// Read the password from this file (first line).
    #[arg(long, env = "IBARS_PASSWORD_FILE", global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Run this shell command and use what it prints as the password.
    #[arg(
        long,
        env = "IBARS_PASSWORD_COMMAND",
        global = true,
        value_name = "COMMAND"
    )]
    pub password_command: Option<String>,
    /// Machine-readable output: JSON (one object, or JSON lines for progress).
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors and warnings.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Wait up to this long for another process's conflicting lock (e.g. `5m`), instead of
    /// failing at once with exit code 11.
    #[arg(long, global = true, value_name = "DURATION", value_parser = super::output::parse_duration)]
    pub retry_lock: Option<jiff::SignedDuration>,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Config file (TOML; see the README). Default: $XDG_CONFIG_HOME/ibars/config.toml.
    #[arg(long, env = "IBARS_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Requests to the repository kept in flight at once (uploads during a backup; restore
    /// and check read with at least this many threads). Default: 8 for S3, 1 for a directory.
    #[arg(long, env = "IBARS_CONNECTIONS", global = true, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub connections: Option<u16>,
    /// Limit uploads to this rate: a size per second (`10MiB`, `500k`), or a bare number of
    /// KiB/s as restic's flag. Shared by all connections; cached reads are not counted.
    #[arg(long, env = "IBARS_LIMIT_UPLOAD", global = true, value_name = "RATE", value_parser = super::output::parse_rate)]
    pub limit_upload: Option<u64>,
    /// Limit downloads to this rate, as `--limit-upload`.
    #[arg(long, env = "IBARS_LIMIT_DOWNLOAD", global = true, value_name = "RATE", value_parser = super::output::parse_rate)]
    pub limit_download: Option<u64>,
    /// Longest one request to a remote repository may take, the upload or download of a
    /// pack included, before it fails and is retried (e.g. `30s`, `10m`). Default: 60 s for
    /// requests without a body, 5 min for transfers.
    #[arg(long, env = "IBARS_TIMEOUT", global = true, value_name = "DURATION", value_parser = super::output::parse_duration)]
    pub timeout: Option<jiff::SignedDuration>,
    /// Where remote repositories are cached (snapshots, index and trees). Default: the config
    /// file's `cache_dir`, else $XDG_CACHE_HOME/ibars. Deleting it is always safe.
    #[arg(long, env = "IBARS_CACHE_DIR", global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not use a local cache for a remote repository.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Only add to the repository: never delete or overwrite an object (locks aside).
    /// Commands that would (forget, prune, tag...) are refused with exit code 13. Pair with
    /// store credentials that cannot delete; see the README.
    #[arg(long, env = "IBARS_APPEND_ONLY", global = true)]
    pub append_only: bool,
    /// After a backup, check, forget, prune, copy or restore, write its outcome (time,
    /// duration, exit code, last success; a backup's bytes added and files) to this file in
    /// Prometheus's text format, for node_exporter's textfile collector under cron.
    #[arg(
        long,
        env = "IBARS_METRICS_TEXTFILE",
        global = true,
        value_name = "PATH"
    )]
    pub metrics_textfile: Option<PathBuf>,
    /// Take the repository (location, password source, S3 settings) from this
    /// `[[repository]]` of the daemon's config file: how the daemon runs its jobs.
    #[arg(long, env = "IBARS_DAEMON_REPOSITORY", global = true, hide = true)]
    pub daemon_repository: Option<String>,
    /// The daemon's config file, for --daemon-repository.
    #[arg(long, env = "IBARS_DAEMON_CONFIG", global = true, hide = true)]
    pub daemon_config: Option<PathBuf>,
    /// The config file, once read.
    #[arg(skip)]
    settings: std::sync::OnceLock<Settings>,
    /// The daemon's `[[repository]]`, once read.
    #[arg(skip)]
    daemon_repo: std::sync::OnceLock<Option<RepositoryConfig>>,
}

/// Options of `init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Average chunk size (a power of two, 1KiB to 4MiB).
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pub chunk_size: u64,
    /// Target pack file size (1MiB to 1GiB).
    #[arg(long, default_value = "16MiB", value_parser = parse_size)]
    pub pack_size: u64,
    /// Default compression of backups: auto, off, fast or max.
    #[arg(long, default_value = "auto")]
    pub compression: Compression,
    /// Reed-Solomon parity written beside every pack, as a share of its size (e.g. 10%), so
    /// that `repair packs` can rebuild damaged packs. Change later with `ibars config parity`.
    #[arg(long, default_value = "0%", value_parser = parse_percent)]
    pub parity: u8,
}

/// Parse `10%` or `10` as a percentage from 0 to 100.
pub fn parse_percent(s: &str) -> Result<u8, String> {
    match s.trim().trim_end_matches('%').parse::<u8>() {
        Ok(p) if p <= 100 => Ok(p),
        _ => Err(format!("'{s}': expected a percentage from 0% to 100%")),
    }
}

impl GlobalArgs {
    /// The config file's settings (read on first use).
    pub fn settings(&self) -> Result<&Settings> {
        if let Some(s) = self.settings.get() {
            return Ok(s);
        }
        let loaded = match self.daemon_repo()? {
            Some(r) => Settings::of_daemon_repository(r),
            None => Settings::load(self.config.as_deref())?,
        };
        Ok(self.settings.get_or_init(|| loaded))
    }

    /// The classification rules: the config file's `[classify]` patterns, then `extra` (the
    /// command line's).
    pub fn class_rules(
        &self,
        extra: &ibars_insight::classify::rules::UserRules,
    ) -> Result<ibars_insight::classify::rules::Rules> {
        let user = self.settings()?.classify.and(extra);
        ibars_insight::classify::rules::Rules::new(&user)
            .map_err(|e| anyhow::anyhow!("[classify] in the config file, or a class option: {e}"))
    }

    /// Use `r` as if --daemon-repository had named it (a command that finds the repository
    /// through a job). Fails when another one was named or read already.
    pub fn use_daemon_repository(&self, r: RepositoryConfig) -> Result<()> {
        let name = r.name.clone();
        if self.daemon_repository.as_deref().is_some_and(|n| n != name) {
            bail!("--daemon-repository names another repository than the job's ({name})");
        }
        self.daemon_repo
            .set(Some(r))
            .map_err(|_| anyhow!("the repository was chosen already"))
    }

    /// The `[[repository]]` named by --daemon-repository, if one is.
    pub fn daemon_repo(&self) -> Result<Option<&RepositoryConfig>> {
        if let Some(r) = self.daemon_repo.get() {
            return Ok(r.as_ref());
        }
        let loaded = match &self.daemon_repository {
            Some(name) => Some(daemon_repository(self.daemon_config.as_deref(), name)?),
            None => None,
        };
        Ok(self.daemon_repo.get_or_init(|| loaded).as_ref())
    }

    /// True with --append-only, IBARS_APPEND_ONLY, or `append_only = true` in the config.
    pub fn append_only(&self) -> Result<bool> {
        Ok(self.append_only || self.settings()?.append_only)
    }

    pub fn connections(&self) -> Option<usize> {
        self.connections.map(usize::from)
    }

    /// How the store is reached: connections and rate limits.
    pub fn transport(&self) -> Transport {
        Transport {
            connections: self.connections(),
            limits: ibars_core::backend::Limits {
                upload: self.limit_upload,
                download: self.limit_download,
            },
        }
    }

    /// Parse a repository location given on the command line (such as `copy --to`).
    pub fn parse_location(&self, s: &str) -> Result<Location> {
        let overrides = S3Config {
            connections: self.connections(),
            timeout_secs: self.timeout.map(|d| d.as_secs().max(1).unsigned_abs()),
            ..S3Config::default()
        };
        Ok(Location::parse(s, &self.settings()?.s3, &overrides)?)
    }

    /// The repository: -r, IBARS_REPOSITORY, the config file, or the default under
    /// XDG_DATA_HOME.
    pub fn location(&self) -> Result<Location> {
        let repo = match self.daemon_repo()? {
            Some(d) => Some(d.location.as_str()),
            None => self.repo.as_deref(),
        };
        if let Some(r) = repo.or(self.settings()?.repository.as_deref()) {
            return self.parse_location(r);
        }
        let base = super::location::xdg_dir("XDG_DATA_HOME", ".local/share")
            .ok_or_else(|| anyhow!("HOME is not set; give -r PATH"))?;
        Ok(Location::Local(base.join("ibars/repo")))
    }

    /// The password from --password-file, --password-command, IBARS_PASSWORD or a prompt.
    pub fn password(&self, prompt: &str) -> Result<Vec<u8>> {
        if let Some(d) = self.daemon_repo()? {
            return password_from(
                d.password_file.as_ref(),
                d.password_command.as_deref(),
                "IBARS_PASSWORD",
                prompt,
            );
        }
        password_from(
            self.password_file.as_ref(),
            self.password_command.as_deref(),
            "IBARS_PASSWORD",
            prompt,
        )
    }

    /// Open the repository, through the local cache when it is remote.
    pub fn open(&self) -> Result<Repository> {
        self.open_repo(true)
    }

    /// Open the repository, reading everything from the store itself (for `check`, which
    /// must see what the store holds, not a local copy).
    pub fn open_uncached(&self) -> Result<Repository> {
        self.open_repo(false)
    }

    fn open_repo(&self, cache: bool) -> Result<Repository> {
        let loc = self.location()?;
        let backend = loc.backend(false, &self.transport())?;
        let pw = self.password("enter password for repository: ")?;
        self.open_with(&loc, backend, &pw, cache)
    }

    /// Open the repository at `loc` in `backend` with `password`, honouring `--retry-lock`,
    /// with a local cache when `cache` is set, the store is remote and `--no-cache` is not.
    pub fn open_with(
        &self,
        loc: &Location,
        backend: Arc<dyn Backend>,
        password: &[u8],
        cache: bool,
    ) -> Result<Repository> {
        let backend: Arc<dyn Backend> = if self.append_only()? {
            Arc::new(AppendOnlyBackend::new(backend))
        } else {
            backend
        };
        let mut repo = Repository::open(backend, password)?;
        if let Some(d) = self.retry_lock {
            repo.set_lock_wait(d.unsigned_abs());
        }
        if cache && loc.is_remote() && !self.no_cache {
            if let Some(root) = self.settings()?.cache_root(self.cache_dir.as_deref()) {
                tag_cache_dir(&root);
                let dir = root.join(&repo.config().id);
                repo.wrap_backend(|b| Arc::new(CachedBackend::new(b, dir)));
            }
        }
        Ok(repo)
    }

    /// The local repository directory, as given and with symlinks resolved, to keep it out
    /// of backups whichever way the source path reaches it.
    pub fn local_repo_dirs(&self) -> Vec<PathBuf> {
        let Ok(Location::Local(p)) = self.location() else {
            return vec![];
        };
        let mut out: Vec<PathBuf> = ibars_core::ops::backup::absolute(&p).into_iter().collect();
        out.extend(p.canonicalize());
        out.dedup();
        out
    }
}

/// The `[[repository]]` called `name` in the daemon config at `path` (the default file when
/// `None`).
pub fn daemon_repository(path: Option<&std::path::Path>, name: &str) -> Result<RepositoryConfig> {
    let path = path.map_or_else(ibars_daemon::config::default_path, PathBuf::from);
    let config = ibars_daemon::config::Config::load(&path)?;
    config
        .repository(name)
        .cloned()
        .ok_or_else(|| anyhow!("{}: no [[repository]] named {name:?}", path.display()))
}

/// A password from a file, a command, an environment variable or a prompt, in that order.
pub fn password_from(
    file: Option<&PathBuf>,
    command: Option<&str>,
    env: &str,
    prompt: &str,
) -> Result<Vec<u8>> {
    if file.is_some() || command.is_some() {
        return ibars_daemon::repos::read_password(file.map(PathBuf::as_path), command)
            .map_err(|e| anyhow!("password: {e}"));
    }
    if let Some(p) = std::env::var_os(env) {
        return Ok(std::os::unix::ffi::OsStringExt::into_vec(p));
    }
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password(prompt)?.into_bytes());
    }
    bail!("no password given: use a password file, a password command, {env}, or a terminal")
}

fn first_line(b: &[u8]) -> Vec<u8> {
    let end = b.iter().position(|&c| c == b'\n').unwrap_or(b.len());
    let mut l = b[..end].to_vec();
    if l.last() == Some(&b'\r') {
        l.pop();
    }
    l
}

/// A new password: from the usual sources, or prompted twice.
pub fn new_password(g: &GlobalArgs, file: Option<&PathBuf>) -> Result<Vec<u8>> {
    if let Some(f) = file {
        let text =
            std::fs::read(f).with_context(|| format!("reading password file {}", f.display()))?;
        return Ok(first_line(&text));
    }
    if g.password_file.is_some()
        || g.password_command.is_some()
        || std::env::var_os("IBARS_PASSWORD").is_some()
        || !std::io::stdin().is_terminal()
    {
        return g.password("");
    }
    let a = rpassword::prompt_password("enter new password: ")?;
    let b = rpassword::prompt_password("enter the password again: ")?;
    if a != b {
        bail!("passwords do not match");
    }
    if a.is_empty() {
        bail!("empty password refused");
    }
    Ok(a.into_bytes())
}

pub fn init(g: &GlobalArgs, a: &InitArgs) -> Result<u8> {
    let loc = g.location()?;
    let opts = InitOptions {
        avg_chunk_size: u32::try_from(a.chunk_size).context("chunk size too large")?,
        pack_size: u32::try_from(a.pack_size).context("pack size too large")?,
        compression: a.compression,
        parity_percent: a.parity,
        ..Default::default()
    };
    let pw = new_password(g, None)?;
    let backend = loc.backend(true, &g.transport())?;
    let repo = Repository::init(backend, &pw, &opts)?;
    if g.json {
        outln!(
            "{}",
            serde_json::json!({"message_type": "initialized", "id": repo.config().id, "repository": loc.to_string()})
        );
    } else if !g.quiet {
        outln!(
            "created ibars repository {} at {}",
            &repo.config().id[..8],
            loc
        );
        outln!("Keep the password safe: without it the data cannot be restored.");
    }
    Ok(super::code::OK)
}
