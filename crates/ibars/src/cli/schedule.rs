//! `ibars schedule suggest`: the plan an automatic schedule would follow for a job, replayed
//! over the job's recorded history, beside the job's schedule now and the fixed intervals
//! that keep the same RPO.

use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use ibars_daemon::auto::Timing;
use ibars_daemon::config::{Action, Config, Job};
use ibars_daemon::schedule::Schedule;
use ibars_insight::rpo::replay::{replay, Change, DurationModel, Outcome, Plan};
use ibars_insight::rpo::{Calendar, Period, Policy};
use ibars_insight::series::{self, BackupPoint};
use serde_json::json;

use super::output::{bytes, parse_duration};
use super::{code, GlobalArgs};

#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Suggest a schedule for a backup job of the daemon's config that keeps an RPO.
    #[command(after_help = SUGGEST_HELP)]
    Suggest(SuggestArgs),
}

const SUGGEST_HELP: &str = "\
Replays the job's recorded backups (its paths, on its host) under three schedules and prints,
for each, the runs and bytes per day and the share of the time the RPO was kept:

  auto     schedule = \"auto\" with this rpo: the daemon probes the source and backs up only
           when a change would otherwise become older than the RPO (docs/insight.md);
  now      the job's schedule in the config;
  fixed    the longest fixed interval that keeps the RPO 99.9% of the time.

It also prints a cron expression that keeps the RPO over the history, where one does with
fewer runs than the fixed interval. The history knows changes only per backup: a backup that
found changes is taken to hold changes made right after the backup before it (the worst case
for the RPO), so a history of daily backups can say little about a 1-hour RPO.

Examples:
  ibars schedule suggest home --rpo 4h
  ibars schedule suggest home --rpo 1h --avoid 'Mon-Fri 09:00-12:00' --json";

#[derive(Args, Debug)]
pub struct SuggestArgs {
    /// The `[[job]]`'s name in the daemon's config (--config, else the default file).
    pub job: String,
    /// The recovery point objective: no change may be missing for longer (e.g. 4h, 30m).
    #[arg(long, value_parser = parse_duration)]
    pub rpo: jiff::SignedDuration,
    /// Backups start only within these periods, `[DAYS] HH:MM-HH:MM` (repeatable); the job's
    /// own `window` when it has one.
    #[arg(long)]
    pub window: Vec<String>,
    /// Backups never start within these periods (repeatable); the job's own `avoid`.
    #[arg(long)]
    pub avoid: Vec<String>,
}

#[derive(Clone, Copy)]
struct Figures {
    runs_per_day: f64,
    bytes_per_day: f64,
    compliance: f64,
    worst_lag: i64,
}

fn figures(o: &Outcome, days: f64) -> Figures {
    Figures {
        runs_per_day: o.runs.len() as f64 / days,
        bytes_per_day: o.bytes as f64 / days,
        compliance: o.compliance,
        worst_lag: o.worst_lag,
    }
}

fn figures_json(f: &Figures) -> serde_json::Value {
    json!({"runs_per_day": f.runs_per_day, "bytes_per_day": f.bytes_per_day,
        "rpo_met": f.compliance, "worst_lag_seconds": f.worst_lag})
}

