//! `ibars classify`: critical, normal and ephemeral data in a snapshot, and the files that hold
//! secrets, with suggestions.

use anyhow::Result;
use clap::Args;
use ibars_core::id::SnapshotId;
use ibars_core::ops::classify::{class_roots, classify_snapshot, Options};
use ibars_core::repo::Repository;
use ibars_core::repo::TreeCache;
use ibars_core::snapshot::{resolve, Snapshot};
use ibars_insight::classify::rules::UserRules;
use ibars_insight::classify::{Class, Summary};
use ibars_insight::record::RunKind;
use serde_json::json;

use super::output::bytes;
use super::{code, GlobalArgs, SnapshotFilterArgs};

#[derive(Args, Debug)]
#[command(after_help = "\
Every path of the snapshot gets a class: critical (system configuration, databases and dumps,
documents, version-controlled work, keys), ephemeral (caches, build outputs, package stores and
temporary files that can be made or fetched again), or normal. A path is also flagged
sensitive when it holds secrets: private keys, cloud and service tokens, .env secrets, card
numbers (Luhn-checked), IBANs, or many e-mail addresses. The secrets are found by the backup
that read the file (its first MiB), so classify reads only trees. How often a path changed over
the source's last snapshots and how often it was restored (partial restores) count too. The
rules and their measured accuracy are in docs/insight.md.

Your own patterns always win: those of the config file's [classify] table (critical,
ephemeral, normal, sensitive: lists of patterns), then --critical, --ephemeral, --normal and
--sensitive-path. A pattern without a `/` matches at any depth, and `~/` is any home
directory. `ibars rewrite --sensitive` cuts the files flagged sensitive from snapshots, for
erasure requests.

Examples:
  ibars classify
  ibars classify latest --list --class ephemeral
  ibars classify --list --sensitive --json | jq -r '.paths[].path'
  ibars classify --ephemeral '/srv/build' --critical '~/thesis'")]
pub struct ClassifyArgs {
    /// Snapshot: `latest` (the default), an id or an id prefix.
    #[arg(default_value = "latest")]
    pub snapshot: String,
    /// List every file with its class (and why), not only the summary.
    #[arg(long)]
    pub list: bool,
    /// With --list: only this class (critical, normal, ephemeral).
    #[arg(long, value_parser = parse_class)]
    pub class: Option<Class>,
    /// With --list: only files flagged sensitive.
    #[arg(long)]
    pub sensitive: bool,
    /// Paths that are critical, whatever the rules say (repeatable).
    #[arg(long = "critical", value_name = "PATTERN")]
    pub critical: Vec<String>,
    /// Paths that are ephemeral (repeatable).
    #[arg(long = "ephemeral", value_name = "PATTERN")]
    pub ephemeral: Vec<String>,
    /// Paths that are normal (repeatable).
    #[arg(long = "normal", value_name = "PATTERN")]
    pub normal: Vec<String>,
    /// Paths that are sensitive (repeatable).
    #[arg(long = "sensitive-path", value_name = "PATTERN")]
    pub sensitive_path: Vec<String>,
    /// Print only the roots of this class (critical, normal, ephemeral): the fewest paths that
    /// hold exactly its files, as `backup --class` backs them up.
    #[arg(long, value_name = "CLASS", value_parser = parse_class, conflicts_with = "list")]
    pub roots: Option<Class>,
    /// Earlier snapshots of the same source to count changes over.
    #[arg(long, default_value_t = 9)]
    pub history: usize,
    #[command(flatten)]
    pub filter: SnapshotFilterArgs,
}

/// What the history adds to a classification of `snap`: up to `n` earlier snapshots of its
/// source among `all` (oldest first), and the `--include` patterns of every partial restore.
pub fn context(
    repo: &Repository,
    all: &[(SnapshotId, Snapshot)],
    snap: &Snapshot,
    n: usize,
) -> Result<(Vec<Snapshot>, Vec<Vec<String>>)> {
    let mut earlier: Vec<_> = all
        .iter()
        .map(|(_, s)| s)
        .filter(|s| snap.same_source(s) && s.time < snap.time)
        .cloned()
        .collect();
    earlier.sort_by_key(|s| s.time);
    let earlier = earlier.split_off(earlier.len().saturating_sub(n));
    let history = ibars_core::history::load_all(repo)?;
    let restores = history
        .records
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.kind == RunKind::Restore && !r.paths.is_empty())
        .map(|r| r.paths.clone())
        .collect();
    Ok((earlier, restores))
}

