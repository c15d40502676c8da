//! Time as documents carry it, and the injected clock.
//!
//! Every tool takes `--now` so scripts and tests are reproducible; protocol code never reads
//! the system clock itself. Times are whole seconds in UTC, written as RFC 3339
//! (`2026-11-25T15:47:08Z`), which is their only accepted form in signed documents.

use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};

use crate::error::{Error, Result};

/// An instant, to the second, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(i64);

impl Time {
    /// The system clock, truncated to the second.
    pub fn now() -> Time {
        Time(Timestamp::now().as_second())
    }

    /// `self + d`, or an error when the result leaves the representable range.
    pub fn plus(self, d: SignedDuration) -> Result<Time> {
        let t = Timestamp::from_second(self.0)
            .and_then(|t| t.checked_add(d))
            .map_err(|e| Error::usage(format!("time out of range: {e}")))?;
        Ok(Time(t.as_second()))
    }

    /// The compact form used inside identifiers: `20261125T154708Z`.
    pub fn compact(self) -> String {
        self.timestamp().strftime("%Y%m%dT%H%M%SZ").to_string()
    }

    fn timestamp(self) -> Timestamp {
        Timestamp::from_second(self.0).expect("Time is built only from valid timestamps")
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // jiff prints a whole-second UTC timestamp as RFC 3339 with Z, without strftime's parsing.
        fmt::Display::fmt(&self.timestamp(), f)
    }
}

impl FromStr for Time {
    type Err = Error;

    /// Accepts exactly `YYYY-MM-DDTHH:MM:SSZ`.
    fn from_str(s: &str) -> Result<Time> {
        let bad = || Error::malformed(format!("invalid time {s:?}: expected UTC like 2026-11-25T15:47:08Z"));
        if s.len() != 20 || !s.ends_with('Z') {
            return Err(bad());
        }
        let ts: Timestamp = s.parse().map_err(|_| bad())?;
        let t = Time(ts.as_second());
        if t.to_string() != s {
            return Err(bad());
        }
        Ok(t)
    }
}

/// A calendar day (a date of mailing), written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(jiff::civil::Date);

impl Day {
    /// The UTC day of an instant.
    pub fn of(t: Time) -> Day {
        Day(jiff::tz::Offset::UTC.to_datetime(t.timestamp()).date())
    }

    /// Days since 1970-01-01, as the compact indicium record carries them (until 2149).
    pub fn epoch_days(self) -> Option<u16> {
        u16::try_from(self.days_since(Day(jiff::civil::date(1970, 1, 1)))).ok()
    }

    /// The day `days` after 1970-01-01.
    pub fn from_epoch_days(days: u16) -> Day {
        Day(jiff::civil::date(1970, 1, 1)
            .checked_add(jiff::Span::new().days(i64::from(days)))
            .expect("65535 days after 1970 is a valid date"))
    }

    /// Whole days from `earlier` to `self` (negative when `earlier` is later).
    pub fn days_since(self, earlier: Day) -> i64 {
        i64::from((self.0 - earlier.0).get_days())
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Day {
    type Err = Error;

    /// Accepts exactly `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Day> {
        let day = s
            .parse::<jiff::civil::Date>()
            .ok()
            .map(Day)
            .filter(|d| d.to_string() == s)
            .ok_or_else(|| Error::malformed(format!("invalid date {s:?}: expected YYYY-MM-DD")))?;
        Ok(day)
    }
}

/// Parses a duration given on the command line: `10m`, `2h 30m`, `1 day`, or ISO 8601 `PT10M`.
pub fn parse_duration(s: &str) -> Result<SignedDuration> {
    let d: SignedDuration = s
        .parse()
        .or_else(|_| {
            s.parse::<jiff::Span>().and_then(|span| span.to_duration(jiff::SpanRelativeTo::days_are_24_hours()))
        })
        .map_err(|_| Error::usage(format!("invalid duration {s:?}: use e.g. 10m, 2h, 7 days")))?;
    if d.is_negative() {
        return Err(Error::usage(format!("invalid duration {s:?}: must not be negative")));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_one_accepted_form() {
        let t: Time = "2026-11-25T15:47:08Z".parse().unwrap();
        assert_eq!(t.to_string(), "2026-11-25T15:47:08Z");
        assert_eq!(t.compact(), "20261125T154708Z");
        for bad in ["2026-11-25T15:47:08+00:00", "2026-11-25T15:47:08.5Z", "2026-11-25", "2026-13-25T15:47:08Z"] {
            assert!(bad.parse::<Time>().is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_in_friendly_and_iso_forms() {
        assert_eq!(parse_duration("10m").unwrap().as_secs(), 600);
        assert_eq!(parse_duration("PT1H").unwrap().as_secs(), 3600);
        assert_eq!(parse_duration("7 days").unwrap().as_secs(), 7 * 86400);
        assert!(parse_duration("-5m").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
