//! The answer before the grid: per column, on which tags it holds and on which it drops, why
//! in one sentence, which upstream issue that is, and what to do on each release line.
//!
//! Derived from a run's results alone (pure): tags in release order, grouped into ranges;
//! cells grouped by what happened; matrix.toml's `[[known_issues]]` matched to the groups.

use std::time::Duration;

use crate::judge::record::{Direction, Party};
use crate::judge::results::{CellResult, RunResult, Status, TagResult};
use crate::plan::{KnownIssue, Outcome, Profile, Version};
pub use crate::report::tag_order::{ranges, release_order};
use crate::plan::route::split_key;
use crate::wire::frame::opcode;

/// The whole summary of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The columns that hold on every tag of the run, in column order.
    pub all_hold: Vec<String>,
    /// Every other column, in column order.
    pub columns: Vec<ColumnSummary>,
    /// The tags of the run, in release order, as one range text (`1.6.9–2.1.2-alpine`).
    pub tags: String,
    /// Tags whose broker could not be had, as ranges: said once here, not once per column.
    pub not_run: String,
    /// Where a client's versions split into ones that drop and ones that hold
    /// (`crate::report::versions`): `paho-python on bookworm: holds from 2.2.0 on; …`.
    pub versions: Vec<String>,
    /// Client versions matrix.toml has no expectation for, each in one sentence
    /// (`crate::report::versions::new_client_releases`): `new client release: paho-mqtt 2.2.0: holds on …`.
    pub new_releases: Vec<String>,
}

/// One column that does not hold everywhere.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSummary {
    /// The column's name.
    pub column: String,
    /// The tags it holds on, as ranges (`1.6.9–1.6.14, 2.0.0–2.0.10`); empty: none.
    pub holds: String,
    /// Of those, the tags where matrix.toml expects it to fail (an improvement to look at).
    pub holds_unexpectedly: String,
    /// What went wrong, one group per kind of failure.
    pub failures: Vec<FailureGroup>,
    /// What to do, one sentence per failing stretch of a release line.
    pub advice: Vec<String>,
    /// An earlier column whose advice is the same, word for word: say it once.
    pub advice_as: Option<String>,
}

/// Cells of one column that failed the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureGroup {
    /// What happened, as a verb phrase: `drops at 300 s`, `drops before CONNACK`.
    pub what: String,
    /// The tags, as ranges.
    pub tags: String,
    /// Why, in a few words.
    pub why: String,
    /// The evidence: the first such cell's cause, `2.0.11: broker sent WebSocket PING …`.
    pub example: String,
    /// How many of its cells differ from matrix.toml.
    pub unexpected: usize,
    /// The upstream issue matrix.toml names for it, if any.
    pub known: Option<KnownIssue>,
}

impl ColumnSummary {
    /// The column in one sentence: `paho-java-1.2.5: holds on …; drops at 300 s on …: why.`
    pub fn sentence(&self) -> String {
        let mut parts = Vec::new();
        if !self.holds.is_empty() {
            parts.push(format!("holds on {}", self.holds));
        }
        if !self.holds_unexpectedly.is_empty() {
            parts.push(format!("matrix.toml expects it to fail on {}", self.holds_unexpectedly));
        }
        for f in &self.failures {
            let unexpected = match f.unexpected {
                0 => String::new(),
                1 => " (not as matrix.toml expects)".to_string(),
                n => format!(" ({n} cells not as matrix.toml expects)"),
            };
            parts.push(format!("{} on {}{unexpected}: {}", f.what, f.tags, f.why));
        }
        format!("{}: {}.", self.column, parts.join("; "))
    }
}

/// The release line of a tag: `2.0` from the tag, else from the version its broker reported.
pub fn release_line(t: &TagResult) -> Option<String> {
    Version::find(&t.tag).or_else(|| t.broker_version.as_deref().and_then(Version::find)).map(Version::line)
}

