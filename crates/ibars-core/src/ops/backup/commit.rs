//! Committing a backup's packs: writing the index that makes them visible.
//!
//! Two backups running at once each upload the blobs their trees share, since neither sees the
//! other's packs until they are indexed. So before it indexes, a backup takes the commit turn
//! (`repo/turn.rs`), reads the index files others committed while it ran, and removes from its
//! own packs every blob that is already stored elsewhere: a pack left with nothing is deleted,
//! a pack left with some blobs is rewritten with just those. Whichever of two simultaneous
//! backups commits second thus stores only what the first did not, and shared blobs are stored
//! once.
//!
//! This is safe because the packs it touches are named by no index yet, so nobody else can
//! use them; packs others committed are only read about, never changed. Everything here beyond
//! plain indexing is an optimization: when any step fails, the packs are indexed as uploaded.

use std::collections::HashSet;

use crate::backend::FileKind;
use crate::error::{Error, Result};
use crate::id::{BlobId, PackId};
use crate::index::Index;
use crate::pack::PackEntry;
use crate::repo::{read_named, PackSink, Repository};

/// What committing left out because other backups had stored it meanwhile.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Deduplicated {
    pub blobs: u64,
    /// Plaintext bytes.
    pub bytes: u64,
    /// Stored bytes (compressed and encrypted).
    pub stored: u64,
}

/// Index `written`, first leaving out blobs that index files not in `seen` (those committed
/// since the backup loaded `index`) hold in packs in use. Returns what was left out. Errors
/// only when the index itself cannot be written.
pub(crate) fn commit(
    repo: &Repository,
    index: &Index,
    seen: &HashSet<String>,
    written: Vec<(PackId, Vec<PackEntry>)>,
) -> Result<Deduplicated> {
    if written.is_empty() {
        return Ok(Deduplicated::default());
    }
    if !repo.backend().can_delete() {
        save(repo, &written)?;
        return Ok(Deduplicated::default());
    }
    let turn = repo.commit_turn();
    let plan = match stored_meanwhile(repo, index, seen) {
        Ok(others) => Plan::new(written, &others),
        Err(e) => {
            tracing::warn!("could not read the index files of other backups ({e}); indexing without dedup against them");
            Plan::new(written, &HashSet::new())
        }
    };
    let Plan {
        keep,
        trim,
        dropped,
        deduplicated,
    } = plan;
    let mut index = keep;
    let (doomed, deduplicated) = match rewrite(repo, &trim) {
        Ok(new) => {
            index.extend(new);
            let doomed = dropped.iter().map(|(id, _)| *id);
            (
                doomed.chain(trim.iter().map(|(id, _, _)| *id)).collect(),
                deduplicated,
            )
        }
        Err(e) => {
            tracing::warn!("could not rewrite packs holding blobs another backup stored ({e}); indexing them as written");
            index.extend(trim.into_iter().map(|(id, all, _)| (id, all)));
            index.extend(dropped);
            (Vec::new(), Deduplicated::default())
        }
    };
    save(repo, &index)?;
    drop(turn);
    if !doomed.is_empty() {
        tracing::info!(
            "another backup stored {} blobs ({:.1} MiB) of this one meanwhile; they were left out, dropping or rewriting {} of its packs",
            deduplicated.blobs,
            deduplicated.bytes as f64 / 1048576.0,
            doomed.len()
        );
    }
    // Named by no index, so prune would remove these anyway; failing here costs only space.
    let parity = repo.config().parity_percent > 0;
    for id in doomed {
        let name = id.to_hex();
        let removed = repo.backend().remove(FileKind::Pack, &name).and_then(|()| {
            if parity {
                repo.backend().remove(FileKind::Parity, &name)
            } else {
                Ok(())
            }
        });
        if let Err(e) = removed {
            tracing::warn!("could not remove superseded pack {name} ({e}); prune will");
        }
    }
    Ok(deduplicated)
}

fn save(repo: &Repository, packs: &[(PackId, Vec<PackEntry>)]) -> Result<()> {
    repo.write_index(packs, &[]).map(drop)
}

