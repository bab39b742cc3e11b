//! `repair packs`: rebuild damaged packs from parity; salvage the intact blobs of packs parity
//! cannot save; rewrite damaged parity files. Also adding parity to packs that have none.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::backend::FileKind;
use crate::error::Result;
use crate::id::{BlobId, PackId};
use crate::pack::{BlobDecoder, PackEntry};
use crate::parity::ParityFile;
use crate::progress::Progress;
use crate::repo::{parallel_map, read_named, IndexFile, LockMode, PackSink, Repository};

/// A pack parity could not rebuild, and what was saved from it.
#[derive(Debug, Clone, Serialize)]
pub struct SalvagedPack {
    pub pack: PackId,
    pub reason: String,
    /// Intact blobs copied into a new pack.
    pub blobs_saved: usize,
    /// Blobs lost; `repair snapshots` cuts the files that need them.
    pub blobs_lost: Vec<BlobId>,
}

/// What `repair packs` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairPacksReport {
    pub packs_checked: usize,
    /// Packs rebuilt from parity, byte for byte.
    pub rebuilt: Vec<PackId>,
    /// Damaged or missing parity files written again from an intact pack.
    pub parity_rewritten: Vec<PackId>,
    /// Packs beyond repair: salvaged (with `salvage`) or left as they are.
    pub unrecoverable: Vec<SalvagedPack>,
    /// New packs holding salvaged blobs.
    pub new_packs: Vec<PackId>,
}

enum Verdict {
    Whole,
    Rebuilt,
    Lost {
        reason: String,
        bytes: Option<bytes::Bytes>,
    },
}

/// Check every pack in storage or in the index (or only `only`), and repair what is damaged.
/// With `salvage`, intact blobs of unrecoverable packs move to a new pack and the damaged
/// pack leaves the index and storage.
pub fn repair_packs(
    repo: &Repository,
    only: Option<&[PackId]>,
    salvage: bool,
    progress: &dyn Progress,
) -> Result<RepairPacksReport> {
    let _lock = repo.lock(LockMode::Exclusive)?;
    let backend = repo.backend();
    let mut files: Vec<(String, IndexFile)> = Vec::new();
    for (name, file) in repo.index_files()? {
        match file {
            Ok(f) => files.push((name, f)),
            Err(e) => tracing::warn!("skipping index/{name}: {e} (`repair index` rebuilds it)"),
        }
    }
    let indexed: HashMap<PackId, &Vec<PackEntry>> = files
        .iter()
        .flat_map(|(_, f)| {
            let marked = f.marked.iter().filter(|m| !m.entries.is_empty());
            f.packs
                .iter()
                .map(|(p, e)| (*p, e))
                .chain(marked.map(|m| (m.id, &m.entries)))
        })
        .collect();
    let parity = repo.parity_packs()?;
    let mut todo: Vec<PackId> = match only {
        Some(ids) => ids.to_vec(),
        None => {
            let mut all: HashSet<PackId> = indexed.keys().copied().collect();
            all.extend(repo.stored_packs()?.into_keys());
            all.into_iter().collect()
        }
    };
    todo.sort();
    progress.set_total(todo.len() as u64, 0);
    let percent = repo.config().parity_percent;
    let verdicts = parallel_map(&todo, 2, |id| {
        let v = repair_one(repo, id, parity.contains(id), percent);
        progress.file_done(std::path::Path::new(""), 0);
        v.map(|(v, rewrote)| (*id, v, rewrote))
    })?;
    let mut report = RepairPacksReport {
        packs_checked: todo.len(),
        ..Default::default()
    };
    let mut lost = Vec::new();
    for (id, v, rewrote) in verdicts {
        if rewrote {
            report.parity_rewritten.push(id);
        }
        match v {
            Verdict::Whole => {}
            Verdict::Rebuilt => report.rebuilt.push(id),
            Verdict::Lost { reason, bytes } => lost.push((id, reason, bytes)),
        }
    }
    if lost.is_empty() {
        return Ok(report);
    }
    if !salvage {
        for (id, reason, _) in lost {
            let blobs_lost = indexed
                .get(&id)
                .map(|e| e.iter().map(|e| e.id).collect())
                .unwrap_or_default();
            report.unrecoverable.push(SalvagedPack {
                pack: id,
                reason,
                blobs_saved: 0,
                blobs_lost,
            });
        }
        return Ok(report);
    }

    // Salvage: copy intact blobs into new packs, then drop the damaged packs from the index.
    let mut sink = PackSink::new(repo);
    let mut dec = BlobDecoder::default();
    for (id, reason, bytes) in &lost {
        let entries = indexed.get(id).map(|e| e.as_slice()).unwrap_or_default();
        let mut s = SalvagedPack {
            pack: *id,
            reason: reason.clone(),
            blobs_saved: 0,
            blobs_lost: vec![],
        };
        for e in entries {
            let stored = bytes.as_ref().and_then(|b| e.stored_in(b));
            match stored {
                Some(st) if dec.decode(repo.key(), id, e, st).is_ok() => {
                    sink.add_stored(e, st)?;
                    s.blobs_saved += 1;
                }
                _ => s.blobs_lost.push(e.id),
            }
        }
        report.unrecoverable.push(s);
    }
    sink.flush()?;
    let new_packs = sink.take_written();
    report.new_packs = new_packs.iter().map(|(p, _)| *p).collect();
    let gone: HashSet<PackId> = lost.iter().map(|(p, _, _)| *p).collect();
    let touched: Vec<String> = files
        .iter()
        .filter(|(_, f)| {
            f.packs.iter().any(|(p, _)| gone.contains(p))
                || f.marked.iter().any(|m| gone.contains(&m.id))
        })
        .map(|(n, _)| n.clone())
        .collect();
    let rest = files.iter().filter(|(n, _)| touched.contains(n));
    let mut keep: Vec<(PackId, Vec<PackEntry>)> = rest
        .clone()
        .flat_map(|(_, f)| f.packs.iter().filter(|(p, _)| !gone.contains(p)).cloned())
        .collect();
    let marks: Vec<_> = rest
        .flat_map(|(_, f)| f.marked.iter().filter(|m| !gone.contains(&m.id)).cloned())
        .collect();
    keep.extend(new_packs);
    repo.replace_index(&keep, &marks, &touched)?;
    for p in &gone {
        backend.remove(FileKind::Pack, &p.to_hex())?;
        backend.remove(FileKind::Parity, &p.to_hex())?;
    }
    Ok(report)
}

