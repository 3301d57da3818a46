//! The static site of a history: every file as (path, text), nothing fetched by any page
//! (styles inline, drawings inline SVG, links relative). Pure: the caller writes the files.
//!
//! - `index.html`: per set the latest answer (the summary), the changes of the last run and
//!   of the last 30 days;
//! - `set/SET.html`: the grid (tags × columns under their routes), each cell coloured by its
//!   latest result with a strip of its last runs;
//! - `tag/SET/TAG.html`, `column/SET/COLUMN.html`: every change with its evidence (both runs'
//!   cause, lifeline and wire timeline);
//! - `cell/SET/TAG/COLUMN.html`, `run/N.html`: permalinks (a run's page is its diff with the
//!   run of its set before it); `report/SET.html`: the latest run's full report;
//! - `diff.html`: any two runs of a set compared, chosen on the page (its script reads the
//!   cells' changes written into it; the address keeps the choice);
//! - `latest.json`: the latest answer, machine-readable.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Serialize;

use crate::history::lines::{day, short, words, Change, CellHistory, History, RunInfo};
use crate::judge::results::CellResult;
use crate::plan::Outcome;
use crate::report::html::summary_html;
use crate::report::lifeline;
use crate::report::summary::summarize;
use crate::report::wording::run_line;
use crate::report::timeline::timeline;

/// How many runs a cell's strip in the grid shows.
pub const STRIP_RUNS: usize = 30;
/// How far back the front page's "last days" reach.
pub const RECENT_DAYS: i64 = 30;

const CSS: &str = "body{font-family:sans-serif;margin:1em 2em;color:#222}a{color:#0b57a4}table{border-collapse:collapse}\
td,th{border:1px solid #ddd;padding:2px 5px;font-size:12px;vertical-align:top}th{background:#f4f4f4}\
.o-ok{background:#c8e6c9}.o-eof{background:#ffcdd2}.o-closed{background:#ffe0b2}.o-timeout{background:#e1bee7}\
.o-refused{background:#e0e0e0}.o-error{background:#9e9e9e}.o-none{background:#fafafa}\
.strip{display:flex;width:90px;height:6px;margin-top:2px;border:1px solid #ccc}.strip span{display:block;height:100%}\
.strip.o-ok,.strip .o-ok{background:#2e7d32}.strip .o-eof{background:#c62828}.strip .o-closed{background:#ef6c00}\
.strip .o-timeout{background:#6a1b9a}.strip .o-refused{background:#616161}.strip .o-error{background:#212121}.strip .o-none{background:#fff}\
.long{width:100%;max-width:760px;height:10px}.change{border-left:4px solid #c62828;padding-left:1em;margin:1em 0}\
.evidence{display:flex;gap:2em;flex-wrap:wrap}.evidence>div{flex:1;min-width:320px}.digest{color:#6a1b9a}\
svg{max-width:100%;height:auto}nav{margin-bottom:1em}nav a{margin-right:1em}ol.tl{font-family:monospace;font-size:12px}";

/// A name made safe for a file name and a URL path: `[A-Za-z0-9._@-]` kept, any other byte as `~hh`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"._@-".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("~{b:02x}"));
        }
    }
    out
}

/// A cell's page, relative to the site's root.
pub fn cell_path(c: &CellHistory) -> String {
    format!("cell/{}/{}/{}.html", slug(&c.set), slug(&c.tag), slug(&c.profile))
}

/// A run's page, relative to the site's root.
pub fn run_path(seq: usize) -> String {
    format!("run/{seq}.html")
}

fn class_of(o: Option<Outcome>) -> String {
    format!("o-{}", o.map_or("none", |o| o.name()).to_lowercase())
}

fn page(depth: usize, title: &str, body: Markup) -> String {
    let up = "../".repeat(depth);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — mosquitto-matrix history" }
                style { (PreEscaped(CSS)) }
            }
            body {
                nav { a href=(format!("{up}index.html")) { "mosquitto-matrix history" } a href=(format!("{up}diff.html")) { "diff of two runs" } a href=(format!("{up}latest.json")) { "latest.json" } }
                h1 { (title) }
                (body)
            }
        }
    }
    .into_string()
}