/// Blobs in index files not in `seen`, in packs in use: not marked for deletion by those
/// files, nor by the files `index` was loaded from (a mark stands over a listing in use; see
/// `index::marks`). A blob only in a marked pack must be stored by this backup.
fn stored_meanwhile(
    repo: &Repository,
    index: &Index,
    seen: &HashSet<String>,
) -> Result<HashSet<BlobId>> {
    let mut files = Vec::new();
    for (_, file) in repo.index_files_where(|name| !seen.contains(name))? {
        files.push(file?);
    }
    let marked = crate::index::marks(&files);
    let mut blobs = HashSet::new();
    for f in &files {
        for (pack, entries) in &f.packs {
            if !marked.contains_key(pack) && !index.is_marked(pack) {
                blobs.extend(entries.iter().map(|b| b.id));
            }
        }
    }
    Ok(blobs)
}

/// This backup's packs sorted by how much of them others stored.
struct Plan {
    /// Nothing stored elsewhere: index as written.
    keep: Vec<(PackId, Vec<PackEntry>)>,
    /// Partly stored elsewhere: every entry, and the entries to keep.
    trim: Vec<(PackId, Vec<PackEntry>, Vec<PackEntry>)>,
    /// Wholly stored elsewhere: delete.
    dropped: Vec<(PackId, Vec<PackEntry>)>,
    deduplicated: Deduplicated,
}

impl Plan {
    fn new(written: Vec<(PackId, Vec<PackEntry>)>, others: &HashSet<BlobId>) -> Self {
        let mut plan = Plan {
            keep: vec![],
            trim: vec![],
            dropped: vec![],
            deduplicated: Deduplicated::default(),
        };
        for (id, entries) in written {
            let (dup, rest): (Vec<&PackEntry>, Vec<&PackEntry>) =
                entries.iter().partition(|e| others.contains(&e.id));
            for e in &dup {
                plan.deduplicated.blobs += 1;
                plan.deduplicated.bytes += u64::from(e.raw_length);
                plan.deduplicated.stored += u64::from(e.length);
            }
            if dup.is_empty() {
                plan.keep.push((id, entries));
            } else if rest.is_empty() {
                plan.dropped.push((id, entries));
            } else {
                let rest = rest.into_iter().copied().collect();
                plan.trim.push((id, entries, rest));
            }
        }
        plan
    }
}

/// New packs holding just the entries to keep of each pack in `trim`.
fn rewrite(
    repo: &Repository,
    trim: &[(PackId, Vec<PackEntry>, Vec<PackEntry>)],
) -> Result<Vec<(PackId, Vec<PackEntry>)>> {
    let mut sink = PackSink::new(repo);
    for (id, _, rest) in trim {
        let read = read_named(repo.backend().as_ref(), FileKind::Pack, &id.to_hex())?;
        if !read.intact {
            return Err(Error::corrupt(
                format!("pack {id}"),
                "content does not match its name",
            ));
        }
        for e in rest {
            let stored = e
                .stored_in(&read.bytes)
                .ok_or_else(|| Error::corrupt(format!("pack {id}"), "shorter than written"))?;
            sink.add_stored(e, stored)?;
        }
    }
    sink.flush()?;
    Ok(sink.take_written())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::Codec;
    use crate::pack::BlobKind;

    fn entry(n: u8) -> PackEntry {
        PackEntry {
            kind: BlobKind::Data,
            codec: Codec::Raw,
            id: BlobId([n; 32]),
            offset: 0,
            length: 100,
            raw_length: 80,
        }
    }

    #[test]
    fn packs_are_kept_trimmed_or_dropped_by_what_others_stored() {
        let pack = |n: u8| PackId([n; 32]);
        let written = vec![
            (pack(1), vec![entry(1), entry(2)]),
            (pack(2), vec![entry(3), entry(4)]),
            (pack(3), vec![entry(5), entry(6)]),
        ];
        let others: HashSet<BlobId> = [3, 5, 6].map(|n| BlobId([n; 32])).into();
        let plan = Plan::new(written, &others);
        assert_eq!(plan.keep.len(), 1);
        assert_eq!(plan.keep[0].0, pack(1));
        assert_eq!(plan.trim.len(), 1);
        assert_eq!(plan.trim[0].0, pack(2));
        assert_eq!(plan.trim[0].2, vec![entry(4)]);
        assert_eq!(plan.dropped.len(), 1);
        assert_eq!(plan.dropped[0].0, pack(3));
        assert_eq!(
            plan.deduplicated,
            Deduplicated {
                blobs: 3,
                bytes: 240,
                stored: 300
            }
        );
    }
}
