//! `ibars token` and `ibars user`: who may use the daemon's API and dashboard. Both edit
//! `STATE_DIR/auth.json` of the daemon's config; the running daemon sees each change at its
//! next request.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use ibars_daemon::auth::store::{AuthFile, Role};
use ibars_daemon::config::Config;

use super::output::{local_time, parse_duration};
use super::{code, GlobalArgs};

const TOKEN_ABOUT: &str = "\
Tokens let programs use the daemon's API: `Authorization: Bearer ibt_...`. A token is shown
once, when it is made; only its SHA-256 is kept (in STATE_DIR/auth.json, mode 0600). Roles:
  viewer    read everything (jobs, snapshots, history, metrics)
  operator  also run jobs, restore, download, start checks, dismiss anomalies
  admin     everything, forget, prune, keys, tokens and users included
--repository limits a token to some repositories of the config.

Examples:
  ibars token create --name ci --role operator --expires 90d
  curl -H \"Authorization: Bearer $TOKEN\" https://backup1:8443/api/v1/jobs
  ibars token list
  ibars token revoke ci";

const USER_ABOUT: &str = "\
Users log in to the dashboard with a name and password (argon2id-hashed in
STATE_DIR/auth.json). Sessions last 12 hours at most, 2 hours when idle; failed logins from
one address are slowed down after five.

Examples:
  ibars user add ann --role admin            # asks for the password twice
  ibars user add bob --role viewer --password-file /run/secrets/bob
  ibars user list
  ibars user remove bob";

