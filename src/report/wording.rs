//! The words the reports share: a cell's short text, the run's line, and the one line said
//! for a tag, a proxy or a digest. The terminal view (`compact`), the full grid, Markdown and
//! HTML (`text`, `html`) all word these the same way by calling this module, which calls none
//! of them.

use std::fmt::Write as _;

use crate::judge::record::Direction;
use crate::judge::results::{CellResult, ProxyResult, RunResult, Status, TagResult};
use crate::plan::Outcome;
use crate::report::summary::Summary;
use crate::units::fmt_secs;
use crate::wire::frame::opcode;

/// The short text of a cell: `OK`, `💥 EOF 300.0 s`, `✖ CLOSED 1001 12.0 s` …, with how it
/// compares with matrix.toml (`≠ expected OK`, `(new)`).
pub fn cell_text(c: &CellResult) -> String {
    let mut text = outcome_text(c);
    match (c.status, &c.expected) {
        (Status::Changed, Some(e)) => write!(text, " ≠ expected {e}").unwrap_or(()),
        (Status::New, _) => text.push_str(" (new)"),
        (Status::Unproven, Some(e)) => write!(text, " (unproven: expected {e}, not observable in this hold)").unwrap_or(()),
        _ => {}
    }
    text
}

/// The short text of a cell's outcome alone: `OK, PING 300.0 s`, `💥 EOF 300.0 s` …
pub fn outcome_text(c: &CellResult) -> String {
    let v = &c.verdict;
    let at = v.at.map(|a| format!(" {}", fmt_secs(a))).unwrap_or_default();
    match v.outcome {
        Outcome::Ok => {
            let ping = v.frames.iter().find(|f| f.direction == Direction::Received && f.opcode == opcode::PING);
            let mut t = "OK".to_string();
            if let Some(p) = ping {
                t.push_str(&format!(", PING {}", fmt_secs(p.at)));
            }
            if !v.five_minute_mark_reached {
                t.push_str(" (<5 min)");
            }
            t
        }
        Outcome::Eof if v.before_connack => "💥 EOF before CONNACK".to_string(),
        Outcome::Eof => format!("💥 EOF{at}"),
        Outcome::Closed => format!("✖ CLOSED {}{at}", v.close_code.map_or("-".into(), |c| c.to_string())),
        Outcome::Timeout => format!("⏱ TIMEOUT{at}"),
        Outcome::Refused => format!("⛔ REFUSED{}", v.connack_code.map(|c| format!(" {c}")).unwrap_or_default()),
        Outcome::Error => "⚠ ERROR".to_string(),
    }
}

/// The version the broker reported, without the "mosquitto version " prefix.
pub fn short_version(v: &Option<String>) -> String {
    v.as_deref().map_or("?".to_string(), |s| s.trim_start_matches("mosquitto version ").to_string())
}

/// One line for a tag whose broker could not be had, said once for all its cells:
/// `1.6.9: broker not ready within 60 s (…) — 8 cells not run; last log lines: … | …`.
pub fn broker_failure_text(r: &RunResult, t: &TagResult) -> Option<String> {
    let whole = t.error.as_deref()?;
    let n = r.cells.iter().filter(|c| c.tag == t.tag).count();
    let not_run = format!("{n} {} not run", if n == 1 { "cell" } else { "cells" });
    Some(match &t.failure {
        Some(f) if f.log_tail.is_empty() => format!("{}: {} — {not_run}", t.tag, f.reason),
        Some(f) => format!("{}: {} — {not_run}; last log lines: {}", t.tag, f.reason, f.log_tail.join(" | ")),
        // A result written before the parts were kept: the whole text.
        None => format!("{}: {whole} — {not_run}", t.tag),
    })
}

/// The proxy a cell went through, as its tag recorded it.
pub fn proxy_of<'a>(t: &'a TagResult, c: &CellResult) -> Option<&'a ProxyResult> {
    let proxy = c.route.strip_suffix("-tls").unwrap_or(&c.route);
    t.proxies.iter().find(|p| p.proxy == proxy)
}

/// One line for a proxy that could not be had in front of a tag's broker, said once for
/// all its cells: `bookworm: proxy nginx 1.22.1-9: … — 8 cells not run; last log lines: …`.
pub fn proxy_failure_text(r: &RunResult, t: &TagResult, p: &ProxyResult) -> Option<String> {
    let f = p.failure.as_ref()?;
    let n = r.cells.iter().filter(|c| c.tag == t.tag && proxy_of(t, c).is_some_and(|q| q.proxy == p.proxy)).count();
    let not_run = format!("{n} {} not run", if n == 1 { "cell" } else { "cells" });
    Some(match f.log_tail.is_empty() {
        true => format!("{}: proxy {}: {} — {not_run}", t.tag, p.label, f.reason),
        false => format!("{}: proxy {}: {} — {not_run}; last proxy log lines: {}", t.tag, p.label, f.reason, f.log_tail.join(" | ")),
    })
}

/// `2.0.22: image digest changed since the baseline (sha256:… → sha256:…)`, when it did.
pub fn digest_change_text(t: &TagResult) -> Option<String> {
    let (old, new) = t.digest_change()?;
    Some(format!("{}: image digest changed since the baseline ({old} → {new})", t.tag))
}

/// The run in one line: set, image, hold, keepalive, cells, wall time, clock, left-out columns.
pub fn run_line(r: &RunResult) -> String {
    let mut s = format!(
        "set {} ({}), hold {}, keepalive {}, {} cells, wall time {}",
        r.set,
        r.image,
        fmt_secs(std::time::Duration::from_secs_f64(r.hold_secs)),
        fmt_secs(std::time::Duration::from_secs_f64(r.keepalive_secs)),
        r.cells.len(),
        fmt_secs(std::time::Duration::from_secs_f64(r.wall_secs)),
    );
    if let Some(words) = r.clock_words() {
        s = format!("{s}, {words} (times in broker time)");
        // How late the brokers ran is what an accelerated clock multiplies: say it when it
        // reached a second of broker time.
        let lags = [("brokers answered PINGREQs", r.broker_lag()), ("between their PINGs and the sessions' ends they ran, by the run's own PINGs,", r.broker_late())];
        for (what, lag) in lags {
            if let Some((median, longest)) = lag.filter(|(_, longest)| *longest >= std::time::Duration::from_secs(1)) {
                let real = longest.div_f64(f64::from(r.speed)).as_millis();
                s.push_str(&format!("; {what} up to {} late (median {}, {real} ms of real time at most)", fmt_secs(longest), fmt_secs(median)));
            }
        }
    }
    for l in &r.left_out {
        s.push_str(&format!("; left out: {} — {}", l.column, l.why));
    }
    if !r.five_minute_mark_reached {
        s.push_str(" — the hold ends before the 5-minute mark: an OK here does not prove a session survives libwebsockets' PING at 300 s");
    }
    s
}

/// ` that ran` when some tags did not run, so "every tag" does not claim them.
pub fn ran_words(s: &Summary) -> &'static str {
    if s.not_run.is_empty() {
        ""
    } else {
        " that ran"
    }
}
