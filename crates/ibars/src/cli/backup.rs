//! `ibars backup`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use ibars_core::compress::Compression;
use ibars_core::ops::backup::{backup, BackupOptions, Scan, StdinSource};
use ibars_core::ops::filter::PathFilter;
use ibars_core::snapshot::BackupType;

use super::output::{bytes, duration};
use super::progress::CliProgress;
use super::{code, GlobalArgs};

/// Back up files and directories. Unchanged files (same size, mtime, ctime and inode as in
/// the parent snapshot) are not read again.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Files and directories to back up.
    #[arg(value_name = "PATH", required_unless_present_any = ["stdin", "stdin_from_command"])]
    pub paths: Vec<PathBuf>,
    /// Add a tag to the snapshot (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Host name recorded in the snapshot (default: this machine's).
    #[arg(long)]
    pub host: Option<String>,
    /// Compression: auto (default: zstd, raw where it does not pay), off, fast or max.
    #[arg(long)]
    pub compression: Option<Compression>,
    /// full: read everything; incremental: parent is the latest snapshot of the same host and
    /// paths; differential: parent is the latest full one. A backup that finds no parent
    /// reads everything and is labelled full.
    #[arg(long = "type", default_value = "incremental", value_name = "TYPE")]
    pub backup_type: BackupType,
    /// Exclude paths matching a glob (repeatable). `*.tmp` matches anywhere, `/var/cache`
    /// only there, `**` crosses directories.
    #[arg(short = 'e', long = "exclude", value_name = "GLOB")]
    pub excludes: Vec<String>,
    /// Read exclude globs from a file, one per line (repeatable).
    #[arg(long = "exclude-file", value_name = "FILE")]
    pub exclude_files: Vec<PathBuf>,
    /// Skip directories that contain a file of this name, such as CACHEDIR.TAG (repeatable).
    #[arg(long = "exclude-if-present", value_name = "NAME")]
    pub exclude_if_present: Vec<String>,
    /// Do not cross file system boundaries.
    #[arg(short = 'x', long)]
    pub one_file_system: bool,
    /// Back up standard input as one file.
    #[arg(long, conflicts_with = "paths")]
    pub stdin: bool,
    /// Back up the standard output of this shell command as one file (named by
    /// --stdin-filename), such as a database dump. A command that exits non-zero fails the
    /// backup, quoting its standard error, and no snapshot is saved: a dump cut short is never
    /// kept as a good backup.
    #[arg(long, value_name = "COMMAND", conflicts_with_all = ["paths", "stdin"])]
    pub stdin_from_command: Option<String>,
    /// File name for --stdin and --stdin-from-command.
    #[arg(long, default_value = "stdin", value_name = "NAME")]
    pub stdin_filename: String,
    /// The snapshot's time instead of now, e.g. "2026-11-03 02:00:00" (local time) or
    /// RFC 3339; for importing and replaying histories. Anomaly detection and forecasts use
    /// this time.
    #[arg(long, value_name = "TIME", value_parser = super::output::parse_time)]
    pub time: Option<jiff::Timestamp>,
    /// Do not measure anomaly features or judge this backup (for sources that are random by
    /// nature, such as encrypted archives).
    #[arg(long)]
    pub no_detect: bool,
    /// Back up only the data of this class (critical, normal, ephemeral), as `ibars classify`
    /// finds it in the latest snapshot of the same host and PATHs: its roots (`classify
    /// --roots`) become the snapshot's paths, and the class its tag. For a critical set with
    /// its own schedule and retention.
    #[arg(long, value_name = "CLASS", value_parser = super::classify::parse_class,
        conflicts_with_all = ["stdin", "stdin_from_command"])]
    pub class: Option<ibars_insight::classify::Class>,
}

