//! `copy`: copy snapshots to another repository, which has its own keys. Blob ids are keyed
//! per repository, so every blob is read and decrypted here, its id computed under the
//! destination's key, and sent only when the destination lacks it; trees are translated to the
//! new ids. Packs are indexed as they are written, so an interrupted copy resumes without
//! sending again what already arrived.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::id::{BlobId, SnapshotId};
use crate::index::Index;
use crate::pack::BlobKind;
use crate::progress::Progress;
use crate::repo::{LockMode, PackSink, Repository, TreeCache};
use crate::snapshot::Snapshot;
use crate::tree::{ContentPart, Tree};

/// Index what was written every this many bytes, to bound what an interruption loses.
const CHECKPOINT_BYTES: u64 = 256 << 20;

/// One snapshot's copy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Copied {
    pub source: SnapshotId,
    /// The snapshot in the destination; `None` when it was already there.
    pub copy: Option<SnapshotId>,
    pub already_there: bool,
}

/// What `copy` did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CopyReport {
    pub snapshots: Vec<Copied>,
    pub blobs_sent: u64,
    pub blobs_present: u64,
    /// Plaintext bytes of the blobs sent.
    pub bytes_sent: u64,
    /// Pack bytes written to the destination.
    pub bytes_stored: u64,
}

struct Copier<'a> {
    src: &'a Repository,
    src_index: &'a Index,
    cache: TreeCache,
    dst_index: &'a Index,
    sink: PackSink<'a>,
    /// Source id to destination id, for every blob handled so far.
    map: HashMap<BlobId, BlobId>,
    report: CopyReport,
    since_checkpoint: u64,
    progress: &'a dyn Progress,
}

/// Whether `dst` already holds a copy of `s` (a snapshot with the same origin and time).
fn copied_before(dst: &[(SnapshotId, Snapshot)], id: &SnapshotId, s: &Snapshot) -> bool {
    let origin = s.original.unwrap_or(*id);
    dst.iter().any(|(_, d)| {
        d.original == Some(origin) && d.time == s.time && d.host == s.host && d.paths == s.paths
    })
}

/// Copy the snapshots `ids` of `src` into `dst`, and record the run in the source's history.
pub fn copy(
    src: &Repository,
    dst: &Repository,
    ids: &[SnapshotId],
    progress: &dyn Progress,
) -> Result<CopyReport> {
    let run = crate::history::Run::start(crate::history::RunKind::Copy);
    let outcome = run_copy(src, dst, ids, progress);
    run.finish(src, outcome, |r, rec| {
        rec.snapshots = r.snapshots.iter().map(|c| c.source.to_hex()).collect();
        rec.bytes = r.bytes_sent;
        rec.counts.insert("blobs_sent".into(), r.blobs_sent);
        rec.counts.insert("bytes_stored".into(), r.bytes_stored);
        rec.counts.insert(
            "snapshots_copied".into(),
            r.snapshots.iter().filter(|c| c.copy.is_some()).count() as u64,
        );
    })
}

fn run_copy(
    src: &Repository,
    dst: &Repository,
    ids: &[SnapshotId],
    progress: &dyn Progress,
) -> Result<CopyReport> {
    if src.config().id == dst.config().id {
        return Err(Error::Invalid(
            "source and destination are the same repository".into(),
        ));
    }
    let _src_lock = src.lock(LockMode::Shared)?;
    let dst_lock = dst.lock(LockMode::Shared)?;
    let src_index = src.load_index()?;
    let dst_index = dst.load_index()?;
    let dst_snaps = dst.snapshots()?;
    let mut c = Copier {
        src,
        src_index: &src_index,
        cache: TreeCache::new(64 << 20),
        dst_index: &dst_index,
        sink: PackSink::new(dst),
        map: HashMap::new(),
        report: CopyReport::default(),
        since_checkpoint: 0,
        progress,
    };
    for id in ids {
        let snap = src.load_snapshot(id)?;
        if copied_before(&dst_snaps, id, &snap) {
            c.report.snapshots.push(Copied {
                source: *id,
                copy: None,
                already_there: true,
            });
            continue;
        }
        let root = c.tree(&snap.tree)?;
        // Checked before indexing too: with a lock gone stale, a prune may have deleted the
        // packs written so far, and an index naming them would mislead later backups.
        dst_lock.check()?;
        c.checkpoint(true)?;
        let mut new = snap.clone();
        new.tree = root;
        new.parent = None;
        new.original = Some(snap.original.unwrap_or(*id));
        let copy = dst.save_snapshot(&new)?;
        c.report.snapshots.push(Copied {
            source: *id,
            copy: Some(copy),
            already_there: false,
        });
    }
    c.report.bytes_stored = c.sink.bytes_written();
    Ok(c.report)
}

impl Copier<'_> {
    /// Index the packs written so far (always with `force`, else past the checkpoint size).
    fn checkpoint(&mut self, force: bool) -> Result<()> {
        if force {
            self.sink.flush()?;
        }
        if force || self.since_checkpoint >= CHECKPOINT_BYTES {
            self.sink.index_untaken()?;
            self.since_checkpoint = 0;
        }
        Ok(())
    }

    /// Make sure the destination has blob `id` of the source; returns its destination id.
    fn blob(&mut self, id: &BlobId, kind: BlobKind, plain: Option<Vec<u8>>) -> Result<BlobId> {
        if let Some(d) = self.map.get(id) {
            return Ok(*d);
        }
        let plain = match plain {
            Some(p) => p,
            None => self.src.read_blob(self.src_index, id)?,
        };
        let dst_id = self.sink.repo().key().blob_id(&plain);
        if self.dst_index.contains(&dst_id) {
            self.report.blobs_present += 1;
        } else {
            self.sink.add_plain(kind, dst_id, &plain)?;
            self.report.blobs_sent += 1;
            self.report.bytes_sent += plain.len() as u64;
            self.since_checkpoint += plain.len() as u64;
            self.progress.bytes_done(plain.len() as u64);
        }
        self.map.insert(*id, dst_id);
        Ok(dst_id)
    }

    /// Copy a tree and everything under it; returns the tree's destination id.
    fn tree(&mut self, id: &BlobId) -> Result<BlobId> {
        if let Some(d) = self.map.get(id) {
            return Ok(*d);
        }
        let tree = self.src.load_tree(self.src_index, &self.cache, id)?;
        let mut nodes = Vec::with_capacity(tree.nodes.len());
        for mut node in tree.nodes {
            for part in node.content.iter_mut() {
                if let ContentPart::Blob(b) = part {
                    *b = self.blob(b, BlobKind::Data, None)?;
                }
            }
            if let Some(sub) = node.subtree {
                node.subtree = Some(self.tree(&sub)?);
            }
            nodes.push(node);
        }
        let bytes = Tree::new(nodes).to_bytes();
        let dst_id = self.blob(id, BlobKind::Tree, Some(bytes))?;
        self.checkpoint(false)?;
        Ok(dst_id)
    }
}
