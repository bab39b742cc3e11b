//! Forecasts of a series measured at regular steps: a repository's stored bytes per day, a
//! source's changed bytes per hour.
//!
//! The model is MSTL (a seasonal part per given period, an ETS trend on what is left) when the
//! series holds two cycles of the longest period, else a non-seasonal ETS (augurs). Its own
//! intervals leave the seasonal part out and come out too narrow, so the intervals are
//! calibrated instead from the model's past errors: the series is cut at earlier points, the
//! model fitted on what came before each cut forecasts what came after, and the interval at
//! each horizon is the error quantile of those forecasts at that horizon (split conformal
//! prediction, one quantile per horizon). Errors are relative for a series that is positive
//! throughout (sizes), absolute otherwise (change rates, which can be zero).
//!
//! Contract: no panic on any input. Too short a series gives
//! [`ForecastError::NotEnoughHistory`]; a value that is not finite,
//! [`ForecastError::Invalid`].

use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::prelude::{Fit, Predict};
use serde::Serialize;

/// What the model is fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The values themselves (a rate: bytes changed per hour).
    Level,
    /// Their day-to-day differences, summed back up (a total: stored bytes). The cycles of a
    /// total are in what is added and freed each day, not in the total itself.
    Increments,
}

/// How to forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub shape: Shape,
    /// Seasonal periods in steps (7 for a weekly cycle of daily values; 24 and 168 for daily
    /// and weekly cycles of hourly ones).
    pub periods: Vec<usize>,
    /// The interval's coverage, such as 0.95.
    pub level: f64,
    /// The fewest values a model is fitted on.
    pub min_fit: usize,
    /// How many earlier cuts the intervals are calibrated on, at most.
    pub cuts: usize,
}

impl Settings {
    /// Daily values with a weekly cycle, 95% intervals.
    pub fn daily() -> Self {
        Settings {
            shape: Shape::Level,
            periods: vec![7],
            level: 0.95,
            min_fit: 21,
            cuts: 40,
        }
    }

    /// A daily total (stored bytes) whose additions follow a weekly cycle, 95% intervals.
    pub fn daily_total() -> Self {
        Settings {
            shape: Shape::Increments,
            ..Self::daily()
        }
    }

    /// Hourly values with daily and weekly cycles, 95% intervals.
    pub fn hourly() -> Self {
        Settings {
            shape: Shape::Level,
            periods: vec![24, 168],
            level: 0.95,
            min_fit: 72,
            cuts: 40,
        }
    }
}

/// A forecast: one point and interval per step after the series' last value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub point: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// The intervals' intended coverage.
    pub level: f64,
    /// `mstl` or `ets`.
    pub model: &'static str,
    /// The earlier cuts the intervals were calibrated on (0: the model's own intervals).
    pub calibrated_on: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    #[error("not enough history: {have} values, {need} needed")]
    NotEnoughHistory { have: usize, need: usize },
    #[error("the series holds a value that is not a finite number, at {0}")]
    Invalid(usize),
    #[error("the model failed: {0}")]
    Model(String),
}

/// The fewest values a forecast of `horizon` steps needs: enough to fit on, and to cut at
/// five earlier points with `horizon` values after each, so that every interval is
/// calibrated.
pub fn needed(horizon: usize, s: &Settings) -> usize {
    s.min_fit + horizon + MIN_CUTS
}

/// The fewest earlier cuts the intervals are calibrated on.
const MIN_CUTS: usize = 5;

/// Point forecasts of `horizon` steps from a model fitted on `y`, with the model's own
/// intervals when `level` is given.
fn fit_predict(
    y: &[f64],
    horizon: usize,
    s: &Settings,
    level: Option<f64>,
) -> Result<(augurs::Forecast, &'static str), ForecastError> {
    let model_err = |e: &dyn std::fmt::Display| ForecastError::Model(e.to_string());
    // A constant series: ETS cannot estimate a spread from it, and none is needed.
    if y.windows(2).all(|w| w[0] == w[1]) {
        let v = y.last().copied().unwrap_or(0.0);
        let f = augurs::Forecast {
            point: vec![v; horizon],
            intervals: level.map(|l| augurs::ForecastIntervals {
                level: l,
                lower: vec![v; horizon],
                upper: vec![v; horizon],
            }),
        };
        return Ok((f, "constant"));
    }
    let longest = s.periods.iter().copied().max().unwrap_or(0);
    if longest > 1 && y.len() >= 2 * longest {
        let trend = AutoETS::non_seasonal().into_trend_model();
        let m = MSTLModel::new(s.periods.clone(), trend);
        let fitted = m.fit(y).map_err(|e| model_err(&e))?;
        let f = fitted.predict(horizon, level).map_err(|e| model_err(&e))?;
        Ok((f, "mstl"))
    } else {
        let fitted = AutoETS::non_seasonal().fit(y).map_err(|e| model_err(&e))?;
        let f = fitted.predict(horizon, level).map_err(|e| model_err(&e))?;
        Ok((f, "ets"))
    }
}

