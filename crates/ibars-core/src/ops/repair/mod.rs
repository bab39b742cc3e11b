//! `repair`: rebuild damaged packs from parity (or salvage what is intact), rebuild the index
//! from pack headers, and cut lost files out of snapshots. Every repair writes the new state
//! before it removes the old, so an interrupted repair leaves at worst duplicates.

mod index;
mod packs;
mod snapshots;

pub use index::{repair_index, RepairIndexReport};
pub use packs::{add_parity, repair_packs, RepairPacksReport};
pub use snapshots::{
    repair_snapshots, RepairSnapshotsOptions, RepairSnapshotsReport, RepairedSnapshot,
};

use crate::backend::FileKind;
use crate::error::Result;
use crate::id::PackId;
use crate::pack::PackEntry;
use crate::repo::Repository;

/// Blob entries per index file written by a repair: large enough to keep the file count low,
/// small enough that one file stays a few MiB.
const ENTRIES_PER_INDEX: usize = 100_000;

/// Write index files naming `packs`, then remove the index files in `old`. Returns how many
/// files were written.
fn replace_index(
    repo: &Repository,
    packs: &[(PackId, Vec<PackEntry>)],
    old: &[String],
) -> Result<usize> {
    let mut written = Vec::new();
    let mut start = 0;
    while start < packs.len() {
        let mut end = start;
        let mut n = 0;
        while end < packs.len() && (n == 0 || n + packs[end].1.len() <= ENTRIES_PER_INDEX) {
            n += packs[end].1.len();
            end += 1;
        }
        written.push(repo.save_index(&packs[start..end])?.to_hex());
        start = end;
    }
    for name in old.iter().filter(|n| !written.contains(n)) {
        repo.backend().remove(FileKind::Index, name)?;
    }
    Ok(written.len())
}