/// The paths of `class` under `paths`: the roots of the class in the latest snapshot of this
/// host and these paths, those still on disk.
fn class_paths(
    g: &GlobalArgs,
    repo: &ibars_core::repo::Repository,
    a: &BackupArgs,
    class: ibars_insight::classify::Class,
) -> Result<Vec<PathBuf>> {
    let host = a.host.clone().unwrap_or_else(ibars_core::repo::hostname);
    let filter = super::SnapshotFilterArgs {
        hosts: vec![host.clone()],
        tags: vec![],
        paths: a.paths.clone(),
        // Not a class backup: the source classified is the whole of PATHs.
        exclude_tags: ibars_insight::classify::Class::ALL
            .iter()
            .map(|c| c.to_string())
            .collect(),
    };
    let all = repo.snapshots()?;
    let found = ibars_core::snapshot::resolve(&all, "latest", &filter.to_filter()?);
    let (id, snap) = found.cloned().with_context(|| {
        format!(
            "--class {class}: no snapshot of {} on {host} to classify; back them up whole first",
            a.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let rules = g.class_rules(&Default::default())?;
    let (earlier, restores) = super::classify::context(repo, &all, &snap, 9)?;
    let opts = ibars_core::ops::classify::Options {
        rules: &rules,
        earlier: &earlier,
        restores: &restores,
    };
    let roots = ibars_core::ops::classify::class_roots(repo, &snap, &opts, class)?;
    let present: Vec<PathBuf> = roots
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.symlink_metadata().is_ok())
        .collect();
    if present.is_empty() {
        anyhow::bail!(
            "--class {class}: snapshot {} holds no {class} data that is still on disk",
            id.short()
        );
    }
    Ok(present)
}

pub fn run(g: &GlobalArgs, a: BackupArgs) -> Result<u8> {
    let from_stdin = a.stdin || a.stdin_from_command.is_some();
    if from_stdin && (a.stdin_filename.is_empty() || a.stdin_filename.contains('/')) {
        anyhow::bail!("--stdin-filename must be a plain file name");
    }
    let mut excludes = a.excludes.clone();
    for f in &a.exclude_files {
        excludes.extend(
            PathFilter::read_file(f)
                .with_context(|| format!("reading exclude file {}", f.display()))?,
        );
    }
    let cancel = Arc::new(AtomicBool::new(false));
    install_interrupt(&cancel);
    let mut opts = BackupOptions {
        paths: a.paths.clone(),
        stdin: None,
        tags: a.tags.clone(),
        host: a.host.clone(),
        compression: a.compression,
        backup_type: a.backup_type,
        excludes,
        exclude_if_present: a.exclude_if_present.clone(),
        one_file_system: a.one_file_system,
        skip_paths: g.local_repo_dirs(),
        cancel: Arc::clone(&cancel),
        estimate: !g.quiet,
        upload_threads: 1,
        time: a.time,
        detect: !a.no_detect,
        scan: None,
    };
    // List the sources while the password's key is derived; a bad path is reported by the
    // backup itself, after the repository opened, as without the early scan.
    if !from_stdin && a.class.is_none() {
        opts.scan = Scan::start(&opts).ok();
    }
    let repo = g.open()?;
    if let Some(class) = a.class {
        opts.paths = class_paths(g, &repo, &a, class)?;
        opts.tags.push(class.to_string());
    }
    // The command starts once the repository is open: a wrong password runs no dump.
    if let Some(cmd) = &a.stdin_from_command {
        let reader = super::stdin_command::CommandReader::spawn(cmd, &cancel)
            .with_context(|| format!("starting {cmd:?}"))?;
        opts.stdin = Some(StdinSource {
            name: a.stdin_filename.clone(),
            reader: Box::new(reader),
        });
    } else if a.stdin {
        opts.stdin = Some(StdinSource {
            name: a.stdin_filename.clone(),
            reader: Box::new(std::io::stdin()),
        });
    }
    opts.upload_threads = repo.backend().parallelism();
    let progress = CliProgress::new("backup", g.json, g.quiet);
    let report = backup(&repo, opts, &progress);
    progress.finish();
    let report = match report {
        // A stop asked for ends whatever the backup was doing (a dump command it stopped
        // reports its own failure): it was interrupted.
        Err(_) if cancel.load(Ordering::SeqCst) => {
            return Err(ibars_core::Error::Interrupted.into())
        }
        r => r?,
    };
    let s = &report.snapshot.summary;
    super::textfile::note("ibars_backup_bytes_added", s.bytes_added as f64);
    super::textfile::note("ibars_backup_bytes_stored", s.bytes_stored as f64);
    super::textfile::note(
        "ibars_backup_files",
        (s.files_new + s.files_changed + s.files_unchanged) as f64,
    );
    super::textfile::note(
        "ibars_backup_files_changed",
        (s.files_new + s.files_changed) as f64,
    );
    if let Some(v) = &report.verdict {
        super::textfile::note("ibars_backup_anomaly_score", v.score);
    }
    if g.json {
        outln!(
            "{}",
            serde_json::json!({
                "message_type": "summary",
                "snapshot_id": report.id,
                "parent": report.snapshot.parent,
                "backup_type": report.snapshot.backup_type,
                "summary": s,
                "errors": report.errors.iter().map(|(p, e)| serde_json::json!({"path": p, "error": e})).collect::<Vec<_>>(),
                "changed_while_read": report.changed_while_read,
                "anomaly": report.verdict,
                "clean_point": report.snapshot.anomaly.as_ref().and_then(|a| a.clean_point),
            })
        );
    } else if !g.quiet {
        outln!(
            "Files:       {} new, {} changed, {} unchanged",
            s.files_new,
            s.files_changed,
            s.files_unchanged
        );
        outln!(
            "Dirs:        {} new, {} changed, {} unchanged",
            s.dirs_new,
            s.dirs_changed,
            s.dirs_unchanged
        );
        outln!(
            "Added:       {} ({} stored after compression)",
            bytes(s.bytes_added),
            bytes(s.bytes_stored)
        );
        outln!(
            "Processed:   {} files, {} in {} ({} read)",
            s.files_new + s.files_changed + s.files_unchanged,
            bytes(s.bytes_total),
            duration(s.duration_ms),
            bytes(s.bytes_read)
        );
        if s.files_deleted > 0 {
            outln!(
                "Deleted:     {} files ({}), {} dirs; {} moved",
                s.files_deleted,
                bytes(s.bytes_deleted),
                s.dirs_deleted,
                s.files_moved
            );
        }
        outln!(
            "snapshot {} saved ({})",
            report.id.short(),
            report.snapshot.backup_type
        );
    }
    if let Some(v) = &report.verdict {
        super::anomalies::print_verdict(v, &report.snapshot, g.json, g.quiet);
    }
    if !report.errors.is_empty() {
        eprintln!(
            "warning: {} path(s) could not be read and are missing from the snapshot:",
            report.errors.len()
        );
        for (p, e) in report.errors.iter().take(20) {
            eprintln!("  {}: {e}", p.display());
        }
        return Ok(code::PARTIAL);
    }
    if report.snapshot.flagged() {
        return Ok(code::ANOMALY);
    }
    Ok(code::OK)
}

/// First Ctrl-C (or SIGTERM) asks the operation to stop cleanly; a second one exits at once.
pub fn install_interrupt(cancel: &Arc<AtomicBool>) {
    let c = Arc::clone(cancel);
    let _ = ctrlc::set_handler(move || {
        if c.swap(true, Ordering::SeqCst) {
            std::process::exit(code::INTERRUPTED as i32);
        }
        eprintln!("\ninterrupted: stopping (press Ctrl-C again to quit at once)");
    });
}