#[derive(Subcommand, Debug)]
#[command(after_help = TOKEN_ABOUT)]
pub enum TokenCommand {
    /// Make a token and print it (once).
    Create {
        /// A name for it, shown in lists and the audit log.
        #[arg(long)]
        name: String,
        /// viewer, operator or admin.
        #[arg(long)]
        role: Role,
        /// It stops working after this long (e.g. 90d, 12h). Default: never.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires: Option<jiff::SignedDuration>,
        /// Only these repositories of the config (repeatable). Default: all.
        #[arg(long = "repository", value_name = "NAME")]
        repositories: Vec<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by name or id; it is refused from the next request on.
    Revoke { name: String },
}

#[derive(Subcommand, Debug)]
#[command(after_help = USER_ABOUT)]
pub enum UserCommand {
    /// Add a dashboard user, or change one's role and password.
    Add {
        name: String,
        /// viewer, operator or admin.
        #[arg(long)]
        role: Role,
        /// Only these repositories of the config (repeatable). Default: all.
        #[arg(long = "repository", value_name = "NAME")]
        repositories: Vec<String>,
        /// Read the password from the first line of this file instead of asking.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// List users.
    List,
    /// Remove a user.
    Remove { name: String },
}

/// The daemon's config and the path of its auth file.
fn auth_path(g: &GlobalArgs) -> Result<(Config, PathBuf)> {
    let path = g
        .config
        .clone()
        .unwrap_or_else(ibars_daemon::config::default_path);
    let c = Config::load(&path).map_err(super::daemon::BadConfig)?;
    let auth = AuthFile::path(&c.daemon.state_path());
    Ok((c, auth))
}

fn check_repositories(c: &Config, names: &[String]) -> Result<()> {
    for n in names {
        if c.repository(n).is_none() {
            bail!("no [[repository]] named {n:?} in the daemon's config");
        }
    }
    Ok(())
}

pub fn token(g: &GlobalArgs, cmd: &TokenCommand) -> Result<u8> {
    let (c, path) = auth_path(g)?;
    let now = jiff::Timestamp::now();
    match cmd {
        TokenCommand::Create {
            name,
            role,
            expires,
            repositories,
        } => {
            check_repositories(&c, repositories)?;
            let expires = expires.map(|d| now + d);
            let (t, secret) = AuthFile::edit(&path, |f| {
                f.create_token(name, *role, repositories.clone(), expires, now)
            })?;
            if g.json {
                outln!(
                    "{}",
                    serde_json::json!({"message_type": "token", "id": t.id, "name": t.name,
                        "role": t.role, "expires": t.expires, "token": secret})
                );
            } else {
                outln!("{secret}");
                if !g.quiet {
                    eprintln!(
                        "token {} ({}, {}) made; it is shown only now: keep it in a secret store",
                        t.name,
                        t.role.as_str(),
                        t.expires
                            .map(|e| format!("expires {}", local_time(e)))
                            .unwrap_or_else(|| "never expires".into())
                    );
                }
            }
        }
        TokenCommand::List => {
            let f = AuthFile::load(&path)?;
            if g.json {
                let v: Vec<_> = f
                    .tokens
                    .iter()
                    .map(|t| {
                        serde_json::json!({"id": t.id, "name": t.name, "role": t.role,
                            "repositories": t.repositories, "created": t.created,
                            "expires": t.expires, "revoked": t.revoked})
                    })
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(code::OK);
            }
            outln!(
                "{:<12}  {:<16}  {:<8}  {:<19}  {:<19}  State",
                "ID",
                "Name",
                "Role",
                "Created",
                "Expires"
            );
            for t in &f.tokens {
                let state = match (t.revoked, t.expires) {
                    (Some(r), _) => format!("revoked {}", local_time(r)),
                    (None, Some(e)) if e <= now => "expired".into(),
                    _ if !t.repositories.is_empty() => {
                        format!("active ({})", t.repositories.join(", "))
                    }
                    _ => "active".into(),
                };
                outln!(
                    "{:<12}  {:<16}  {:<8}  {:<19}  {:<19}  {state}",
                    t.id,
                    t.name,
                    t.role.as_str(),
                    local_time(t.created),
                    t.expires.map(local_time).unwrap_or_else(|| "never".into())
                );
            }
        }
        TokenCommand::Revoke { name } => {
            let n = AuthFile::edit(&path, |f| f.revoke_token(name, now))?;
            if !g.quiet {
                outln!("revoked {n} token(s) named {name:?}");
            }
        }
    }
    Ok(code::OK)
}

/// A new password: from a file, asked twice on a terminal, or one line of standard input.
fn read_password(file: Option<&PathBuf>) -> Result<String> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading password file {}", f.display()))?;
        return Ok(text.lines().next().unwrap_or("").to_string());
    }
    if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("password for the dashboard user: ")?;
        let b = rpassword::prompt_password("the same password again: ")?;
        if a != b {
            bail!("the passwords do not match");
        }
        return Ok(a);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn user(g: &GlobalArgs, cmd: &UserCommand) -> Result<u8> {
    let (c, path) = auth_path(g)?;
    match cmd {
        UserCommand::Add {
            name,
            role,
            repositories,
            password_file,
        } => {
            check_repositories(&c, repositories)?;
            let pw = read_password(password_file.as_ref())?;
            AuthFile::edit(&path, |f| {
                f.set_user(
                    name,
                    *role,
                    repositories.clone(),
                    pw.as_bytes(),
                    jiff::Timestamp::now(),
                )
            })?;
            if !g.quiet {
                outln!("user {name} ({}) saved", role.as_str());
            }
        }
        UserCommand::List => {
            let f = AuthFile::load(&path)?;
            if g.json {
                let v: Vec<_> = f
                    .users
                    .iter()
                    .map(|u| {
                        serde_json::json!({"name": u.name, "role": u.role,
                            "repositories": u.repositories, "created": u.created})
                    })
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(code::OK);
            }
            for u in &f.users {
                let repos = if u.repositories.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", u.repositories.join(", "))
                };
                outln!("{:<16}  {:<8}{repos}", u.name, u.role.as_str());
            }
        }
        UserCommand::Remove { name } => {
            AuthFile::edit(&path, |f| f.remove_user(name))?;
            if !g.quiet {
                outln!("user {name} removed");
            }
        }
    }
    Ok(code::OK)
}
