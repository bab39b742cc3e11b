//! Command-line parsing and dispatch. Each command lives in its own module.

/// `println!` that never panics: when stdout is closed (piped into `head`) the process ends
/// with exit code 141, as a shell reports SIGPIPE; on another write error, with code 1.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            $crate::cli::stdout_failed(&e);
        }
    }};
}

mod access;
mod anomalies;
mod audit;
mod backup;
mod browse;
mod check;
mod classify;
mod copy;
mod daemon;
mod docs;
mod forecast;
mod forget;
mod history;
mod keys;
mod location;
mod open;
mod output;
mod progress;
mod prune;
mod repair;
mod restore;
mod rewrite;
mod schedule;
mod snapshots;
mod stats;
mod stdin_command;
mod textfile;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ibars_core::Error;

pub use open::GlobalArgs;

/// Exit codes, as documented in `ibars --help` and the README.
pub mod code {
    pub const OK: u8 = 0;
    pub const FATAL: u8 = 1;
    pub const CHECK_NOT_RUN: u8 = 2;
    pub const PARTIAL: u8 = 3;
    pub const ANOMALY: u8 = 4;
    pub const NO_REPOSITORY: u8 = 10;
    pub const LOCKED: u8 = 11;
    pub const WRONG_PASSWORD: u8 = 12;
    pub const APPEND_ONLY: u8 = 13;
    pub const DAEMON_UNREACHABLE: u8 = 14;
    pub const INTERRUPTED: u8 = 130;
    pub const BROKEN_PIPE: u8 = 141;
}

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    fatal error: nothing was done, or the operation stopped (no snapshot is saved)
  2    invalid command line; for `check`: the check could not run (see `check --help`)
  3    partial success: some files could not be read (backup; the snapshot was saved
       without them) or could not be restored or verified (restore)
  4    backup saved, anomaly suspected: it looks like ransomware or mass deletion
       (see `ibars anomalies`); the snapshot and the last clean one are protected
  10   no repository at the given location
  11   the repository is locked by another process
  12   wrong password
  13   refused: the repository is opened append-only (--append-only) and the command
       would delete or overwrite
  14   the daemon could not be reached (ibars jobs)
  130  interrupted (Ctrl-C or SIGTERM); the repository is left consistent
  141  standard output was closed early (e.g. piped into `head`)

Environment:
  IBARS_REPOSITORY        repository location (default $XDG_DATA_HOME/ibars/repo)
  IBARS_PASSWORD          the password
  IBARS_PASSWORD_FILE     file holding the password
  IBARS_PASSWORD_COMMAND  command printing the password
  IBARS_CONFIG            config file (default $XDG_CONFIG_HOME/ibars/config.toml)
  IBARS_CACHE_DIR         cache of remote repositories (default $XDG_CACHE_HOME/ibars)
  IBARS_CONNECTIONS       requests kept in flight (default 8 for S3, 1 for a directory)
  IBARS_TIMEOUT           longest one request may take (default 60s, 5m for transfers)
  IBARS_APPEND_ONLY       when true, as --append-only
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (or
  AWS_DEFAULT_REGION), AWS_ENDPOINT_URL: S3 credentials and defaults, as for the AWS CLI
  IBARS_LOG               log filter (error, warn, info, debug)";

