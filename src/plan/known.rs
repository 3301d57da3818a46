//! Known upstream issues: matrix.toml names the bug behind a column's failure pattern, so a
//! report can say in one line whether a failure is known and whether a fixed release exists.
//!
//! ```toml
//! [[known_issues]]
//! issue = "eclipse-mosquitto/mosquitto#1974"      # owner/repository#number on GitHub
//! title = "fragmented WebSocket packets get a wrong remaining length"
//! columns = ["mqttjs"]                            # the columns whose failures it explains
//! outcome = "EOF@0"                               # which failures: an expectation, as in [sets.*.expect]
//! versions = ["2.0.0", "2.0.5"]                   # optional: broker versions it applies to, inclusive
//! fixed_in = "Mosquitto 2.0.6"                    # optional: the release that fixes it
//! state = "closed 2021-01"                        # optional: anything else a reader should know
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plan::version::Version;
use crate::plan::expectation::Reading;
use crate::plan::{Expectation, Outcome};

/// One upstream issue and the failures it explains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownIssue {
    /// `owner/repository#number` on GitHub.
    pub issue: String,
    /// The issue's title, or what it is about, in a few words.
    pub title: String,
    /// The columns whose failures it explains; a client's name stands for each of its
    /// versions (`mqttjs` for `mqttjs@5.16.0`), `client@version` for that version only.
    pub columns: Vec<String>,
    /// The failures it explains, written as an expectation: `EOF@300`, `EOF@0`, `CLOSED`.
    pub outcome: String,
    /// The broker versions it applies to, first and last inclusive; none: every version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<[String; 2]>,
    /// The release that fixes it, if one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_in: Option<String>,
    /// Anything else a reader should know (open since when, related reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// How far an end's time may stray from `outcome`'s (matrix.toml's `tolerance`).
    #[serde(with = "crate::units::secs")]
    pub tolerance: Duration,
}

/// Splits `owner/repository#number`, or says what is wrong with it.
pub fn parse_reference(text: &str) -> Result<(&str, &str, u64), String> {
    let wrong = || format!("issue {text:?} is not owner/repository#number, as in \"eclipse-mosquitto/mosquitto#1974\"");
    let (path, number) = text.split_once('#').ok_or_else(wrong)?;
    let (owner, repo) = path.split_once('/').ok_or_else(wrong)?;
    let name_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let number = number.parse::<u64>().map_err(|_| wrong())?;
    if !name_ok(owner) || !name_ok(repo) {
        return Err(wrong());
    }
    Ok((owner, repo, number))
}

impl KnownIssue {
    /// The issue's web page.
    pub fn url(&self) -> String {
        match parse_reference(&self.issue) {
            Ok((owner, repo, n)) => format!("https://github.com/{owner}/{repo}/issues/{n}"),
            Err(_) => String::new(),
        }
    }

    /// Whether it explains a cell of `column` that ended with `outcome` `at`, on a broker
    /// reporting `broker` (its version, when one is known).
    pub fn explains(&self, column: &str, outcome: Outcome, at: Option<Duration>, broker: Option<Version>) -> bool {
        let named = |c: &String| c == column || (!c.contains('@') && column.split_once('@').is_some_and(|(client, _)| client == c));
        if !self.columns.iter().any(named) || matches!(outcome, Outcome::Ok | Outcome::Error) {
            return false;
        }
        let Ok(pattern) = Expectation::parse(&self.outcome) else { return false };
        if !pattern.is_met_by(outcome, at.map(Reading::exact), self.tolerance) {
            return false;
        }
        match &self.versions {
            None => true,
            Some([first, last]) => match (broker, Version::find(first), Version::find(last)) {
                (Some(v), Some(a), Some(b)) => a <= v && v <= b,
                _ => false,
            },
        }
    }

    /// `mosquitto#1974`-style words for the issue with its state: `eclipse-mosquitto/mosquitto#1974
    /// (fixed in Mosquitto 2.0.6)`, `eclipse-paho/paho.mqtt.java#912 (open since 2022-02)`.
    pub fn words(&self) -> String {
        let mut notes: Vec<String> = Vec::new();
        if let Some(f) = &self.fixed_in {
            notes.push(format!("fixed in {f}"));
        }
        if let Some(s) = &self.state {
            notes.push(s.clone());
        }
        let notes = if notes.is_empty() { String::new() } else { format!("; {}", notes.join("; ")) };
        format!("known upstream: {} \"{}\"{notes}", self.issue, self.title)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(outcome: &str, versions: Option<[&str; 2]>) -> KnownIssue {
        KnownIssue {
            issue: "eclipse-mosquitto/mosquitto#1974".into(),
            title: "t".into(),
            columns: vec!["mqttjs".into()],
            outcome: outcome.into(),
            versions: versions.map(|[a, b]| [a.to_string(), b.to_string()]),
            fixed_in: None,
            state: None,
            tolerance: Duration::from_secs(5),
        }
    }

    #[test]
    fn an_issue_explains_only_its_columns_outcome_time_and_versions() {
        let i = issue("EOF@0", Some(["2.0.0", "2.0.5"]));
        let v = Version::find;
        assert!(i.explains("mqttjs", Outcome::Eof, Some(Duration::ZERO), v("2.0.5")));
        assert!(!i.explains("mqttjs", Outcome::Eof, Some(Duration::ZERO), v("2.0.6")));
        assert!(!i.explains("mqttjs", Outcome::Eof, Some(Duration::ZERO), None));
        assert!(!i.explains("mqttjs", Outcome::Eof, Some(Duration::from_secs(300)), v("2.0.1")));
        assert!(!i.explains("paho-c", Outcome::Eof, Some(Duration::ZERO), v("2.0.1")));
        assert!(i.explains("mqttjs@5.16.0", Outcome::Eof, Some(Duration::ZERO), v("2.0.1")), "a client's name stands for its versions");
        assert!(!i.explains("mqttjs-fork@1.0", Outcome::Eof, Some(Duration::ZERO), v("2.0.1")));
        assert!(!i.explains("mqttjs", Outcome::Closed, Some(Duration::ZERO), v("2.0.1")));
        assert!(issue("EOF@300", None).explains("mqttjs", Outcome::Eof, Some(Duration::from_secs_f64(299.7)), None));
    }

    #[test]
    fn a_reference_is_owner_repository_and_number_and_links_to_its_page() {
        assert_eq!(parse_reference("eclipse-paho/paho.mqtt.java#912"), Ok(("eclipse-paho", "paho.mqtt.java", 912)));
        assert!(parse_reference("paho#912").is_err());
        assert!(parse_reference("a/b#x").is_err());
        assert!(parse_reference("a b/c#1").is_err());
        assert_eq!(issue("EOF", None).url(), "https://github.com/eclipse-mosquitto/mosquitto/issues/1974");
    }
}
