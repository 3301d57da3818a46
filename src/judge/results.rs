//! The results of a run: every cell's verdict against its expectation, and what each image said.

use serde::{Deserialize, Serialize};

use crate::plan::expectation::Reading;
use crate::plan::{Expectation, KnownIssue};
use crate::judge::record::{ClientProcess, WireEvent};
use crate::plan::{ClientMode, Column, LeftOut, Transport};
use crate::judge::verdict::Verdict;
use crate::plan::Outcome;
use crate::plan::route::{split_key, DIRECT};

/// The JSON report's schema version; bump it when a field changes meaning. Version 2: a
/// column (`profile`) may be a command client; `columns`, `contract_version`, and per cell
/// `process` and `wire` were added. Version 3: the route axis; per cell `route`, and a
/// cell's `profile` (and `profiles`) name a column under a route other than `direct` as
/// `route/column`; the run's `routes`. Version 4: a cell's status `unproven` (was `unchecked`)
/// also stands for an OK that a hold short of the 5-minute mark could not prove, which was
/// `met`; the run's `harness_fault`, `left_behind` and `scheduling`. Version 5: the run's
/// `client_mode` (`runtime` or `process`). Version 1 to 4 files still read (every cell
/// `direct`, `unchecked` as `unproven`, the client mode `process`).
pub const SCHEMA_VERSION: u32 = 5;

/// How a cell's outcome compares with matrix.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The outcome is what matrix.toml expects.
    Met,
    /// The outcome differs: a regression or an improvement; a person must look.
    Changed,
    /// A tag matrix.toml does not list: no expectation.
    New,
    /// The hold was too short to observe what is expected (a quick look): an OK before the
    /// 5-minute mark proves nothing, whatever was expected. Never counted as met.
    #[serde(alias = "unchecked")]
    Unproven,
    /// The harness could not run the cell.
    Error,
}

impl Status {
    /// Compares a verdict with an expectation.
    pub fn of(expect: Option<&Expectation>, v: &Verdict, hold: std::time::Duration, tolerance: std::time::Duration) -> Status {
        if v.outcome == Outcome::Error {
            return Status::Error;
        }
        match expect {
            None => Status::New,
            // A session that survived a quick-look hold proves no OK and cannot contradict an
            // end expected later; anything that did end within the hold can.
            Some(e) if v.outcome == Outcome::Ok && !e.is_observable_within(hold) => Status::Unproven,
            Some(e) if meets(e, v, tolerance) => Status::Met,
            Some(_) => Status::Changed,
        }
    }
}

/// The time an expectation holds a verdict to, the way `diff --within` compares ends: an end
/// that answers a broker frame (a close after a PING) at the time of the frame it answered, so
/// the client's own reaction (stretched by an accelerated clock) is not the broker's, as read
/// (up to the upgrade span later, truly: `Reading`); an end before CONNACK at 0, whatever its
/// time (`EOF@0` means "before CONNACK", and its real time is already bounded by the set-up
/// timeout).
pub fn judged_time(v: &Verdict) -> Option<Reading> {
    if v.before_connack {
        Some(Reading::exact(std::time::Duration::ZERO))
    } else {
        v.broker_reading()
    }
}

/// Whether a verdict meets an expectation: its outcome, and its [`judged_time`] within
/// `tolerance` of the expected time. The one rule the run's statuses and `baseline` use.
pub fn meets(e: &Expectation, v: &Verdict, tolerance: std::time::Duration) -> bool {
    e.is_met_by(v.outcome, judged_time(v), tolerance)
}

/// On an accelerated clock: a verdict whose time alone keeps it from its expectation, by no
/// more than its broker was seen running late at some time during the session (`late`, broker
/// time, by the run's own PINGs: `client::lateness`). Such a time is not a measurement: the
/// ERROR verdict to report instead, saying so, or `None` when the verdict meets its
/// expectation, is already ERROR, or differs by more than that (a change a person must see).
/// Measured at ×30 with 8 copies on busy runs: PINGs read 8–21 s late (EOF@300 read at
/// 308–321 s, `changed`) from brokers whose PINGREQ answers had lagged only 1–3 s, while the
/// run's own PINGs to the same broker took up to 2 s of real time in the same session.
pub fn time_unmeasured(e: &Expectation, v: &Verdict, tolerance: std::time::Duration, late: std::time::Duration) -> Option<Verdict> {
    if v.outcome == Outcome::Error || meets(e, v, tolerance) {
        return None;
    }
    let widened = Verdict { broker_late: Some(v.broker_late.unwrap_or_default().max(late)), ..v.clone() };
    if !meets(e, &widened, tolerance) {
        return None;
    }
    let read = judged_time(v).map_or_else(|| "no time".to_string(), |r| crate::units::fmt_secs(r.at));
    let cause = format!(
        "{} at {read} where matrix.toml expects {e}: off by more than the broker's lag in this session's own reading allows, but within \
         how late the broker was seen running during the session ({}, by the run's own PINGs to it), so at this clock that time is \
         not a measurement (run at a lower speed, or with fewer copies); as read: {}",
        v.outcome,
        crate::units::fmt_secs(late),
        v.cause
    );
    Some(Verdict { outcome: Outcome::Error, cause, ..v.clone() })
}