/// Runs of the same outcome in a row, as (outcome, how many, first run, last run).
fn runs_of_same(c: &CellHistory, seqs: &[usize]) -> Vec<(Option<Outcome>, usize, usize, usize)> {
    let mut out: Vec<(Option<Outcome>, usize, usize, usize)> = Vec::new();
    for &s in seqs {
        let o = c.in_run(s);
        match out.last_mut() {
            Some((last, n, _, to)) if *last == o => {
                *n += 1;
                *to = s;
            }
            _ => out.push((o, 1, s, s)),
        }
    }
    out
}

/// A cell's strip over `seqs` (runs of its set), one coloured stretch per run of the same outcome.
fn strip(c: &CellHistory, seqs: &[usize], long: bool) -> Markup {
    html! {
        span.strip.long[long] role="img" aria-label=(format!("{} runs", seqs.len())) {
            @for (o, n, from, to) in runs_of_same(c, seqs) {
                span class=(class_of(o)) style=(format!("flex:{n}")) title=(format!("runs {from}–{to}: {}", o.map_or("not run", |o| o.name()))) {}
            }
        }
    }
}

fn evidence(label: &str, run: &RunInfo, c: &CellResult, up: &str) -> Markup {
    let hold = run.result.hold_secs;
    let tl = timeline(c, hold);
    html! {
        div.side {
            h4 { (label) ": " a href=(format!("{up}{}", run_path(run.seq))) { "run " (run.seq) } " (" (day(&run.result.started_at)) ") — " (words(c)) }
            p.cause { (c.verdict.cause) }
            (lifeline::svg(&format!("{} in run {}", c.id(), run.seq), &[lifeline::Line { label: format!("run {}", run.seq), ..lifeline::line(c, hold) }]))
            details {
                summary { "wire timeline (" (tl.source) ", " (tl.events.len()) " events)" }
                ol.tl { @for e in &tl.events { li { (format!("{:>8.3} s {:?}: {}", e.at, e.from, e.label)) } } }
            }
        }
    }
}

/// One change with both runs' evidence; `depth` is the page's depth below the root.
fn change_html(h: &History, c: &CellHistory, ch: &Change, depth: usize) -> Markup {
    let up = "../".repeat(depth);
    let (Some(from), Some(to)) = (h.run(ch.from_run), h.run(ch.run)) else { return html! {} };
    html! {
        div.change id=(format!("change-{}", ch.run)) data-cell=(c.key()) {
            h3 {
                a href=(format!("{up}{}", cell_path(c))) { (c.tag) " / " (c.profile) } " — run " a href=(format!("{up}{}", run_path(ch.run))) { (ch.run) }
                " (" (day(&to.result.started_at)) "): " (words(&ch.old)) " → " (words(&ch.new))
            }
            @if let Some(d) = ch.digest.and_then(|d| h.digests.get(d)) {
                p.digest { "image digest changed between these runs: " (short(&d.old)) " → " (short(&d.new)) }
            }
            div.evidence { (evidence("before", from, &ch.old, &up)) (evidence("after", to, &ch.new, &up)) }
        }
    }
}

/// A set's cells, and its tags and columns in the order they first appear.
fn set_grid<'a>(h: &'a History, set: &str) -> (Vec<&'a CellHistory>, Vec<&'a str>, Vec<&'a str>) {
    let cells: Vec<&CellHistory> = h.cells.iter().filter(|c| c.set == set).collect();
    let mut tags: Vec<&str> = Vec::new();
    let mut cols: Vec<&str> = Vec::new();
    for c in &cells {
        if !tags.contains(&c.tag.as_str()) {
            tags.push(&c.tag);
        }
        if !cols.contains(&c.profile.as_str()) {
            cols.push(&c.profile);
        }
    }
    (cells, tags, cols)
}

