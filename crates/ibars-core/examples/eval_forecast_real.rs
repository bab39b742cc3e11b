//! The storage forecast on a real history: a repository that `bench/insight/forecast_real.sh`
//! filled with successive nightly builds of a real package, one per day. From its history,
//! the daily stored-size series is rebuilt as `ibars forecast` does; then at every tenth day
//! from day 60 on, the model is fitted on the days before and its 30-day forecast compared
//! with what the repository then held (days it never saw).
//!
//!   IBARS_PASSWORD=pw cargo run --release -p ibars-core --example eval_forecast_real REPO NAME

use std::sync::Arc;

use ibars_core::backend::OpendalBackend;
use ibars_core::repo::Repository;
use ibars_insight::forecast::{forecast, Settings};

const HORIZON: usize = 30;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: eval_forecast_real REPO NAME");
    let name = args.next().unwrap_or_else(|| dir.clone());
    let pw = std::env::var("IBARS_PASSWORD").expect("IBARS_PASSWORD");
    let backend = OpendalBackend::local(std::path::Path::new(&dir), false).expect("open");
    let repo = Repository::open(Arc::new(backend), pw.as_bytes()).expect("open the repository");
    let h = ibars_core::history::load_all(&repo).expect("history");
    let records: Vec<_> = h.records.iter().map(|(_, r)| r.clone()).collect();
    let stored: u64 = repo.stored_packs().expect("packs").values().sum();
    // "Now" is the last record's time (the clock the runs were made under): the series ends
    // there.
    let last = records.iter().map(|r| r.time).max().expect("records");
    let points = ibars_insight::series::repository_size(&records, last, stored);
    let y = ibars_insight::series::daily_size(&points, last).values;
    let s = Settings::daily_total();
    println!(
        "\n### {name}: {} days, {:.0} MB stored at the end\n",
        y.len(),
        stored as f64 / 1e6
    );
    println!("| fitted on days | forecast day 30 (MB) | actual (MB) | error | 95% interval (MB) | covered |");
    println!("|---|---:|---:|---:|---|---|");
    let (mut apes, mut covered, mut n) = (Vec::new(), 0, 0);
    let mut c = 60;
    while c + HORIZON <= y.len() {
        match forecast(&y[..c], HORIZON, &s) {
            Ok(p) => {
                let (f, lo, hi) = (
                    p.point[HORIZON - 1],
                    p.lower[HORIZON - 1],
                    p.upper[HORIZON - 1],
                );
                let a = y[c + HORIZON - 1];
                let ape = (f - a).abs() / a;
                let ok = lo <= a && a <= hi;
                apes.push(ape);
                covered += ok as usize;
                n += 1;
                println!(
                    "| 1-{c} | {:.1} | {:.1} | {:+.1}% | {:.1}-{:.1} | {} |",
                    f / 1e6,
                    a / 1e6,
                    100.0 * (f - a) / a,
                    lo / 1e6,
                    hi / 1e6,
                    if ok { "yes" } else { "no" }
                );
            }
            Err(e) => println!("| 1-{c} | {e} | | | | |"),
        }
        c += 10;
    }
    let mape = 100.0 * apes.iter().sum::<f64>() / apes.len().max(1) as f64;
    println!(
        "\nMAPE at 30 days: {mape:.2}% over {n} cuts; the 95% interval covered {covered} of {n}."
    );
}
