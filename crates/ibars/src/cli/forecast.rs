//! `ibars forecast`: how the repository and each source will grow, from the history.

use std::path::Path;

use anyhow::Result;
use clap::Args;
use ibars_core::backend::location::Location;
use ibars_insight::forecast::{crossing, forecast, Crossing, ForecastError, Prediction, Settings};
use ibars_insight::series::{self, BackupPoint};
use serde_json::json;

use super::output::{bytes, parse_duration, parse_size};
use super::{code, GlobalArgs};

#[derive(Args, Debug)]
#[command(after_help = "\
From the run history, `forecast` fits a model to the repository's stored size (day by day,
as backups add and prunes free) and to each source's daily changes (bytes added per day), and
prints what it expects at the end of the horizon with a 95% interval. For a repository on a
local disk it also says when the file system fills, and with --quota when the repository
reaches that size, as a range of dates: from the earliest the interval allows to the latest.
The model is described, with its measured accuracy, in docs/insight.md.

A series with less than three weeks of history is named with \"not enough history\" instead
of a guess.

Examples:
  ibars forecast
  ibars forecast --horizon 90d --quota 2TiB
  ibars forecast --json | jq .repository")]
pub struct ForecastArgs {
    /// How far ahead (days are whole days: 30d, 12w).
    #[arg(long, default_value = "30d", value_parser = parse_duration)]
    pub horizon: jiff::SignedDuration,
    /// Say when the repository reaches this size (e.g. 2TiB).
    #[arg(long, value_parser = parse_size)]
    pub quota: Option<u64>,
}

/// A date `steps` days after `from`, as a day.
fn day_after(from: jiff::Timestamp, steps: usize) -> String {
    let t = from + jiff::SignedDuration::from_hours(24 * steps as i64);
    t.to_zoned(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d")
        .to_string()
}

fn crossing_json(c: &Crossing, today: jiff::Timestamp) -> serde_json::Value {
    let d = |s: Option<usize>| s.map(|s| day_after(today, s));
    json!({"earliest": d(c.earliest), "likely": d(c.likely), "latest": d(c.latest)})
}

/// "between 14 and 29 March" in words, or that it does not happen within the horizon.
fn crossing_words(c: &Crossing, today: jiff::Timestamp, horizon: usize) -> String {
    match (c.earliest, c.latest) {
        (None, _) => format!("not within {horizon} days"),
        (Some(e), Some(l)) => format!(
            "between {} and {} (most likely {})",
            day_after(today, e),
            day_after(today, l),
            c.likely
                .map(|x| day_after(today, x))
                .unwrap_or_else(|| "later".into())
        ),
        (Some(e), None) => format!(
            "from {} on, possibly after {horizon} days",
            day_after(today, e)
        ),
    }
}

fn prediction_json(p: &Prediction) -> serde_json::Value {
    let last = p.point.len() - 1;
    json!({"point": p.point[last], "lower": p.lower[last], "upper": p.upper[last],
        "level": p.level, "model": p.model, "calibrated_on": p.calibrated_on})
}

/// Free bytes of the file system holding `dir`.
fn free_space(dir: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(s.blocks_available() as u64 * s.fragment_size() as u64)
}

pub fn run(g: &GlobalArgs, a: &ForecastArgs) -> Result<u8> {
    let repo = g.open()?;
    let horizon = (a.horizon.as_secs() / 86_400).clamp(1, 3650) as usize;
    let now = jiff::Timestamp::now();
    let h = ibars_core::history::load_all(&repo)?;
    let records: Vec<_> = h.records.iter().map(|(_, r)| r.clone()).collect();
    let stored: u64 = repo.stored_packs()?.values().sum();
    let (size, repo_forecast) = ibars_insight::forecast::repository_size(
        &records,
        now,
        stored,
        horizon,
        jiff::tz::TimeZone::system(),
    );
    let local_dir = match g.location()? {
        Location::Local(p) => Some(p),
        _ => None,
    };
    let free = local_dir.as_deref().and_then(free_space);

    // Per source: bytes added per day.
    let backups = series::backups(&records);
    let mut sources: Vec<(String, Vec<&BackupPoint>)> = Vec::new();
    for b in &backups {
        let key = format!("{}:{}", b.host, b.paths.join(","));
        match sources.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(b),
            None => sources.push((key, vec![b])),
        }
    }
    let per_day = Settings::daily();
    let source_forecasts: Vec<(String, Result<Prediction, ForecastError>, f64)> = sources
        .iter()
        .map(|(k, v)| {
            let d = series::daily_added(v, now);
            let recent = d.values.iter().rev().take(28).sum::<f64>()
                / 28f64.min(d.values.len() as f64).max(1.0);
            (k.clone(), forecast(&d.values, horizon, &per_day), recent)
        })
        .collect();

    if g.json {
        let repo_v = match &repo_forecast {
            Ok(p) => {
                let mut v = json!({"now": stored, "days": size.values.len(),
                    "in_horizon": prediction_json(p)});
                if let Some(q) = a.quota {
                    v["quota"] =
                        json!({"bytes": q, "reached": crossing_json(&crossing(p, q as f64), now)});
                }
                if let Some(f) = free {
                    let cap = stored as f64 + f as f64;
                    v["disk"] = json!({"free": f, "fills": crossing_json(&crossing(p, cap), now)});
                }
                v
            }
            Err(e) => json!({"now": stored, "days": size.values.len(), "error": e.to_string()}),
        };
        let sources_v: Vec<_> = source_forecasts
            .iter()
            .map(|(k, p, recent)| match p {
                Ok(p) => json!({"source": k, "recent_daily_bytes": recent,
                    "daily_bytes": prediction_json(p),
                    "total_bytes": p.point.iter().sum::<f64>()}),
                Err(e) => json!({"source": k, "error": e.to_string()}),
            })
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({"message_type": "forecast",
                "horizon_days": horizon, "repository": repo_v, "sources": sources_v}))?
        );
        return Ok(code::OK);
    }
    let b = |v: f64| bytes(v.max(0.0) as u64);
    outln!("repository: {} stored now", bytes(stored));
    match &repo_forecast {
        Ok(p) => {
            let l = p.point.len() - 1;
            outln!(
                "  in {horizon} days: {} ({} to {}, {:.0}% interval)",
                b(p.point[l]),
                b(p.lower[l]),
                b(p.upper[l]),
                p.level * 100.0
            );
            if let Some(q) = a.quota {
                outln!(
                    "  reaches the {} quota {}",
                    bytes(q),
                    crossing_words(&crossing(p, q as f64), now, horizon)
                );
            }
            if let Some(f) = free {
                outln!(
                    "  its disk has {} free; it fills {}",
                    bytes(f),
                    crossing_words(&crossing(p, stored as f64 + f as f64), now, horizon)
                );
            }
        }
        Err(e) => outln!("  no forecast: {e} (days of history)"),
    }
    for (k, p, recent) in &source_forecasts {
        outln!("source {k}:");
        match p {
            Ok(p) => outln!(
                "  adds {}/day lately; in {horizon} days about {} more ({} to {} a day at the end)",
                b(*recent),
                b(p.point.iter().sum::<f64>()),
                b(p.lower[p.lower.len() - 1]),
                b(p.upper[p.upper.len() - 1])
            ),
            Err(e) => outln!("  no forecast: {e} (days of history)"),
        }
    }
    Ok(code::OK)
}