fn set_page(h: &History, set: &str) -> String {
    let seqs: Vec<usize> = h.runs_of(set).map(|r| r.seq).collect();
    let strip_seqs = &seqs[seqs.len().saturating_sub(STRIP_RUNS)..];
    let (cells, tags, cols) = set_grid(h, set);
    let last = seqs.last().copied().unwrap_or(0);
    let body = html! {
        p { (seqs.len()) " runs; each cell is coloured by its latest result, its strip shows its last " (strip_seqs.len()) " runs (oldest left). Latest run: " a href=(format!("../{}", run_path(last))) { "run " (last) } "; " a href=(format!("../report/{}.html", slug(set))) { "its full report, with lifelines" } "." }
        table.grid {
            thead { tr { th { "tag" } @for col in &cols { th { a href=(format!("../column/{}/{}.html", slug(set), slug(col))) { (col) } } } } }
            tbody {
                @for tag in &tags {
                    tr {
                        th { a href=(format!("../tag/{}/{}.html", slug(set), slug(tag))) { (tag) } }
                        @for col in &cols {
                            @if let Some(c) = cells.iter().find(|c| c.tag == *tag && c.profile == *col) {
                                @let now = c.seen.last().filter(|s| s.run == last).map(|s| s.outcome);
                                td class=(format!("cell {}", class_of(now))) data-cell=(c.key()) data-changes=(c.changes.len()) {
                                    a href=(format!("../{}", cell_path(c))) { (words(&c.current)) }
                                    @if !c.changes.is_empty() { " (" (c.changes.len()) ")" }
                                    (strip(c, strip_seqs, false))
                                }
                            } @else { td.cell { "—" } }
                        }
                    }
                }
            }
        }
    };
    page(1, &format!("set {set}"), body)
}

fn changes_page(h: &History, title: &str, keep: impl Fn(&CellHistory) -> bool) -> String {
    let cells: Vec<&CellHistory> = h.cells.iter().filter(|c| keep(c)).collect();
    let mut all: Vec<(&CellHistory, &Change)> = cells.iter().flat_map(|c| c.changes.iter().map(move |ch| (*c, ch))).collect();
    all.sort_by_key(|(_, ch)| std::cmp::Reverse(ch.run));
    let tags: Vec<&str> = cells.iter().map(|c| c.tag.as_str()).collect();
    let digests: Vec<_> = h.digests.iter().filter(|d| cells.first().is_some_and(|c| c.set == d.set) && tags.contains(&d.tag.as_str())).collect();
    let body = html! {
        h2 { "Now" }
        table { @for c in &cells { tr { td { a href=(format!("../../{}", cell_path(c))) { (c.tag) " / " (c.profile) } } td class=(class_of(Some(c.current.verdict.outcome))) { (words(&c.current)) } td { "since run " (c.since) } } } }
        h2 { "Every change (" (all.len()) "), newest first" }
        @if all.is_empty() { p { "No cell here has changed its outcome." } }
        @for (c, ch) in &all { (change_html(h, c, ch, 2)) }
        @if !digests.is_empty() {
            h2 { "Image digest changes" }
            ul { @for d in &digests { li.digest { (d.tag) ": run " (d.run) " (" (h.run(d.run).map_or("", |r| day(&r.result.started_at))) "): " (d.old) " → " (d.new) } } }
        }
    };
    page(2, title, body)
}

fn cell_page(h: &History, c: &CellHistory) -> String {
    let seqs: Vec<usize> = h.runs_of(&c.set).map(|r| r.seq).collect();
    let body = html! {
        p { "Now " strong { (words(&c.current)) } " since run " a href=(format!("../../../{}", run_path(c.since))) { (c.since) } "; first run " (c.first) "; in " (c.seen.len()) " of " (seqs.len()) " runs of set " (c.set) "." }
        p.cause { (c.current.verdict.cause) }
        p { "Every run of the set, oldest left:" }
        (strip(c, &seqs, true))
        h2 { "Changes (" (c.changes.len()) ")" }
        @for ch in c.changes.iter().rev() { (change_html(h, c, ch, 3)) }
    };
    page(3, &format!("{} / {} / {}", c.set, c.tag, c.profile), body)
}