/// Check one pack and rebuild it from parity if needed. Also says whether the parity file
/// was rewritten.
fn repair_one(
    repo: &Repository,
    id: &PackId,
    has_parity: bool,
    percent: u8,
) -> Result<(Verdict, bool)> {
    let backend = repo.backend();
    let name = id.to_hex();
    let (bytes, whole) = match read_named(backend.as_ref(), FileKind::Pack, &name) {
        Ok(r) => (Some(r.bytes), r.intact),
        Err(e) if e.is_not_found() => (None, false),
        Err(e) => return Err(e),
    };
    let par_bytes = if has_parity {
        backend.read(FileKind::Parity, &name).ok()
    } else {
        None
    };
    let par = par_bytes
        .as_ref()
        .and_then(|b| ParityFile::parse(b, &format!("parity {id}")).ok())
        .filter(|p| p.pack == *id);
    let parity_ok = par
        .as_ref()
        .is_some_and(|p| p.damaged_recovery().is_empty());
    // Parity to write again, at the old file's share if the config no longer asks for any.
    let redo_percent = match (&par, percent) {
        (_, p) if p > 0 => p,
        (Some(p), _) => ((p.recovery_shards * 100).div_ceil(p.data_shards)).min(100) as u8,
        (None, _) => 10,
    };
    if whole {
        if has_parity && !parity_ok {
            let b = bytes.expect("whole pack was read");
            repo.write_parity(&name, &b, redo_percent)?;
            return Ok((Verdict::Whole, true));
        }
        return Ok((Verdict::Whole, false));
    }
    let reason = if bytes.is_none() {
        "missing"
    } else {
        "content does not match its name"
    };
    let Some(p) = &par else {
        let why = if has_parity {
            "its parity file is damaged too"
        } else {
            "no parity"
        };
        return Ok((
            Verdict::Lost {
                reason: format!("{reason}; {why}"),
                bytes,
            },
            false,
        ));
    };
    match p.repair(bytes.as_deref()) {
        Ok(rebuilt) => {
            let rewrote = !parity_ok;
            let percent = if rewrote { redo_percent } else { 0 };
            repo.store_pack(&name, rebuilt.into(), false, percent)?;
            Ok((Verdict::Rebuilt, rewrote))
        }
        Err(e) => Ok((
            Verdict::Lost {
                reason: format!("{reason}; {e}"),
                bytes,
            },
            false,
        )),
    }
}

/// Write parity files for packs that have none. Returns how many were written.
pub fn add_parity(repo: &Repository, progress: &dyn Progress) -> Result<usize> {
    let percent = repo.config().parity_percent;
    if percent == 0 {
        return Ok(0);
    }
    let _lock = repo.lock(LockMode::Shared)?;
    let have = repo.parity_packs()?;
    let todo: Vec<_> = repo
        .stored_packs()?
        .into_iter()
        .filter(|(id, _)| !have.contains(id))
        .collect();
    progress.set_total(todo.len() as u64, todo.iter().map(|(_, size)| size).sum());
    let written = parallel_map(&todo, 2, |(id, size)| {
        let name = id.to_hex();
        let read = match read_named(repo.backend().as_ref(), FileKind::Pack, &name) {
            Ok(r) => r,
            // Deleted by a prune since it was listed (prune runs beside this).
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(e),
        };
        progress.bytes_done(*size);
        progress.file_done(std::path::Path::new(""), *size);
        if !read.intact {
            // Parity of a damaged pack would make the damage permanent.
            tracing::warn!("pack {name} is damaged; no parity written for it");
            return Ok(false);
        }
        repo.write_parity(&name, &read.bytes, percent)?;
        Ok(true)
    })?;
    Ok(written.into_iter().filter(|w| *w).count())
}
