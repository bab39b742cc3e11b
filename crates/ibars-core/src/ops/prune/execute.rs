//! Carrying out a prune plan, in the order that makes interruption safe (see the module doc).

use std::collections::HashSet;

use super::plan::{PackAction, Planned};
use super::PruneReport;
use crate::backend::FileKind;
use crate::error::{Error, Result};
use crate::id::PackId;
use crate::pack::{BlobDecoder, PackEntry};
use crate::progress::Progress;
use crate::repo::{read_named, LockGuard, MarkedPack, PackSink, Repository, ENTRIES_PER_INDEX};

/// How often prune writes its index again, with a later mark time, when writing took longer
/// than the grace period (see [`write_index`]).
const INDEX_ATTEMPTS: usize = 3;

/// Carry out `planned`. With `grace_ms` > 0, packs to delete are marked (in the index written
/// here) and only packs marked by earlier prunes that the plan found expired are deleted; with
/// 0 (under an exclusive lock) every pack to delete is deleted now.
pub(super) fn execute(
    repo: &Repository,
    lock: &LockGuard,
    planned: Planned,
    grace_ms: i64,
    report: &mut PruneReport,
    progress: &dyn Progress,
) -> Result<()> {
    let Planned {
        packs,
        index_files,
        orphan_parity,
        ..
    } = planned;
    let immediate = grace_ms == 0;
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

    // 2 and 3. One compact index of every kept pack, every new one and every marked one
    //    replaces the old files. Entries move out of the plan, so that they are not held twice.
    let mut doomed: Vec<(PackId, u64)> = Vec::new();
    let mut live: Vec<(PackId, Vec<PackEntry>)> = Vec::new();
    // Marked in this run (their time is set when the index is written), then marked earlier.
    let mut marked: Vec<MarkedPack> = Vec::new();
    let mut waiting: Vec<MarkedPack> = Vec::new();
    for p in packs {
        match p.action {
            PackAction::Keep => live.push((p.id, p.entries)),
            PackAction::Delete | PackAction::Repack | PackAction::DeleteUnindexed if !immediate => {
                marked.push(MarkedPack {
                    id: p.id,
                    marked: 0,
                    entries: p.entries,
                })
            }
            PackAction::Wait => waiting.push(MarkedPack {
                id: p.id,
                marked: p.marked.unwrap_or(i64::MAX),
                entries: p.entries,
            }),
            PackAction::Delete
            | PackAction::Repack
            | PackAction::DeleteUnindexed
            | PackAction::Expire => doomed.push((p.id, p.size)),
            PackAction::DropMissing => {}
        }
    }
    let fresh = marked.len();
    marked.append(&mut waiting);
    live.extend(sink.take_written());
    let p = &report.plan;
    let changed = p.packs_delete
        + p.packs_repack
        + p.packs_unindexed
        + p.packs_missing_dropped
        + p.packs_expired
        + p.packs_recovered;
    let entries: usize = live.iter().map(|(_, e)| e.len()).sum::<usize>()
        + marked.iter().map(|m| m.entries.len()).sum::<usize>();
    let compact = entries.div_ceil(ENTRIES_PER_INDEX).max(1);
    if changed > 0 || p.index_files > compact {
        lock.check()?;
        let (written, mut old) = write_index(repo, &live, &mut marked, fresh, grace_ms)?;
        report.index_files_written = written.len();
        old.extend(index_files);
        old.retain(|n| !written.contains(n));
        report.index_files_removed = old.len();
        for name in &old {
            repo.backend().remove(FileKind::Index, name)?;
        }
    }

    // 4. Remove what no index names any more, and parity no pack needs.
    lock.check()?;
    let kept: HashSet<PackId> = live
        .iter()
        .map(|(id, _)| *id)
        .chain(marked.iter().map(|m| m.id))
        .collect();
    drop((live, marked));
    for (id, size) in &doomed {
        repo.backend().remove(FileKind::Pack, &id.to_hex())?;
        report.packs_removed += 1;
        report.bytes_removed += size;
    }
    let parity = repo.parity_packs()?;
    let doomed: HashSet<PackId> = doomed.into_iter().map(|(id, _)| id).collect();
    for id in orphan_parity.iter().chain(&doomed) {
        if parity.contains(id) && !kept.contains(id) {
            repo.backend().remove(FileKind::Parity, &id.to_hex())?;
            report.parity_files_removed += 1;
        }
    }
    Ok(())
}

/// Write the new index: `live` packs and `marked` ones, of which the first `fresh` are marked
/// in this run and get their time here. Returns the names of the files written, and the names
/// of files written by attempts that were too slow (to be removed with the old ones).
///
/// The marks' time is taken just before writing, and the deletion rule counts on a mark being
/// visible within the grace period of its time (a process whose lock is younger than that
/// sees it). When writing took longer, the index is written again with a later time: the
/// latest time of a pack's marks is the one that counts, so the slow files do no harm.
fn write_index(
    repo: &Repository,
    live: &[(PackId, Vec<PackEntry>)],
    marked: &mut [MarkedPack],
    fresh: usize,
    grace_ms: i64,
) -> Result<(Vec<String>, Vec<String>)> {
    let mut slow = Vec::new();
    for _ in 0..INDEX_ATTEMPTS {
        let t = jiff::Timestamp::now().as_millisecond();
        for m in &mut marked[..fresh] {
            m.marked = t;
        }
        let written = repo.write_index(live, marked)?;
        let took = jiff::Timestamp::now().as_millisecond() - t;
        if fresh == 0 || grace_ms == 0 || took < grace_ms {
            return Ok((written, slow));
        }
        tracing::warn!(
            "writing the index took {took} ms, longer than the grace period; writing it again"
        );
        slow.extend(written);
    }
    Err(Error::Invalid(format!(
        "writing the index took longer than the grace period ({grace_ms} ms) {INDEX_ATTEMPTS} \
         times; use a longer --grace"
    )))
}

fn damaged(id: &PackId) -> Error {
    Error::corrupt(
        format!("pack {id}"),
        "is shorter than its index says; run `ibars check --read-data` and `ibars repair packs` before pruning",
    )
}
