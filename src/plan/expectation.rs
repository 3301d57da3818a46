//! What a cell may be expected to do: the outcomes, and when (`EOF@300`); or either of two
//! (`EOF|OK`), for a cell whose outcome is a race matrix.toml documents (a proxy's timeout
//! against the keepalive's PINGRESP).
//!
//! `ERROR` is an outcome but never an expectation: it is the harness's failure, not a
//! broker's behaviour, so no cell can be expected to have it (docs/src/exit-codes.md).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plan::timing::FIVE_MINUTE_MARK;

/// The kinds of outcome a cell can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    /// The session survived the hold and proved it with a round trip.
    Ok,
    /// The connection ended without a WebSocket close from the broker (including when the
    /// emulated client itself gave up, as Paho Java does).
    Eof,
    /// The broker sent a WebSocket close frame.
    Closed,
    /// No PINGRESP in time (`client::core` decides when), or the final round trip never came back.
    Timeout,
    /// The broker refused the WebSocket upgrade or the CONNECT.
    Refused,
    /// The harness could not run the cell.
    Error,
}

impl Outcome {
    /// The outcome's name as matrix.toml and the reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "OK",
            Outcome::Eof => "EOF",
            Outcome::Closed => "CLOSED",
            Outcome::Timeout => "TIMEOUT",
            Outcome::Refused => "REFUSED",
            Outcome::Error => "ERROR",
        }
    }

    /// Looks an outcome up by name.
    pub fn from_name(name: &str) -> Option<Outcome> {
        [Outcome::Ok, Outcome::Eof, Outcome::Closed, Outcome::Timeout, Outcome::Refused, Outcome::Error]
            .into_iter()
            .find(|o| o.name() == name)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a cell is expected to do: an outcome, and for ends, roughly when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expectation {
    /// The expected outcome.
    pub outcome: Outcome,
    /// When the session should end, after CONNACK (`EOF@300`).
    pub at: Option<Duration>,
    /// The other outcome the cell may have instead (`EOF|OK`), and when.
    pub or: Option<(Outcome, Option<Duration>)>,
}

impl Expectation {
    /// Parses `OK`, `EOF@300`, `CLOSED@310.5` and so on, or two of them as `EOF|OK`.
    pub fn parse(text: &str) -> Result<Expectation, String> {
        if let Some((a, b)) = text.split_once('|') {
            let first = Expectation::parse(a.trim())?;
            let second = Expectation::parse(b.trim())?;
            if first.or.is_some() || second.or.is_some() {
                return Err(format!("{text:?}: write at most two outcomes, as in \"EOF|OK\""));
            }
            if (first.outcome, first.at) == (second.outcome, second.at) {
                return Err(format!("{text:?}: the two outcomes are the same; write it once"));
            }
            return Ok(Expectation { or: Some((second.outcome, second.at)), ..first });
        }
        let (kind, at) = match text.split_once('@') {
            Some((k, t)) => (k, Some(t)),
            None => (text, None),
        };
        let outcome = Outcome::from_name(kind.trim())
            .ok_or_else(|| format!("{text:?} is not an expectation; write OK, EOF, CLOSED, TIMEOUT or REFUSED, optionally with @seconds as in \"EOF@300\""))?;
        if outcome == Outcome::Error {
            return Err(format!("{text:?}: ERROR is not an expectation: it says the harness could not run the cell, which nothing can be expected to do; \
                                a broker that refuses the upgrade or CONNECT is REFUSED, one that never answers is TIMEOUT; \
                                a tag whose broker cannot start at all belongs out of the set's tags"));
        }
        let at = at
            .map(|t| {
                t.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| format!("{text:?}: the time after @ must be seconds, as in \"EOF@300\""))
            })
            .transpose()?;
        Ok(Expectation { outcome, at, or: None })
    }

    /// Each outcome it allows, with its time: one, or two for `EOF|OK`.
    fn each(&self) -> impl Iterator<Item = (Outcome, Option<Duration>)> {
        std::iter::once((self.outcome, self.at)).chain(self.or)
    }

    /// Whether an observed outcome, ended `at` (as read), meets this expectation, with
    /// `tolerance` on the time.
    pub fn is_met_by(&self, outcome: Outcome, at: Option<Reading>, tolerance: Duration) -> bool {
        self.each().any(|(want, when)| {
            want == outcome
                && match (when, at) {
                    (None, _) => true,
                    (Some(want), Some(got)) => got.is_within(want, tolerance),
                    (Some(_), None) => false,
                }
        })
    }

    /// Whether a run with this hold can observe the expectation at all.
    pub fn is_observable_within(&self, hold: Duration) -> bool {
        self.each().all(|(outcome, at)| match outcome {
            Outcome::Ok => hold > FIVE_MINUTE_MARK,
            _ => at.is_none_or(|at| at < hold),
        })
    }
}

