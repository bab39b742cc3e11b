//! The structure pass: index files, pack listing, snapshots, trees and locks.

use std::collections::{HashMap, HashSet};

use super::{data, finding, CheckReport, DamagedPack, FindingKind as K};
use crate::backend::FileKind;
use crate::error::Result;
use crate::id::{BlobId, PackId, SnapshotId};
use crate::index::Index;
use crate::pack::{self, PackEntry};
use crate::repo::{parallel_map, Repository, TreeCache};
use crate::snapshot::Snapshot;
use crate::tree::{NodeType, Tree};

/// A pack as the index files describe it.
pub(super) struct IndexedPack {
    pub entries: Vec<PackEntry>,
    /// What its size must be; `None` when its entries are inconsistent.
    pub expected_size: Option<u64>,
    /// Marked for deletion by a prune: a prune running beside this check may delete it.
    pub marked: bool,
}

/// What the structure pass learned, for the data pass and for tracing damage.
pub(super) struct Structure {
    pub index: Index,
    pub packs: HashMap<PackId, IndexedPack>,
    /// Packs in storage, with their sizes.
    pub stored: HashMap<PackId, u64>,
    /// Packs with a parity file.
    pub parity: HashSet<PackId>,
    pub snapshots: Vec<(SnapshotId, Snapshot)>,
    /// Every snapshot object in storage, readable or not.
    pub snapshot_names: HashSet<SnapshotId>,
    /// Data blobs referenced by a tree but absent from the index.
    pub missing_blobs: HashSet<BlobId>,
    /// Trees that are missing or cannot be read.
    pub bad_trees: HashSet<BlobId>,
    /// Packs found missing or of the wrong size.
    pub damaged: Vec<DamagedPack>,
    pub cache: TreeCache,
}

