//! The storage forecast on a real history: a repository that `bench/insight/forecast_real.sh`
//! filled with successive nightly builds of a real package, one per day. From its history,
//! the daily stored-size series is rebuilt as `ibars forecast` does; then at every tenth day
//! from day 60 on, each model is given only the records made by then (as `ibars forecast`
//! would have been that day) and its 30-day forecast compared with what the repository then
//! held (days it never saw). Two models: the size series alone (MSTL/ETS on its daily
//! increments) and the retention model (`ibars_insight::retention::growth`), which is what
//! `ibars forecast` uses once the history holds a prune.
//!
//!   IBARS_PASSWORD=pw cargo run --release -p ibars-core --example eval_forecast_real REPO NAME

use std::sync::Arc;

use ibars_core::backend::OpendalBackend;
use ibars_core::repo::Repository;
use ibars_insight::forecast::{forecast, Prediction, Settings};

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
    let tz = jiff::tz::TimeZone::system();
    let first_day = ibars_insight::series::daily_size(&points, last).first_day;
    println!(
        "\n### {name}: {} days, {:.0} MB stored at the end\n",
        y.len(),
        stored as f64 / 1e6
    );
    println!("| fitted on days | actual day 30 (MB) | series alone (MB) | error | retention model (MB) | error | its 95% interval (MB) | covered |");
    println!("|---|---:|---:|---:|---:|---:|---|---|");
    let mut scores: [(Vec<f64>, usize); 2] = [(Vec::new(), 0), (Vec::new(), 0)];
    let mut c = 60;
    while c + HORIZON <= y.len() {
        let cut = jiff::Timestamp::from_second(first_day.as_second() + c as i64 * 86_400 - 1)
            .expect("time");
        let seen: Vec<_> = records.iter().filter(|r| r.time <= cut).cloned().collect();
        let alone = forecast(&y[..c], HORIZON, &s);
        let (_, retention) = ibars_insight::forecast::repository_size(
            &seen,
            cut,
            y[c - 1] as u64,
            HORIZON,
            tz.clone(),
        );
        let a = y[c + HORIZON - 1];
        let mut cells = Vec::new();
        for (k, p) in [alone, retention].into_iter().enumerate() {
            match p {
                Ok(Prediction {
                    point,
                    lower,
                    upper,
                    model,
                    ..
                }) => {
                    let (f, lo, hi) = (point[HORIZON - 1], lower[HORIZON - 1], upper[HORIZON - 1]);
                    let ok = lo <= a && a <= hi;
                    scores[k].0.push((f - a).abs() / a);
                    scores[k].1 += ok as usize;
                    cells.push(format!("{:.1} ({model})", f / 1e6));
                    cells.push(format!("{:+.1}%", 100.0 * (f - a) / a));
                    if k == 1 {
                        cells.push(format!("{:.1}-{:.1}", lo / 1e6, hi / 1e6));
                        cells.push(if ok { "yes" } else { "no" }.into());
                    }
                }
                Err(e) => {
                    cells.push(e.to_string());
                    cells.push(String::new());
                }
            }
        }
        println!("| 1-{c} | {:.1} | {} |", a / 1e6, cells.join(" | "));
        c += 10;
    }
    for (name, (apes, covered)) in ["series alone", "retention model"].iter().zip(&scores) {
        let n = apes.len();
        let mape = 100.0 * apes.iter().sum::<f64>() / n.max(1) as f64;
        println!("\n{name}: MAPE at 30 days {mape:.2}% over {n} cuts; the 95% interval covered {covered} of {n}.");
    }
}