/// One cell's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// The image tag.
    pub tag: String,
    /// The column's name (a built-in profile or a command client) under its route: plain on
    /// `direct`, `route/column` elsewhere (`nginx/paho-java-1.2.5`, see `plan::route`).
    pub profile: String,
    /// The route from client to broker (`direct`, `tls`, `nginx`, …).
    #[serde(default = "direct")]
    pub route: String,
    /// The expectation as written in matrix.toml (`EOF@300`), if any.
    pub expected: Option<String>,
    /// How the outcome compares with it.
    pub status: Status,
    /// The verdict.
    pub verdict: Verdict,
    /// The MQTT client identifier used.
    pub client_id: Option<String>,
    /// Wall-clock start, RFC 3339.
    pub started_at: String,
    /// Wall-clock end, RFC 3339.
    pub ended_at: String,
    /// A command client's process: how it ended, its words, its library.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ClientProcess>,
    /// What the proxy saw on the wire, for a command client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wire: Vec<WireEvent>,
}

impl CellResult {
    /// The cell's stable name, `tag/profile` (`bookworm/nginx/rfc6455` on a route).
    pub fn id(&self) -> String {
        format!("{}/{}", self.tag, self.profile)
    }

    /// The column's own name, without its route.
    pub fn column(&self) -> &str {
        split_key(&self.profile).1
    }
}

fn direct() -> String {
    DIRECT.to_string()
}

fn only_direct() -> Vec<String> {
    vec![direct()]
}

/// What the image itself records, read through the Docker API.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageFacts {
    /// `LWS_VERSION` from the image's environment, where it records one.
    pub lws_version: Option<String>,
    /// `VERSION` from the image's environment.
    pub version: Option<String>,
    /// The repository digest (`repo@sha256:…`), or the image id (`sha256:…`) where it has none.
    pub digest: Option<String>,
}

/// Why a tag's broker (or one of its proxies) could not be had, in parts, so a report can say it once for the tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerFailure {
    /// What went wrong, without the image name or the log lines:
    /// `broker not ready within 60 s (…)`, `the broker container exited with status 1 …`.
    pub reason: String,
    /// The container's exit status, when it exited before it answered.
    #[serde(default)]
    pub exit_status: Option<i64>,
    /// The last lines the broker logged.
    #[serde(default)]
    pub log_tail: Vec<String>,
}

/// How a broker proved its accelerated clock: `$SYS/broker/uptime` against real time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockFacts {
    /// The C library of the image, which picked the build of the time library.
    pub libc: String,
    /// The speed asked.
    pub speed: u32,
    /// Broker seconds per real second, as measured.
    pub ratio: f64,
    /// The broker time the measurement spanned, in seconds.
    pub broker_secs: f64,
    /// The real time it spanned, in seconds.
    pub real_secs: f64,
}

/// What one tag's broker said about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TagResult {
    /// The image tag.
    pub tag: String,
    /// The payload of `$SYS/broker/version`, as the broker reported it.
    pub broker_version: Option<String>,
    /// What the image records (LWS_VERSION, VERSION, digest).
    pub image: ImageFacts,
    /// Seconds from asking for the container (pull included, when there was one) to the
    /// moment every listener the run uses answered a CONNECT with a CONNACK.
    pub startup_secs: Option<f64>,
    /// Whether the image had to be pulled for this run (`None` when the broker could not be had).
    #[serde(default)]
    pub pulled: Option<bool>,
    /// Seconds the pull took, when it was pulled.
    #[serde(default)]
    pub pull_secs: Option<f64>,
    /// Why the broker could not be had, if it could not: the whole text, image and log lines included.
    pub error: Option<String>,
    /// The same, in parts (absent in results written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<BrokerFailure>,
    /// On an accelerated clock: how the broker's speed was proven before its cells counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockFacts>,
    /// The digest matrix.toml recorded for this tag at its last baseline, if any (`sha256:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_digest: Option<String>,
    /// The reverse proxies in front of this tag's broker, one per proxy the run's routes
    /// name (absent in results from before routes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxies: Vec<ProxyResult>,
}

