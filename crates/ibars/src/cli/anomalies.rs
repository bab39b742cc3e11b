//! `ibars anomalies`: findings of the ransomware and mass-deletion detector, and dismissals.

use anyhow::Result;
use clap::{Args, Subcommand};
use ibars_core::ops::anomaly::{dismiss, findings};
use ibars_core::snapshot::{resolve, Snapshot, SnapshotFilter};
use ibars_insight::record::{Status, Verdict};

use super::output::local_time;
use super::{code, GlobalArgs};

const ABOUT: &str = "\
Every backup is judged against the earlier backups of its own source (host and paths): files
rewritten with random-looking content, files whose format signature vanished (a .pdf that no
longer starts with %PDF), new random files with an unknown extension, one new file name in
many directories (ransom notes), and files deleted and not replaced. A flagged backup is still
saved, `backup` exits with code 4, and the flagged snapshot and the last clean snapshot before
it are protected from forget. The first 5 backups of a source are a learning period.

Restore the last clean state with `ibars restore latest-clean --target DIR`, and see what
the attack touched with `ibars diff latest-clean latest`. See docs/insight.md for the model.

Examples:
  ibars anomalies
  ibars anomalies dismiss 4f2a9c1e --reason \"re-encrypted the archive on purpose\"";

#[derive(Args, Debug)]
#[command(after_help = ABOUT)]
pub struct AnomaliesArgs {
    #[command(subcommand)]
    pub command: Option<AnomalyCommand>,
    /// Also list findings that were dismissed.
    #[arg(long)]
    pub all: bool,
}

#[derive(Subcommand, Debug)]
pub enum AnomalyCommand {
    /// Mark a finding a false alarm: the snapshot loses the protection the finding gave it
    /// (and so does its clean point), the dismissal is recorded in history, and the source's
    /// baseline learns that such a backup is normal.
    Dismiss {
        /// The flagged snapshot: an id, an id prefix or `latest`.
        snapshot: String,
        /// Why it is a false alarm (kept in the history).
        #[arg(long)]
        reason: Option<String>,
    },
}

pub fn run(g: &GlobalArgs, a: &AnomaliesArgs) -> Result<u8> {
    let repo = g.open()?;
    let all = repo.snapshots()?;
    if let Some(AnomalyCommand::Dismiss { snapshot, reason }) = &a.command {
        let (id, _) = resolve(&all, snapshot, &SnapshotFilter::default())?;
        let by = ibars_core::repo::username();
        let new = dismiss(&repo, id, reason.clone(), &by)?;
        if g.json {
            outln!("{}", serde_json::json!({"dismissed": id, "snapshot": new}));
        } else if !g.quiet {
            outln!(
                "finding of snapshot {} dismissed; the snapshot is now {}",
                id.short(),
                new.short()
            );
        }
        return Ok(code::OK);
    }
    let list: Vec<_> = findings(&all)
        .into_iter()
        .filter(|f| a.all || f.snapshot.flagged())
        .collect();
    if g.json {
        let v: Vec<_> = list
            .iter()
            .map(|f| {
                let an = f.snapshot.anomaly.as_ref();
                serde_json::json!({
                    "snapshot": f.id,
                    "time": f.snapshot.time,
                    "host": f.snapshot.host,
                    "paths": f.snapshot.paths,
                    "verdict": an.map(|a| &a.verdict),
                    "clean_point": f.clean_point,
                    "dismissed": an.and_then(|a| a.dismissed.as_ref()),
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(code::OK);
    }
    if list.is_empty() {
        outln!("no anomalies");
        return Ok(code::OK);
    }
    for f in &list {
        let Some(an) = &f.snapshot.anomaly else {
            continue;
        };
        let paths: Vec<_> = f.snapshot.paths.iter().map(|p| p.lossy()).collect();
        outln!(
            "snapshot {}  {}  {}  {}  (score {:.2}){}",
            f.id.short(),
            local_time(f.snapshot.time),
            f.snapshot.host,
            paths.join(", "),
            an.verdict.score,
            if an.dismissed.is_some() {
                "  dismissed"
            } else {
                ""
            }
        );
        for r in &an.verdict.reasons {
            outln!("  - {r}");
        }
        match f.clean_point {
            Some(c) => outln!("  last clean snapshot before it: {}", c.short()),
            None => outln!("  no clean snapshot before it"),
        }
    }
    Ok(code::OK)
}

/// Tell the user what the detector made of a backup (on standard error when it is suspect,
/// so that it is seen even with the summary piped away).
pub fn print_verdict(v: &Verdict, snap: &Snapshot, json: bool, quiet: bool) {
    if json || (quiet && v.status != Status::Suspect) {
        return;
    }
    match v.status {
        Status::Suspect => {
            eprintln!(
                "ANOMALY SUSPECTED (score {:.2}): this backup looks like ransomware or mass deletion",
                v.score
            );
            for r in &v.reasons {
                eprintln!("  - {r}");
            }
            let clean = snap.anomaly.as_ref().and_then(|a| a.clean_point);
            eprintln!(
                "The snapshot was saved and is protected{}.",
                match clean {
                    Some(c) => format!(", and so is the last clean one before it ({})", c.short()),
                    None => String::new(),
                }
            );
            eprintln!("  restore the last clean state:  ibars restore latest-clean --target DIR");
            eprintln!("  see what changed:              ibars diff latest-clean latest");
            eprintln!("  if this is a false alarm:      ibars anomalies dismiss <snapshot>");
        }
        Status::Learning => outln!(
            "Anomaly:     learning ({} earlier backups of this source; verdicts from 5)",
            v.baseline
        ),
        Status::Clean => outln!(
            "Anomaly:     none (score {:.2} against {} earlier backups)",
            v.score,
            v.baseline
        ),
    }
}
