//! `schedule = "auto"`: the keys of an automatic backup job, checked.

use ibars_insight::rpo::{Calendar, Period, Policy};
use serde::Deserialize;

use super::{parse_span, ConfigError, RawJob};
use crate::auto::AutoSchedule;

/// `window` and `avoid`: one period or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Periods {
    One(String),
    Many(Vec<String>),
}

impl Periods {
    fn items(&self) -> Vec<&str> {
        match self {
            Periods::One(s) => vec![s.as_str()],
            Periods::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// The automatic schedule of `j` (whose `schedule` is "auto"), in the time zone `tz` (the
/// system's when `None`); `err` makes an error of a key and a message.
pub(super) fn schedule(
    j: &RawJob,
    tz: Option<&str>,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<AutoSchedule, ConfigError> {
    if j.kind != "backup" {
        return Err(err(
            "schedule",
            "only backup jobs can have schedule = \"auto\"".into(),
        ));
    }
    let periods = |key: &str, p: &Option<Periods>| -> Result<Vec<Period>, ConfigError> {
        p.iter()
            .flat_map(Periods::items)
            .map(|t| t.parse::<Period>().map_err(|e| err(key, e.to_string())))
            .collect()
    };
    let rpo_text = j.rpo.clone().ok_or_else(|| {
        err(
            "schedule",
            "schedule = \"auto\" needs an `rpo`, such as \"4h\"".into(),
        )
    })?;
    let rpo = parse_span(&rpo_text)
        .ok()
        .filter(|d| d.as_secs() >= 300)
        .ok_or_else(|| {
            err(
                "rpo",
                format!("{rpo_text:?} is not a duration of at least 5 minutes, such as \"4h\""),
            )
        })?;
    let zone = match tz {
        Some(name) => jiff::tz::TimeZone::get(name).map_err(|_| {
            err(
                if j.time_zone.is_some() {
                    "time_zone"
                } else {
                    "schedule"
                },
                format!("time zone {name:?} is unknown"),
            )
        })?,
        None => jiff::tz::TimeZone::system(),
    };
    let calendar = Calendar {
        window: periods("window", &j.window)?,
        avoid: periods("avoid", &j.avoid)?,
        tz: zone.clone(),
    };
    Ok(AutoSchedule {
        policy: Policy::new(rpo.as_secs(), calendar),
        rpo: rpo_text,
        probe_command: j.probe_command.clone(),
        time_zone: tz
            .map(str::to_string)
            .unwrap_or_else(|| zone.iana_name().unwrap_or("local").to_string()),
    })
}
