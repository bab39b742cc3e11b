//! The command line of a job's run. The daemon runs every job as a child `ibars` process: the
//! same code the CLI runs, in a process of its own, so that a job's priority (`nice`,
//! `ionice`), its memory and a timeout that stops it stay its own, and the idle daemon stays
//! small. The child takes its repository from the daemon's config file by name
//! (`IBARS_DAEMON_REPOSITORY`), so no secret appears on a command line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use ibars_core::ops::check::Subset;
use ibars_core::snapshot::BackupType;

use crate::config::{Action, Job};

/// Variables the daemon's own environment may hold that must not reach a job: the job's
/// repository comes from the config file alone.
const SCRUBBED: &[&str] = &[
    "IBARS_REPOSITORY",
    "IBARS_PASSWORD",
    "IBARS_PASSWORD_FILE",
    "IBARS_PASSWORD_COMMAND",
    "IBARS_CONFIG",
    "IBARS_TO_REPOSITORY",
    "IBARS_TO_PASSWORD",
    "IBARS_TO_PASSWORD_FILE",
    "IBARS_TO_PASSWORD_COMMAND",
    "IBARS_LIMIT_UPLOAD",
    "IBARS_LIMIT_DOWNLOAD",
    "IBARS_APPEND_ONLY",
];

/// The longest a job waits for a conflicting lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// A child process to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Variables to set.
    pub env: Vec<(String, OsString)>,
    /// Variables to remove.
    pub env_remove: Vec<&'static str>,
}

impl ChildCommand {
    /// The command line, for logs (it holds no secret).
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    pub fn to_tokio(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.program);
        c.args(&self.args);
        for k in &self.env_remove {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }
}

/// `ibars` (at `exe`) on the `[[repository]]` called `repository` of the config file
/// `config_file`, with `args`.
pub fn ibars(
    exe: &Path,
    config_file: &Path,
    repository: &str,
    args: Vec<OsString>,
) -> ChildCommand {
    ChildCommand {
        program: exe.to_path_buf(),
        args,
        env: vec![
            ("IBARS_DAEMON_CONFIG".into(), config_file.as_os_str().into()),
            ("IBARS_DAEMON_REPOSITORY".into(), repository.into()),
            (
                "IBARS_PARENT_PID".into(),
                std::process::id().to_string().into(),
            ),
        ],
        env_remove: SCRUBBED.to_vec(),
    }
}

/// The child that runs `job`: `[ionice ...] [nice ...] ibars --json OPERATION ...`.
pub fn for_job(exe: &Path, config_file: &Path, job: &Job) -> ChildCommand {
    // A job waits for another process's conflicting lock (a prune, a check) instead of
    // failing at once; the wait counts against its timeout.
    let lock_wait = job.timeout.unwrap_or(LOCK_WAIT).min(LOCK_WAIT);
    let mut args: Vec<OsString> = vec![
        "--json".into(),
        "--retry-lock".into(),
        format!("{}s", lock_wait.as_secs().max(1)).into(),
    ];
    if let Some(r) = job.limit_upload {
        args.extend(["--limit-upload".into(), format!("{r}B").into()]);
    }
    if let Some(r) = job.limit_download {
        args.extend(["--limit-download".into(), format!("{r}B").into()]);
    }
    args.extend(operation_args(&job.action));
    let mut c = ibars(exe, config_file, &job.repository, args);
    if let Action::Copy { target } = &job.action {
        c.env
            .push(("IBARS_DAEMON_TO_REPOSITORY".into(), target.into()));
    }
    if let Some(n) = job.nice {
        c = wrap(c, "nice", vec!["-n".into(), n.to_string()]);
    }
    if let Some(class) = &job.ionice {
        c = wrap(c, "ionice", ionice_args(class));
    }
    c
}

/// Put `program args...` in front of a command (which it then executes, keeping the pid).
fn wrap(mut c: ChildCommand, program: &str, args: Vec<String>) -> ChildCommand {
    let mut all: Vec<OsString> = args.into_iter().map(OsString::from).collect();
    all.push(c.program.into_os_string());
    all.append(&mut c.args);
    c.program = PathBuf::from(program);
    c.args = all;
    c
}

/// util-linux `ionice` arguments for a class as the config writes it (`idle`,
/// `best-effort[:N]`, `realtime[:N]`; checked when the config was read).
fn ionice_args(class: &str) -> Vec<String> {
    let (name, level) = match class.split_once(':') {
        Some((n, l)) => (n, Some(l)),
        None => (class, None),
    };
    let c = match name {
        "realtime" => "1",
        "best-effort" => "2",
        _ => "3",
    };
    let mut out = vec!["-c".to_string(), c.to_string()];
    if let (Some(l), "1" | "2") = (level, c) {
        out.extend(["-n".to_string(), l.to_string()]);
    }
    out
}