/// A time as the harness read it, and how much later it may truly have been. Over WebSocket a
/// cell's times count from the broker's 101 as the proxy read it, and the broker starts its
/// timers between the client's upgrade request and that 101 (the upgrade span): libwebsockets'
/// PING came 300.00 s or more after the request in every cell of six runs at ×10 and ×30 (3,000
/// cells), yet as early as 298.15 s after the 101, which a busy machine reads late. The true
/// time lies in `at ..= at + span`; `span` is zero where the origin is exact.
///
/// A broker that could not run acts late on its own clock: one that took `lag` to answer a
/// PINGREQ (which it answers at once when it runs) may have acted that much after its timers
/// said, so the time it meant lies down to `at - lag`. Measured at ×30 with 12 copies on 2
/// cores: PINGREQs answered up to 33 s (1.1 s real) late, and libwebsockets' 310 s hang-ups
/// read at 315-335 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// The time as read, counted from the session's time zero.
    pub at: Duration,
    /// How much later it may truly have been.
    pub span: Duration,
    /// How much earlier the broker may have meant it.
    pub lag: Duration,
}

impl Reading {
    /// A time with no doubt about its origin.
    pub fn exact(at: Duration) -> Reading {
        Reading { at, span: Duration::ZERO, lag: Duration::ZERO }
    }

    /// The earliest the broker may have meant it.
    pub fn earliest(&self) -> Duration {
        self.at.saturating_sub(self.lag)
    }

    /// The latest the true time may have been.
    pub fn latest(&self) -> Duration {
        self.at + self.span
    }

    /// Whether `want` comes within `tolerance` of the times this reading allows.
    pub fn is_within(&self, want: Duration, tolerance: Duration) -> bool {
        want + tolerance >= self.earliest() && want <= self.latest() + tolerance
    }

    /// Whether two readings may be the same time, give or take `within`: the times they allow
    /// come that close.
    pub fn agrees_with(&self, other: &Reading, within: Duration) -> bool {
        other.earliest() <= self.latest() + within && self.earliest() <= other.latest() + within
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = |(outcome, at): (Outcome, Option<Duration>)| match at {
            Some(at) => format!("{outcome}@{}", fmt_at(at)),
            None => outcome.to_string(),
        };
        f.write_str(&self.each().map(one).collect::<Vec<_>>().join("|"))
    }
}

fn fmt_at(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_parse_with_and_without_a_time() {
        assert_eq!(Expectation::parse("OK"), Ok(Expectation { outcome: Outcome::Ok, at: None, or: None }));
        assert_eq!(
            Expectation::parse("EOF@310"),
            Ok(Expectation { outcome: Outcome::Eof, at: Some(Duration::from_secs(310)), or: None })
        );
        assert!(Expectation::parse("EOF@soon").is_err());
        assert!(Expectation::parse("FINE").is_err());
        assert_eq!(Expectation::parse("EOF@300").expect("valid").to_string(), "EOF@300");
    }

    #[test]
    fn a_late_end_cannot_be_observed_in_a_short_hold() {
        let e = Expectation::parse("EOF@300").expect("valid");
        assert!(!e.is_observable_within(Duration::from_secs(20)));
        assert!(e.is_observable_within(Duration::from_secs(330)));
    }

    #[test]
    fn either_of_two_outcomes_is_met_by_each_and_by_nothing_else() {
        let e = Expectation::parse("EOF|OK").expect("valid");
        assert_eq!(e.to_string(), "EOF|OK");
        let t = Duration::from_secs(5);
        assert!(e.is_met_by(Outcome::Eof, Some(Reading::exact(Duration::from_secs(60))), t));
        assert!(e.is_met_by(Outcome::Ok, Some(Reading::exact(Duration::from_secs(330))), t));
        assert!(!e.is_met_by(Outcome::Closed, Some(Reading::exact(Duration::from_secs(60))), t));
        assert!(!e.is_met_by(Outcome::Error, None, t));
        let timed = Expectation::parse("EOF@60 | EOF@300").expect("valid");
        assert!(timed.is_met_by(Outcome::Eof, Some(Reading::exact(Duration::from_secs(299))), t));
        assert!(!timed.is_met_by(Outcome::Eof, Some(Reading::exact(Duration::from_secs(120))), t));
        assert!(Expectation::parse("EOF|OK|CLOSED").is_err());
        assert!(Expectation::parse("OK|OK").is_err());
        assert!(Expectation::parse("EOF|FINE").is_err());
        assert!(!e.is_observable_within(Duration::from_secs(20)), "a quick look cannot tell an OK");
    }

    #[test]
    fn error_is_refused_as_an_expectation_with_what_to_write_instead() {
        for text in ["ERROR", "EOF|ERROR", "ERROR@5"] {
            let why = Expectation::parse(text).expect_err("ERROR is no expectation");
            assert!(why.contains("ERROR is not an expectation") && why.contains("REFUSED") && why.contains("TIMEOUT"), "{why}");
        }
    }
}
