//! The report files and the full grid: the terminal view (from `compact`), the wide table,
//! Markdown, HTML (from `html`) and JSON, written side by side; and the failure lines a run
//! ends with. The words they share are in `wording`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use crate::judge::results::{RunResult, Status};
use crate::plan::Outcome;
use crate::report::summary::{summarize, Summary};
use crate::report::wording::{broker_failure_text, cell_text, digest_change_text, outcome_text, proxy_failure_text, proxy_of, ran_words, run_line, short_version};
use crate::report::{compact, html};

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
    for v in &s.versions {
        let _ = writeln!(out, "- {}.", esc(v));
    }
    if !s.all_hold.is_empty() {
        let _ = writeln!(out, "- Hold on every tag{}: {}.", ran_words(s), s.all_hold.join(", "));
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

/// `<set>` for a real-time run, `<set>-x<N>` for an accelerated one, `-copies<N>` after
/// either for a run with copies, and `-process` for a run whose clients started one process
/// per cell, so they all sit side by side.
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
    if r.client_mode == crate::plan::ClientMode::Process {
        stem.push_str("-process");
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
