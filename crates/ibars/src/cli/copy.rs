//! `copy`: snapshots to a second repository with its own keys (the 3-2-1 rule).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use ibars_core::ops::copy::copy;

use super::open::password_from;
use super::output::bytes;
use super::progress::CliProgress;
use super::{code, GlobalArgs, SnapshotFilterArgs};

#[derive(Args, Debug)]
#[command(after_help = "\
Every blob is read and decrypted here and re-encrypted under the destination's keys; what the
destination already holds is not sent again, and snapshots copied before are skipped. An
interrupted copy resumes where it stopped when run again.

Examples:
  ibars copy --to /mnt/offsite/repo --to-password-file /root/offsite.pw
  ibars copy latest --host web1 --to /mnt/offsite/repo
  ibars copy --to s3:https://s3.eu-west-1.amazonaws.com/my-bucket/ibars")]
pub struct CopyArgs {
    /// Snapshots: `latest`, ids or id prefixes. Default: every snapshot matching the filters.
    pub snapshots: Vec<String>,
    /// The destination repository, a directory or `s3:...` (it must exist: `ibars -r DEST
    /// init`).
    #[arg(
        long,
        env = "IBARS_TO_REPOSITORY",
        value_name = "LOCATION",
        required_unless_present = "to_daemon_repository"
    )]
    pub to: Option<String>,
    /// The destination is this `[[repository]]` of the daemon's config (its copy jobs).
    #[arg(long, env = "IBARS_DAEMON_TO_REPOSITORY", hide = true)]
    pub to_daemon_repository: Option<String>,
    /// Read the destination's password from this file.
    #[arg(long, env = "IBARS_TO_PASSWORD_FILE", value_name = "FILE")]
    pub to_password_file: Option<PathBuf>,
    /// Run this shell command for the destination's password.
    #[arg(long, env = "IBARS_TO_PASSWORD_COMMAND", value_name = "COMMAND")]
    pub to_password_command: Option<String>,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

pub fn run(g: &GlobalArgs, a: &CopyArgs) -> Result<u8> {
    let src = g.open()?;
    let prompt = "enter password for the destination repository: ";
    let (to, pw) = match (&a.to_daemon_repository, &a.to) {
        (Some(name), _) => {
            let r = super::open::daemon_repository(g.daemon_config.as_deref(), name)?;
            let settings = super::location::Settings::of_daemon_repository(&r);
            let to =
                super::location::Location::parse(&r.location, &settings.s3, &Default::default())?;
            let pw = password_from(
                r.password_file.as_ref(),
                r.password_command.as_deref(),
                "IBARS_TO_PASSWORD",
                prompt,
            )?;
            (to, pw)
        }
        (None, Some(to)) => {
            let pw = password_from(
                a.to_password_file.as_ref(),
                a.to_password_command.as_deref(),
                "IBARS_TO_PASSWORD",
                prompt,
            )?;
            (g.parse_location(to)?, pw)
        }
        (None, None) => anyhow::bail!("copy needs --to LOCATION"),
    };
    let dst = to
        .backend(false, &g.transport())
        .map_err(anyhow::Error::from)
        .and_then(|b| g.open_with(&to, b, &pw, true))
        .with_context(|| format!("opening destination {to}"))?;
    // Copying every snapshot of a repository that has none yet (a replication job's first
    // run) copies nothing and succeeds; named snapshots must exist.
    let ids = if a.snapshots.is_empty() {
        let filter = a.filter.to_filter()?;
        src.snapshots()?
            .into_iter()
            .filter(|(_, s)| filter.matches(s))
            .map(|(id, _)| id)
            .collect()
    } else {
        super::snapshots::select(&src, &a.snapshots, &a.filter)?
    };
    let progress = CliProgress::new("copy", g.json, g.quiet);
    let r = copy(&src, &dst, &ids, &progress);
    progress.finish();
    let r = r?;
    if g.json {
        let mut v = serde_json::to_value(&r)?;
        v["message_type"] = serde_json::json!("copy");
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else if !g.quiet {
        for c in &r.snapshots {
            match c.copy {
                Some(n) => outln!("{} -> {}", c.source.short(), n.short()),
                None => outln!("{}  already in the destination", c.source.short()),
            }
        }
        outln!(
            "sent {} blob(s), {} ({} stored); {} blob(s) were already there",
            r.blobs_sent,
            bytes(r.bytes_sent),
            bytes(r.bytes_stored),
            r.blobs_present
        );
    }
    Ok(code::OK)
}
