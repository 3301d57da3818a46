//! A conformance grid as one self-contained HTML page, Autobahn-style: cases × columns (client
//! grid) or cases × tags (broker grid), each cell coloured by its kind and a link to its wire
//! evidence further down the page, then a summary line per column. Styles inline, no script,
//! nothing fetched: the links are in-page anchors (`#e-3-7`), and `:target` marks the evidence
//! opened. Written with maud, as the matrix page is ([`super::html`]).

use maud::{html, Markup, DOCTYPE};

use crate::conformance::broker_judge::{judge_cell, tag_summary};
use crate::conformance::brokers::{TagRow, BROKER_CASES};
use crate::conformance::grid::Grid;
use crate::conformance::judge::Kind;
use crate::report::conformance::{broker_words, broker_bases};
use crate::report::html::head;

const CSS: &str = include_str!("html/conformance.css");

/// A row head: the case.
struct CaseHead<'a> {
    id: &'a str,
    description: &'a str,
    clause: &'a str,
}

/// One cell as the page shows it.
struct PageCell {
    kind: Kind,
    word: String,
    did: String,
    evidence: Vec<String>,
    /// Where a broker answer comes from when it is not simply measured: the class that marks
    /// the cell (`derived`, `held`, `not-held`, `not-derived`: [`crate::conformance::source::Source::mark`]'s name).
    source: Option<&'static str>,
}

/// Everything a page shows, whichever grid it comes from.
struct Page<'a> {
    title: String,
    line: String,
    corner: &'static str,
    columns: Vec<String>,
    cases: Vec<CaseHead<'a>>,
    /// `[case][column]`.
    cells: Vec<Vec<Option<PageCell>>>,
    summaries: Vec<String>,
}

/// The CSS class of a kind: `k-ok`, `k-non-strict`, `k-dropped`, `k-not-applicable`, `k-error`.
pub fn kind_class(k: Kind) -> &'static str {
    match k {
        Kind::Ok => "k-ok",
        Kind::NonStrict => "k-non-strict",
        Kind::Dropped => "k-dropped",
        Kind::NotApplicable => "k-not-applicable",
        Kind::Error => "k-error",
    }
}

/// The client grid's page.
pub fn clients_html(grid: &Grid) -> String {
    let cells = grid
        .cases
        .iter()
        .map(|case| {
            grid.columns
                .iter()
                .map(|col| {
                    grid.cell(col, case.id).map(|c| PageCell {
                        kind: c.judged.kind,
                        word: c.judged.kind.word().to_string(),
                        did: c.judged.did.clone(),
                        evidence: c.judged.evidence.clone(),
                        source: None,
                    })
                })
                .collect()
        })
        .collect();
    render(&Page {
        title: "mosquitto-matrix — client conformance".into(),
        line: format!("{} column(s) × {} case(s) against the scripted broker, {} cells in {:.1} s", grid.columns.len(), grid.cases.len(), grid.cells.len(), grid.wall.as_secs_f64()),
        corner: "case",
        columns: grid.columns.clone(),
        cases: grid.cases.iter().map(|c| CaseHead { id: c.id, description: c.description, clause: c.clause }).collect(),
        cells,
        summaries: grid.columns.iter().map(|c| grid.summary(c)).collect(),
    })
}

/// The broker grid's page: one column per tag of `set`, each cell the broker's answer; a
/// derived answer marked (dashed) with its basis in its evidence.
pub fn brokers_html(set: &str, rows: &[TagRow]) -> String {
    let cells = BROKER_CASES
        .iter()
        .map(|case| {
            rows.iter()
                .map(|r| {
                    let i = r.cells.iter().position(|(id, _)| *id == case.id)?;
                    let (words, source) = (&r.cells[i].1, r.source(i));
                    let (kind, why) = judge_cell(case.id, words, source);
                    let mut evidence = vec![format!("sent: {}", case.description), format!("answer: {words}")];
                    evidence.extend(source.words());
                    Some(PageCell { kind, word: broker_words(words, source), did: why.to_string(), evidence, source: source.mark().map(|(name, _)| name) })
                })
                .collect()
        })
        .collect();
    let derived = broker_bases(rows).len();
    let note = if derived == 0 { String::new() } else { "; dashed cells are derived, not measured (their basis in their evidence)".to_string() };
    render(&Page {
        title: format!("mosquitto-matrix — broker conformance, set {set}"),
        line: format!("{} tag(s) × {} broker case(s), scripted WebSocket clients on loopback{note}", rows.len(), BROKER_CASES.len()),
        corner: "case \\ tag",
        columns: rows.iter().map(|r| r.tag.clone()).collect(),
        cases: BROKER_CASES.iter().map(|c| CaseHead { id: c.id, description: c.description, clause: c.clause }).collect(),
        cells,
        summaries: rows.iter().map(tag_summary).collect(),
    })
}

