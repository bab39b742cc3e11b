//! The data pass: read packs, authenticate every blob, check parity.

use super::structure::Structure;
use super::{finding, CheckReport, DamagedPack, Finding, FindingKind as K, ParityStatus};
use crate::backend::FileKind;
use crate::error::Result;
use crate::id::PackId;
use crate::pack::{self, BlobDecoder, PackEntry};
use crate::parity::ParityFile;
use crate::progress::Progress;
use crate::repo::{parallel_map, read_named, Repository};

/// What reading packs found.
pub(super) struct Outcome {
    /// Packs read and found whole.
    pub verified: Vec<PackId>,
    pub damaged: Vec<DamagedPack>,
}

struct PackResult {
    findings: Vec<Finding>,
    damaged: Option<DamagedPack>,
    bytes: u64,
    /// A pack marked for deletion that a prune deleted while this check ran.
    deleted: bool,
}

pub(super) fn run(
    repo: &Repository,
    s: &Structure,
    chosen: &[(PackId, u64)],
    threads: usize,
    progress: &dyn Progress,
    report: &mut CheckReport,
) -> Result<Outcome> {
    let already: std::collections::HashSet<PackId> = s.damaged.iter().map(|d| d.pack).collect();
    let chosen: Vec<&(PackId, u64)> = chosen
        .iter()
        .filter(|(p, _)| !already.contains(p))
        .collect();
    progress.set_total(chosen.len() as u64, chosen.iter().map(|(_, n)| n).sum());
    let results = parallel_map(&chosen, threads.max(1), |(id, _)| {
        let r = check_pack(repo, s, id);
        progress.bytes_done(r.bytes);
        progress.file_done(std::path::Path::new(""), r.bytes);
        Ok((*id, r))
    })?;
    let mut out = Outcome {
        verified: vec![],
        damaged: vec![],
    };
    report.scope.packs_read = results.len();
    for (id, r) in results {
        report.scope.bytes_read += r.bytes;
        for f in r.findings {
            report.push(f);
        }
        match r.damaged {
            Some(d) => out.damaged.push(d),
            None if r.deleted => {}
            None => out.verified.push(id),
        }
    }
    Ok(out)
}

fn check_pack(repo: &Repository, s: &Structure, id: &PackId) -> PackResult {
    let entries = &s.packs[id].entries;
    let mut res = PackResult {
        findings: vec![],
        damaged: None,
        bytes: 0,
        deleted: false,
    };
    let all_blobs = || entries.iter().map(|e| e.id).collect();
    let (bytes, whole) = match read_named(repo.backend().as_ref(), FileKind::Pack, &id.to_hex()) {
        Ok(r) => (r.bytes, r.intact),
        Err(e) if e.is_not_found() && s.packs[id].marked => {
            res.deleted = true;
            return res;
        }
        Err(e) => {
            let reason = format!("cannot be read: {e}");
            res.findings.push(finding(
                K::PackDamaged,
                format!("pack {id}"),
                reason.clone(),
            ));
            let parity = parity_status_of(repo, id, s.parity.contains(id), None, &mut res.findings);
            res.damaged = Some(DamagedPack {
                pack: *id,
                reason,
                blobs: all_blobs(),
                parity,
            });
            return res;
        }
    };
    res.bytes = bytes.len() as u64;
    let header = match pack::parse_header(repo.key(), id, &bytes, bytes.len() as u64) {
        Ok(h) if same_entries(&h, entries) => None,
        Ok(_) => Some("header does not match the index".to_string()),
        Err(e) => Some(format!("header: {e}")),
    };
    if !whole {
        res.findings.push(finding(
            K::PackDamaged,
            format!("pack {id}"),
            "content does not match its name",
        ));
    }
    if let Some(h) = &header {
        res.findings
            .push(finding(K::PackHeader, format!("pack {id}"), h.clone()));
    }
    let mut dec = BlobDecoder::default();
    let mut bad = Vec::new();
    for e in entries {
        let r = match e.stored_in(&bytes) {
            Some(stored) => dec.decode(repo.key(), id, e, stored).map(|_| ()),
            None => Err(crate::Error::corrupt(
                format!("blob {} in pack {id}", e.id),
                "beyond the end of the pack",
            )),
        };
        if let Err(err) = r {
            res.findings.push(finding(
                K::BlobDamaged,
                format!("blob {}", e.id),
                err.to_string(),
            ));
            bad.push(e.id);
        }
    }
    if whole && header.is_none() && bad.is_empty() {
        if s.parity.contains(id) {
            // The pack is whole; still catch a damaged parity file before it is needed. Only
            // the findings count here, so the pack's shards are not hashed again.
            parity_status_of(repo, id, true, None, &mut res.findings);
        }
        return res;
    }
    let parity = parity_status_of(
        repo,
        id,
        s.parity.contains(id),
        Some(&bytes),
        &mut res.findings,
    );
    let mut reasons: Vec<String> = Vec::new();
    if !whole {
        reasons.push("content does not match its name".into());
    }
    reasons.extend(header);
    if !bad.is_empty() {
        reasons.push(format!("{} damaged blob(s)", bad.len()));
    }
    let reason = reasons.join("; ");
    res.damaged = Some(DamagedPack {
        pack: *id,
        reason,
        blobs: bad,
        parity,
    });
    res
}

fn same_entries(header: &[PackEntry], index: &[PackEntry]) -> bool {
    let mut a = header.to_vec();
    let mut b = index.to_vec();
    a.sort_by_key(|e| e.offset);
    b.sort_by_key(|e| e.offset);
    a == b
}

/// Whether the parity of a damaged (or missing) pack can rebuild it; findings about the
/// parity file itself go to `report`.
pub(super) fn parity_status(
    repo: &Repository,
    id: &PackId,
    has_parity: bool,
    report: &mut CheckReport,
) -> ParityStatus {
    if !has_parity {
        return ParityStatus::None;
    }
    let pack = repo.backend().read(FileKind::Pack, &id.to_hex()).ok();
    let mut findings = Vec::new();
    let st = parity_status_of(repo, id, true, pack.as_deref(), &mut findings);
    for f in findings {
        report.push(f);
    }
    st
}

fn parity_status_of(
    repo: &Repository,
    id: &PackId,
    has_parity: bool,
    pack: Option<&[u8]>,
    findings: &mut Vec<Finding>,
) -> ParityStatus {
    if !has_parity {
        return ParityStatus::None;
    }
    let what = format!("parity {id}");
    let bytes = match repo.backend().read(FileKind::Parity, &id.to_hex()) {
        Ok(b) => b,
        Err(e) => {
            findings.push(finding(K::ParityDamaged, what, e.to_string()));
            return ParityStatus::Unrepairable;
        }
    };
    let par = match ParityFile::parse(&bytes, &what) {
        Ok(p) if p.pack == *id => p,
        Ok(_) => {
            findings.push(finding(K::ParityDamaged, what, "belongs to another pack"));
            return ParityStatus::Unrepairable;
        }
        Err(e) => {
            findings.push(finding(K::ParityDamaged, what, e.to_string()));
            return ParityStatus::Unrepairable;
        }
    };
    let (bad_data, bad_rec) = par.damaged_shards(pack);
    if !bad_rec.is_empty() {
        findings.push(finding(
            K::ParityDamaged,
            what,
            format!(
                "{} of {} parity shards damaged (`repair packs` rewrites it)",
                bad_rec.len(),
                par.recovery_shards
            ),
        ));
    }
    if par.can_rebuild(bad_data.len(), bad_rec.len()) {
        ParityStatus::Repairable
    } else {
        ParityStatus::Unrepairable
    }
}
