//! The report: the table of the report that started this project, as text, Markdown and JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use crate::wire::frame::opcode;
use crate::judge::record::Direction;
use crate::judge::results::{CellResult, ProxyResult, RunResult, Status, TagResult};
use crate::units::fmt_secs;
use crate::plan::Outcome;
use crate::report::{compact, html};
use crate::report::summary::{summarize, Summary};

/// The short text of a cell: `OK`, `💥 EOF 300.0 s`, `✖ CLOSED 1001 12.0 s` …, with how it
/// compares with matrix.toml (`≠ expected OK`, `(new)`).
pub fn cell_text(c: &CellResult) -> String {
    let mut text = outcome_text(c);
    match (c.status, &c.expected) {
        (Status::Changed, Some(e)) => write!(text, " ≠ expected {e}").unwrap_or(()),
        (Status::New, _) => text.push_str(" (new)"),
        (Status::Unchecked, Some(e)) => write!(text, " (expected {e}: not observable in this hold)").unwrap_or(()),
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
fn short_version(v: &Option<String>) -> String {
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
fn proxy_of<'a>(t: &'a TagResult, c: &CellResult) -> Option<&'a ProxyResult> {
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

fn rows(r: &RunResult) -> (Vec<String>, Vec<Vec<String>>, Vec<String>) {
    let mut header = vec!["tag".to_string(), "mosquitto ($SYS)".to_string(), "LWS_VERSION".to_string()];
    header.extend(r.profiles.iter().cloned());
    let mut notes = Vec::new();
    let mut body = Vec::new();
    for t in &r.tags {
        let mut row = vec![t.tag.clone(), short_version(&t.broker_version), t.image.lws_version.clone().unwrap_or("?".into())];
        let failed = broker_failure_text(r, t).map(|text| {
            notes.push(text);
            notes.len()
        });
        if let Some(text) = digest_change_text(t) {
            notes.push(text);
        }
        for p in &r.profiles {
            let text = match (r.cell(&t.tag, p), failed) {
                (Some(c), _) if c.verdict.outcome == Outcome::Ok && c.status == Status::Met => cell_text(c),
                (Some(c), Some(n)) if c.verdict.outcome == Outcome::Error => format!("{} [{n}]", cell_text(c)),
                (Some(c), _) => {
                    notes.push(format!("{}: {}", c.id(), c.verdict.cause));
                    format!("{} [{}]", cell_text(c), notes.len())
                }
                (None, _) => "—".to_string(),
            };
            row.push(text);
        }
        body.push(row);
    }
    (header, body, notes)
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
    }
    for l in &r.left_out {
        s.push_str(&format!("; left out: {} — {}", l.column, l.why));
    }
    if !r.five_minute_mark_reached {
        s.push_str(" — the hold ends before the 5-minute mark: an OK here does not prove a session survives libwebsockets' PING at 300 s");
    }
    s
}

/// The terminal view that fits 120 columns: the summary first, then the folded grid.
pub fn table(r: &RunResult) -> String {
    compact::view(r)
}

/// The full grid for a wide terminal (`--format table-wide`): every tag, every cell's text,
/// the causes listed under it; the summary first.
pub fn table_wide(r: &RunResult) -> String {
    let (header, body, notes) = rows(r);
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled).set_header(header);
    for row in body {
        t.add_row(row);
    }
    let summary = compact::summary_lines(&summarize(r)).join("\n");
    let mut out = format!("{}\n\n{summary}\n\n{t}\n", run_line(r));
    for (i, n) in notes.iter().enumerate() {
        let _ = writeln!(out, "[{}] {n}", i + 1);
    }
    out
}