/// Derives the summary of a run.
pub fn summarize(r: &RunResult) -> Summary {
    let order = release_order(r);
    let mut all_hold = Vec::new();
    let mut columns = Vec::new();
    for column in &r.profiles {
        let cells: Vec<&CellResult> = order.iter().filter(|t| t.error.is_none()).filter_map(|t| r.cell(&t.tag, column)).collect();
        if !cells.is_empty() && cells.iter().all(|c| c.verdict.outcome == Outcome::Ok) {
            all_hold.push(column.clone());
            continue;
        }
        let mut c = column_summary(r, &order, column);
        c.advice_as = columns.iter().find(|k: &&ColumnSummary| k.advice == c.advice && k.advice_as.is_none()).map(|k| k.column.clone());
        columns.push(c);
    }
    let not_run = ranges(&order, |tag| r.tags.iter().any(|t| t.tag == tag && t.error.is_some()));
    Summary {
        all_hold,
        columns,
        tags: ranges(&order, |_| true),
        not_run,
        versions: crate::report::versions::version_splits(r),
        new_releases: crate::report::versions::new_client_releases(r),
    }
}

fn holds(r: &RunResult, tag: &str, column: &str) -> bool {
    r.cell(tag, column).is_some_and(|c| c.verdict.outcome == Outcome::Ok)
}

/// How a failed cell ended, as the key its group is made by.
#[derive(Debug, Clone, PartialEq)]
struct Kind {
    outcome: Outcome,
    before_connack: bool,
    why: Why,
    known: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// The client ended the connection right after the broker's WebSocket PING.
    LeftOnPing,
    /// The broker hung up some seconds after a PING that went unanswered.
    HungUpAfterUnansweredPing,
    /// The broker hung up after a PING that was answered.
    HungUpAfterAnsweredPing,
    /// Before CONNACK.
    BeforeConnack,
    /// Anything else: the outcome says it.
    Other,
}

fn why_of(c: &CellResult) -> Why {
    let v = &c.verdict;
    if v.before_connack {
        return Why::BeforeConnack;
    }
    let Some(end) = v.at else { return Why::Other };
    let ping = v.frames.iter().rfind(|f| f.direction == Direction::Received && f.opcode == opcode::PING && f.at <= end);
    let Some(ping) = ping else { return Why::Other };
    let since = end.saturating_sub(ping.at);
    let answered = v.frames.iter().any(|f| f.direction == Direction::Sent && f.opcode == opcode::PONG && f.at >= ping.at && f.at <= end);
    match v.ended_by {
        Some(Party::Client) if since <= Duration::from_secs(1) => Why::LeftOnPing,
        Some(Party::Broker) if !answered && since <= Duration::from_secs(15) => Why::HungUpAfterUnansweredPing,
        Some(Party::Broker) if since <= Duration::from_secs(15) => Why::HungUpAfterAnsweredPing,
        _ => Why::Other,
    }
}

/// The versions of libwebsockets of some tags, as words: ` (libwebsockets 4.x)`.
fn lws_words(tags: &[&TagResult]) -> String {
    let mut majors: Vec<String> = Vec::new();
    for t in tags {
        let word = match t.image.lws_version.as_deref() {
            Some("builtin") => "Mosquitto's built-in WebSocket code".to_string(),
            Some(v) => format!("libwebsockets {}.x", v.split('.').next().unwrap_or(v)),
            None => continue,
        };
        if !majors.contains(&word) {
            majors.push(word);
        }
    }
    if majors.is_empty() {
        String::new()
    } else {
        format!(" ({})", majors.join(", "))
    }
}

fn whole_secs(d: Duration) -> u64 {
    d.as_secs_f64().round() as u64
}

