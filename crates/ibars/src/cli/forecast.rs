//! `ibars forecast`: how the repository and each source will grow, from the history.

use anyhow::Result;
use clap::Args;
use ibars_core::backend::DiskSpace;
use ibars_insight::forecast::{crossing, forecast, Crossing, ForecastError, Prediction, Settings};
use ibars_insight::series::{self, BackupPoint};
use serde_json::json;

use super::output::{bytes, parse_duration, parse_size};
use super::{code, GlobalArgs};

#[derive(Args, Debug)]
#[command(after_help = "\
From the run history, `forecast` fits a model to the repository's stored size (day by day,
as backups add and prunes free) and to each source's daily changes (bytes added per day), and
prints what it expects at the end of the horizon with a 95% interval. From two weeks after a
prune first freed a snapshot, the size is forecast under the retention policy of the last
`forget`: the backups to come are simulated, and the policy applied to them as forget would,
so that what prune will free is counted. With --quota it says when the repository reaches that size, as a range of
dates: from the earliest the interval allows to the latest.

For a repository on a local disk it also forecasts the file system's free space, from the free
bytes every run records (so whatever else writes to that disk counts too), and says when the
disk fills; before there is history enough for that, it compares the repository's forecast
with what is free now. The models are described, with their measured accuracy, in
docs/insight.md.

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

/// When the disk fills, and how: from the forecast of its used space (its size less the free
/// bytes each run recorded: whatever else writes to it counts) when the history holds enough
/// of it, else from the repository's own forecast against what is free now.
struct DiskForecast {
    free: u64,
    size: u64,
    /// The used space's forecast, when there was enough history for one.
    used: Option<Prediction>,
    fills: Option<Crossing>,
}

fn disk_forecast(
    records: &[ibars_insight::Record],
    disk: DiskSpace,
    now: jiff::Timestamp,
    horizon: usize,
    stored: u64,
    repo: &Result<Prediction, ForecastError>,
) -> Option<DiskForecast> {
    let DiskSpace { free, size } = disk;
    let mut points: Vec<series::SizePoint> = series::counted(records, "fs_free")
        .into_iter()
        .map(|p| series::SizePoint {
            time: p.time,
            bytes: size.saturating_sub(p.bytes),
        })
        .collect();
    points.push(series::SizePoint {
        time: now,
        bytes: size.saturating_sub(free),
    });
    let daily = series::daily_size(&points, now);
    let used = forecast(&daily.values, horizon, &Settings::daily_total()).ok();
    let fills = match (&used, repo) {
        (Some(u), _) => Some(crossing(u, size as f64)),
        (None, Ok(p)) => Some(crossing(p, stored as f64 + free as f64)),
        (None, Err(_)) => None,
    };
    Some(DiskForecast {
        free,
        size,
        used,
        fills,
    })
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
    let disk = repo
        .backend()
        .disk_space()
        .and_then(|d| disk_forecast(&records, d, now, horizon, stored, &repo_forecast));

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
                v
            }
            Err(e) => json!({"now": stored, "days": size.values.len(), "error": e.to_string()}),
        };
        let mut repo_v = repo_v;
        if let Some(d) = &disk {
            let mut v = json!({"free": d.free, "size": d.size,
                "model": if d.used.is_some() { "used space" } else { "repository growth" }});
            if let Some(u) = &d.used {
                let l = u.point.len() - 1;
                let free_at = |x: f64| (d.size as f64 - x).max(0.0);
                v["free_in_horizon"] = json!({"point": free_at(u.point[l]),
                    "lower": free_at(u.upper[l]), "upper": free_at(u.lower[l]), "level": u.level});
            }
            if let Some(c) = &d.fills {
                v["fills"] = crossing_json(c, now);
            }
            repo_v["disk"] = v;
        }
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
        }
        Err(e) => outln!("  no forecast: {e} (days of history)"),
    }
    if let Some(d) = &disk {
        outln!("disk: {} free of {}", bytes(d.free), bytes(d.size));
        if let Some(u) = &d.used {
            let l = u.point.len() - 1;
            let free_at = |x: f64| b(d.size as f64 - x);
            outln!(
                "  in {horizon} days: {} free ({} to {}), from what runs recorded of it",
                free_at(u.point[l]),
                free_at(u.upper[l]),
                free_at(u.lower[l])
            );
        }
        match &d.fills {
            Some(c) => outln!("  it fills {}", crossing_words(c, now, horizon)),
            None => outln!("  no forecast of when it fills: not enough history"),
        }
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
