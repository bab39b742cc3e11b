//! `snapshots`, `ls` and `diff`: reading what the repository holds.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use ibars_core::id::SnapshotId;
use ibars_core::ops::backup::absolute;
use ibars_core::ops::walk;
use ibars_core::repo::{Repository, TreeCache};
use ibars_core::snapshot::{resolve, Snapshot, SnapshotFilter};
use ibars_core::tree::{Bytes, NodeType};

use super::output::{bytes, local_time};
use super::{code, GlobalArgs, SnapshotFilterArgs};

#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Snapshot: `latest`, an id or an id prefix.
    pub snapshot: String,
    /// List only this path and what is below it.
    pub path: Option<PathBuf>,
    /// Show mode, owner, size and time.
    #[arg(short, long)]
    pub long: bool,
    /// Only the entries directly in PATH, not below.
    #[arg(long)]
    pub no_recursive: bool,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The older snapshot.
    pub from: String,
    /// The newer snapshot.
    pub to: String,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

impl SnapshotFilterArgs {
    pub fn to_filter(&self) -> Result<SnapshotFilter> {
        let mut paths = Vec::new();
        for p in &self.paths {
            paths.push(Bytes::from_os(absolute(p)?.as_os_str()));
        }
        Ok(SnapshotFilter {
            hosts: self.hosts.clone(),
            tags: self.tags.clone(),
            paths,
            exclude_tags: self.exclude_tags.clone(),
        })
    }
}

/// Find one snapshot by `latest` or id prefix, narrowed by the filter flags.
pub fn find(
    repo: &Repository,
    spec: &str,
    f: &SnapshotFilterArgs,
) -> Result<(SnapshotId, Snapshot)> {
    let all = repo.snapshots()?;
    Ok(resolve(&all, spec, &f.to_filter()?)?.clone())
}

/// The snapshots named by `specs` (`latest`, ids, id prefixes; duplicates dropped), narrowed by
/// the filter flags; with no specs, every snapshot the filter matches. None at all is an error.
pub fn select(
    repo: &Repository,
    specs: &[String],
    f: &SnapshotFilterArgs,
) -> Result<Vec<SnapshotId>> {
    let all = repo.snapshots()?;
    let filter = f.to_filter()?;
    let mut ids = Vec::new();
    if specs.is_empty() {
        ids.extend(
            all.iter()
                .filter(|(_, s)| filter.matches(s))
                .map(|(id, _)| *id),
        );
    }
    for spec in specs {
        let id = resolve(&all, spec, &filter)?.0;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        anyhow::bail!("no snapshot matches");
    }
    Ok(ids)
}