/// The job's backups in the history: its paths, on its host.
fn job_backups(job: &Job, all: Vec<BackupPoint>) -> Result<Vec<BackupPoint>> {
    let Action::Backup(b) = &job.action else {
        bail!(
            "job {:?} is a {} job: only backup jobs have an RPO",
            job.name,
            job.action.kind()
        );
    };
    let mut paths: Vec<String> = b
        .paths
        .iter()
        .map(|p| {
            ibars_core::ops::backup::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
        .collect();
    if let Some(name) = &b.stdin_filename {
        paths = vec![format!("/{}", name.trim_start_matches('/'))];
    }
    paths.sort();
    let host = b.host.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let mine: Vec<BackupPoint> = all
        .into_iter()
        .filter(|p| {
            let mut q = p.paths.clone();
            q.sort();
            p.host == host && (q == paths || b.stdin_command.is_some() && q.len() == 1)
        })
        .collect();
    if mine.len() < 2 {
        bail!(
            "not enough history: {} backup(s) of {} on {host} (at least 2 are needed)",
            mine.len(),
            paths.join(", ")
        );
    }
    Ok(mine)
}

/// The changes the history shows: one per backup that stored changed files, at the moment
/// just after the backup before it.
fn changes_of(b: &[BackupPoint]) -> Vec<Change> {
    b.windows(2)
        .enumerate()
        // Files new, changed or deleted, and new bytes stored for them: a file only read
        // again (written in the second of the backup before) stores nothing, and a new
        // time on a parent directory alone (/tmp) changes no file.
        .filter(|(_, w)| {
            let n = &w[1];
            n.bytes_added > 0 && n.files_new + n.files_changed + n.files_deleted > 0
        })
        .map(|(i, w)| Change {
            at: w[0].time.as_second() + 1,
            file: i as u32,
            bytes: w[1].bytes_added,
        })
        .collect()
}

fn periods(list: &[String]) -> Result<Vec<Period>> {
    list.iter()
        .map(|p| p.parse::<Period>().map_err(|e| anyhow!("{e}")))
        .collect()
}

/// The due times of `s` in `[from, to)`.
fn due_times(s: &Schedule, from: i64, to: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut t = jiff::Timestamp::from_second(from - 1).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    while let Some(n) = s.next_after(t) {
        if n.as_second() >= to || out.len() > 2_000_000 {
            break;
        }
        out.push(n.as_second());
        t = n;
    }
    out
}

/// The RPO kept this share of the time counts as kept.
const KEPT: f64 = 0.999;

pub fn suggest(g: &GlobalArgs, a: &SuggestArgs) -> Result<u8> {
    let path = g
        .config
        .clone()
        .unwrap_or_else(ibars_daemon::config::default_path);
    let config = Config::load(&path).map_err(super::daemon::BadConfig)?;
    let job = config
        .jobs
        .iter()
        .find(|j| j.name == a.job)
        .ok_or_else(|| anyhow!("{}: no [[job]] named {:?}", path.display(), a.job))?;
    let rpo = a.rpo.as_secs();
    if rpo < 300 {
        bail!("--rpo must be at least 5 minutes");
    }
    let (window, avoid) = (periods(&a.window)?, periods(&a.avoid)?);
    if let Some(r) = config.repository(&job.repository) {
        g.use_daemon_repository(r.clone())?;
    }
    let repo = g.open()?;
    let h = ibars_core::history::load_all(&repo)?;
    let records: Vec<_> = h.records.iter().map(|(_, r)| r.clone()).collect();
    let mut backups = job_backups(job, series::backups(&records))?;
    backups.sort_by_key(|b| b.time);
    let changes = changes_of(&backups);
    let from = backups[0].time.as_second();
    let to = backups[backups.len() - 1].time.as_second();
    let days = ((to - from) as f64 / 86_400.0).max(1.0 / 24.0);
    let spacing = (to - from) / (backups.len() as i64 - 1).max(1);
    let model = DurationModel::fit(
        &backups
            .iter()
            .map(|b| (b.bytes_added, b.duration_ms as f64 / 1000.0))
            .collect::<Vec<_>>(),
    )
    .ok_or_else(|| anyhow!("no backups to learn durations from"))?;
    let dur = |b: u64| model.seconds(b);

    let tz =
        jiff::tz::TimeZone::get(job.schedule.time_zone()).unwrap_or(jiff::tz::TimeZone::system());
    let own = job.auto();
    let calendar = Calendar {
        window: if window.is_empty() {
            own.map(|o| o.policy.calendar.window.clone())
                .unwrap_or_default()
        } else {
            window
        },
        avoid: if avoid.is_empty() {
            own.map(|o| o.policy.calendar.avoid.clone())
                .unwrap_or_default()
        } else {
            avoid
        },
        tz: tz.clone(),
    };
    let auto_plan = Plan::Auto {
        policy: Policy::new(rpo, calendar),
        bound: None,
    };
    let auto = figures(&replay(&changes, from, to, rpo, &auto_plan, dur), days);
    let now = match &job.schedule {
        Timing::Cron(s) => {
            let o = replay(
                &changes,
                from,
                to,
                rpo,
                &Plan::At(due_times(s, from, to)),
                dur,
            );
            Some((s.expr().to_string(), figures(&o, days)))
        }
        Timing::Auto(_) => None,
    };
    // The longest fixed interval (5-minute steps) that keeps the RPO.
    let mut every = rpo - rpo % 300;
    let fixed = loop {
        let o = replay(&changes, from, to, rpo, &Plan::Fixed { every }, dur);
        if o.compliance >= KEPT || every <= 300 {
            break figures(&o, days);
        }
        every -= 300;
    };
    let cron = fitting_cron(&changes, from, to, rpo, every, &tz, &dur);

    if g.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "message_type": "schedule_suggestion",
                "job": job.name, "rpo_seconds": rpo,
                "history": {"backups": backups.len(), "days": days, "spacing_seconds": spacing,
                    "changes": changes.len()},
                "auto": figures_json(&auto),
                "now": now.as_ref().map(|(e, f)| json!({"schedule": e, "figures": figures_json(f)})),
                "fixed": {"every_seconds": every, "figures": figures_json(&fixed)},
                "cron": cron.as_ref().map(|(e, f)| json!({"schedule": e, "figures": figures_json(f)})),
            }))?
        );
        return Ok(code::OK);
    }
    outln!(
        "job {}: {} backups over {:.1} days (one every {}), {} of them with changes",
        job.name,
        backups.len(),
        days,
        span(spacing),
        changes.len()
    );
    outln!("\nkeeping an RPO of {} over that history:\n", span(rpo));
    outln!(
        "  {:<34} {:>9} {:>11} {:>9}",
        "schedule",
        "runs/day",
        "bytes/day",
        "RPO kept"
    );
    let row = |name: &str, f: &Figures| {
        outln!(
            "  {:<34} {:>9.1} {:>11} {:>8.2}%",
            name,
            f.runs_per_day,
            bytes(f.bytes_per_day as u64),
            100.0 * f.compliance
        );
    };
    row(&format!("auto, rpo = \"{}\"", span(rpo)), &auto);
    if let Some((e, f)) = &now {
        row(&format!("now: \"{e}\""), f);
    }
    row(&format!("every {}", span(every)), &fixed);
    match &cron {
        Some((e, f)) if f.runs_per_day < fixed.runs_per_day => {
            row(&format!("cron \"{e}\""), f);
            outln!("\na cron plan that fits the history: schedule = \"{e}\"");
        }
        _ if changes.is_empty() => {
            outln!("\nnothing changed over the history: any schedule keeps the RPO")
        }
        _ => outln!("\nno cron plan keeps the RPO with fewer runs than the fixed interval"),
    }
    outln!(
        "for changes as they come: schedule = \"auto\" with rpo = \"{}\" (the daemon probes the source between backups)",
        span(rpo)
    );
    if spacing > rpo / 2 {
        outln!(
            "note: the history has a backup only every {}; changes are placed right after the backup before them, so these figures are rough for an RPO of {}",
            span(spacing),
            span(rpo)
        );
    }
    Ok(code::OK)
}

