//! `ibars stats`: what the repository holds and how well it is verified.

use anyhow::Result;

use super::output::{bytes, local_time};
use super::{code, GlobalArgs};

pub fn run(g: &GlobalArgs) -> Result<u8> {
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
