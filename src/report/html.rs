//! The HTML report: one self-contained file (styles and script inline, nothing fetched) with
//! the summary, the grid coloured by outcome under sticky heads, filters, and each cell's
//! wire timeline drawn when it is clicked, and every session's lifeline per tag (inline SVG).
//!
//! Written with maud: the page is Rust checked at compile time, every text is escaped unless
//! marked otherwise, and rendering cannot fail, so there is no template error to report.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Serialize;

use crate::judge::results::{CellResult, RunResult, Status};
use crate::plan::Outcome;
use crate::plan::route::split_key;
use crate::report::summary::{release_order, summarize, Summary};
use crate::report::wording::{broker_failure_text, digest_change_text, outcome_text, proxy_failure_text, ran_words, run_line};
use crate::report::lifeline;
use crate::report::timeline::{timeline, Timeline};

const CSS: &str = include_str!("html/report.css");

/// The `<head>` of every self-contained page the reports write: UTF-8, the viewport, the
/// title, and the page's own style sheet inline (nothing fetched).
pub(crate) fn head(title: &str, css: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            style { (PreEscaped(css)) }
        }
    }
}
const SCRIPT: &str = include_str!("html/report.js");

/// What the page's script knows of one cell.
#[derive(Serialize)]
struct CellData<'a> {
    id: String,
    tag: &'a str,
    column: &'a str,
    outcome: &'static str,
    text: String,
    expected: Option<&'a str>,
    status: Status,
    cause: &'a str,
    process: Option<String>,
    timeline: Timeline,
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Met => "met",
        Status::Changed => "changed",
        Status::New => "new",
        Status::Unproven => "unproven",
        Status::Error => "error",
    }
}

fn data(r: &RunResult) -> String {
    let cells: Vec<CellData> = r
        .cells
        .iter()
        .map(|c| CellData {
            id: c.id(),
            tag: &c.tag,
            column: &c.profile,
            outcome: c.verdict.outcome.name(),
            text: outcome_words(c),
            expected: c.expected.as_deref(),
            status: c.status,
            cause: &c.verdict.cause,
            process: c.process.as_ref().map(|p| {
                let lib = p.library.as_deref().map(|l| format!("{l}; ")).unwrap_or_default();
                format!("{lib}{}{}", p.ended, p.words.as_deref().map(|w| format!(": {w}")).unwrap_or_default())
            }),
            timeline: timeline(c, r.hold_secs),
        })
        .collect();
    // Inside <script>, "</" would end the element: JSON allows "<\/" for it.
    serde_json::to_string(&cells).unwrap_or_else(|_| "[]".to_string()).replace("</", "<\\/")
}

/// The summary as a section: per column its sentence, known upstream issues, what to do, evidence.
pub fn summary_html(s: &Summary) -> Markup {
    html! {
        section #summary {
            h2 { "Summary over " (s.tags) }
            @for c in &s.columns {
                div.column {
                    p.sentence { (c.sentence()) }
                    ul {
                        @for f in &c.failures {
                            @if let Some(k) = &f.known {
                                li.known {
                                    "known upstream: " a href=(k.url()) { (k.issue) } " “" (k.title) "”"
                                    @if let Some(fx) = &k.fixed_in { "; fixed in " (fx) }
                                    @if let Some(st) = &k.state { "; " (st) }
                                    " (" (f.tags) ")"
                                }
                            }
                        }
                        @if let Some(other) = &c.advice_as { li.advice { "what to do: as for " (other) } }
                        @else { @for a in &c.advice { li.advice { "what to do on " (a) } } }
                        @for f in &c.failures { li.evidence { "evidence, " (f.example) } }
                    }
                }
            }
            @if !s.all_hold.is_empty() {
                p.allhold { "Hold on every tag" (ran_words(s)) ": " (s.all_hold.join(", ")) "." }
            }
            @if !s.not_run.is_empty() {
                p.notrun { "Not run: " (s.not_run) " (the broker could not be had; see the notes below)." }
            }
        }
    }
}

/// A cell's outcome in words without the terminal's symbol (`EOF 300.0 s`): a page cannot
/// count on an emoji font.
pub fn outcome_words(c: &CellResult) -> String {
    outcome_text(c).trim_start_matches(|ch: char| !ch.is_ascii()).trim_start().to_string()
}

fn cell_class(c: &CellResult) -> String {
    let mut class = format!("cell o-{}", c.verdict.outcome.name().to_lowercase());
    if c.status == Status::Changed {
        class.push_str(" changed");
    }
    class
}