/// The forecast path of `horizon` steps after `y`, as `s.shape` says, with the model's own
/// intervals for a level model when `level` is given.
fn path(
    y: &[f64],
    horizon: usize,
    s: &Settings,
    level: Option<f64>,
) -> Result<(augurs::Forecast, &'static str), ForecastError> {
    match s.shape {
        Shape::Level => fit_predict(y, horizon, s, level),
        Shape::Increments => {
            let d: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
            let (f, model) = fit_predict(&d, horizon, s, None)?;
            let mut total = y.last().copied().unwrap_or(0.0);
            let point = f
                .point
                .iter()
                .map(|p| {
                    total += p;
                    total
                })
                .collect();
            Ok((
                augurs::Forecast {
                    point,
                    intervals: None,
                },
                model,
            ))
        }
    }
}

/// The `level` quantile of `errors` with the finite-sample correction of conformal
/// prediction: the ⌈(n+1)·level⌉-th smallest, or the largest when n is too small for it.
fn conformal_quantile(errors: &mut [f64], level: f64) -> f64 {
    errors.sort_by(f64::total_cmp);
    let n = errors.len();
    let k = ((n as f64 + 1.0) * level).ceil() as usize;
    errors[k.clamp(1, n) - 1]
}

/// A forecast path: its points and the model's name.
pub type Path = (Vec<f64>, &'static str);

/// Refuse a series the models cannot read, or too short for `horizon`.
fn check(y: &[f64], horizon: usize, s: &Settings) -> Result<(), ForecastError> {
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(ForecastError::Invalid(i));
    }
    let need = needed(horizon, s);
    if y.len() < need || horizon == 0 {
        return Err(ForecastError::NotEnoughHistory {
            have: y.len(),
            need,
        });
    }
    Ok(())
}

/// The forecast path of `horizon` steps after `y`, without intervals.
pub fn point_path(y: &[f64], horizon: usize, s: &Settings) -> Result<Path, ForecastError> {
    path(y, horizon, s, None).map(|(f, m)| (f.point, m))
}

/// Forecast `horizon` steps after `y`.
pub fn forecast(y: &[f64], horizon: usize, s: &Settings) -> Result<Prediction, ForecastError> {
    check(y, horizon, s)?;
    let (f, model) = path(y, horizon, s, Some(s.level))?;
    let own = f.intervals.map(|i| (i.lower, i.upper));
    calibrate(y, horizon, s, (f.point, model), own, |c| {
        point_path(&y[..c], horizon, s)
    })
}

/// Forecast `horizon` steps after `y` with another model: `predict(c)` forecasts the
/// `horizon` values after the first `c` of `y` (`c` = `y.len()` for the forecast itself, less
/// for the earlier cuts its intervals are calibrated on).
pub fn forecast_with(
    y: &[f64],
    horizon: usize,
    s: &Settings,
    predict: impl Fn(usize) -> Result<Path, ForecastError>,
) -> Result<Prediction, ForecastError> {
    check(y, horizon, s)?;
    let now = predict(y.len())?;
    calibrate(y, horizon, s, now, None, predict)
}