/// A cron expression over the hours and days the history changed on, with runs `every`
/// seconds apart (in whole hours, or minutes below one): the first that keeps the RPO,
/// trying the active hours first and every hour of every day after.
fn fitting_cron(
    changes: &[Change],
    from: i64,
    to: i64,
    rpo: i64,
    every: i64,
    tz: &jiff::tz::TimeZone,
    dur: &dyn Fn(u64) -> i64,
) -> Option<(String, Figures)> {
    if changes.is_empty() {
        return None;
    }
    let (mut hours, mut days) = ([false; 24], [false; 7]);
    for c in changes {
        let z = jiff::Timestamp::from_second(c.at)
            .ok()?
            .to_zoned(tz.clone());
        hours[z.hour() as usize] = true;
        days[z.weekday().to_sunday_zero_offset() as usize] = true;
    }
    let list = |v: &[bool]| {
        v.iter()
            .enumerate()
            .filter(|(_, b)| **b)
            .map(|(i, _)| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let candidates: Vec<String> = if every < 3600 {
        let m = (1..=every / 60).rev().find(|m| 60 % m == 0).unwrap_or(1);
        vec![
            format!("*/{m} {} * * {}", list(&hours), list(&days)),
            format!("*/{m} * * * *"),
        ]
    } else {
        let k = (every / 3600).clamp(1, 23);
        let first = hours.iter().position(|b| *b).unwrap_or(0);
        let last = (hours.iter().rposition(|b| *b).unwrap_or(23) + k as usize).min(23);
        vec![
            format!("0 {first}-{last}/{k} * * {}", list(&days)),
            format!("0 {first}-{last}/{k} * * *"),
            format!("0 */{k} * * *"),
        ]
    };
    let days_n = ((to - from) as f64 / 86_400.0).max(1.0 / 24.0);
    candidates.into_iter().find_map(|e| {
        let s = Schedule::parse(&e, tz.iana_name()).ok()?;
        let o = replay(
            changes,
            from,
            to,
            rpo,
            &Plan::At(due_times(&s, from, to)),
            dur,
        );
        (o.compliance >= KEPT).then(|| (e, figures(&o, days_n)))
    })
}

/// Seconds as "3h 50m", "45m" or "2d".
fn span(s: i64) -> String {
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    let mut out = Vec::new();
    if d > 0 {
        out.push(format!("{d}d"));
    }
    if h > 0 {
        out.push(format!("{h}h"));
    }
    if m > 0 || out.is_empty() {
        out.push(format!("{m}m"));
    }
    out.join(" ")
}
