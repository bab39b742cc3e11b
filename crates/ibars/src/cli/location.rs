//! Where a repository lives (a directory or an S3 bucket), the config file that can describe
//! it, and the local cache of remote repositories.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use ibars_core::backend::s3::S3Config;
use serde::Deserialize;

pub use ibars_core::backend::location::{Location, Transport};

/// The config file: `--config FILE`, `IBARS_CONFIG`, or `$XDG_CONFIG_HOME/ibars/config.toml`.
/// `Debug` shows no secret (see [`S3Config`]).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The repository used when neither `-r` nor `IBARS_REPOSITORY` is given.
    pub repository: Option<String>,
    /// Where remote repositories are cached.
    pub cache_dir: Option<PathBuf>,
    /// Open every repository append-only (as `--append-only`).
    #[serde(default)]
    pub append_only: bool,
    /// The `[s3]` table: how to reach S3 repositories. The environment's `AWS_*` variables
    /// take precedence over it.
    #[serde(default)]
    pub s3: S3Config,
    /// The `[classify]` table: the user's own class patterns (`critical`, `ephemeral`,
    /// `normal`, `sensitive`), which `classify` and `rewrite --sensitive` apply before the
    /// built-in rules.
    #[serde(default)]
    pub classify: ibars_insight::classify::rules::UserRules,
}

pub(super) fn xdg_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)),
    }
}

impl Settings {
    /// Read the config file: `explicit` must exist; the default one may be absent.
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        let (path, must_exist) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match xdg_dir("XDG_CONFIG_HOME", ".config") {
                Some(d) => (d.join("ibars/config.toml"), false),
                None => return Ok(Self::default()),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default())
            }
            Err(e) => {
                return Err(e).with_context(|| format!("reading config file {}", path.display()))
            }
        };
        let s: Self = toml::from_str(&text)
            .map_err(|e| anyhow!("config file {}: {}", path.display(), e.message()))?;
        if s.s3.secret_access_key.is_some() {
            warn_if_readable_by_others(&path);
        }
        Ok(s)
    }

    /// The settings of a daemon's `[[repository]]`.
    pub fn of_daemon_repository(r: &ibars_daemon::config::RepositoryConfig) -> Self {
        Self {
            repository: Some(r.location.clone()),
            cache_dir: r.cache_dir.clone(),
            append_only: r.append_only,
            s3: r.s3.clone(),
            classify: r.classify.clone(),
        }
    }

    /// The cache root: `cli` (`--cache-dir`), the config file's `cache_dir`, or
    /// `$XDG_CACHE_HOME/ibars`.
    pub fn cache_root(&self, cli: Option<&Path>) -> Option<PathBuf> {
        cli.map(Path::to_path_buf)
            .or_else(|| self.cache_dir.clone())
            .or_else(|| xdg_dir("XDG_CACHE_HOME", ".cache").map(|d| d.join("ibars")))
    }
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "config file {} holds a secret key but others may read it (chmod 600 it)",
                path.display()
            );
        }
    }
}
