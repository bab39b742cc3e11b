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