/// The forecast `now` after `y` with intervals calibrated on the errors of `predict` at
/// earlier cuts (or `own`, the model's own, when too few cuts could be scored).
fn calibrate(
    y: &[f64],
    horizon: usize,
    s: &Settings,
    now: Path,
    own: Option<(Vec<f64>, Vec<f64>)>,
    predict: impl Fn(usize) -> Result<Path, ForecastError>,
) -> Result<Prediction, ForecastError> {
    let (point, model) = now;
    if point.len() != horizon || point.iter().any(|v| !v.is_finite()) {
        return Err(ForecastError::Model(format!(
            "{model} gave no finite forecast of {horizon} steps"
        )));
    }
    let relative = y.iter().all(|v| *v > 0.0);
    // Earlier cuts, newest first, each leaving `horizon` values to compare with.
    let last_cut = y.len().saturating_sub(horizon);
    let stride = ((last_cut.saturating_sub(s.min_fit)) / s.cuts.max(1)).max(1);
    let cuts: Vec<usize> = (0..s.cuts)
        .map(|k| last_cut.saturating_sub(k * stride))
        .filter(|c| *c >= s.min_fit)
        .collect();
    let mut errors: Vec<Vec<f64>> = vec![Vec::new(); horizon];
    for &c in &cuts {
        let Ok((past, _)) = predict(c) else {
            continue;
        };
        for (h, errs) in errors.iter_mut().enumerate() {
            let (Some(actual), Some(p)) = (y.get(c + h), past.get(h)) else {
                continue;
            };
            let e = if relative {
                (actual - p).abs() / actual.abs().max(f64::MIN_POSITIVE)
            } else {
                (actual - p).abs()
            };
            if e.is_finite() {
                errs.push(e);
            }
        }
    }
    let calibrated_on = errors.iter().map(Vec::len).min().unwrap_or(0);
    let (mut lower, mut upper) = match (own, calibrated_on >= MIN_CUTS) {
        (_, true) => {
            let mut lo = Vec::with_capacity(horizon);
            let mut hi = Vec::with_capacity(horizon);
            // A total a longer horizon away is never surer than a nearer one. A rate is not
            // a sum of the steps before it: each horizon keeps its own errors (forcing them
            // up made hourly intervals cover 99% instead of 95%).
            let monotone = s.shape == Shape::Increments;
            let mut q_prev: f64 = 0.0;
            for (h, errs) in errors.iter_mut().enumerate() {
                let mut q = conformal_quantile(errs, s.level);
                if monotone {
                    q = q.max(q_prev);
                }
                q_prev = q;
                let p = point[h];
                let (l, u) = if relative {
                    relative_bounds(p, q, y[y.len() - 1])
                } else {
                    (p - q, p + q)
                };
                lo.push(l);
                hi.push(u);
            }
            (lo, hi)
        }
        (Some((lo, hi)), false) => (lo, hi),
        (None, false) => (point.clone(), point.clone()),
    };
    // A size or a rate is never negative.
    let mut point = point;
    if y.iter().all(|v| *v >= 0.0) {
        for v in lower
            .iter_mut()
            .chain(upper.iter_mut())
            .chain(point.iter_mut())
        {
            *v = v.max(0.0);
        }
    }
    Ok(Prediction {
        point,
        lower,
        upper,
        level: s.level,
        model,
        calibrated_on: if calibrated_on >= MIN_CUTS {
            calibrated_on
        } else {
            0
        },
    })
}

/// The values `a` a positive series may take when its forecast is `p` and its errors relative
/// to the outcome are at most `q` (|a − p| ≤ q·a): from p/(1+q) to p/(1−q). A forecast that
/// is not positive, or an error of 100% or more, says the model cannot be trusted there: the
/// bounds then run from zero to the last value `last` grown by the error.
fn relative_bounds(p: f64, q: f64, last: f64) -> (f64, f64) {
    if p <= 0.0 {
        return (0.0, last.max(0.0) * (1.0 + q));
    }
    let upper = if q < 1.0 {
        p / (1.0 - q)
    } else {
        p.max(last) * (1.0 + q)
    };
    (p / (1.0 + q), upper)
}

/// The repository's stored size, day by day from its history replayed back from
/// `now_bytes` at `now`, and its forecast for `horizon` days (or why there is none): under
/// the retention policy of its last `forget` when the history holds a prune
/// ([`crate::retention::growth`]), with `forget`'s days and weeks in `tz`.
pub fn repository_size(
    records: &[crate::record::Record],
    now: jiff::Timestamp,
    now_bytes: u64,
    horizon: usize,
    tz: jiff::tz::TimeZone,
) -> (crate::series::Daily, Result<Prediction, ForecastError>) {
    let points = crate::series::repository_size(records, now, now_bytes);
    let daily = crate::series::daily_size(&points, now);
    let life = crate::retention::growth::Lifecycle::from_records(records);
    let p =
        crate::retention::growth::forecast_size(&life, &daily.values, daily.first_day, horizon, tz);
    (daily, p)
}

/// When a forecast total reaches `capacity`, in steps after the last value: at the
/// earliest (the upper bound reaches it), most likely (the point), and at the latest (the
/// lower bound); `None` for a bound that stays below it within the forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Crossing {
    pub earliest: Option<usize>,
    pub likely: Option<usize>,
    pub latest: Option<usize>,
}