/// The same table as Markdown, ready to paste into an issue.
pub fn markdown(r: &RunResult) -> String {
    let (header, body, notes) = rows(r);
    let mut out = format!("**mosquitto-matrix** — {}\n\n", run_line(r));
    out.push_str(&summary_markdown(&summarize(r)));
    out.push('\n');
    let esc = |s: &str| s.replace('|', "\\|");
    let _ = writeln!(out, "| {} |", header.iter().map(|h| esc(h)).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in body {
        let _ = writeln!(out, "| {} |", row.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | "));
    }
    if !notes.is_empty() {
        out.push('\n');
        for (i, n) in notes.iter().enumerate() {
            let _ = writeln!(out, "{}. {}", i + 1, esc(n));
        }
    }
    out
}

/// The summary as Markdown: one bullet per column, with its known issue linked and what to do.
pub fn summary_markdown(s: &Summary) -> String {
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = format!("### Summary over {}\n\n", s.tags);
    for c in &s.columns {
        let _ = writeln!(out, "- **{}**", esc(&c.sentence()));
        for f in &c.failures {
            if let Some(k) = &f.known {
                let _ = writeln!(out, "  - known upstream: [{}]({}) \"{}\"{}{} ({})", k.issue, k.url(), esc(&k.title),
                    k.fixed_in.as_deref().map(|f| format!("; fixed in {f}")).unwrap_or_default(),
                    k.state.as_deref().map(|s| format!("; {s}")).unwrap_or_default(), f.tags);
            }
        }
        match &c.advice_as {
            Some(other) => {
                let _ = writeln!(out, "  - what to do: as for {other}");
            }
            None => c.advice.iter().for_each(|a| {
                let _ = writeln!(out, "  - what to do on {}", esc(a));
            }),
        }
        for f in &c.failures {
            let _ = writeln!(out, "  - evidence, {}", esc(&f.example));
        }
    }
    if !s.all_hold.is_empty() {
        let _ = writeln!(out, "- Hold on every tag{}: {}.", compact::ran_words(s), s.all_hold.join(", "));
    }
    if !s.not_run.is_empty() {
        let _ = writeln!(out, "- Not run: {} (the broker could not be had; see the notes).", s.not_run);
    }
    out
}

/// The JSON report: every field of every verdict.
pub fn json(r: &RunResult) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"cannot serialise the report: {e}\"}}"))
}

/// `<set>` for a real-time run, `<set>-x<N>` for an accelerated one, and `-copies<N>` after
/// either for a run with copies, so they all sit side by side.
pub fn file_stem(r: &RunResult) -> String {
    let mut stem = r.set.clone();
    if r.speed > 1 {
        stem.push_str(&format!("-x{}", r.speed));
    }
    if r.copies > 1 {
        stem.push_str(&format!("-copies{}", r.copies));
    }
    // A run with routes beside the direct-only run of the same set: `debian-routes`.
    if r.has_routes() {
        stem.push_str("-routes");
    }
    stem
}

/// A result file that could not be written; the file of the same name from before, if any,
/// is kept whole.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}; any earlier file of that name is kept as it was", path.display())]
pub struct WriteError {
    /// The file (or folder) that could not be written.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// Writes `<set>.md`, `<set>.html` and `<set>.json` (`<set>-x<N>.…` when accelerated,
/// `<set>-routes.…` with routes) into `dir` and returns their paths. Each file is written
/// whole to a temporary file beside it and then renamed over the old one, so a full disk or
/// a folder that cannot be written leaves the previous result whole.
pub fn write_files(r: &RunResult, dir: &Path) -> Result<Vec<PathBuf>, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError { path: dir.to_path_buf(), source })?;
    let stem = file_stem(r);
    let files = [(format!("{stem}.md"), markdown(r)), (format!("{stem}.html"), html::html(r)), (format!("{stem}.json"), json(r))];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        write_whole(&path, text.as_bytes()).map_err(|source| WriteError { path: path.clone(), source })?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `bytes` to a temporary file beside `path`, flushed to disk, then renames it over
/// `path`; the temporary file is removed when anything fails.
pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&temporary)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// One line per cell that differs from matrix.toml or could not run; a tag whose broker
/// could not be had is one line for all its cells.
pub fn failures(r: &RunResult) -> Vec<String> {
    let mut lines = Vec::new();
    // The harness's own fault first: it is why the cells below are ERRORs.
    if let Some(fault) = &r.harness_fault {
        lines.push(format!("the harness could not finish the run: {fault}"));
    }
    let mut told: Vec<&str> = Vec::new();
    let mut told_proxies: Vec<(&str, &str)> = Vec::new();
    for c in r.cells.iter().filter(|c| matches!(c.status, Status::Changed | Status::Error)) {
        let tag = r.tags.iter().find(|t| t.tag == c.tag);
        // A proxy that could not be had is said once for its (tag, proxy), like a broker.
        if let Some((t, p)) = tag.and_then(|t| proxy_of(t, c).map(|p| (t, p))) {
            if c.verdict.outcome == Outcome::Error && p.failure.is_some() {
                if !told_proxies.contains(&(t.tag.as_str(), p.proxy.as_str())) {
                    told_proxies.push((&t.tag, &p.proxy));
                    lines.extend(proxy_failure_text(r, t, p));
                }
                continue;
            }
        }
        if let Some(text) = tag.and_then(|t| broker_failure_text(r, t)) {
            if c.verdict.outcome == Outcome::Error {
                if !told.contains(&c.tag.as_str()) {
                    told.push(&c.tag);
                    lines.push(text);
                }
                continue;
            }
        }
        lines.push(format!(
            "{}: expected {}, got {} — {}",
            c.id(),
            c.expected.as_deref().unwrap_or("nothing"),
            outcome_text(c),
            c.verdict.cause
        ));
    }
    lines
}
