//! When an automatic job may start a backup: `window` periods (starts only inside them) and
//! `avoid` periods (never inside them), as wall-clock times on days of the week in a time zone.
//!
//! A period is written `[DAYS] HH:MM-HH:MM`: `09:00-17:00`, `Mon-Fri 08:30-18:00`,
//! `Sat,Sun 00:00-24:00`, `22:00-06:00` (an end before the start runs past midnight, and
//! belongs to the day it starts on). Times are minutes of the wall clock, so a DST change
//! moves them with the clock.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// A period that could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("period {text:?}: {why} (write it as \"[Mon-Fri] HH:MM-HH:MM\")")]
pub struct PeriodError {
    pub text: String,
    pub why: String,
}

/// One recurring period of the week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// Monday first.
    days: [bool; 7],
    /// Minutes after midnight; `end <= start` runs past midnight.
    start: u16,
    end: u16,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day(s: &str) -> Option<usize> {
    let s = s.trim().to_ascii_lowercase();
    DAYS.iter()
        .position(|d| s.len() >= 3 && d.starts_with(&s[..3]) && s.starts_with(d))
}

fn minute(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

impl std::str::FromStr for Period {
    type Err = PeriodError;
    fn from_str(text: &str) -> Result<Self, PeriodError> {
        let err = |why: &str| PeriodError {
            text: text.to_string(),
            why: why.to_string(),
        };
        let t = text.trim();
        let (days_part, times) = match t.rsplit_once(char::is_whitespace) {
            Some((d, r)) => (Some(d), r),
            None => (None, t),
        };
        let mut days = [days_part.is_none(); 7];
        if let Some(d) = days_part {
            for item in d.split(',') {
                match item.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (
                            day(a).ok_or_else(|| err("unknown day"))?,
                            day(b).ok_or_else(|| err("unknown day"))?,
                        );
                        let mut i = a;
                        loop {
                            days[i] = true;
                            if i == b {
                                break;
                            }
                            i = (i + 1) % 7;
                        }
                    }
                    None => days[day(item).ok_or_else(|| err("unknown day"))?] = true,
                }
            }
        }
        let (a, b) = times.split_once('-').ok_or_else(|| err("no time range"))?;
        let start = minute(a).ok_or_else(|| err("a time is not HH:MM"))?;
        let end = minute(b).ok_or_else(|| err("a time is not HH:MM"))?;
        if start == end && start != 0 {
            return Err(err("the period is empty"));
        }
        Ok(Period {
            days,
            start: start % 1440,
            end: end % 1440,
        })
    }
}

impl Period {
    /// Whether the wall-clock moment (`weekday` Monday = 0, `min` of the day) lies inside.
    pub(crate) fn contains(&self, weekday: usize, min: u16) -> bool {
        if self.start < self.end {
            self.days[weekday] && (self.start..self.end).contains(&min)
        } else {
            // Past midnight (or the whole day when start == end == 0): today's part after the
            // start, and yesterday's part before the end.
            (self.days[weekday] && min >= self.start)
                || (self.days[(weekday + 6) % 7] && min < self.end)
        }
    }
}

/// The periods of one job, in its time zone.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub window: Vec<Period>,
    pub avoid: Vec<Period>,
    pub tz: TimeZone,
}

/// How far [`Calendar::latest_start`] and [`Calendar::next_start`] look, in minutes (two
/// weeks: every weekly pattern repeats within it).
const LOOK: i64 = 14 * 1440;

impl Calendar {
    /// No restriction: a backup may start at any moment.
    pub fn always() -> Self {
        Self {
            window: vec![],
            avoid: vec![],
            tz: TimeZone::UTC,
        }
    }

    /// Whether nothing restricts the start.
    pub fn is_always(&self) -> bool {
        self.window.is_empty() && self.avoid.is_empty()
    }

    /// Whether a backup may start at `t` (Unix seconds).
    pub fn allows(&self, t: i64) -> bool {
        if self.is_always() {
            return true;
        }
        let Ok(ts) = Timestamp::from_second(t) else {
            return false;
        };
        let z = ts.to_zoned(self.tz.clone());
        let wd = match z.weekday() {
            Weekday::Monday => 0,
            Weekday::Tuesday => 1,
            Weekday::Wednesday => 2,
            Weekday::Thursday => 3,
            Weekday::Friday => 4,
            Weekday::Saturday => 5,
            Weekday::Sunday => 6,
        };
        let min = z.hour() as u16 * 60 + z.minute() as u16;
        (self.window.is_empty() || self.window.iter().any(|p| p.contains(wd, min)))
            && !self.avoid.iter().any(|p| p.contains(wd, min))
    }

    /// The latest moment in `[from, to]` at which a backup may start, to the minute; `None`
    /// when there is none.
    pub fn latest_start(&self, from: i64, to: i64) -> Option<i64> {
        if to < from {
            return None;
        }
        if self.allows(to) {
            return Some(to);
        }
        // Walk back over whole minutes of the wall clock.
        let mut t = to - to.rem_euclid(60);
        let mut steps = 0;
        while t >= from && steps <= LOOK {
            if self.allows(t) {
                return Some(t);
            }
            t -= 60;
            steps += 1;
        }
        None
    }

    /// The first moment at or after `from` at which a backup may start, to the minute;
    /// `None` when no period of the next two weeks allows one (a window inside an avoid).
    pub fn next_start(&self, from: i64) -> Option<i64> {
        if self.allows(from) {
            return Some(from);
        }
        let mut t = from - from.rem_euclid(60) + 60;
        for _ in 0..LOOK {
            if self.allows(t) {
                return Some(t);
            }
            t += 60;
        }
        None
    }
}
