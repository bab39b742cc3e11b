//! Evaluation of the RPO-driven schedule (`ibars_insight::rpo`) on simulated sources, against
//! the fixed interval that reaches the same compliance.
//!
//! Each source is eight weeks of file changes, drawn minute by minute: a working-day or a
//! round-the-clock profile, weekends, holidays, bursts (a deploy, a batch import), growth, and
//! files whose popularity follows a Zipf law (a few hot files take most writes). A backup
//! stores each changed file once at its last size, and takes a fixed cost plus the bytes at
//! 40 MB/s, with noise. The planner learns everything online, from its own probes and runs:
//! the busy hours and the duration bound. Nothing is fitted offline; the planner's constants
//! (probe interval, busy threshold, duration bound) were set on the `fit` seeds only, and the
//! `report` seeds are held out.
//!
//!   cargo run --release -p ibars-insight --example eval_rpo [fit|report|both]

use ibars_insight::rpo::replay::{replay, Change, Outcome, Plan};
use ibars_insight::rpo::{Calendar, Policy};
use rand::{Rng, SeedableRng};

const DAYS: i64 = 56;
/// Monday 2024-01-01 00:00 UTC.
const START: i64 = 1_704_067_200;

#[derive(Clone, Copy, Debug)]
enum Profile {
    /// Changes on working days, 8-18 h.
    Office,
    /// A developer's tree: bursts of many changes, often idle for hours.
    Dev,
    /// A server: changes every hour of every day, busier by day.
    Server,
    /// A file share that changes a few times a week.
    Archive,
}

const PROFILES: [Profile; 4] = [
    Profile::Office,
    Profile::Dev,
    Profile::Server,
    Profile::Archive,
];