/// The routes of the grid in order, each with how many columns it spans.
fn route_groups(r: &RunResult) -> Vec<(&str, usize)> {
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for p in &r.profiles {
        let route = split_key(p).0;
        match groups.last_mut() {
            Some((last, n)) if *last == route => *n += 1,
            _ => groups.push((route, 1)),
        }
    }
    groups
}

fn grid(r: &RunResult) -> Markup {
    let order = release_order(r);
    html! {
        div #gridwrap {
            table #grid {
                thead {
                    // On a run with routes, each route over its group of columns.
                    @if r.has_routes() {
                        tr.routes {
                            th.tag { "route" } th.meta {} th.meta {}
                            @for (route, span) in route_groups(r) { th.route colspan=(span) { (route) } }
                        }
                    }
                    tr {
                        th.tag { "tag" } th.meta { "mosquitto ($SYS)" } th.meta { "LWS_VERSION" }
                        @for p in &r.profiles { th.col data-column=(p) { (if r.has_routes() { split_key(p).1 } else { p.as_str() }) } }
                    }
                }
                tbody {
                    @for t in &order {
                        tr data-tag=(t.tag) {
                            th.tag scope="row" { (t.tag) }
                            td.meta { (t.broker_version.as_deref().map_or("?", |v| v.trim_start_matches("mosquitto version "))) }
                            td.meta { (t.image.lws_version.as_deref().unwrap_or("?")) }
                            @for p in &r.profiles {
                                @if let Some(c) = r.cell(&t.tag, p) {
                                    td class=(cell_class(c)) tabindex="0" data-id=(c.id()) data-column=(p)
                                        data-outcome=(c.verdict.outcome.name()) data-status=(status_word(c.status))
                                        title=(c.verdict.cause) { (outcome_words(c)) @if c.status == Status::Changed { " ≠ " (c.expected.as_deref().unwrap_or("")) } }
                                } @else {
                                    td.cell.absent data-column=(p) { "—" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Per tag, one drawing with a lifeline per column (see [`lifeline`]).
pub fn lifelines(r: &RunResult) -> Markup {
    html! {
        section #lifelines {
            h2 { "Lifelines" }
            p.legend { "Each session as a bar from time zero to its end, on one axis per tag: ▼ the broker's PING, ▲ the client's PONG, □ a close frame, ● the round trip after the hold (OK), ✕ the end (anything else); the dashed line is the 5-minute mark." }
            @for t in release_order(r) {
                @let lines: Vec<lifeline::Line> = r.profiles.iter().filter_map(|p| r.cell(&t.tag, p)).map(|c| lifeline::line(c, r.hold_secs)).collect();
                @if !lines.is_empty() {
                    figure.lifeline data-tag=(t.tag) {
                        figcaption { (t.tag) }
                        (lifeline::svg(&format!("lifelines of {}", t.tag), &lines))
                    }
                }
            }
        }
    }
}

/// The whole page.
pub fn html(r: &RunResult) -> String {
    let outcomes = [Outcome::Ok, Outcome::Eof, Outcome::Closed, Outcome::Timeout, Outcome::Refused, Outcome::Error];
    let notes: Vec<String> = r
        .tags
        .iter()
        .flat_map(|t| [broker_failure_text(r, t), digest_change_text(t)].into_iter().chain(t.proxies.iter().map(|p| proxy_failure_text(r, t, p))))
        .flatten()
        .collect();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("mosquitto-matrix — {}", r.set), CSS))
            body {
                header {
                    h1 { "mosquitto-matrix — " (r.set) }
                    p.run { (run_line(r)) }
                }
                (summary_html(&summarize(r)))
                @if !notes.is_empty() { ul.notes { @for n in &notes { li { (n) } } } }
                section #filters {
                    label { "column " select #f-column { option value="" { "all" } @for p in &r.profiles { option value=(p) { (p) } } } }
                    label { "outcome " select #f-outcome { option value="" { "all" } @for o in outcomes { option value=(o.name()) { (o.name()) } } } }
                    label { input #f-changed type="checkbox"; " differs from expectation" }
                    span #f-count {}
                }
                main {
                    (grid(r))
                    section #detail hidden {
                        h2 #d-title {}
                        dl {
                            dt { "outcome" } dd #d-outcome {}
                            dt { "expected" } dd #d-expected {}
                            dt { "cause" } dd #d-cause {}
                            dt.d-process { "client process" } dd #d-process .d-process {}
                        }
                        p #d-source {}
                        div #timeline {}
                    }
                }
                (lifelines(r))
                script #cells type="application/json" { (PreEscaped(data(r))) }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    page.into_string()
}
