//! Evaluation of the storage forecast (`ibars_insight::forecast`) on simulated repositories:
//! each day a backup adds data (a weekly cycle, growth, bursts, holidays, noise), and
//! retention frees what was replaced a month earlier. The model is fitted on the first 150
//! days of each series and scored on the 30 that follow, which it never saw. Seeds of the
//! `fit` split are the only ones settings may be tuned on; the `report` split is held out.
//!
//!   cargo run --release -p ibars-insight --example eval_forecast [fit|report|both]

use ibars_insight::forecast::{forecast, Settings};
use rand::{Rng, SeedableRng};

const TRAIN: usize = 150;
const HORIZON: usize = 30;

/// A normal deviate (Box-Muller).
fn normal(r: &mut rand::rngs::StdRng) -> f64 {
    let u1: f64 = r.gen_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = r.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// One simulated repository: its stored bytes at the end of each day.
fn simulate(seed: u64) -> Vec<f64> {
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    let days = TRAIN + HORIZON;
    let base = r.gen_range(50e6..2e9);
    let growth: f64 = r.gen_range(0.0..0.004);
    let weekend = r.gen_range(0.2..0.8);
    let sigma = r.gen_range(0.1..0.4);
    let churn = r.gen_range(0.3..0.9);
    let retention = 30;
    let mut holidays = vec![false; days];
    for _ in 0..r.gen_range(0..3) {
        let start = r.gen_range(0..days);
        for h in holidays.iter_mut().skip(start).take(r.gen_range(5..11)) {
            *h = true;
        }
    }
    let mut added = Vec::with_capacity(days);
    let mut size = r.gen_range(10e9..1e12);
    let mut out = Vec::with_capacity(days);
    for d in 0..days {
        let mut a = base * (1.0 + growth).powi(d as i32) * (sigma * normal(&mut r)).exp();
        if d % 7 >= 5 {
            a *= weekend;
        }
        if holidays[d] {
            a *= 0.2;
        }
        if r.gen_bool(0.02) {
            a *= r.gen_range(3.0..10.0);
        }
        added.push(a);
        let freed = if d >= retention {
            churn * added[d - retention]
        } else {
            0.0
        };
        size += a - freed;
        out.push(size);
    }
    out
}

#[derive(Default)]
struct Score {
    series: usize,
    skipped: usize,
    ape30: Vec<f64>,
    covered30: usize,
    covered_all: usize,
    points_all: usize,
    drift_ape30: Vec<f64>,
    width30: Vec<f64>,
}

fn run(name: &str, seeds: std::ops::RangeInclusive<u64>) {
    let s = Settings::daily_total();
    let mut sc = Score::default();
    for seed in seeds {
        let y = simulate(seed);
        let (train, test) = y.split_at(TRAIN);
        sc.series += 1;
        let Ok(p) = forecast(train, HORIZON, &s) else {
            sc.skipped += 1;
            continue;
        };
        let h = HORIZON - 1;
        sc.ape30.push((p.point[h] - test[h]).abs() / test[h]);
        sc.width30.push((p.upper[h] - p.lower[h]) / test[h]);
        sc.covered30 += usize::from(p.lower[h] <= test[h] && test[h] <= p.upper[h]);
        for (i, t) in test.iter().enumerate() {
            sc.points_all += 1;
            sc.covered_all += usize::from(p.lower[i] <= *t && *t <= p.upper[i]);
        }
        // The baseline: the last value plus the mean daily change of the last four weeks.
        let last = train[TRAIN - 1];
        let slope = (last - train[TRAIN - 29]) / 28.0;
        let drift = last + slope * HORIZON as f64;
        sc.drift_ape30.push((drift - test[h]).abs() / test[h]);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let pct = |v: &[f64], q: f64| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let n = sc.ape30.len();
    println!(
        "\n### split `{name}`: {} series, {} without a forecast\n",
        sc.series, sc.skipped
    );
    println!("| measure | value | target |");
    println!("|---|---:|---|");
    println!(
        "| MAPE at 30 days (mean APE of day 30) | {:.2}% | ≤ 10% |",
        100.0 * mean(&sc.ape30)
    );
    println!(
        "| APE at 30 days, median / p90 / max | {:.2}% / {:.2}% / {:.2}% | |",
        100.0 * pct(&sc.ape30, 0.5),
        100.0 * pct(&sc.ape30, 0.9),
        100.0 * pct(&sc.ape30, 1.0)
    );
    println!(
        "| 95% interval covers day 30 | {:.1}% ({} of {n}) | 90-98% |",
        100.0 * sc.covered30 as f64 / n.max(1) as f64,
        sc.covered30
    );
    println!(
        "| 95% interval covers days 1-30 | {:.1}% ({} of {}) | 90-98% |",
        100.0 * sc.covered_all as f64 / sc.points_all.max(1) as f64,
        sc.covered_all,
        sc.points_all
    );
    println!(
        "| interval width at day 30, median (share of the value) | {:.2}% | |",
        100.0 * pct(&sc.width30, 0.5)
    );
    println!(
        "| baseline (last value + 4-week drift): MAPE at 30 days | {:.2}% | |",
        100.0 * mean(&sc.drift_ape30)
    );
}

/// One simulated source: bytes changed per hour over `hours`, with a working-day profile
/// (busy 8-18 h on weekdays, quiet nights and weekends), noise, idle hours and bursts.
fn simulate_hourly(seed: u64, hours: usize) -> Vec<f64> {
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    let base = r.gen_range(1e6..5e8);
    let sigma = r.gen_range(0.2..0.6);
    let night = r.gen_range(0.0..0.2);
    let weekend = r.gen_range(0.05..0.5);
    (0..hours)
        .map(|h| {
            let hour = h % 24;
            let day = (h / 24) % 7;
            let mut v = base * if (8..18).contains(&hour) { 1.0 } else { night };
            if day >= 5 {
                v *= weekend;
            }
            v *= (sigma * normal(&mut r)).exp();
            if r.gen_bool(0.05) {
                v = 0.0;
            }
            if r.gen_bool(0.005) {
                v *= r.gen_range(5.0..20.0);
            }
            v
        })
        .collect()
}

/// Change rates: six weeks of hours fitted, the next 24 forecast. Scored on the day's total
/// (what a scheduler needs: how much will change by tomorrow) and on the hourly intervals.
fn run_hourly(name: &str, seeds: std::ops::RangeInclusive<u64>) {
    const FIT: usize = 6 * 168;
    const AHEAD: usize = 24;
    let s = Settings::hourly();
    let (mut series, mut skipped, mut covered, mut points) = (0, 0, 0, 0);
    let (mut day_ape, mut naive_ape) = (Vec::new(), Vec::new());
    for seed in seeds {
        let y = simulate_hourly(seed, FIT + AHEAD);
        let (train, test) = y.split_at(FIT);
        series += 1;
        let Ok(p) = forecast(train, AHEAD, &s) else {
            skipped += 1;
            continue;
        };
        let actual: f64 = test.iter().sum();
        if actual > 0.0 {
            day_ape.push((p.point.iter().sum::<f64>() - actual).abs() / actual);
            // The baseline: the same 24 hours a week earlier.
            let week_ago: f64 = train[FIT - 168..FIT - 168 + AHEAD].iter().sum();
            naive_ape.push((week_ago - actual).abs() / actual);
        }
        for (i, t) in test.iter().enumerate() {
            points += 1;
            covered += usize::from(p.lower[i] <= *t && *t <= p.upper[i]);
        }
    }
    let mean = |v: &[f64]| 100.0 * v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!("\n### change rates, split `{name}`: {series} series, {skipped} without a forecast\n");
    println!("| measure | value |");
    println!("|---|---:|");
    println!(
        "| the next day's total: mean APE | {:.1}% |",
        mean(&day_ape)
    );
    println!(
        "| baseline (the same day a week earlier): mean APE | {:.1}% |",
        mean(&naive_ape)
    );
    println!(
        "| 95% hourly intervals cover the hour | {:.1}% ({covered} of {points}) |",
        100.0 * covered as f64 / points.max(1) as f64
    );
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "both".into());
    println!(
        "Storage forecast on simulated repositories: {TRAIN} days fitted, {HORIZON} forecast."
    );
    if which == "fit" || which == "both" {
        run("fit", 1..=200);
    }
    if which == "report" || which == "both" {
        run("report", 1001..=1400);
    }
    if which == "hourly" {
        run_hourly("fit", 1..=40);
        run_hourly("report", 1001..=1100);
    }
}