/// A normal deviate (Box-Muller).
fn normal(r: &mut rand::rngs::StdRng) -> f64 {
    let u1: f64 = r.gen_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = r.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A Poisson count (Knuth's method for small means, a rounded normal for large ones).
fn poisson(r: &mut rand::rngs::StdRng, mean: f64) -> u32 {
    if mean > 30.0 {
        return (mean + mean.sqrt() * normal(r)).round().max(0.0) as u32;
    }
    let (l, mut k, mut p) = ((-mean).exp(), 0u32, 1.0);
    loop {
        p *= r.gen::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

/// One source's changes over [`DAYS`].
fn simulate(profile: Profile, seed: u64) -> Vec<Change> {
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    let files: u32 = r.gen_range(500..5_000);
    let zipf = r.gen_range(0.8..1.3);
    // Sizes: log-normal around 100 KB, fixed per file.
    let sizes: Vec<u64> = (0..files * 2)
        .map(|_| (100e3 * (1.5 * normal(&mut r)).exp()).min(2e9) as u64)
        .collect();
    // Zipf by inverse transform over a precomputed cumulative table.
    let mut cum: Vec<f64> = (1..=files)
        .scan(0.0, |s, k| {
            *s += 1.0 / (k as f64).powf(zipf);
            Some(*s)
        })
        .collect();
    let total = *cum.last().unwrap();
    cum.iter_mut().for_each(|c| *c /= total);
    let (busy, night, weekend) = match profile {
        Profile::Office => (r.gen_range(5.0..60.0), 0.0, 0.0),
        Profile::Dev => (r.gen_range(2.0..20.0), r.gen_range(0.0..0.05), 0.1),
        Profile::Server => (r.gen_range(20.0..200.0), r.gen_range(0.2..0.6), 0.8),
        Profile::Archive => (r.gen_range(0.05..0.3), 0.0, 0.0),
    };
    let growth: f64 = r.gen_range(0.0..0.01);
    let holidays: Vec<i64> = (0..DAYS).filter(|_| r.gen_bool(0.03)).collect();
    let mut out = Vec::new();
    let mut new_files = files;
    for h in 0..DAYS * 24 {
        let (day, hour) = (h / 24, h % 24);
        let weekday = day % 7 < 5;
        let mut mean = if (8..18).contains(&hour) {
            busy
        } else {
            busy * night
        };
        if !weekday {
            mean *= weekend;
        }
        if holidays.contains(&day) && !matches!(profile, Profile::Server) {
            mean = 0.0;
        }
        if matches!(profile, Profile::Dev) && r.gen_bool(0.5) {
            // Idle hours: meetings, lunch, other work.
            mean = 0.0;
        }
        mean *= (1.0 + growth).powi(day as i32) * (0.3 * normal(&mut r)).exp();
        let mut n = poisson(&mut r, mean);
        if r.gen_bool(0.004) {
            n += r.gen_range(50..500); // a burst
        }
        for _ in 0..n {
            let at = START + h * 3600 + r.gen_range(0..3600);
            let file = if r.gen_bool(0.02) && new_files < files * 2 {
                new_files += 1;
                new_files - 1
            } else {
                cum.partition_point(|&c| c < r.gen::<f64>()) as u32
            };
            out.push(Change {
                at,
                file,
                bytes: sizes[file as usize % sizes.len()],
            });
        }
    }
    out.sort_by_key(|c| c.at);
    out
}

/// A backup's duration: 20 s plus the bytes at 40 MB/s, with ±30% noise drawn from the bytes
/// (so that both schedules see the same duration for the same work).
fn duration(bytes: u64) -> i64 {
    let h = bytes.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    let noise = 0.7 + 0.6 * (h as f64 / (1u64 << 53) as f64);
    ((20.0 + bytes as f64 / 40e6) * noise).ceil() as i64
}

/// The largest fixed interval (5-minute steps) that reaches `target` compliance.
fn fixed_matching(changes: &[Change], rpo: i64, target: f64) -> (i64, Outcome) {
    let to = START + DAYS * 86_400;
    let mut every = rpo - rpo % 300;
    loop {
        let out = replay(changes, START, to, rpo, &Plan::Fixed { every }, duration);
        if out.compliance >= target || every <= 300 {
            return (every, out);
        }
        every -= 300;
    }
}

#[derive(Default)]
struct Row {
    sources: usize,
    compliance: Vec<f64>,
    jobs: (f64, f64),
    bytes: (f64, f64),
    probes: f64,
    every: Vec<i64>,
}

fn run(name: &str, seeds: std::ops::RangeInclusive<u64>) {
    println!("\n### split `{name}` (seeds {seeds:?})\n");
    println!("| profile | RPO | sources | compliance: mean / worst | jobs: auto / fixed | bytes: auto / fixed | probes per day | fixed interval (median) |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut all = Row::default();
    for profile in PROFILES {
        for rpo_h in [1i64, 4, 24] {
            let rpo = rpo_h * 3600;
            let mut row = Row::default();
            for seed in seeds.clone() {
                let changes = simulate(profile, seed * 7 + rpo_h as u64);
                let plan = Plan::Auto {
                    policy: Policy::new(rpo, Calendar::always()),
                    bound: None,
                };
                let to = START + DAYS * 86_400;
                let auto = replay(&changes, START, to, rpo, &plan, duration);
                let (every, fixed) = fixed_matching(&changes, rpo, auto.compliance.min(0.999));
                for r in [&mut row, &mut all] {
                    r.sources += 1;
                    r.compliance.push(auto.compliance);
                    r.jobs.0 += auto.runs.len() as f64;
                    r.jobs.1 += fixed.runs.len() as f64;
                    r.bytes.0 += auto.bytes as f64;
                    r.bytes.1 += fixed.bytes as f64;
                    r.probes += auto.probes as f64 / DAYS as f64;
                    r.every.push(every);
                }
            }
            print_row(&format!("{profile:?}"), &format!("{rpo_h} h"), &mut row);
        }
    }
    print_row("**all**", "", &mut all);
}

fn print_row(profile: &str, rpo: &str, r: &mut Row) {
    let n = r.sources.max(1) as f64;
    let mean = r.compliance.iter().sum::<f64>() / n;
    let worst = r.compliance.iter().copied().fold(1.0, f64::min);
    r.every.sort_unstable();
    let median = r.every.get(r.every.len() / 2).copied().unwrap_or(0);
    println!(
        "| {profile} | {rpo} | {} | {:.4}% / {:.3}% | {:.2} | {:.2} | {:.0} | {} min |",
        r.sources,
        100.0 * mean,
        100.0 * worst,
        r.jobs.0 / r.jobs.1.max(1.0),
        r.bytes.0 / r.bytes.1.max(1.0),
        r.probes / n,
        median / 60
    );
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "both".into());
    println!("RPO schedules on simulated sources: {DAYS} days each, auto against the fixed interval of the same compliance.");
    if which == "fit" || which == "both" {
        run("fit", 1..=10);
    }
    if which == "report" || which == "both" {
        run("report", 1001..=1040);
    }
}