/// `drops at 300 s`, `drops at 297–300 s`, `is closed at 12 s` …
fn what_words(kind: &Kind, times: &[Duration]) -> String {
    let lo = times.iter().min().copied().map(whole_secs);
    let hi = times.iter().max().copied().map(whole_secs);
    let at = match (lo, hi) {
        (Some(a), Some(b)) if a == b => format!(" at {a} s"),
        (Some(a), Some(b)) => format!(" at {a}–{b} s"),
        _ => String::new(),
    };
    match (kind.outcome, kind.before_connack) {
        (Outcome::Eof, true) => "drops before CONNACK".to_string(),
        (Outcome::Closed, true) => "is closed before CONNACK".to_string(),
        (Outcome::Eof, false) => format!("drops{at}"),
        (Outcome::Closed, false) => format!("is closed by the broker{at}"),
        (Outcome::Timeout, _) => format!("times out{at}"),
        (Outcome::Refused, _) => "is refused".to_string(),
        (Outcome::Error, _) => "could not run (ERROR)".to_string(),
        (Outcome::Ok, _) => "holds".to_string(),
    }
}

fn why_words(kind: &Kind, cells: &[&CellResult], tags: &[&TagResult]) -> String {
    let lws = lws_words(tags);
    match kind.why {
        Why::LeftOnPing => format!("the broker's WebSocket PING{lws}, which the client does not accept: it ends the connection"),
        Why::HungUpAfterUnansweredPing => format!("the broker's WebSocket PING{lws} went unanswered and the broker hung up"),
        Why::HungUpAfterAnsweredPing => format!("the broker hung up after its WebSocket PING{lws}, though it was answered"),
        Why::BeforeConnack => "the broker ended the connection after the client's CONNECT, before any CONNACK".to_string(),
        Why::Other => match kind.outcome {
            Outcome::Eof => "the connection ended without a close frame".to_string(),
            Outcome::Closed => {
                let code = cells.first().and_then(|c| c.verdict.close_code).map_or(String::new(), |c| format!(" {c}"));
                format!("the broker sent a WebSocket close{code}")
            }
            Outcome::Timeout => "no answer in time (PINGRESP or the final round trip)".to_string(),
            Outcome::Refused => "the broker refused the upgrade or the CONNECT".to_string(),
            _ => "the harness could not run the cell".to_string(),
        },
    }
}

fn column_summary(r: &RunResult, order: &[&TagResult], column: &str) -> ColumnSummary {
    let broker_of = |t: &TagResult| t.broker_version.as_deref().and_then(Version::find).or_else(|| Version::find(&t.tag));
    let mut groups: Vec<(Kind, Vec<&CellResult>)> = Vec::new();
    for t in order {
        let Some(c) = r.cell(&t.tag, column) else { continue };
        if t.error.is_some() {
            continue;
        }
        if c.verdict.outcome == Outcome::Ok {
            continue;
        }
        let v = &c.verdict;
        let known = r.known_issues.iter().position(|k| k.explains(split_key(column).1, v.outcome, v.at, broker_of(t)));
        let kind = Kind { outcome: v.outcome, before_connack: v.before_connack, why: why_of(c), known };
        match groups.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, cells)) => cells.push(c),
            None => groups.push((kind, vec![c])),
        }
    }
    let mut failures = Vec::new();
    for (kind, cells) in &groups {
        // Ends more than 3 s apart are different events (300 s PING, 310 s hang-up).
        let mut clusters: Vec<Vec<&CellResult>> = Vec::new();
        let mut sorted = cells.clone();
        sorted.sort_by_key(|c| c.verdict.at);
        for c in sorted {
            match clusters.last_mut() {
                Some(cl) if cl.last().and_then(|l| l.verdict.at).zip(c.verdict.at).is_some_and(|(a, b)| b - a <= Duration::from_secs(3)) => cl.push(c),
                _ => clusters.push(vec![c]),
            }
        }
        for cl in clusters {
            let ids: Vec<&str> = cl.iter().map(|c| c.tag.as_str()).collect();
            let tags: Vec<&TagResult> = order.iter().copied().filter(|t| ids.contains(&t.tag.as_str())).collect();
            let times: Vec<Duration> = cl.iter().filter_map(|c| c.verdict.at).collect();
            let Some(first_at) = order.iter().position(|t| ids.contains(&t.tag.as_str())) else { continue };
            let first = cl.iter().find(|c| c.tag == order[first_at].tag).copied().unwrap_or(cl[0]);
            failures.push((first_at, FailureGroup {
                what: what_words(kind, &times),
                tags: ranges(order, |tag| ids.contains(&tag)),
                why: why_words(kind, &cl, &tags),
                example: format!("{}: {}", first.tag, first.verdict.cause),
                unexpected: cl.iter().filter(|c| c.status == Status::Changed).count(),
                known: kind.known.and_then(|i| r.known_issues.get(i)).cloned(),
            }));
        }
    }
    // Failure groups in the order their first tag comes.
    failures.sort_by_key(|(first, _)| *first);
    let failures = failures.into_iter().map(|(_, f)| f).collect();
    ColumnSummary {
        column: column.to_string(),
        holds: ranges(order, |tag| holds(r, tag, column)),
        holds_unexpectedly: ranges(order, |tag| holds(r, tag, column) && r.cell(tag, column).is_some_and(|c| c.status == Status::Changed)),
        failures,
        advice: advice(r, order, column),
        advice_as: None,
    }
}