fn paths_str(paths: &[Bytes]) -> String {
    paths
        .iter()
        .map(|p| p.lossy().into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn list(g: &GlobalArgs, a: &SnapshotsArgs) -> Result<u8> {
    let repo = g.open()?;
    let filter = a.filter.to_filter()?;
    let mut all = repo.snapshots()?;
    ibars_core::snapshot::protect_clean_points(&mut all);
    let snaps: Vec<_> = all.into_iter().filter(|(_, s)| filter.matches(s)).collect();
    if g.json {
        let v: Vec<_> = snaps
            .iter()
            .map(|(id, s)| {
                let mut o = serde_json::to_value(s).expect("snapshot serializes");
                o["id"] = serde_json::json!(id);
                o["short_id"] = serde_json::json!(id.short());
                o
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(code::OK);
    }
    outln!(
        "{:<8}  {:<19}  {:<16}  {:<12}  {:<12}  {:>10}  {:<9}  Paths",
        "ID",
        "Time",
        "Host",
        "Tags",
        "Type",
        "Size",
        "Marks"
    );
    outln!("{}", "-".repeat(111));
    for (id, s) in &snaps {
        outln!(
            "{:<8}  {:<19}  {:<16}  {:<12}  {:<12}  {:>10}  {:<9}  {}",
            id.short(),
            local_time(s.time),
            s.host,
            s.tags.join(","),
            s.backup_type.to_string(),
            bytes(s.summary.bytes_total),
            marks(s),
            paths_str(&s.paths)
        );
    }
    if snaps.iter().any(|(_, s)| s.flagged()) {
        outln!("ANOMALY: flagged by anomaly detection (see `ibars anomalies`); P: protected");
    }
    outln!("{}", "-".repeat(111));
    outln!("{} snapshot(s)", snaps.len());
    Ok(code::OK)
}

/// `ANOMALY` for a standing finding, `P` for protected (a clean point of a finding too).
fn marks(s: &Snapshot) -> String {
    let mut m = Vec::new();
    if s.flagged() {
        m.push("ANOMALY");
    }
    if s.protected.is_some() {
        m.push("P");
    }
    m.join(",")
}

fn kind_char(k: NodeType) -> char {
    match k {
        NodeType::Dir => 'd',
        NodeType::Symlink => 'l',
        NodeType::Fifo => 'p',
        NodeType::Chardev => 'c',
        NodeType::Blockdev => 'b',
        NodeType::Socket => 's',
        NodeType::File => '-',
    }
}

fn mode_string(kind: NodeType, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(kind_char(kind));
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

pub fn ls(g: &GlobalArgs, a: &LsArgs) -> Result<u8> {
    let repo = g.open()?;
    let (id, snap) = find(&repo, &a.snapshot, &a.filter)?;
    let index = repo.load_index()?;
    let cache = TreeCache::new(64 << 20);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    use std::io::Write;
    if g.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"message_type": "snapshot", "id": id, "time": snap.time, "paths": snap.paths})
        )?;
    }
    walk::walk(
        &repo,
        &index,
        &cache,
        &snap.tree,
        a.path.as_deref(),
        !a.no_recursive,
        &mut |p, n| {
            let r = if g.json {
                let mut o = serde_json::to_value(n).expect("node serializes");
                if let Some(m) = o.as_object_mut() {
                    m.remove("content");
                    m.insert(
                        "path".into(),
                        serde_json::json!(Bytes(p.as_os_str().as_bytes().to_vec())),
                    );
                }
                writeln!(out, "{o}")
            } else if a.long {
                let t = jiff::Timestamp::from_nanosecond(n.mtime as i128)
                    .map(local_time)
                    .unwrap_or_default();
                let user = n.user.clone().unwrap_or_else(|| n.uid.to_string());
                let group = n.group.clone().unwrap_or_else(|| n.gid.to_string());
                let link = n
                    .target
                    .as_ref()
                    .map(|t| format!(" -> {}", t.lossy()))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{} {:>8} {:>8} {:>12} {} {}{}",
                    mode_string(n.kind, n.mode),
                    user,
                    group,
                    n.size,
                    t,
                    p.display(),
                    link
                )
            } else {
                out.write_all(p.as_os_str().as_bytes())
                    .and_then(|_| out.write_all(b"\n"))
            };
            r.map_err(|e| ibars_core::Error::io("stdout", e))
        },
    )?;
    out.flush()?;
    Ok(code::OK)
}

pub fn diff(g: &GlobalArgs, a: &DiffArgs) -> Result<u8> {
    let repo = g.open()?;
    let all = repo.snapshots()?;
    let filter = a.filter.to_filter()?;
    let (ida, sa) = resolve(&all, &a.from, &filter)?.clone();
    let (idb, sb) = resolve(&all, &a.to, &filter)?.clone();
    let index = repo.load_index()?;
    let cache = TreeCache::new(64 << 20);
    let mut entries = Vec::new();
    let stats = walk::diff(&repo, &index, &cache, &sa.tree, &sb.tree, &mut entries)?;
    if g.json {
        outln!(
            "{}",
            serde_json::json!({"from": ida, "to": idb, "changes": entries, "stats": stats})
        );
        return Ok(code::OK);
    }
    if !g.quiet {
        outln!("comparing snapshot {} to {}:\n", ida.short(), idb.short());
    }
    for e in &entries {
        let slash = if e.kind == NodeType::Dir { "/" } else { "" };
        let size = match e.change {
            ibars_core::ops::walk::Change::Added => format!("  ({})", bytes(e.new_size)),
            ibars_core::ops::walk::Change::Removed => format!("  ({})", bytes(e.old_size)),
            ibars_core::ops::walk::Change::Modified => {
                format!("  ({} -> {})", bytes(e.old_size), bytes(e.new_size))
            }
            _ => String::new(),
        };
        outln!(
            "{}    {}{}{}",
            e.change.code(),
            e.path.display(),
            slash,
            if e.kind == NodeType::File {
                size
            } else {
                String::new()
            }
        );
    }
    if !g.quiet {
        outln!(
            "\nAdded:    {} files, {}\nRemoved:  {} files, {}\nModified: {} files\nMetadata: {} entries",
            stats.added_files,
            bytes(stats.added_bytes),
            stats.removed_files,
            bytes(stats.removed_bytes),
            stats.modified_files,
            stats.metadata_changed
        );
    }
    Ok(code::OK)
}