/// One reverse proxy in front of one tag's broker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxyResult {
    /// Which proxy (`nginx`), as routes name it.
    pub proxy: String,
    /// The proxy and its Debian package's version (`nginx 1.22.1-9`), when known.
    pub label: String,
    /// Seconds from asking for its container to the broker's CONNACK through it.
    #[serde(default)]
    pub startup_secs: Option<f64>,
    /// Why it could not be had, if it could not: said once for the (tag, proxy), its cells
    /// only point at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<BrokerFailure>,
}

impl TagResult {
    /// The digest changed since the baseline: `(recorded, now)`, both as `sha256:…`.
    pub fn digest_change(&self) -> Option<(&str, &str)> {
        let old = self.baseline_digest.as_deref()?;
        let new = content_digest(self.image.digest.as_deref()?);
        (old != new).then_some((old, new))
    }
}

/// The content part of a digest: `sha256:…` from `repo@sha256:…`, or the text itself.
pub fn content_digest(digest: &str) -> &str {
    digest.rsplit_once('@').map_or(digest, |(_, d)| d)
}

/// What a column is, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// Its name.
    pub name: String,
    /// `profile` (built in) or `command`.
    pub kind: String,
    /// A command column's argv.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// How it reaches the broker.
    pub transport: Transport,
    /// The library and version a command client reported (its `client:` line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The artefact a command client ran, its hash and name, as its set-up recorded it
    /// (`sha256:… paho-mqtt==2.2.0 (PyPI, …)`), beside the version in `library`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artefact: Option<String>,
    /// It ran on real time in an accelerated run (a client that cannot follow the time library,
    /// given its hold ÷ speed): its own reaction times count ×speed in broker time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub real_clock: bool,
}