/// A cell's classes: its kind's, and its source's when it has one.
fn cell_class(c: &PageCell) -> String {
    match c.source {
        Some(s) => format!("{} {s}", kind_class(c.kind)),
        None => kind_class(c.kind).to_string(),
    }
}

fn table(p: &Page) -> Markup {
    html! {
        div #gridwrap {
            table #grid {
                thead { tr { th.case { (p.corner) } @for c in &p.columns { th.col { (c) } } } }
                tbody {
                    @for (i, case) in p.cases.iter().enumerate() {
                        tr data-case=(case.id) {
                            th.case scope="row" title=(case.description) { (case.id) }
                            @for (j, cell) in p.cells[i].iter().enumerate() {
                                @if let Some(c) = cell {
                                    td class=(cell_class(c)) data-kind=(c.kind.word()) data-source=[c.source] data-column=(p.columns[j]) title=(c.did) {
                                        a href=(format!("#e-{i}-{j}")) { (c.word) }
                                    }
                                } @else {
                                    td.absent { "—" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn evidence(p: &Page) -> Markup {
    html! {
        section #evidence {
            h2 { "Evidence" }
            @for (i, case) in p.cases.iter().enumerate() {
                @for (j, cell) in p.cells[i].iter().enumerate() {
                    @if let Some(c) = cell {
                        article.evidence id=(format!("e-{i}-{j}")) {
                            h3 { (p.columns[j]) " × " (case.id) ": " span class=(kind_class(c.kind)) { (c.kind.word()) } }
                            p.did { (c.did) }
                            p.case { (case.description) "; " (case.clause) }
                            pre { @for line in &c.evidence { (line) "\n" } }
                            a.back href="#grid" { "back to the grid" }
                        }
                    }
                }
            }
        }
    }
}

fn render(p: &Page) -> String {
    let legend = [Kind::Ok, Kind::NonStrict, Kind::Dropped, Kind::NotApplicable, Kind::Error];
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            (head(&p.title, CSS))
            body {
                header { h1 { (p.title) } p.run { (p.line) } }
                p.legend { @for k in legend { span class=(kind_class(k)) { (k.word()) } " " } "— click a cell for its wire evidence." }
                (table(p))
                section #summary { h2 { "Summary" } ul { @for s in &p.summaries { li { (s) } } } }
                (evidence(p))
            }
        }
    };
    page.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::source::Source;

    #[test]
    fn the_page_marks_derived_cells_with_a_class_and_puts_their_basis_in_the_evidence() {
        let row = TagRow {
            tag: "2.1.0-alpine".into(),
            cells: vec![("text-frame", "close 1003".into()), ("split-connect", "not derived".into())],
            sources: vec![Source::Derived { basis: "debian/sid".into() }, Source::NotDerived { why: "no measured tag".into() }],
        };
        let page = brokers_html("eclipse", &[row]);
        assert!(page.contains(r#"class="k-ok derived" data-kind="OK" data-source="derived""#), "{page}");
        assert!(page.contains(r#"class="k-not-applicable not-derived""#), "{page}");
        assert!(page.contains("close 1003 (derived)") && page.contains("derived from: debian/sid") && page.contains("not derived: no measured tag"), "{page}");
        assert!(page.contains("dashed cells are derived, not measured"), "{page}");
        let measured = TagRow { tag: "sid".into(), cells: vec![("text-frame", "close 1003".into())], sources: Vec::new() };
        let page = brokers_html("debian", &[measured]);
        assert!(!page.contains("(derived") && !page.contains("data-source") && !page.contains("dashed cells"), "a measured grid has no derived marks");
    }
}