fn run_page(h: &History, r: &RunInfo) -> String {
    let before = h.runs_of(&r.result.set).take_while(|x| x.seq < r.seq).last().map(|x| x.seq);
    let after = h.runs_of(&r.result.set).find(|x| x.seq > r.seq).map(|x| x.seq);
    let body = html! {
        p { "Run id " code { (r.result.run_id) } ", started " (r.result.started_at) ", " (r.cells.len()) " cells, hold " (r.result.hold_secs) " s." }
        p {
            @if let Some(b) = before { a href=(format!("{b}.html")) { "← run " (b) } " " }
            @if let Some(a) = after { a href=(format!("{a}.html")) { "run " (a) " →" } }
        }
        h2 { "Diff with the run before" @if let Some(b) = before { " (run " (b) ")" } }
        @if r.changes.is_empty() && r.digests.is_empty() && r.new_cells.is_empty() { p { "No cell changed its outcome." } }
        @for (ci, k) in &r.changes { (change_html(h, &h.cells[*ci], &h.cells[*ci].changes[*k], 1)) }
        @if !r.new_cells.is_empty() {
            h3 { "New cells" }
            ul { @for ci in &r.new_cells { @let c = &h.cells[*ci]; li { a href=(format!("../{}", cell_path(c))) { (c.tag) " / " (c.profile) } } } }
        }
        @for d in &r.digests { p.digest { (d_text(h, *d)) } }
    };
    page(1, &format!("run {} — {} ({})", r.seq, r.result.set, day(&r.result.started_at)), body)
}

fn d_text(h: &History, d: usize) -> String {
    h.digests.get(d).map_or(String::new(), |d| format!("{}: image digest changed since run {} ({} → {})", d.tag, d.from_run, d.old, d.new))
}

/// The day `days` before `date` (`YYYY-MM-DD`), or `None` when it is not one.
fn days_before(date: &str, days: i64) -> Option<String> {
    let mut it = date.split('-').map(|p| p.parse::<i32>().ok());
    let (y, m, d) = (it.next()??, it.next()??, it.next()??);
    let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    let then = time::Date::from_calendar_date(y, month, u8::try_from(d).ok()?).ok()?.checked_sub(time::Duration::days(days))?;
    Some(format!("{:04}-{:02}-{:02}", then.year(), u8::from(then.month()), then.day()))
}

fn front_page(h: &History) -> String {
    let body = html! {
        p { (h.runs.len()) " runs, " (h.cells.len()) " cells, " (h.digests.len()) " image digest changes." }
        @for set in h.sets() {
            @let runs: Vec<&RunInfo> = h.runs_of(set).collect();
            @if let (Some(last), Some(latest)) = (runs.last(), h.latest(set)) {
                @let cutoff = days_before(day(&last.result.started_at), RECENT_DAYS).unwrap_or_default();
                @let recent: Vec<&RunInfo> = runs.iter().copied().filter(|r| day(&r.result.started_at) >= cutoff.as_str()).collect();
                section.set data-set=(set) {
                    h2 { "set " (set) }
                    p { "Latest: " a href=(run_path(last.seq)) { "run " (last.seq) } " (" (day(&last.result.started_at)) "), " (run_line(&latest)) ". "
                        a href=(format!("set/{}.html", slug(set))) { "the grid with each cell's history" } ", " a href=(format!("report/{}.html", slug(set))) { "the latest full report" } "." }
                    (summary_html(&summarize(&latest)))
                    h3 { "Changed in the last run" }
                    (change_list(h, &[*last]))
                    h3 { "Changed in the last " (RECENT_DAYS) " days (since " (cutoff) ", " (recent.len()) " runs)" }
                    (change_list(h, &recent))
                }
            }
        }
    };
    page(0, "Every night's answer", body)
}

fn change_list(h: &History, runs: &[&RunInfo]) -> Markup {
    let any = runs.iter().any(|r| !r.changes.is_empty() || !r.digests.is_empty() || !r.new_cells.is_empty());
    html! {
        @if !any { p { "No cell changed its outcome." } }
        ul.changes {
            @for r in runs.iter().rev() {
                @for (ci, k) in &r.changes {
                    @let (c, ch) = (&h.cells[*ci], &h.cells[*ci].changes[*k]);
                    li { a href=(format!("{}#change-{}", cell_path(c), ch.run)) { (c.tag) " / " (c.profile) } ": " (words(&ch.old)) " → " (words(&ch.new)) " in " a href=(run_path(r.seq)) { "run " (r.seq) } " (" (day(&r.result.started_at)) ")"
                        @if let Some(d) = ch.digest.and_then(|d| h.digests.get(d)) { span.digest { " — image digest " (short(&d.old)) " → " (short(&d.new)) } } }
                }
                @for ci in &r.new_cells { @let c = &h.cells[*ci]; li { a href=(cell_path(c)) { (c.tag) " / " (c.profile) } ": new in run " (r.seq) ", " (words(&c.current)) } }
                @for d in &r.digests { li.digest { (d_text(h, *d)) " (run " (r.seq) ")" } }
            }
        }
    }
}