impl ColumnInfo {
    /// The description of a plan's column; the library is filled in from its cells.
    pub fn of(column: &Column) -> ColumnInfo {
        match column {
            Column::Under { column: base, name, .. } => ColumnInfo { name: name.clone(), ..ColumnInfo::of(base) },
            Column::Builtin(p) => ColumnInfo {
                name: p.name().to_string(),
                kind: "profile".to_string(),
                command: None,
                transport: p.transport(),
                library: None,
                description: None,
                artefact: None,
                real_clock: false,
            },
            Column::Command(c) => ColumnInfo {
                name: c.name.clone(),
                kind: "command".to_string(),
                command: Some(c.command.clone()),
                transport: c.transport,
                library: None,
                description: c.description.clone(),
                artefact: None,
                real_clock: false,
            },
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The tool's version.
    pub tool_version: String,
    /// The run id on the containers' labels.
    pub run_id: String,
    /// The image set.
    pub set: String,
    /// The image repository.
    pub image: String,
    /// The hold in seconds.
    pub hold_secs: f64,
    /// The MQTT keepalive in seconds.
    pub keepalive_secs: f64,
    /// Whether the hold passed the 5-minute mark.
    pub five_minute_mark_reached: bool,
    /// The columns' names under their routes (as cells' `profile`), in order: route by route.
    pub profiles: Vec<String>,
    /// The routes that ran, in order (`["direct"]` in files from before routes).
    #[serde(default = "only_direct")]
    pub routes: Vec<String>,
    /// What each column is: a built-in profile or a command, and the library it reported.
    #[serde(default)]
    pub columns: Vec<ColumnInfo>,
    /// The command-client contract the command columns ran under.
    #[serde(default)]
    pub contract_version: Option<u32>,
    /// How many times faster than real time the brokers' and clients' clocks ran (1: real
    /// time). Every time in the report is broker time.
    #[serde(default = "real_time")]
    pub speed: u32,
    /// Columns of the set left out of this run, with why (e.g. a client that cannot run on
    /// an accelerated clock).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<LeftOut>,
    /// The shard this result covers (`2/3`), if the run was sharded.
    pub shard: Option<String>,
    /// How many copies of each tag ran (rows `TAG#K`); 1 for the set as it is.
    #[serde(default = "one_copy")]
    pub copies: u32,
    /// How the command columns were started: one runtime per (column, version), or a process
    /// per cell (every run before schema 5).
    #[serde(default = "ClientMode::before_modes")]
    pub client_mode: ClientMode,
    /// Per tag, in order.
    pub tags: Vec<TagResult>,
    /// Every cell, tag-major.
    pub cells: Vec<CellResult>,
    /// Wall-clock start, RFC 3339.
    pub started_at: String,
    /// Wall-clock end, RFC 3339.
    pub ended_at: String,
    /// Wall time of the whole run in seconds.
    pub wall_secs: f64,
    /// Upstream issues matrix.toml names behind known failure patterns, for the summary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_issues: Vec<KnownIssue>,
    /// Why the harness itself could not finish the run, e.g. the Docker engine stopped
    /// answering: the run's outcomes cannot be trusted, and its exit status says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness_fault: Option<String>,
    /// Which scheduling measures of the harness were in effect (`engine::priority`): the
    /// containers' control group, the harness's niceness, the clients'; each says why not
    /// where the machine refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduling: Vec<String>,
    /// What of the run could not be removed at its end (the engine did not answer), and the
    /// command that removes it; its reaper and the next run's start remove it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_behind: Option<String>,
}

fn real_time() -> u32 {
    1
}

fn one_copy() -> u32 {
    1
}

impl RunResult {
    /// `accelerated ×10` for an accelerated run, nothing for a real-time one.
    pub fn clock_words(&self) -> Option<String> {
        (self.speed > 1).then(|| format!("accelerated ×{}", self.speed))
    }

    /// How late the brokers ran, from their slowest PINGREQ answer in each cell
    /// ([`Verdict::broker_lag`]): the median and the longest, when any cell saw one.
    pub fn broker_lag(&self) -> Option<(std::time::Duration, std::time::Duration)> {
        median_and_longest(self.cells.iter().filter_map(|c| c.verdict.broker_lag).collect())
    }

    /// How late the brokers ran from their last PING to each cell's end, as the run's own
    /// connections timed it ([`Verdict::broker_late`]): the median and the longest.
    pub fn broker_late(&self) -> Option<(std::time::Duration, std::time::Duration)> {
        median_and_longest(self.cells.iter().filter_map(|c| c.verdict.broker_late).collect())
    }

    /// The cells whose outcome differs from matrix.toml.
    pub fn changed(&self) -> Vec<&CellResult> {
        self.cells.iter().filter(|c| c.status == Status::Changed).collect()
    }

    /// The cells the harness could not run.
    pub fn errors(&self) -> Vec<&CellResult> {
        self.cells.iter().filter(|c| c.status == Status::Error).collect()
    }

    /// Whether more than one route ran, so that reports group their columns by route.
    pub fn has_routes(&self) -> bool {
        self.routes.len() > 1 || self.routes.iter().any(|r| r != DIRECT)
    }

    /// The cell for (tag, column under its route, as in `profiles`).
    pub fn cell(&self, tag: &str, profile: &str) -> Option<&CellResult> {
        self.cells.iter().find(|c| c.tag == tag && c.profile == profile)
    }
}

/// The median and the longest of `lags`, when there are any.
fn median_and_longest(mut lags: Vec<std::time::Duration>) -> Option<(std::time::Duration, std::time::Duration)> {
    lags.sort();
    Some((*lags.get(lags.len() / 2)?, *lags.last()?))
}

#[cfg(test)]
mod judged_time_tests {
    use std::time::Duration;

    use super::*;
    use crate::judge::verdict;

    fn eof(at: f64) -> Verdict {
        Verdict { outcome: Outcome::Eof, at: Some(Duration::from_secs_f64(at)), ..verdict::error("") }
    }

    #[test]
    fn a_time_off_by_no_more_than_the_broker_ran_late_in_the_session_is_error_and_an_outcome_or_a_farther_time_still_a_change() {
        // ×30: Paho Java's close answered a PING read at 311.1 s, the broker's PINGREQ answers
        // 3 s late, the run's own PINGs to it up to 60 s late (2 s real) during the session.
        let want = Expectation::parse("EOF@300").expect("an expectation");
        let five = Duration::from_secs(5);
        let v = Verdict { answered: Some(Duration::from_secs_f64(311.1)), broker_lag: Some(Duration::from_secs(3)), ..eof(311.2) };
        assert!(!meets(&want, &v, five));
        let error = time_unmeasured(&want, &v, five, Duration::from_secs(60)).expect("not a measurement");
        assert_eq!(error.outcome, Outcome::Error);
        assert!(error.cause.starts_with("EOF at 311.1 s where matrix.toml expects EOF@300") && error.cause.contains("not a measurement"), "{}", error.cause);
        // A broker seen running on time leaves the change a change.
        assert_eq!(time_unmeasured(&want, &v, five, Duration::from_millis(500)), None);
        // So does another outcome, however late the broker ran, and a verdict that meets.
        let ok = Verdict { outcome: Outcome::Ok, ..eof(330.0) };
        assert_eq!(time_unmeasured(&want, &ok, five, Duration::from_secs(60)), None);
        assert_eq!(time_unmeasured(&want, &eof(300.5), five, Duration::from_secs(60)), None);
    }

    #[test]
    fn a_close_that_answers_the_brokers_ping_is_held_to_the_pings_time_not_the_clients_reaction() {
        // ×30: the real Paho Java closed 5.6 s of broker time (0.19 s real) after the PING.
        let v = Verdict { answered: Some(Duration::from_secs_f64(300.1)), ..eof(305.7) };
        let want = Expectation::parse("EOF@300").expect("an expectation");
        assert_eq!(Status::of(Some(&want), &v, Duration::from_secs(330), Duration::from_secs(5)), Status::Met);
        // The same end, had the client not answered a frame, is a change.
        assert_eq!(Status::of(Some(&want), &eof(305.7), Duration::from_secs(330), Duration::from_secs(5)), Status::Changed);
    }

    #[test]
    fn an_end_read_early_by_a_late_101_meets_its_expectation_within_its_upgrade_span_and_no_further() {
        // x30: the 101 read 0.2 s (real) after the request, the PING then 6 s of broker time early.
        let want = Expectation::parse("EOF@300").expect("an expectation");
        let (hold, tolerance) = (Duration::from_secs(330), Duration::from_secs(5));
        let v = Verdict { upgrade_span: Some(Duration::from_secs(6)), ..eof(294.0) };
        assert_eq!(Status::of(Some(&want), &v, hold, tolerance), Status::Met);
        assert_eq!(Status::of(Some(&want), &eof(294.0), hold, tolerance), Status::Changed, "no span, no allowance");
        // The span only allows later: read 306 s, it cannot have been 300 s.
        let late = Verdict { upgrade_span: Some(Duration::from_secs(6)), ..eof(306.0) };
        assert_eq!(Status::of(Some(&want), &late, hold, tolerance), Status::Changed);
    }

    #[test]
    fn an_end_read_late_from_a_broker_that_lagged_meets_its_expectation_within_that_lag_and_no_further() {
        // ×30, 12 copies: libwebsockets' hang-up, due at 310 s, read at 316.9 s from a broker that
        // took up to 6.6 s to answer a PINGREQ.
        let want = Expectation::parse("EOF@310").expect("an expectation");
        let (hold, tolerance) = (Duration::from_secs(330), Duration::from_secs(5));
        let v = Verdict { broker_lag: Some(Duration::from_secs_f64(6.6)), ..eof(316.9) };
        assert_eq!(Status::of(Some(&want), &v, hold, tolerance), Status::Met);
        assert_eq!(Status::of(Some(&want), &eof(316.9), hold, tolerance), Status::Changed, "no lag, no allowance");
        // The lag only allows earlier: read 300 s, the broker cannot have meant 310 s.
        let early = Verdict { broker_lag: Some(Duration::from_secs_f64(6.6)), ..eof(300.0) };
        assert_eq!(Status::of(Some(&want), &early, hold, tolerance), Status::Changed);
        // A lag too short to cover it.
        let v = Verdict { broker_lag: Some(Duration::from_secs(1)), ..eof(316.9) };
        assert_eq!(Status::of(Some(&want), &v, hold, tolerance), Status::Changed);
        // Lateness timed by the run's own connection counts the same, the longer of the two.
        let timed = Verdict { broker_lag: Some(Duration::from_secs(1)), broker_late: Some(Duration::from_secs_f64(6.6)), ..eof(316.9) };
        assert_eq!(Status::of(Some(&want), &timed, hold, tolerance), Status::Met);
    }

    #[test]
    fn an_end_before_connack_meets_eof_at_0_whatever_its_broker_time() {
        // ×30: MQTT.js's EOF before CONNACK at 9–16 s of broker time (0.3–0.5 s real).
        let v = Verdict { before_connack: true, ..eof(16.0) };
        let want = Expectation::parse("EOF@0").expect("an expectation");
        assert_eq!(Status::of(Some(&want), &v, Duration::from_secs(330), Duration::from_secs(5)), Status::Met);
        let late = Expectation::parse("EOF@300").expect("an expectation");
        assert_eq!(Status::of(Some(&late), &v, Duration::from_secs(330), Duration::from_secs(5)), Status::Changed);
    }
}
