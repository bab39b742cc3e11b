//! `dump` and `find`: reading a snapshot's files without restoring them.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use ibars_core::ops::{dump, find};
use ibars_core::repo::TreeCache;
use ibars_core::snapshot::resolve;
use ibars_core::tree::NodeType;

use super::output::{bytes, local_time};
use super::{code, GlobalArgs, SnapshotFilterArgs};

/// Options of `dump`.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  ibars dump latest /etc/hosts                 # a file's bytes to standard output
  ibars dump latest /home/me/docs > docs.tar   # a directory as a tar stream
  ibars dump 3f2a9c1e /var/www -o www.tar      # to a file, written whole or not at all
  ibars dump latest /srv/app | tar -x -C /tmp  # unpack elsewhere

A directory's tar entries are named from its own name down (docs/...); dumping / gives
the snapshot's paths without the leading slash. Sockets are skipped. Every blob is
verified before it is written: a damaged file ends the stream with an error (exit 1).")]
pub struct DumpArgs {
    /// Snapshot: `latest`, an id or an id prefix.
    pub snapshot: String,
    /// The path in the snapshot: a file, or a directory (written as tar).
    pub path: PathBuf,
    /// Write to this file instead of standard output; it appears only when complete.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

/// Options of `find`.
#[derive(Args, Debug)]
#[command(after_help = "\
A pattern without `/` matches entry names (`*.conf`, `report-202?.pdf`); with a `/` it
matches whole paths from the snapshot's root (`/etc/**/*.conf`), where `*` stays within one
directory and `**` crosses them. Quote patterns so the shell leaves them alone.

Only trees are read (through the cache of a remote repository), never file data, and a
subtree shared by many snapshots is searched once.

Examples:
  ibars find '*.sqlite'
  ibars find -i 'invoice*' --host web1
  ibars find '/home/*/.ssh/**' --snapshot latest --json")]
pub struct FindArgs {
    /// Glob patterns; an entry matching any of them is shown.
    #[arg(required = true)]
    pub patterns: Vec<String>,
    /// Only these snapshots (`latest`, ids, prefixes; repeatable). Default: all.
    #[arg(long = "snapshot", short = 's', value_name = "ID")]
    pub snapshots: Vec<String>,
    /// Match without regard to case.
    #[arg(short = 'i', long)]
    pub ignore_case: bool,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

pub fn dump(g: &GlobalArgs, a: &DumpArgs) -> Result<u8> {
    let repo = g.open()?;
    let (id, snap) = super::snapshots::find(&repo, &a.snapshot, &a.filter)?;
    let index = repo.load_index()?;
    let cache = TreeCache::new(64 << 20);
    let node = dump::lookup(&repo, &index, &cache, &snap.tree, &a.path)?;
    let report = match &a.output {
        Some(path) => {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => std::path::Path::new("."),
            };
            let mut tmp = tempfile::Builder::new()
                .prefix(".ibars-dump-")
                .tempfile_in(dir)
                .with_context(|| format!("creating a file in {}", dir.display()))?;
            let shown = path.display().to_string();
            let mut w = std::io::BufWriter::new(tmp.as_file_mut());
            let r = dump::dump(&repo, &index, &cache, &snap.tree, &a.path, &mut w, &shown)?;
            w.flush().with_context(|| format!("writing {shown}"))?;
            drop(w);
            tmp.as_file()
                .sync_all()
                .with_context(|| format!("writing {shown}"))?;
            tmp.persist(path)
                .with_context(|| format!("renaming into {shown}"))?;
            r
        }
        None => {
            let stdout = std::io::stdout();
            if node.kind != NodeType::File && stdout.is_terminal() {
                bail!(
                    "{} is a directory: its tar stream would go to the terminal; \
                     redirect it (> file.tar) or use --output",
                    a.path.display()
                );
            }
            let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
            let r = dump::dump(&repo, &index, &cache, &snap.tree, &a.path, &mut w, "stdout");
            match r.and_then(|r| {
                w.flush()
                    .map_err(|e| ibars_core::Error::io("stdout", e))
                    .map(|_| r)
            }) {
                Err(ibars_core::Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::BrokenPipe =>
                {
                    super::stdout_failed(&source)
                }
                r => r?,
            }
        }
    };
    if g.json {
        let v = serde_json::json!({
            "message_type": "dump", "snapshot": id, "path": a.path,
            "format": report.format, "entries": report.entries,
            "content_bytes": report.content_bytes, "skipped": report.skipped,
        });
        // Standard output may be the data itself.
        if a.output.is_some() {
            outln!("{v}");
        } else {
            eprintln!("{v}");
        }
    } else if !g.quiet && a.output.is_some() {
        outln!(
            "wrote {} ({}, {} entries, {} of content)",
            a.output
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            report.format,
            report.entries,
            bytes(report.content_bytes)
        );
    }
    if report.skipped > 0 && !g.quiet {
        eprintln!(
            "warning: {} socket(s) skipped: tar cannot hold them",
            report.skipped
        );
    }
    Ok(code::OK)
}

pub fn find(g: &GlobalArgs, a: &FindArgs) -> Result<u8> {
    let repo = g.open()?;
    let filter = a.filter.to_filter()?;
    let all = repo.snapshots()?;
    let mut chosen = Vec::new();
    if a.snapshots.is_empty() {
        chosen.extend(all.iter().filter(|(_, s)| filter.matches(s)).cloned());
    }
    for spec in &a.snapshots {
        let s = resolve(&all, spec, &filter)?;
        if !chosen.iter().any(|(id, _)| *id == s.0) {
            chosen.push(s.clone());
        }
    }
    let pattern = find::Pattern::any(&a.patterns, a.ignore_case)?;
    let index = repo.load_index()?;
    let cache = TreeCache::new(64 << 20);
    // In the order of `chosen`, as find visits them.
    let mut found: Vec<find::Found> = Vec::new();
    find::find(&repo, &index, &cache, &chosen, &pattern, &mut |f| {
        found.push(f);
        Ok(())
    })?;
    for f in &mut found {
        f.hits.sort_by(|a, b| a.path.cmp(&b.path));
    }
    if g.json {
        outln!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(code::OK);
    }
    for f in &found {
        outln!(
            "snapshot {} of {} ({}):",
            f.snapshot.short(),
            local_time(f.time),
            f.host
        );
        for h in &f.hits {
            let t = jiff::Timestamp::from_nanosecond(i128::from(h.mtime))
                .map(local_time)
                .unwrap_or_default();
            let slash = if h.kind == NodeType::Dir { "/" } else { "" };
            outln!("  {}{}  ({}, {})", h.path.lossy(), slash, bytes(h.size), t);
        }
    }
    if !g.quiet {
        let hits: usize = found.iter().map(|f| f.hits.len()).sum();
        outln!(
            "{hits} match(es) in {} of {} snapshot(s)",
            found.len(),
            chosen.len()
        );
    }
    Ok(code::OK)
}