pub fn parse_class(s: &str) -> Result<Class, String> {
    s.parse()
}

pub fn run(g: &GlobalArgs, a: &ClassifyArgs) -> Result<u8> {
    let rules = g.class_rules(&UserRules {
        critical: a.critical.clone(),
        ephemeral: a.ephemeral.clone(),
        normal: a.normal.clone(),
        sensitive: a.sensitive_path.clone(),
    })?;
    let repo = g.open()?;
    let all = repo.snapshots()?;
    let (id, snap) = resolve(&all, &a.snapshot, &a.filter.to_filter()?)?.clone();
    let (earlier, restores) = context(&repo, &all, &snap, a.history)?;
    if let Some(class) = a.roots {
        let opts = Options {
            rules: &rules,
            earlier: &earlier,
            restores: &restores,
        };
        let roots = class_roots(&repo, &snap, &opts, class)?;
        if g.json {
            let v = json!({"snapshot": id.to_hex(), "class": class, "roots": roots});
            outln!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            for r in &roots {
                outln!("{r}");
            }
        }
        return Ok(code::OK);
    }
    let index = repo.load_index()?;
    let cache = TreeCache::new(64 << 20);
    let mut listed = Vec::new();
    let summary = classify_snapshot(
        &repo,
        &index,
        &cache,
        &snap,
        &Options {
            rules: &rules,
            earlier: &earlier,
            restores: &restores,
        },
        &mut |seen| {
            let wanted = a.list
                && !seen.facts.is_dir
                && a.class.is_none_or(|c| c == seen.verdict.class)
                && (!a.sensitive || seen.verdict.sensitive);
            if wanted {
                listed.push(json!({
                    "path": seen.path,
                    "size": seen.node.size,
                    "class": seen.verdict.class,
                    "sensitive": seen.verdict.sensitive,
                    "rule": seen.verdict.rule,
                    "secrets": seen.verdict.secrets,
                    "reasons": seen.verdict.reasons,
                }));
            }
        },
    )?;
    if g.json {
        let mut v = summary_json(&summary);
        v["snapshot"] = json!(id.to_hex());
        v["earlier_snapshots"] = json!(earlier.len());
        if a.list {
            v["paths"] = json!(listed);
        }
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(code::OK);
    }
    if a.list {
        for p in &listed {
            outln!(
                "{:<9} {}{:>10}  {}  {}",
                p["class"].as_str().unwrap_or("-"),
                if p["sensitive"] == true { "! " } else { "  " },
                bytes(p["size"].as_u64().unwrap_or(0)),
                p["path"].as_str().unwrap_or(""),
                p["reasons"]
                    .as_array()
                    .map(|r| r
                        .iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join("; "))
                    .unwrap_or_default()
            );
        }
        outln!();
    }
    outln!(
        "snapshot {} of {} ({}), {} earlier snapshot(s) compared:",
        &id.to_hex()[..8],
        snap.host,
        snap.time,
        earlier.len()
    );
    for c in Class::ALL {
        let t = summary.class(c);
        outln!(
            "  {:<10} {:>8} files {:>11}",
            c.as_str(),
            t.files,
            bytes(t.bytes)
        );
    }
    outln!("  sensitive  {:>8} files", summary.sensitive().len());
    let lines = summary.suggestions();
    if !lines.is_empty() {
        outln!();
    }
    for l in lines {
        outln!("{l}");
    }
    Ok(code::OK)
}

fn summary_json(s: &Summary) -> serde_json::Value {
    let classes: serde_json::Map<String, serde_json::Value> = Class::ALL
        .into_iter()
        .map(|c| {
            let t = s.class(c);
            (
                c.as_str().to_string(),
                json!({"files": t.files, "bytes": t.bytes, "rules": s.rules(c)}),
            )
        })
        .collect();
    json!({
        "message_type": "classification",
        "classes": classes,
        "sensitive": s.sensitive(),
        "most_restored": s.most_restored(40),
        "suggestions": s.suggestions(),
    })
}