/// The operation's subcommand and its options.
fn operation_args(action: &Action) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    match action {
        Action::Backup(b) => {
            let kind = match b.backup_type {
                BackupType::Full => "full",
                BackupType::Incremental => "incremental",
                BackupType::Differential => "differential",
            };
            a.extend(["backup".into(), "--type".into(), kind.into()]);
            for t in &b.tags {
                a.extend(["--tag".into(), t.into()]);
            }
            if let Some(h) = &b.host {
                a.extend(["--host".into(), h.into()]);
            }
            for e in &b.excludes {
                a.extend(["--exclude".into(), e.into()]);
            }
            for n in &b.exclude_if_present {
                a.extend(["--exclude-if-present".into(), n.into()]);
            }
            if b.one_file_system {
                a.push("--one-file-system".into());
            }
            if let Some(c) = b.class {
                a.extend(["--class".into(), c.to_string().into()]);
            }
            if let Some(cmd) = &b.stdin_command {
                a.extend(["--stdin-from-command".into(), cmd.into()]);
                a.extend([
                    "--stdin-filename".into(),
                    b.stdin_filename.as_deref().unwrap_or("stdin").into(),
                ]);
            } else {
                a.push("--".into());
                a.extend(b.paths.iter().map(|p| p.as_os_str().to_os_string()));
            }
        }
        Action::Check { read_data, subset } => {
            a.push("check".into());
            match (read_data, subset) {
                (false, _) => {}
                (true, Subset::All) => a.push("--read-data".into()),
                (true, s) => {
                    a.push("--read-data-subset".into());
                    a.push(subset_arg(s).into());
                }
            }
        }
        Action::Forget {
            policy,
            prune,
            grace,
            only_tags,
            exclude_tags,
        } => {
            a.push("forget".into());
            for t in only_tags {
                a.extend(["--tag".into(), t.into()]);
            }
            for t in exclude_tags {
                a.extend(["--exclude-tag".into(), t.into()]);
            }
            a.extend(policy.args().into_iter().map(Into::into));
            if *prune {
                a.push("--prune".into());
                a.extend(grace_arg(*grace));
            }
        }
        Action::Prune { grace } => {
            a.push("prune".into());
            a.extend(grace_arg(*grace));
        }
        Action::Copy { .. } => a.push("copy".into()),
    }
    a
}

/// `--grace` for a prune, when the job sets one.
fn grace_arg(grace: Option<std::time::Duration>) -> Vec<OsString> {
    match grace {
        Some(g) => vec!["--grace".into(), format!("{}s", g.as_secs()).into()],
        None => vec![],
    }
}

/// A subset as `check --read-data-subset` reads it back exactly.
fn subset_arg(s: &Subset) -> String {
    match s {
        Subset::Auto { period } => format!("auto/{}h", period.as_secs() / 3600),
        Subset::Size(b) => format!("{b}B"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(toml: &str) -> Job {
        crate::config::test_config(&format!("schedule = \"@daily\"\n{toml}"))
            .jobs
            .remove(0)
    }

    fn line(c: &ChildCommand) -> String {
        c.display()
    }

    #[test]
    fn backup_with_priorities_and_limits() {
        let j = job("kind = \"backup\"\npaths = [\"/srv\", \"/etc\"]\nexcludes = [\"*.tmp\"]\n\
                     tags = [\"a\"]\nnice = 10\nionice = \"best-effort:7\"\nlimit_upload = \"1MiB\"\n\
                     one_file_system = true");
        let c = for_job(Path::new("/bin/ibars"), Path::new("/etc/ibars.toml"), &j);
        assert_eq!(
            line(&c),
            "ionice -c 2 -n 7 nice -n 10 /bin/ibars --json --retry-lock 3600s --limit-upload 1048576B backup \
             --type incremental --tag a --exclude *.tmp --one-file-system -- /srv /etc"
        );
        assert!(c
            .env
            .contains(&("IBARS_DAEMON_REPOSITORY".into(), "r".into())));
        assert!(c.env_remove.contains(&"IBARS_PASSWORD"));
    }

    #[test]
    fn stdin_check_forget_copy() {
        let j =
            job("kind = \"backup\"\nstdin_command = \"pg_dumpall\"\nstdin_filename = \"pg.sql\"");
        let c = for_job(Path::new("ibars"), Path::new("c"), &j);
        assert!(line(&c).ends_with(
            "backup --type incremental --stdin-from-command pg_dumpall --stdin-filename pg.sql"
        ));

        let j = job("kind = \"check\"\nread_data_subset = \"auto/30d\"");
        let c = for_job(Path::new("ibars"), Path::new("c"), &j);
        assert_eq!(
            line(&c),
            "ibars --json --retry-lock 3600s check --read-data-subset auto/720h"
        );
        let j = job("kind = \"check\"\nread_data = true");
        assert_eq!(
            line(&for_job(Path::new("ibars"), Path::new("c"), &j)),
            "ibars --json --retry-lock 3600s check --read-data"
        );

        let j = job("kind = \"forget\"\nkeep_daily = 7\nkeep_within = \"2d\"\nkeep_tags = [\"x\"]\nprune = true\ngrace = \"0s\"");
        assert_eq!(
            line(&for_job(Path::new("ibars"), Path::new("c"), &j)),
            "ibars --json --retry-lock 3600s forget --keep-daily 7 --keep-within 172800s --keep-tag x --prune --grace 0s"
        );

        // A critical set: its own backup, and a retention kept apart from the whole backups'.
        let j = job("kind = \"backup\"\npaths = [\"/home\"]\nclass = \"critical\"");
        assert!(line(&for_job(Path::new("ibars"), Path::new("c"), &j))
            .ends_with("backup --type incremental --class critical -- /home"));
        let j = job("kind = \"forget\"\nkeep_hourly = 48\nonly_tags = [\"critical\"]");
        assert!(line(&for_job(Path::new("ibars"), Path::new("c"), &j))
            .ends_with("forget --tag critical --keep-hourly 48"));
        let j = job("kind = \"forget\"\nkeep_daily = 7\nexclude_tags = [\"critical\"]");
        assert!(line(&for_job(Path::new("ibars"), Path::new("c"), &j))
            .ends_with("forget --exclude-tag critical --keep-daily 7"));

        let j = job("kind = \"copy\"\ntarget = \"t\"\nionice = \"idle\"");
        let c = for_job(Path::new("ibars"), Path::new("c"), &j);
        assert_eq!(line(&c), "ionice -c 3 ibars --json --retry-lock 3600s copy");
        assert!(c
            .env
            .contains(&("IBARS_DAEMON_TO_REPOSITORY".into(), "t".into())));
    }
}