/// ibars: encrypted, deduplicating backups that verify themselves.
#[derive(Parser, Debug)]
#[command(name = "ibars", version, about, long_about = None, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Narrow which snapshots `latest` or an id prefix may match.
#[derive(Args, Debug, Clone, Default)]
pub struct SnapshotFilterArgs {
    /// Only snapshots of this host (repeatable).
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Only snapshots with these tags; `a,b` needs both (repeatable: any may match).
    #[arg(long = "tag", value_name = "TAGS")]
    pub tags: Vec<String>,
    /// Only snapshots of exactly these paths (repeatable).
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Leave out snapshots with this tag (repeatable), such as the `critical` snapshots of
    /// `backup --class critical`, which keep a retention of their own.
    #[arg(long = "exclude-tag", value_name = "TAG")]
    pub exclude_tags: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new repository.
    Init(open::InitArgs),
    /// Back up files and directories, or standard input, into a new snapshot.
    Backup(backup::BackupArgs),
    /// List snapshots.
    Snapshots(snapshots::SnapshotsArgs),
    /// List the contents of a snapshot.
    Ls(snapshots::LsArgs),
    /// Show what changed between two snapshots.
    Diff(snapshots::DiffArgs),
    /// Restore a snapshot, whole or in part.
    Restore(restore::RestoreArgs),
    /// Remove snapshots by a retention policy (--keep-daily...) or by id.
    Forget(forget::ForgetArgs),
    /// Free the space of data that no snapshot references.
    Prune(prune::PruneCmd),
    /// Copy snapshots to another repository, sending only what it lacks.
    Copy(copy::CopyArgs),
    /// Remove paths from existing snapshots (e.g. for an erasure request).
    Rewrite(rewrite::RewriteArgs),
    /// Add or remove snapshot tags, and protect snapshots from forget.
    Tag(forget::TagArgs),
    /// Show what the repository holds (snapshots, packs, bytes stored, how much was verified
    /// in the last 30 days, the last check), or with --mode or snapshots, how much their
    /// contents take before and after deduplication and compression.
    Stats(stats::StatsArgs),
    /// Write a file of a snapshot to standard output, or a directory as a tar stream.
    Dump(browse::DumpArgs),
    /// Find which snapshots hold a path matching a pattern.
    Find(browse::FindArgs),
    /// Show the run history: every backup, restore, check, copy, forget and prune.
    History(history::HistoryArgs),
    /// Forecast the repository's size and each source's changes, and when a disk or quota
    /// fills.
    Forecast(forecast::ForecastArgs),
    /// Sort a snapshot's data into critical, normal and ephemeral, find the files that hold
    /// secrets, and suggest what to exclude.
    Classify(classify::ClassifyArgs),
    /// Plan schedules from the history: `schedule suggest JOB --rpo 4h`.
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
    /// Show the daemon's audit log: API calls that changed something, and logins.
    Audit(audit::AuditArgs),
    /// List anomaly findings (suspected ransomware, mass deletion), or dismiss one.
    Anomalies(anomalies::AnomaliesArgs),
    /// Verify the repository: its structure, and with --read-data every byte.
    Check(check::CheckArgs),
    /// Repair a damaged repository: packs from parity, the index, snapshots.
    #[command(subcommand)]
    Repair(repair::RepairCommand),
    /// Change repository settings (parity).
    #[command(subcommand)]
    Config(repair::ConfigCommand),
    /// Manage keys: the passwords that open the repository.
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Run the scheduled jobs of the config file: backups, checks, retention, copies.
    Daemon(daemon::DaemonArgs),
    /// List, inspect and start the running daemon's jobs.
    Jobs(daemon::JobsArgs),
    /// Make, list and revoke the tokens programs use the daemon's API with.
    #[command(subcommand)]
    Token(access::TokenCommand),
    /// Add, list and remove the users of the daemon's dashboard.
    #[command(subcommand)]
    User(access::UserCommand),
    /// Print shell completions (bash, zsh, fish...).
    Completions(docs::CompletionsArgs),
    /// Write the man pages into a directory.
    Man(docs::ManArgs),
    /// Remove stale locks left by processes that died.
    Unlock {
        /// Remove all locks, not only stale ones. Only when no other ibars process runs!
        #[arg(long)]
        remove_all: bool,
    },
}

/// What `command` would delete or overwrite, if anything: such commands are refused at once
/// on an append-only repository (dry runs are not).
fn destructive(command: &Command) -> Option<&'static str> {
    match command {
        Command::Forget(a) if !a.dry_run => Some("forget snapshots"),
        Command::Prune(a) if !a.dry_run => Some("prune"),
        Command::Rewrite(a) if !a.dry_run => Some("rewrite snapshots"),
        Command::Tag(_) => Some("change tags (snapshots are replaced)"),
        Command::Anomalies(a) if a.command.is_some() => {
            Some("dismiss a finding (the snapshot is replaced)")
        }
        Command::Repair(_) => Some("repair"),
        Command::Config(_) => Some("change the config"),
        Command::Key(keys::KeyCommand::Remove { .. } | keys::KeyCommand::Passwd { .. }) => {
            Some("remove or replace a key")
        }
        Command::Unlock { .. } => Some("remove other processes' locks"),
        _ => None,
    }
}

/// The name a run gets in `--metrics-textfile`, for the commands that write one.
fn textfile_name(command: &Command) -> Option<&'static str> {
    Some(match command {
        Command::Backup(_) => "backup",
        Command::Check(_) => "check",
        Command::Forget(_) => "forget",
        Command::Prune(_) => "prune",
        Command::Copy(_) => "copy",
        Command::Restore(_) => "restore",
        _ => return None,
    })
}