/// What the diff page's script knows: per set its runs, and per cell its results as segments
/// (the first run it had, then one per change), and the last run that had it.
#[derive(Serialize)]
struct DiffSet<'a> {
    set: &'a str,
    runs: Vec<(usize, &'a str)>,
    cells: Vec<DiffCell>,
}

#[derive(Serialize)]
struct DiffCell {
    id: String,
    href: String,
    last: usize,
    segments: Vec<(usize, String)>,
}

const DIFF_SCRIPT: &str = r#"
const sets = JSON.parse(document.getElementById('runs').textContent);
const q = new URLSearchParams(location.search);
const [fs, fa, fb] = ['set', 'a', 'b'].map((n) => document.getElementById('d-' + n));
const out = document.getElementById('d-out');
function fill(sel, items, pick) {
  sel.replaceChildren(...items.map(([v, t]) => { const o = document.createElement('option'); o.value = v; o.textContent = t; o.selected = String(v) === String(pick); return o; }));
}
function state(c, run) {
  if (run < c.segments[0][0] || run > c.last) return null;
  let s = null;
  for (const seg of c.segments) if (seg[0] <= run) s = seg;
  return s;
}
function show() {
  const set = sets.find((s) => s.set === fs.value) || sets[0];
  const a = Number(fa.value), b = Number(fb.value);
  history.replaceState(null, '', `?set=${encodeURIComponent(set.set)}&a=${a}&b=${b}`);
  const rows = [];
  for (const c of set.cells) {
    const x = state(c, a), y = state(c, b);
    if (x === y || (x && y && x[1] === y[1])) continue;
    rows.push([c, x ? x[1] : '—', y ? y[1] : '—']);
  }
  out.replaceChildren();
  const p = document.createElement('p');
  p.id = 'd-count';
  p.textContent = `${rows.length} cells differ between run ${a} and run ${b}`;
  out.append(p);
  const t = document.createElement('table');
  for (const [c, x, y] of rows) {
    const tr = t.insertRow();
    const link = document.createElement('a'); link.href = c.href; link.textContent = c.id;
    tr.insertCell().append(link); tr.insertCell().textContent = x; tr.insertCell().textContent = y;
  }
  out.append(t);
}
function runs() {
  const set = sets.find((s) => s.set === fs.value) || sets[0];
  const items = set.runs.map(([n, d]) => [n, `run ${n} (${d})`]);
  const last = set.runs.length ? set.runs[set.runs.length - 1][0] : 0;
  const before = set.runs.length > 1 ? set.runs[set.runs.length - 2][0] : last;
  fill(fa, items, q.get('a') || before); fill(fb, items, q.get('b') || last);
  show();
}
fill(fs, sets.map((s) => [s.set, s.set]), q.get('set') || (sets[0] && sets[0].set));
fs.onchange = () => { q.delete('a'); q.delete('b'); runs(); };
fa.onchange = show; fb.onchange = show;
runs();
"#;