pub(super) fn run(repo: &Repository, report: &mut CheckReport) -> Result<Structure> {
    let stored = repo.stored_packs()?;
    let parity = repo.parity_packs()?;

    // Index files, one by one, so that one bad file does not hide the others.
    let mut files = Vec::new();
    for (name, file) in repo.index_files()? {
        match file {
            Ok(f) => files.push((name, f)),
            Err(err) => report.push(finding(
                K::IndexUnreadable,
                format!("index/{name}"),
                err.to_string(),
            )),
        }
    }
    let marked = crate::index::marks(files.iter().map(|(_, f)| f));
    let mut idx = Index::default();
    let mut packs: HashMap<PackId, IndexedPack> = HashMap::new();
    for (name, file) in files {
        let with_entries = file.marked.into_iter().filter(|m| !m.entries.is_empty());
        for (pack, entries) in file
            .packs
            .into_iter()
            .chain(with_entries.map(|m| (m.id, m.entries)))
        {
            if packs.contains_key(&pack) {
                continue;
            }
            let expected_size = pack::expected_size(&entries);
            if expected_size.is_none() {
                report.push(finding(
                    K::IndexEntries,
                    format!("index/{name}"),
                    format!("entries of pack {pack} overlap or leave gaps"),
                ));
            }
            let is_marked = marked.contains_key(&pack);
            if is_marked {
                idx.add_marked_pack(pack, &entries);
            } else {
                idx.add_pack(pack, &entries);
            }
            packs.insert(
                pack,
                IndexedPack {
                    entries,
                    expected_size,
                    marked: is_marked,
                },
            );
        }
    }

    // A pack indexed after the listing (a backup running beside this check) is not missing.
    let mut stored = stored;
    for id in packs
        .keys()
        .filter(|p| !stored.contains_key(*p))
        .copied()
        .collect::<Vec<_>>()
    {
        match repo.backend().size(FileKind::Pack, &id.to_hex()) {
            Ok(size) => {
                stored.insert(id, size);
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }

    let mut damaged = Vec::new();
    let mut ids: Vec<&PackId> = packs.keys().collect();
    ids.sort();
    for id in ids {
        let ip = &packs[id];
        let problem = match (stored.get(id), ip.expected_size) {
            // Deleted by a prune since: what a snapshot needs from it shows as missing blobs.
            (None, _) if ip.marked => None,
            (None, _) => Some((K::PackMissing, "missing from storage".to_string(), 0)),
            (Some(&size), Some(want)) if size != want => Some((
                K::PackSize,
                format!("{size} bytes, the index implies {want}"),
                size,
            )),
            _ => None,
        };
        let Some((kind, reason, size)) = problem else {
            continue;
        };
        report.push(finding(kind, format!("pack {id}"), reason.clone()));
        let blobs = ip
            .entries
            .iter()
            .filter(|e| u64::from(e.offset) + u64::from(e.length) > size)
            .map(|e| e.id)
            .collect();
        let status = data::parity_status(repo, id, parity.contains(id), report);
        damaged.push(DamagedPack {
            pack: *id,
            reason,
            blobs,
            parity: status,
        });
    }
    // A pack marked for deletion while in no index is known; a prune deletes it in time.
    let mut unindexed: Vec<&PackId> = stored
        .keys()
        .filter(|p| !packs.contains_key(p) && !marked.contains_key(p))
        .collect();
    unindexed.sort();
    for p in unindexed {
        report.push(finding(
            K::PackUnindexed,
            format!("pack {p}"),
            "in storage but in no index (left by an interrupted backup; `repair index` adds it, prune removes it)",
        ));
    }
    for p in parity
        .iter()
        .filter(|p| !stored.contains_key(p) && !packs.contains_key(p))
    {
        report.push(finding(
            K::ParityOrphan,
            format!("parity {p}"),
            "its pack no longer exists",
        ));
    }
    if repo.config().parity_percent > 0 {
        let without = packs.keys().filter(|p| !parity.contains(p)).count();
        if without > 0 {
            report.push(finding(
                K::ParityMissing,
                "parity",
                format!("{without} pack(s) have no parity file (`ibars config parity` adds it)"),
            ));
        }
    }

    let (snapshots, snapshot_names) = load_snapshots(repo, report)?;
    let mut s = Structure {
        index: idx,
        packs,
        stored,
        parity,
        snapshots,
        snapshot_names,
        missing_blobs: HashSet::new(),
        bad_trees: HashSet::new(),
        damaged,
        cache: TreeCache::new(64 << 20),
    };
    walk_trees(repo, &mut s, report)?;
    check_locks(repo, report)?;
    check_history(repo, report)?;
    report.scope.packs_total = s.packs.len();
    report.scope.snapshots = s.snapshots.len();
    Ok(s)
}

type Snapshots = (Vec<(SnapshotId, Snapshot)>, HashSet<SnapshotId>);

fn load_snapshots(repo: &Repository, report: &mut CheckReport) -> Result<Snapshots> {
    let names = repo.backend().list(FileKind::Snapshot)?;
    let all = names.iter().filter_map(|e| e.name.parse().ok()).collect();
    let loaded = parallel_map(&names, 8, |e| {
        Ok(e.name
            .parse::<SnapshotId>()
            .map_err(|_| crate::Error::corrupt("snapshot name", e.name.clone()))
            .and_then(|id| Ok((id, repo.load_snapshot(&id)?))))
    })?;
    let mut out = Vec::new();
    for (e, r) in names.iter().zip(loaded) {
        match r {
            Ok(s) => out.push(s),
            Err(err) if err.is_not_found() => {} // removed by a concurrent forget
            Err(err) => report.push(finding(
                K::SnapshotUnreadable,
                format!("snapshot {}", e.name),
                err.to_string(),
            )),
        }
    }
    out.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
    Ok((out, all))
}

/// Load every tree of every snapshot once, level by level, in parallel.
fn walk_trees(repo: &Repository, s: &mut Structure, report: &mut CheckReport) -> Result<()> {
    let mut seen: HashSet<BlobId> = HashSet::new();
    let mut level: Vec<BlobId> = s
        .snapshots
        .iter()
        .map(|(_, snap)| snap.tree)
        .filter(|t| seen.insert(*t))
        .collect();
    let mut blobs: HashSet<BlobId> = HashSet::new();
    while !level.is_empty() {
        let trees: Vec<Result<Tree>> =
            parallel_map(&level, 4, |id| Ok(repo.load_tree(&s.index, &s.cache, id)))?;
        let mut next = Vec::new();
        for (id, t) in level.iter().zip(trees) {
            let tree = match t {
                Ok(t) => t,
                Err(err) => {
                    let kind = if s.index.get(id).is_some() {
                        K::TreeUnreadable
                    } else {
                        K::TreeMissing
                    };
                    report.push(finding(kind, format!("tree {id}"), err.to_string()));
                    s.bad_trees.insert(*id);
                    continue;
                }
            };
            for node in &tree.nodes {
                if node.kind == NodeType::Dir {
                    if let Some(sub) = node.subtree {
                        if seen.insert(sub) {
                            next.push(sub);
                        }
                    }
                    continue;
                }
                for b in node.blobs() {
                    if blobs.insert(*b) && s.index.get(b).is_none() {
                        s.missing_blobs.insert(*b);
                        report.push(finding(
                            K::BlobMissing,
                            format!("blob {b}"),
                            format!("content of '{}' is in no index", node.name.lossy()),
                        ));
                    }
                }
            }
        }
        level = next;
    }
    report.scope.trees = seen.len();
    report.scope.blobs = blobs.len();
    Ok(())
}

fn check_history(repo: &Repository, report: &mut CheckReport) -> Result<()> {
    for (name, e) in crate::history::load_all(repo)?.unreadable {
        report.push(finding(
            K::HistoryUnreadable,
            format!("history/{name}"),
            e.to_string(),
        ));
    }
    Ok(())
}

fn check_locks(repo: &Repository, report: &mut CheckReport) -> Result<()> {
    for (name, info) in repo.locks()? {
        match info {
            Some(l) if l.is_stale() => report.push(finding(
                K::LockStale,
                format!("lock {name}"),
                format!(
                    "stale lock of pid {} on {} (`ibars unlock` removes it)",
                    l.pid, l.host
                ),
            )),
            Some(_) => {}
            None => match repo.backend().size(FileKind::Lock, &name) {
                Err(e) if e.is_not_found() => {} // released while we looked
                _ => report.push(finding(
                    K::LockUnreadable,
                    format!("lock {name}"),
                    "does not decrypt or parse",
                )),
            },
        }
    }
    Ok(())
}
