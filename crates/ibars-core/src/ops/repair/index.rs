//! `repair index`: rebuild the index from pack headers.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::backend::FileKind;
use crate::error::{Error, Result};
use crate::id::PackId;
use crate::pack::{self, PackEntry};
use crate::progress::Progress;
use crate::repo::{parallel_map, LockMode, Repository};

/// What `repair index` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairIndexReport {
    /// Packs in the new index.
    pub packs_indexed: usize,
    /// Packs whose header was read (not trusted from an old index file).
    pub headers_read: usize,
    /// Packs an old index named that are not in storage.
    pub dropped: Vec<PackId>,
    /// Packs in storage whose header cannot be read; they stay in storage, unindexed.
    pub unreadable: Vec<(PackId, String)>,
    pub files_written: usize,
    pub files_removed: usize,
}

/// Rebuild the index. Entries of readable index files are kept for packs whose size matches;
/// every other pack in storage (or every pack, with `read_all`) has its header read.
pub fn repair_index(
    repo: &Repository,
    read_all: bool,
    progress: &dyn Progress,
) -> Result<RepairIndexReport> {
    let _lock = repo.lock(LockMode::Exclusive)?;
    let stored = repo.stored_packs()?;
    let files = repo.index_files()?;
    let mut known: HashMap<PackId, Vec<PackEntry>> = HashMap::new();
    let mut listed: HashSet<PackId> = HashSet::new();
    let mut names = Vec::with_capacity(files.len());
    // Marks for deletion are kept: the packs were unused when marked, and a prune decides.
    let marked = crate::index::marks(files.iter().filter_map(|(_, f)| f.as_ref().ok()));
    for (name, file) in files {
        match file {
            Ok(file) => {
                let with_entries = file.marked.into_iter().filter(|m| !m.entries.is_empty());
                for (pack, entries) in file
                    .packs
                    .into_iter()
                    .chain(with_entries.map(|m| (m.id, m.entries)))
                {
                    listed.insert(pack);
                    if !read_all && stored.get(&pack).copied() == pack::expected_size(&entries) {
                        known.entry(pack).or_insert(entries);
                    }
                }
            }
            Err(e) => {
                tracing::warn!("index/{name} is unreadable ({e}); its packs are read instead")
            }
        }
        names.push(name);
    }
    let mut dropped: Vec<PackId> = listed
        .iter()
        .filter(|p| !stored.contains_key(p))
        .copied()
        .collect();
    dropped.sort();
    let mut report = RepairIndexReport {
        dropped,
        ..Default::default()
    };
    let mut to_read: Vec<(PackId, u64)> = stored
        .iter()
        .filter(|(p, _)| !known.contains_key(p))
        .map(|(p, s)| (*p, *s))
        .collect();
    to_read.sort();
    progress.set_total(to_read.len() as u64, 0);
    let headers = parallel_map(&to_read, 4, |(id, size)| {
        let r = read_header(repo, id, *size);
        progress.file_done(std::path::Path::new(""), 0);
        Ok(r)
    })?;
    report.headers_read = to_read.len();
    for ((id, _), h) in to_read.iter().zip(headers) {
        match h {
            Ok(entries) => {
                known.insert(*id, entries);
            }
            Err(e) => report.unreadable.push((*id, e.to_string())),
        }
    }
    let mut packs: Vec<(PackId, Vec<PackEntry>)> = Vec::new();
    let mut marks = Vec::new();
    for (id, entries) in known {
        match marked.get(&id) {
            Some(t) => marks.push(crate::repo::MarkedPack {
                id,
                marked: *t,
                entries,
            }),
            None => packs.push((id, entries)),
        }
    }
    // Unindexed packs marked while unindexed whose header cannot be read keep their mark.
    for (id, _) in &report.unreadable {
        if let Some(t) = marked.get(id) {
            marks.push(crate::repo::MarkedPack {
                id: *id,
                marked: *t,
                entries: vec![],
            });
        }
    }
    packs.sort_by_key(|(p, _)| *p);
    marks.sort_by_key(|m| m.id);
    report.packs_indexed = packs.len() + marks.len();
    report.files_written = repo.replace_index(&packs, &marks, &names)?.len();
    report.files_removed = names.len();
    Ok(report)
}

/// Header reads fetch this much of a pack's tail first; longer headers take a second read.
const TAIL: u64 = 64 << 10;

/// Read and parse a pack's header from its tail.
pub(super) fn read_header(repo: &Repository, id: &PackId, size: u64) -> Result<Vec<PackEntry>> {
    let name = id.to_hex();
    let take = size.min(TAIL);
    let mut tail = repo
        .backend()
        .read_range(FileKind::Pack, &name, size - take, take)?;
    if tail.len() < 4 {
        return Err(Error::corrupt(
            format!("pack {id}"),
            "too short for a header",
        ));
    }
    let hlen = u64::from(u32::from_le_bytes(
        tail[tail.len() - 4..].try_into().expect("4 bytes"),
    ));
    if hlen + 4 > tail.len() as u64 && hlen + 4 <= size {
        tail = repo
            .backend()
            .read_range(FileKind::Pack, &name, size - hlen - 4, hlen + 4)?;
    }
    pack::parse_header(repo.key(), id, &tail, size)
}