/// Whether a column is a client a user could switch to (a real library, or MQTT over TCP),
/// rather than one of the built-in emulations.
pub fn is_client(column: &str) -> bool {
    Profile::from_name(split_key(column).1).is_none_or(|p| !p.is_frame_level() || p == Profile::Tcp)
}

/// What to do, per failing stretch of a release line: the nearest tag that holds below it on
/// its line and above it (on any later line), and which clients hold on all its tags.
fn advice(r: &RunResult, order: &[&TagResult], column: &str) -> Vec<String> {
    let fails = |t: &TagResult| r.cell(&t.tag, column).is_some_and(|c| !matches!(c.verdict.outcome, Outcome::Ok | Outcome::Error));
    let mut out = Vec::new();
    let mut i = 0;
    while i < order.len() {
        if !fails(order[i]) {
            i += 1;
            continue;
        }
        let line = release_line(order[i]);
        let mut j = i;
        while j + 1 < order.len() && fails(order[j + 1]) && release_line(order[j + 1]) == line {
            j += 1;
        }
        let stretch = &order[i..=j];
        let down = order[..i].iter().rev().take_while(|t| release_line(t) == line).find(|t| holds(r, &t.tag, column));
        let up = order[j + 1..].iter().find(|t| holds(r, &t.tag, column));
        let tags = ranges(order, |tag| stretch.iter().any(|t| t.tag == tag));
        let line_words = line.as_deref().map_or(String::new(), |l| format!("{l}: "));
        let mut nearest = Vec::new();
        if let Some(d) = down {
            nearest.push(format!("{} (down)", d.tag));
        }
        if let Some(u) = up {
            let other_line = release_line(u) != line;
            nearest.push(format!("{} (up{})", u.tag, if other_line { release_line(u).map_or(String::new(), |l| format!(", the {l} line")) } else { String::new() }));
        }
        let nearest = if nearest.is_empty() { "no tag of this run holds".to_string() } else { format!("nearest that holds: {}", nearest.join(", ")) };
        let others: Vec<&str> = r
            .profiles
            .iter()
            // Other clients on the same route: a route's columns answer for that route only.
            .filter(|p| p.as_str() != column && is_client(p) && split_key(p).0 == split_key(column).0)
            .filter(|p| stretch.iter().all(|t| holds(r, &t.tag, p)))
            .map(String::as_str)
            .collect();
        let others = if others.is_empty() { "no other client holds there".to_string() } else { format!("clients that hold there: {}", others.join(", ")) };
        out.push(format!("{line_words}{tags} → {nearest}; {others}"));
        i = j + 1;
    }
    out
}
