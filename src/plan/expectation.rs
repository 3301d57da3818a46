//! What a cell may be expected to do: the outcomes, and when (`EOF@300`).

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
}

impl Expectation {
    /// Parses `OK`, `EOF@300`, `CLOSED@310.5` and so on.
    pub fn parse(text: &str) -> Result<Expectation, String> {
        let (kind, at) = match text.split_once('@') {
            Some((k, t)) => (k, Some(t)),
            None => (text, None),
        };
        let outcome = Outcome::from_name(kind.trim())
            .ok_or_else(|| format!("{text:?} is not an expectation; write OK, EOF, CLOSED, TIMEOUT, REFUSED or ERROR, optionally with @seconds as in \"EOF@300\""))?;
        let at = at
            .map(|t| {
                t.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| format!("{text:?}: the time after @ must be seconds, as in \"EOF@300\""))
            })
            .transpose()?;
        Ok(Expectation { outcome, at })
    }

    /// Whether an observed outcome, ended `at`, meets this expectation, with `tolerance` on the time.
    pub fn is_met_by(&self, outcome: Outcome, at: Option<Duration>, tolerance: Duration) -> bool {
        if outcome != self.outcome {
            return false;
        }
        match (self.at, at) {
            (None, _) => true,
            (Some(want), Some(got)) => want.abs_diff(got) <= tolerance,
            (Some(_), None) => false,
        }
    }

    /// Whether a run with this hold can observe the expectation at all.
    pub fn is_observable_within(&self, hold: Duration) -> bool {
        match self.outcome {
            Outcome::Ok => hold > FIVE_MINUTE_MARK,
            _ => self.at.is_none_or(|at| at < hold),
        }
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "{}@{}", self.outcome, fmt_at(at)),
            None => write!(f, "{}", self.outcome),
        }
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
        assert_eq!(Expectation::parse("OK"), Ok(Expectation { outcome: Outcome::Ok, at: None }));
        assert_eq!(
            Expectation::parse("EOF@310"),
            Ok(Expectation { outcome: Outcome::Eof, at: Some(Duration::from_secs(310)) })
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
}
