//! Carrying out a prune plan, in the order that makes interruption safe (see the module doc).

use std::collections::HashSet;

use super::plan::{PackAction, Planned};
use super::PruneReport;
use crate::backend::FileKind;
use crate::error::{Error, Result};
use crate::id::PackId;
use crate::pack::{BlobDecoder, PackEntry};
use crate::progress::Progress;
use crate::repo::{read_named, LockGuard, PackSink, Repository, ENTRIES_PER_INDEX};

pub(super) fn execute(
    repo: &Repository,
    lock: &LockGuard,
    planned: Planned,
    report: &mut PruneReport,
    progress: &dyn Progress,
) -> Result<()> {
    let Planned {
        packs, index_files, ..
    } = planned;
    progress.set_total(0, report.plan.bytes_rewritten);

    // 1. Copy the used blobs of packs to repack, each verified against its id first, so that
    //    damage is never copied into a new pack.
    let mut sink = PackSink::new(repo);
    let mut decoder = BlobDecoder::default();
    for p in packs.iter().filter(|p| p.action == PackAction::Repack) {
        let read = read_named(repo.backend().as_ref(), FileKind::Pack, &p.id.to_hex())?;
        let bytes = read.bytes;
        for (e, _) in p.entries.iter().zip(&p.keep).filter(|(_, k)| **k) {
            let stored = e.stored_in(&bytes).ok_or_else(|| damaged(&p.id))?;
            decoder
                .decode(repo.key(), &p.id, e, stored)
                .map_err(|err| Error::corrupt(format!("pack {}", p.id), format!("{err}; run `ibars check --read-data` and `ibars repair packs` before pruning")))?;
            sink.add_stored(e, stored)?;
            progress.bytes_done(u64::from(e.length));
        }
    }
    sink.flush()?;
    report.packs_written = sink.written().len();
    report.bytes_written = sink.bytes_written();

    // 2 and 3. One compact index of every kept pack and every new one replaces the old files.
    // Entries move out of the plan, so that they are not held twice.
    let mut doomed = Vec::new();
    let mut index: Vec<(PackId, Vec<PackEntry>)> = Vec::new();
    for p in packs {
        match p.action {
            PackAction::Keep => index.push((p.id, p.entries)),
            PackAction::Delete | PackAction::Repack | PackAction::DeleteUnindexed => {
                doomed.push(p.id)
            }
            PackAction::DropMissing => {}
        }
    }
    index.extend(sink.take_written());
    lock.check()?;
    let p = &report.plan;
    let changed = p.packs_delete + p.packs_repack + p.packs_unindexed + p.packs_missing_dropped;
    let compact = p.blobs_total.div_ceil(ENTRIES_PER_INDEX).max(1);
    if changed > 0 || p.index_files > compact {
        report.index_files_written = repo.replace_index(&index, &index_files)?;
        report.index_files_removed = index_files.len();
    }

    // 4. Remove what no index names any more, and parity no pack needs.
    lock.check()?;
    let kept: HashSet<PackId> = index.iter().map(|(id, _)| *id).collect();
    drop(index);
    for id in doomed {
        repo.backend().remove(FileKind::Pack, &id.to_hex())?;
        report.packs_removed += 1;
    }
    for id in repo.parity_packs()? {
        if !kept.contains(&id) {
            repo.backend().remove(FileKind::Parity, &id.to_hex())?;
            report.parity_files_removed += 1;
        }
    }
    Ok(())
}

fn damaged(id: &PackId) -> Error {
    Error::corrupt(
        format!("pack {id}"),
        "is shorter than its index says; run `ibars check --read-data` and `ibars repair packs` before pruning",
    )
}
