//! Finding the repository, getting the password, opening.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use ibars_core::backend::{Backend, OpendalBackend, RetryBackend, RetryPolicy};
use ibars_core::compress::Compression;
use ibars_core::repo::{InitOptions, Repository};

use super::output::parse_size;

/// Options every command takes.
#[derive(Args, Debug)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Repository location: a directory. Default: $XDG_DATA_HOME/ibars/repo.
    #[arg(
        short = 'r',
        long = "repo",
        env = "IBARS_REPOSITORY",
        global = true,
        value_name = "PATH"
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
    /// The repository path: -r, IBARS_REPOSITORY, or the default under XDG_DATA_HOME.
    pub fn repo_path(&self) -> Result<PathBuf> {
        if let Some(r) = &self.repo {
            if let Some(rest) = r.strip_prefix("s3:") {
                bail!("S3 repositories are not supported yet ({rest})");
            }
            return Ok(PathBuf::from(r));
        }
        let base = match std::env::var_os("XDG_DATA_HOME") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => PathBuf::from(
                std::env::var_os("HOME").ok_or_else(|| anyhow!("HOME is not set; give -r PATH"))?,
            )
            .join(".local/share"),
        };
        Ok(base.join("ibars/repo"))
    }

    fn backend(&self, create: bool) -> Result<Arc<dyn Backend>> {
        backend_at(&self.repo_path()?, create)
    }

    /// The password from --password-file, --password-command, IBARS_PASSWORD or a prompt.
    pub fn password(&self, prompt: &str) -> Result<Vec<u8>> {
        password_from(
            self.password_file.as_ref(),
            self.password_command.as_deref(),
            "IBARS_PASSWORD",
            prompt,
        )
    }

    /// Open the repository.
    pub fn open(&self) -> Result<Repository> {
        let backend = self.backend(false)?;
        let pw = self.password("enter password for repository: ")?;
        self.open_with(backend, &pw)
    }

    /// Open the repository in `backend` with `password`, honouring `--retry-lock`.
    pub fn open_with(&self, backend: Arc<dyn Backend>, password: &[u8]) -> Result<Repository> {
        let mut repo = Repository::open(backend, password)?;
        if let Some(d) = self.retry_lock {
            repo.set_lock_wait(d.unsigned_abs());
        }
        Ok(repo)
    }

    /// The local repository directory, as given and with symlinks resolved, to keep it out
    /// of backups whichever way the source path reaches it.
    pub fn local_repo_dirs(&self) -> Vec<PathBuf> {
        let Ok(p) = self.repo_path() else {
            return vec![];
        };
        let mut out: Vec<PathBuf> = ibars_core::ops::backup::absolute(&p).into_iter().collect();
        out.extend(p.canonicalize());
        out.dedup();
        out
    }
}

/// A password from a file, a command, an environment variable or a prompt, in that order.
pub fn password_from(
    file: Option<&PathBuf>,
    command: Option<&str>,
    env: &str,
    prompt: &str,
) -> Result<Vec<u8>> {
    if let Some(f) = file {
        let text =
            std::fs::read(f).with_context(|| format!("reading password file {}", f.display()))?;
        return Ok(first_line(&text));
    }
    if let Some(cmd) = command {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stderr(std::process::Stdio::inherit())
            .output()
            .with_context(|| format!("running password command '{cmd}'"))?;
        if !out.status.success() {
            bail!("password command '{cmd}' failed ({})", out.status);
        }
        return Ok(first_line(&out.stdout));
    }
    if let Some(p) = std::env::var_os(env) {
        return Ok(std::os::unix::ffi::OsStringExt::into_vec(p));
    }
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password(prompt)?.into_bytes());
    }
    bail!("no password given: use a password file, a password command, {env}, or a terminal")
}

/// The storage of a local repository, with retries on transient errors.
pub fn backend_at(path: &std::path::Path, create: bool) -> Result<Arc<dyn Backend>> {
    let store = Arc::new(OpendalBackend::local(path, create)?);
    Ok(Arc::new(RetryBackend::new(store, RetryPolicy::default())))
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
    let path = g.repo_path()?;
    let opts = InitOptions {
        avg_chunk_size: u32::try_from(a.chunk_size).context("chunk size too large")?,
        pack_size: u32::try_from(a.pack_size).context("pack size too large")?,
        compression: a.compression,
        parity_percent: a.parity,
        ..Default::default()
    };
    let pw = new_password(g, None)?;
    let backend = g.backend(true)?;
    let repo = Repository::init(backend, &pw, &opts)?;
    if g.json {
        outln!(
            "{}",
            serde_json::json!({"message_type": "initialized", "id": repo.config().id, "repository": path})
        );
    } else if !g.quiet {
        outln!(
            "created ibars repository {} at {}",
            &repo.config().id[..8],
            path.display()
        );
        outln!("Keep the password safe: without it the data cannot be restored.");
    }
    Ok(super::code::OK)
}
