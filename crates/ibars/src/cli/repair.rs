//! `ibars repair` and `ibars config`.

use anyhow::Result;
use clap::Subcommand;
use ibars_core::id::{PackId, SnapshotId};
use ibars_core::ops::repair::{self, RepairSnapshotsOptions};
use ibars_core::repo::LockMode;

use super::progress::CliProgress;
use super::{code, GlobalArgs};

/// Repair a damaged repository. Run `ibars check --read-data` first to see what is damaged.
#[derive(Subcommand, Debug)]
pub enum RepairCommand {
    /// Rebuild damaged or missing packs from their parity files, and rewrite damaged parity
    /// files. Packs parity cannot rebuild are listed; with --salvage their intact blobs move
    /// to a new pack and the damaged pack is removed, after which `repair snapshots` cuts the
    /// files that needed the lost blobs.
    Packs {
        /// Only these packs (full hex ids; default: every pack).
        #[arg(value_name = "PACK")]
        packs: Vec<PackId>,
        /// Move the intact blobs of unrecoverable packs to a new pack and remove the damaged
        /// packs.
        #[arg(long)]
        salvage: bool,
    },
    /// Rebuild the index from pack headers, after lost or corrupt index files. Entries of
    /// readable index files are kept for packs of the right size.
    Index {
        /// Read every pack's header, trusting no index file.
        #[arg(long)]
        read_all_packs: bool,
    },
    /// Rewrite snapshots that reference data which is gone: the files and directories that
    /// cannot be restored are cut out and listed. Repaired snapshots are tagged `repaired`;
    /// the originals are kept unless --forget is given.
    Snapshots {
        /// Remove the originals once the repaired snapshots are saved.
        #[arg(long)]
        forget: bool,
        /// Only show what would be cut.
        #[arg(short = 'n', long)]
        dry_run: bool,
        /// Only these snapshots (full ids; default: all).
        #[arg(value_name = "SNAPSHOT")]
        snapshots: Vec<SnapshotId>,
    },
}

/// Change repository settings.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Set Reed-Solomon parity per pack, e.g. `10%` (`0%` turns it off for new packs). Parity
    /// is also written for existing packs that lack it, unless --new-packs-only is given.
    Parity {
        /// Share of each pack's size, 0% to 100%.
        #[arg(value_name = "PERCENT", value_parser = super::open::parse_percent)]
        percent: u8,
        /// Only packs written from now on get parity.
        #[arg(long)]
        new_packs_only: bool,
    },
}

fn print(g: &GlobalArgs, kind: &str, report: &impl serde::Serialize) {
    if g.json {
        outln!(
            "{}",
            serde_json::json!({"message_type": "summary", "action": kind, "report": report})
        );
    }
}

pub fn run(g: &GlobalArgs, cmd: RepairCommand) -> Result<u8> {
    let repo = g.open_uncached()?;
    match cmd {
        RepairCommand::Packs { packs, salvage } => {
            let progress = CliProgress::new("repair", g.json, g.quiet);
            let only = (!packs.is_empty()).then_some(packs.as_slice());
            let r = repair::repair_packs(&repo, only, salvage, &progress);
            progress.finish();
            let r = r?;
            print(g, "repair_packs", &r);
            if !g.json {
                outln!(
                    "checked {} packs: {} rebuilt from parity, {} parity files rewritten, {} unrecoverable",
                    r.packs_checked,
                    r.rebuilt.len(),
                    r.parity_rewritten.len(),
                    r.unrecoverable.len()
                );
                for p in &r.rebuilt {
                    outln!("  rebuilt pack {p}");
                }
                for s in &r.unrecoverable {
                    outln!(
                        "  pack {}: {} ({} blobs saved, {} lost)",
                        s.pack,
                        s.reason,
                        s.blobs_saved,
                        s.blobs_lost.len()
                    );
                }
                if !r.unrecoverable.is_empty() && !salvage {
                    outln!("run `ibars repair packs --salvage` to keep what is intact, then `ibars repair snapshots`");
                } else if !r.unrecoverable.is_empty() {
                    outln!("run `ibars repair snapshots` to cut the lost files out of snapshots");
                }
            }
            Ok(if r.unrecoverable.is_empty() {
                code::OK
            } else {
                code::PARTIAL
            })
        }
        RepairCommand::Index { read_all_packs } => {
            let progress = CliProgress::new("repair", g.json, g.quiet);
            let r = repair::repair_index(&repo, read_all_packs, &progress);
            progress.finish();
            let r = r?;
            print(g, "repair_index", &r);
            if !g.json {
                outln!(
                    "indexed {} packs ({} headers read) into {} index files; {} old files removed",
                    r.packs_indexed,
                    r.headers_read,
                    r.files_written,
                    r.files_removed
                );
                for p in &r.dropped {
                    outln!("  pack {p} is gone from storage; its entries were dropped");
                }
                for (p, e) in &r.unreadable {
                    outln!("  pack {p} left out: {e}");
                }
            }
            Ok(if r.unreadable.is_empty() {
                code::OK
            } else {
                code::PARTIAL
            })
        }
        RepairCommand::Snapshots {
            forget,
            dry_run,
            snapshots,
        } => {
            let opts = RepairSnapshotsOptions {
                forget,
                dry_run,
                only: (!snapshots.is_empty()).then_some(snapshots),
            };
            let r = repair::repair_snapshots(&repo, &opts)?;
            print(g, "repair_snapshots", &r);
            if !g.json {
                for s in &r.repaired {
                    match &s.repaired {
                        Some(new) => outln!(
                            "snapshot {} -> {}: {} path(s) cut{}",
                            s.original.short(),
                            new.short(),
                            s.removed.len(),
                            if s.original_forgotten {
                                ", original removed"
                            } else {
                                ""
                            }
                        ),
                        None => outln!(
                            "snapshot {}: would cut {} path(s)",
                            s.original.short(),
                            s.removed.len()
                        ),
                    }
                    for p in &s.removed {
                        outln!("    {p}");
                    }
                }
                for id in &r.lost {
                    if r.lost_acknowledged.contains(id) {
                        outln!(
                            "snapshot {} is gone; its loss is acknowledged and no longer reported",
                            id.short()
                        );
                    } else {
                        outln!(
                            "snapshot {} is gone; without --dry-run its loss would be acknowledged",
                            id.short()
                        );
                    }
                }
                outln!(
                    "{} of {} snapshots needed repair",
                    r.repaired.len(),
                    r.checked
                );
            }
            Ok(code::OK)
        }
    }
}

pub fn config(g: &GlobalArgs, cmd: ConfigCommand) -> Result<u8> {
    let mut repo = g.open_uncached()?;
    match cmd {
        ConfigCommand::Parity {
            percent: p,
            new_packs_only,
        } => {
            {
                let _lock = repo.lock(LockMode::Exclusive)?;
                repo.update_config(|c| c.parity_percent = p)?;
            }
            let added = if p > 0 && !new_packs_only {
                let progress = CliProgress::new("parity", g.json, g.quiet);
                let n = repair::add_parity(&repo, &progress);
                progress.finish();
                n?
            } else {
                0
            };
            if g.json {
                outln!(
                    "{}",
                    serde_json::json!({"message_type": "summary", "parity_percent": p, "parity_files_written": added})
                );
            } else if !g.quiet {
                outln!("parity set to {p}%; parity written for {added} existing pack(s)");
            }
            Ok(code::OK)
        }
    }
}