fn diff_page(h: &History) -> String {
    let sets: Vec<DiffSet> = h
        .sets()
        .into_iter()
        .map(|set| DiffSet {
            set,
            runs: h.runs_of(set).map(|r| (r.seq, day(&r.result.started_at))).collect(),
            cells: h
                .cells
                .iter()
                .filter(|c| c.set == set)
                .map(|c| {
                    let first = c.seen.first().map_or(c.first, |s| s.run);
                    let mut segments = vec![(first, c.changes.first().map_or_else(|| words(&c.current), |ch| words(&ch.old)))];
                    segments.extend(c.changes.iter().map(|ch| (ch.run, words(&ch.new))));
                    DiffCell { id: format!("{}/{}", c.tag, c.profile), href: cell_path(c), last: c.seen.last().map_or(c.first, |s| s.run), segments }
                })
                .collect(),
        })
        .collect();
    // Inside <script>, "</" would end the element: JSON allows "<\/" for it.
    let data = serde_json::to_string(&sets).unwrap_or_else(|_| "[]".to_string()).replace("</", "<\\/");
    let body = html! {
        p { "Any two runs of a set: the cells whose result differs between them (each cell's result at a run is the one it held since its last change). The address keeps the choice, as a permalink." }
        p { label { "set " select #d-set {} } " " label { "run " select #d-a {} } " " label { "against run " select #d-b {} } }
        div #d-out {}
        script #runs type="application/json" { (PreEscaped(data)) }
        script { (PreEscaped(DIFF_SCRIPT)) }
    };
    page(0, "Diff of two runs", body)
}

/// `latest.json`: per set its latest run and every cell's result there, since which run.
#[derive(Serialize)]
struct Latest<'a> {
    runs: usize,
    sets: Vec<LatestSet<'a>>,
}

#[derive(Serialize)]
struct LatestSet<'a> {
    set: &'a str,
    run: usize,
    run_id: &'a str,
    started_at: &'a str,
    cells: Vec<LatestCell<'a>>,
}

#[derive(Serialize)]
struct LatestCell<'a> {
    tag: &'a str,
    profile: &'a str,
    outcome: &'static str,
    text: String,
    since_run: usize,
    changes: usize,
    cause: &'a str,
}

fn latest_json(h: &History) -> String {
    let sets = h
        .sets()
        .into_iter()
        .filter_map(|set| {
            let last = h.runs_of(set).last()?;
            let cells = last
                .cells
                .iter()
                .map(|&i| {
                    let c = &h.cells[i];
                    LatestCell { tag: &c.tag, profile: &c.profile, outcome: c.current.verdict.outcome.name(), text: words(&c.current), since_run: c.since, changes: c.changes.len(), cause: &c.current.verdict.cause }
                })
                .collect();
            Some(LatestSet { set, run: last.seq, run_id: &last.result.run_id, started_at: &last.result.started_at, cells })
        })
        .collect();
    serde_json::to_string_pretty(&Latest { runs: h.runs.len(), sets }).unwrap_or_else(|_| "{}".to_string())
}

/// Every file of the site, as (path relative to the site's root, contents).
pub fn site(h: &History) -> Vec<(String, String)> {
    let mut out = vec![("index.html".to_string(), front_page(h)), ("latest.json".to_string(), latest_json(h)), ("diff.html".to_string(), diff_page(h))];
    for set in h.sets() {
        out.push((format!("set/{}.html", slug(set)), set_page(h, set)));
        if let Some(latest) = h.latest(set) {
            out.push((format!("report/{}.html", slug(set)), crate::report::html::html(&latest)));
        }
        let (_, tags, cols) = set_grid(h, set);
        for tag in tags {
            out.push((format!("tag/{}/{}.html", slug(set), slug(tag)), changes_page(h, &format!("{set} tag {tag}"), |c| c.set == set && c.tag == tag)));
        }
        for col in cols {
            out.push((format!("column/{}/{}.html", slug(set), slug(col)), changes_page(h, &format!("{set} column {col}"), |c| c.set == set && c.profile == col)));
        }
    }
    for c in &h.cells {
        out.push((cell_path(c), cell_page(h, c)));
    }
    for r in &h.runs {
        out.push((run_path(r.seq), run_page(h, r)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slug_keeps_a_tag_readable_and_makes_a_route_and_a_copy_safe() {
        assert_eq!(slug("2.0.18"), "2.0.18");
        assert_eq!(slug("nginx/paho-java@1.2.5"), "nginx~2fpaho-java@1.2.5");
        assert_eq!(slug("bookworm#2"), "bookworm~232");
    }

    #[test]
    fn thirty_days_before_crosses_a_month_and_a_year() {
        assert_eq!(days_before("2026-01-15", 30).as_deref(), Some("2025-12-16"));
        assert_eq!(days_before("not a day", 30), None);
    }
}