/// Where `p` reaches `capacity` (steps count from 1: the first forecast step is 1).
pub fn crossing(p: &Prediction, capacity: f64) -> Crossing {
    let first = |v: &[f64]| v.iter().position(|x| *x >= capacity).map(|i| i + 1);
    Crossing {
        earliest: first(&p.upper),
        likely: first(&p.point),
        latest: first(&p.lower),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(days: usize) -> Vec<f64> {
        (0..days)
            .map(|d| {
                let week = [1.0, 1.1, 1.2, 1.1, 1.0, 0.4, 0.3][d % 7];
                1000.0 + 10.0 * d as f64 + 50.0 * week + ((d * 7919) % 13) as f64
            })
            .collect()
    }

    #[test]
    fn a_weekly_series_is_forecast_with_calibrated_intervals() {
        let y = weekly(150);
        let p = forecast(&y, 30, &Settings::daily()).unwrap();
        assert_eq!((p.model, p.point.len(), p.lower.len()), ("mstl", 30, 30));
        assert!(p.calibrated_on >= MIN_CUTS, "{p:?}");
        let truth = weekly(180)[150..].to_vec();
        for (h, t) in truth.iter().enumerate() {
            assert!(p.lower[h] <= p.point[h] && p.point[h] <= p.upper[h]);
            let err = (p.point[h] - t).abs() / t;
            assert!(err < 0.05, "h {h}: {} vs {t}", p.point[h]);
        }
        // A level's intervals keep each horizon's own width: narrow for this quiet series.
        let w: Vec<f64> = (0..30)
            .map(|h| (p.upper[h] - p.lower[h]) / p.point[h])
            .collect();
        assert!(w.iter().all(|x| *x > 0.0 && *x < 0.05), "{w:?}");
    }

    #[test]
    fn relative_intervals_invert_the_error_and_never_collapse_at_zero() {
        // |a - 100| <= 0.25 a  <=>  80 <= a <= 133.3
        let (l, u) = relative_bounds(100.0, 0.25, 90.0);
        assert!((l - 80.0).abs() < 1e-9 && (u - 133.333_333_333).abs() < 1e-6);
        // A forecast that fell to zero or below: from zero to the last value and its error.
        assert_eq!(relative_bounds(-5.0, 0.5, 200.0), (0.0, 300.0));
        assert_eq!(relative_bounds(0.0, 0.5, 200.0), (0.0, 300.0));
        // An error of 100% or more: no finite p/(1-q).
        let (l, u) = relative_bounds(100.0, 1.5, 120.0);
        assert!(l == 40.0 && u == 300.0);
    }

    #[test]
    fn a_total_is_forecast_from_what_is_added_each_day() {
        // Weekdays add 10, weekends 2: the total grows by 54 a week.
        let total: Vec<f64> = (0..150)
            .scan(1000.0, |t, d| {
                *t += if d % 7 >= 5 { 2.0 } else { 10.0 };
                Some(*t)
            })
            .collect();
        let p = forecast(&total[..120], 28, &Settings::daily_total()).unwrap();
        assert!(p.calibrated_on >= MIN_CUTS);
        // A total's intervals never narrow with the horizon (relative to the point).
        let w: Vec<f64> = (0..28)
            .map(|h| (p.upper[h] - p.lower[h]) / p.point[h])
            .collect();
        assert!(w.windows(2).all(|x| x[1] >= x[0] * 0.999), "{w:?}");
        let err = (p.point[27] - total[147]).abs();
        assert!(err < 5.0, "{} vs {}", p.point[27], total[147]);
        assert!(p.lower[27] <= total[147] && total[147] <= p.upper[27]);
    }

    #[test]
    fn short_empty_odd_and_constant_series_never_panic() {
        let s = Settings::daily();
        assert!(matches!(
            forecast(&[], 30, &s),
            Err(ForecastError::NotEnoughHistory { have: 0, .. })
        ));
        assert!(matches!(
            forecast(&[1.0; 5], 30, &s),
            Err(ForecastError::NotEnoughHistory { .. })
        ));
        assert!(matches!(
            forecast(&weekly(60), 0, &s),
            Err(ForecastError::NotEnoughHistory { .. })
        ));
        let mut bad = weekly(60);
        bad[7] = f64::NAN;
        assert_eq!(forecast(&bad, 10, &s), Err(ForecastError::Invalid(7)));
        let flat = forecast(&[5.0; 60], 10, &s).unwrap();
        assert_eq!(flat.point, vec![5.0; 10]);
        assert_eq!(flat.lower, flat.upper);
        // Zeros (a quiet source) and spikes: a forecast, never negative.
        let spiky: Vec<f64> = (0..200)
            .map(|i| if i % 37 == 0 { 1e9 } else { 0.0 })
            .collect();
        let p = forecast(&spiky, 24, &Settings::hourly()).unwrap();
        assert!(p.lower.iter().chain(&p.point).all(|v| *v >= 0.0));
        // A series too short for two weekly cycles in its cuts is still forecast, calibrated.
        let p = forecast(&weekly(31), 5, &s).unwrap();
        assert_eq!(p.point.len(), 5);
        assert!(p.calibrated_on >= 5, "{p:?}");
        assert!(matches!(
            forecast(&weekly(30), 5, &s),
            Err(ForecastError::NotEnoughHistory { need: 31, .. })
        ));
    }
}