/// Run a parsed command line; returns the exit code. With `--metrics-textfile`, the outcome
/// is written there too.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    let textfile = cli
        .global
        .metrics_textfile
        .clone()
        .zip(textfile_name(&cli.command));
    let Some((path, name)) = textfile else {
        return dispatch(cli);
    };
    let repository = cli
        .global
        .location()
        .map(|l| l.to_string())
        .unwrap_or_default();
    let started = jiff::Timestamp::now();
    let clock = std::time::Instant::now();
    let result = dispatch(cli);
    let code = match &result {
        Ok(c) => *c,
        Err(e) => exit_code(e),
    };
    if let Err(e) = textfile::write(
        &path,
        name,
        &repository,
        code,
        started,
        clock.elapsed().as_secs_f64(),
    ) {
        eprintln!("warning: --metrics-textfile {}: {e}", path.display());
    }
    result
}

fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let g = &cli.global;
    // The daemon's commands read the daemon's config file (--config), not the CLI's.
    let daemon_command = matches!(
        cli.command,
        Command::Daemon(_)
            | Command::Jobs(_)
            | Command::Token(_)
            | Command::User(_)
            | Command::Schedule(_)
            | Command::Completions(_)
            | Command::Man(_)
    );
    if !daemon_command && g.append_only()? {
        if let Some(what) = destructive(&cli.command) {
            return Err(
                Error::AppendOnly(format!("{what}: the repository is opened append-only")).into(),
            );
        }
    }
    match cli.command {
        Command::Init(a) => open::init(g, &a),
        Command::Backup(a) => backup::run(g, a),
        Command::Snapshots(a) => snapshots::list(g, &a),
        Command::Ls(a) => snapshots::ls(g, &a),
        Command::Diff(a) => snapshots::diff(g, &a),
        Command::Restore(a) => restore::run(g, &a),
        Command::Check(a) => check::run(g, &a),
        Command::History(a) => history::run(g, &a),
        Command::Stats(a) => stats::run(g, &a),
        Command::Dump(a) => browse::dump(g, &a),
        Command::Find(a) => browse::find(g, &a),
        Command::Anomalies(a) => anomalies::run(g, &a),
        Command::Audit(a) => audit::run(g, &a),
        Command::Forecast(a) => forecast::run(g, &a),
        Command::Classify(a) => classify::run(g, &a),
        Command::Schedule(schedule::ScheduleCommand::Suggest(a)) => schedule::suggest(g, &a),
        Command::Forget(a) => forget::run(g, &a),
        Command::Prune(a) => prune::run_cmd(g, &a),
        Command::Tag(a) => forget::run_tag(g, &a),
        Command::Rewrite(a) => rewrite::run(g, &a),
        Command::Copy(a) => copy::run(g, &a),
        Command::Daemon(a) => daemon::run(g, &a),
        Command::Completions(a) => docs::completions(&a),
        Command::Man(a) => docs::man(&a),
        Command::Jobs(a) => daemon::jobs(g, &a),
        Command::Token(c) => access::token(g, &c),
        Command::User(c) => access::user(g, &c),
        Command::Repair(c) => repair::run(g, c),
        Command::Config(c) => repair::config(g, c),
        Command::Key(k) => keys::run(g, k),
        Command::Unlock { remove_all } => keys::unlock(g, remove_all),
    }
}

/// End the process after stdout failed (see `outln!`).
pub fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(i32::from(code::BROKEN_PIPE));
    }
    eprintln!("error: writing to standard output: {e}");
    std::process::exit(i32::from(code::FATAL));
}

fn core_error(e: &anyhow::Error) -> Option<&Error> {
    e.chain().find_map(|c| c.downcast_ref::<Error>())
}

/// The exit code for an error.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<check::CouldNotRun>().is_some() {
        return code::CHECK_NOT_RUN;
    }
    if let Some(c) = daemon::status_code(e) {
        return c;
    }
    match core_error(e) {
        Some(Error::NoRepository(_)) => code::NO_REPOSITORY,
        Some(Error::Locked(_)) => code::LOCKED,
        Some(Error::WrongPassword(_)) => code::WRONG_PASSWORD,
        Some(Error::AppendOnly(_)) => code::APPEND_ONLY,
        Some(Error::Interrupted) => code::INTERRUPTED,
        _ => code::FATAL,
    }
}

/// A one-line description of an error, with a hint where one helps.
pub fn describe(e: &anyhow::Error) -> String {
    // The chain of causes, each said once: many errors already quote their source.
    let mut s = String::new();
    for c in e.chain() {
        let t = c.to_string();
        if s.is_empty() {
            s = t;
        } else if !s.contains(&t) {
            s = format!("{s}: {t}");
        }
    }
    match core_error(e) {
        Some(Error::NoRepository(_)) => {
            s += " (create one with `ibars init`, or set -r / IBARS_REPOSITORY)"
        }
        Some(Error::Locked(_)) => s +=
            " (if that process is gone, the lock goes stale; `ibars unlock` removes stale locks)",
        Some(e) if e.is_disk_full() => s += " (the disk is full)",
        _ => {}
    }
    s
}
