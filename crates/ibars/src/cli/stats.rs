//! `ibars stats`: what the repository holds and how well it is verified.

use anyhow::Result;
use clap::{Args, ValueEnum};
use ibars_core::ops::stats::{content, Mode};
use ibars_core::repo::TreeCache;

use super::output::{bytes, local_time};
use super::{code, GlobalArgs, SnapshotFilterArgs};

/// Options of `stats`.
#[derive(Args, Debug)]
#[command(after_help = "\
Without --mode and without snapshots, `stats` shows the repository as stored: snapshots,
packs, bytes, parity, scrub coverage and the last check (no tree is read).

With --mode, or with snapshots named (default mode restore-size), it walks the snapshots'
trees (never file data):
  restore-size  files and bytes the snapshots hold when restored, every snapshot counted
  raw-data      the unique data they reference: blobs, bytes before and after compression,
                and the deduplication and compression ratios

Examples:
  ibars stats
  ibars stats --mode raw-data            # all snapshots
  ibars stats latest --host web1         # restore size of one snapshot")]
pub struct StatsArgs {
    /// Snapshots to measure (`latest`, ids, prefixes). Default with --mode: all.
    pub snapshots: Vec<String>,
    /// What to measure over the snapshots.
    #[arg(long, value_enum)]
    pub mode: Option<StatsMode>,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum StatsMode {
    RestoreSize,
    RawData,
}

pub fn run(g: &GlobalArgs, a: &StatsArgs) -> Result<u8> {
    if a.mode.is_some() || !a.snapshots.is_empty() {
        return run_content(g, a);
    }
    let repo = g.open()?;
    let s = ibars_core::ops::stats::stats(&repo, jiff::Timestamp::now().as_second())?;
    if g.json {
        let mut v = serde_json::to_value(&s)?;
        v["message_type"] = serde_json::json!("stats");
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(code::OK);
    }
    outln!("snapshots:       {}", s.snapshots);
    outln!("packs:           {} ({})", s.packs, bytes(s.pack_bytes));
    if s.parity_bytes > 0 {
        outln!("parity:          {}", bytes(s.parity_bytes));
    }
    outln!("stored in all:   {}", bytes(s.total_bytes));
    outln!("index files:     {}", s.index_files);
    outln!("history records: {}", s.history_records);
    outln!(
        "verified:        {:.1}% of pack data read back in the last {} days",
        s.scrub_coverage * 100.0,
        ibars_core::ops::stats::SCRUB_WINDOW_DAYS
    );
    match &s.last_check {
        Some(c) => outln!(
            "last check:      {} ({}{}, {} errors)",
            local_time(c.time),
            if c.ok { "ok" } else { "FAILED" },
            if c.read_data { ", data read" } else { "" },
            c.errors
        ),
        None => outln!("last check:      never"),
    }
    Ok(code::OK)
}

fn run_content(g: &GlobalArgs, a: &StatsArgs) -> Result<u8> {
    let repo = g.open()?;
    let ids = super::snapshots::select(&repo, &a.snapshots, &a.filter)?;
    let mut roots = Vec::with_capacity(ids.len());
    for id in &ids {
        roots.push(repo.load_snapshot(id)?.tree);
    }
    let mode = match a.mode {
        Some(StatsMode::RawData) => Mode::RawData,
        _ => Mode::RestoreSize,
    };
    let index = repo.load_index()?;
    let s = content(&repo, &index, &TreeCache::new(64 << 20), &roots, mode)?;
    if g.json {
        let mut v = serde_json::to_value(&s)?;
        v["message_type"] = serde_json::json!("stats");
        v["mode"] = serde_json::to_value(mode)?;
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(code::OK);
    }
    outln!("snapshots:         {}", s.snapshots);
    outln!("files:             {}", s.files);
    outln!("restore size:      {}", bytes(s.restore_size));
    if let (Some(blobs), Some(raw), Some(stored)) = (s.blobs, s.raw_bytes, s.stored_bytes) {
        outln!("unique blobs:      {blobs}");
        outln!("unique data:       {} before compression", bytes(raw));
        outln!("stored:            {}", bytes(stored));
        outln!(
            "deduplication:     {:.2}x",
            s.deduplication_ratio.unwrap_or(1.0)
        );
        outln!(
            "compression:       {:.2}x ({:.1}% saved)",
            s.compression_ratio.unwrap_or(1.0),
            if raw == 0 {
                0.0
            } else {
                (1.0 - stored as f64 / raw as f64) * 100.0
            }
        );
    }
    Ok(code::OK)
}
