//! A conformance grid in our formats: the terminal (cases × columns, one word a cell coloured
//! by its kind on a terminal, then each column's summary line and each cell that is not OK
//! with its evidence), Markdown (a mark per kind, each such cell a link to its evidence), and
//! JSON with every cell's words and frames. The broker grid marks every answer that is derived,
//! not measured (and, measured against a derived one, whether it held), with its basis. The
//! HTML page is [`super::conformance_html`].

use serde::Serialize;

use crate::conformance::broker_judge::{judge_cell, tag_summary};
use crate::conformance::brokers::{TagRow, BROKER_CASES};
use crate::conformance::grid::{Grid, GridCell};
use crate::conformance::judge::Kind;
use crate::conformance::source::Source;

/// The JSON schema's version.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct JsonGrid<'a> {
    schema_version: u32,
    unit_ms: u128,
    keepalive_secs: f64,
    wall_secs: f64,
    cases: Vec<JsonCase<'a>>,
    columns: Vec<JsonColumn<'a>>,
}

#[derive(Serialize)]
struct JsonCase<'a> {
    id: &'a str,
    short: &'a str,
    description: &'a str,
    clause: &'a str,
    required: crate::conformance::case::Required,
    hold_secs: u64,
}

#[derive(Serialize)]
struct JsonColumn<'a> {
    name: &'a str,
    summary: String,
    cells: Vec<JsonCell<'a>>,
}

#[derive(Serialize)]
struct JsonCell<'a> {
    case: &'a str,
    kind: Kind,
    did: &'a str,
    evidence: &'a [String],
    took_secs: f64,
}

/// The grid as JSON.
pub fn json(grid: &Grid) -> String {
    let t = crate::conformance::grid::TIMING;
    let doc = JsonGrid {
        schema_version: SCHEMA_VERSION,
        unit_ms: crate::conformance::case::UNIT.as_millis(),
        keepalive_secs: t.keepalive.as_secs_f64(),
        wall_secs: grid.wall.as_secs_f64(),
        cases: grid
            .cases
            .iter()
            .map(|c| JsonCase { id: c.id, short: c.short, description: c.description, clause: c.clause, required: c.required, hold_secs: c.hold_secs })
            .collect(),
        columns: grid
            .columns
            .iter()
            .map(|name| JsonColumn {
                name,
                summary: grid.summary(name),
                cells: grid
                    .cells
                    .iter()
                    .filter(|c| &c.column == name)
                    .map(|c| JsonCell {
                        case: c.case,
                        kind: c.judged.kind,
                        did: &c.judged.did,
                        evidence: &c.judged.evidence,
                        took_secs: c.took.as_secs_f64(),
                    })
                    .collect(),
            })
            .collect(),
    };
    // Plain data of strings and numbers: serialising it cannot fail.
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The grid for the terminal: a table of cases × columns, the summary lines, and every cell
/// that is not OK with what the client did and its frames.
pub fn text(grid: &Grid) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    let mut header = vec!["case".to_string()];
    header.extend(grid.columns.iter().cloned());
    table.set_header(header);
    for case in &grid.cases {
        let mut row = vec![comfy_table::Cell::new(case.id)];
        row.extend(grid.columns.iter().map(|col| match grid.cell(col, case.id) {
            Some(c) => coloured(c.judged.kind, c.judged.kind.word()),
            None => comfy_table::Cell::new("-"),
        }));
        table.add_row(row);
    }
    let mut out = format!("{table}\n\n");
    for col in &grid.columns {
        out.push_str(&grid.summary(col));
        out.push('\n');
    }
    let odd: Vec<_> = grid.cells.iter().filter(|c| !matches!(c.judged.kind, Kind::Ok | Kind::NotApplicable)).collect();
    if !odd.is_empty() {
        out.push_str("\nCells that are not OK, with the wire as the scripted broker saw it:\n");
        for group in said_once(&odd) {
            let c = group[0];
            let cases: Vec<&str> = group.iter().map(|g| g.case).collect();
            out.push_str(&format!("\n{} × {}: {}: {}\n", c.column, cases.join(", "), c.judged.kind.word(), c.judged.did));
            for line in &c.judged.evidence {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    out.push_str(&format!("\n{} cells in {:.1} s\n", grid.cells.len(), grid.wall.as_secs_f64()));
    out
}

/// The cells in runs that say the same thing once: neighbouring cells of one column with the
/// same kind and words and no frames (a runtime that could not be had, said for all its cells).
fn said_once<'a>(cells: &[&'a GridCell]) -> Vec<Vec<&'a GridCell>> {
    let mut groups: Vec<Vec<&GridCell>> = Vec::new();
    for c in cells {
        let same = |g: &&GridCell| g.column == c.column && g.judged == c.judged && c.judged.evidence.is_empty();
        match groups.last_mut() {
            Some(last) if last.last().is_some_and(same) => last.push(c),
            _ => groups.push(vec![c]),
        }
    }
    groups
}

/// A cell for the terminal, coloured by its kind (comfy-table colours only on a terminal).
fn coloured(kind: Kind, words: &str) -> comfy_table::Cell {
    use comfy_table::Color;
    let colour = match kind {
        Kind::Ok => Color::Green,
        Kind::NonStrict => Color::Yellow,
        Kind::Dropped => Color::Red,
        Kind::NotApplicable => Color::DarkGrey,
        Kind::Error => Color::Magenta,
    };
    comfy_table::Cell::new(words).fg(colour)
}

/// A kind's coloured mark, for Markdown, which has no colours.
pub fn mark(kind: Kind) -> &'static str {
    match kind {
        Kind::Ok => "🟩",
        Kind::NonStrict => "🟨",
        Kind::Dropped => "🟥",
        Kind::NotApplicable => "⬜",
        Kind::Error => "⬛",
    }
}

/// A kind as Markdown shows it: its mark and its word.
pub fn marked(kind: Kind) -> String {
    format!("{} {}", mark(kind), kind.word())
}

/// The grid as Markdown: the table (each cell a link to its evidence), the summary lines, then
/// the evidence of every cell that is not OK, each under its own anchor (`e-CASE-COLUMN`, by
/// index).
pub fn markdown(grid: &Grid) -> String {
    let mut out = format!("| case | {} |\n|---|{}\n", grid.columns.join(" | "), "---|".repeat(grid.columns.len()));
    for (i, case) in grid.cases.iter().enumerate() {
        let cells: Vec<String> = grid
            .columns
            .iter()
            .enumerate()
            .map(|(j, col)| match grid.cell(col, case.id) {
                Some(c) if evidenced(c.judged.kind) => format!("[{}](#e-{i}-{j})", marked(c.judged.kind)),
                Some(c) => marked(c.judged.kind),
                None => "-".into(),
            })
            .collect();
        out.push_str(&format!("| `{}` | {} |\n", case.id, cells.join(" | ")));
    }
    out.push('\n');
    for col in &grid.columns {
        out.push_str(&format!("- {}\n", grid.summary(col)));
    }
    let mut first = true;
    for (i, case) in grid.cases.iter().enumerate() {
        for (j, col) in grid.columns.iter().enumerate() {
            let Some(c) = grid.cell(col, case.id).filter(|c| evidenced(c.judged.kind)) else { continue };
            if first {
                out.push_str("\n## Evidence\n");
                first = false;
            }
            out.push_str(&format!("\n<a id=\"e-{i}-{j}\"></a>\n### {col} × {}: {}\n\n{}\n\n```text\n", case.id, c.judged.kind.word(), c.judged.did));
            for line in &c.judged.evidence {
                out.push_str(line);
                out.push('\n');
            }
            out.push_str("```\n");
        }
    }
    out
}

/// Whether a cell's evidence is shown in Markdown: every cell that is not OK or n/a.
fn evidenced(kind: Kind) -> bool {
    !matches!(kind, Kind::Ok | Kind::NotApplicable)
}

/// A broker cell's words as a table or Markdown shows them: the answer, marked when it is not
/// simply measured (`PINGRESP (derived)`); `not derived` alone when there is none.
pub fn broker_words(words: &str, source: &Source) -> String {
    match (source, source.mark()) {
        (Source::NotDerived { .. }, _) | (_, None) => words.to_string(),
        (_, Some((_, mark))) => format!("{words} ({mark})"),
    }
}

/// Each tag's derived (or not derived) cells grouped by their basis, one line a group, the
/// largest last: `2.0.0 × split-connect: derived from: …`, `2.0.0 × every other case: not
/// derived: …`. Empty when nothing is derived.
pub fn broker_bases(rows: &[TagRow]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows {
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for (i, (case, _)) in r.cells.iter().enumerate() {
            let Some(words) = r.source(i).words() else { continue };
            match groups.iter_mut().find(|(w, _)| *w == words) {
                Some((_, cases)) => cases.push(case),
                None => groups.push((words, vec![case])),
            }
        }
        // The largest group last, as "every other case" (or "every case" when it is the only one).
        groups.sort_by_key(|(_, cases)| cases.len());
        let n = groups.len();
        for (k, (words, cases)) in groups.into_iter().enumerate() {
            let which = match (k + 1 == n, n) {
                (true, 1) if cases.len() > 1 => "every case".to_string(),
                (true, _) if n > 1 && cases.len() > 1 => "every other case".to_string(),
                _ => cases.join(", "),
            };
            out.push(format!("{} × {which}: {words}", r.tag));
        }
    }
    out
}

/// The broker grid as a table: one row per case, one column per tag, the answer in words
/// (marked when derived), the summary lines, and the basis of every derived answer.
pub fn brokers_text(rows: &[TagRow]) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    let mut header = vec!["case".to_string()];
    header.extend(rows.iter().map(|r| r.tag.clone()));
    table.set_header(header);
    for (i, case) in BROKER_CASES.iter().enumerate() {
        let mut row = vec![comfy_table::Cell::new(case.id)];
        row.extend(rows.iter().map(|r| match r.cells.get(i) {
            Some((id, w)) => coloured(judge_cell(id, w, r.source(i)).0, &broker_words(w, r.source(i))),
            None => comfy_table::Cell::new("-"),
        }));
        table.add_row(row);
    }
    let mut out = format!("{table}\n\n");
    for r in rows {
        out.push_str(&tag_summary(r));
        out.push('\n');
    }
    let bases = broker_bases(rows);
    if !bases.is_empty() {
        out.push_str("\nDerived answers (marked until measured), each with its basis:\n");
        for b in bases {
            out.push_str(&format!("  {b}\n"));
        }
    }
    out
}

/// The broker grid as Markdown; derived answers marked, with their bases below.
pub fn brokers_markdown(rows: &[TagRow]) -> String {
    let tags: Vec<&str> = rows.iter().map(|r| r.tag.as_str()).collect();
    let mut out = format!("| case | {} |\n|---|{}\n", tags.join(" | "), "---|".repeat(tags.len()));
    for (i, case) in BROKER_CASES.iter().enumerate() {
        let cells: Vec<String> = rows
            .iter()
            .map(|r| {
                r.cells.get(i).map_or("-".into(), |(id, w)| {
                    let source = r.source(i);
                    format!("{} {}", mark(judge_cell(id, w, source).0), broker_words(w, source).replace('|', "\\|"))
                })
            })
            .collect();
        out.push_str(&format!("| `{}` | {} |\n", case.id, cells.join(" | ")));
    }
    out.push('\n');
    for r in rows {
        out.push_str(&format!("- {}\n", tag_summary(r)));
    }
    let bases = broker_bases(rows);
    if !bases.is_empty() {
        out.push_str("\nDerived answers (marked until measured), each with its basis:\n\n");
        for b in bases {
            out.push_str(&format!("- {b}\n"));
        }
    }
    out
}

/// The broker grid as JSON: the cases with their clauses, and each tag's answers, their kinds
/// and where each comes from (`sources`: measured, derived with its basis, held, not held, not
/// derived).
pub fn brokers_json(set: &str, rows: &[TagRow]) -> String {
    let cases: Vec<serde_json::Value> = BROKER_CASES
        .iter()
        .map(|c| serde_json::json!({"id": c.id, "description": c.description, "clause": c.clause}))
        .collect();
    let tags: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let cells: serde_json::Map<String, serde_json::Value> =
                r.cells.iter().map(|(id, w)| ((*id).to_string(), serde_json::Value::String(w.clone()))).collect();
            let mut kinds = serde_json::Map::new();
            let mut sources = serde_json::Map::new();
            for (i, (id, w)) in r.cells.iter().enumerate() {
                let (kind, why) = judge_cell(id, w, r.source(i));
                kinds.insert((*id).to_string(), serde_json::json!({"kind": kind, "why": why}));
                sources.insert((*id).to_string(), serde_json::to_value(r.source(i)).unwrap_or_default());
            }
            serde_json::json!({"tag": r.tag, "summary": tag_summary(r), "answers": cells, "kinds": kinds, "sources": sources})
        })
        .collect();
    let doc = serde_json::json!({"schema_version": SCHEMA_VERSION, "set": set, "cases": cases, "tags": tags});
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One derived tag (`split-connect` not derived) and one measured against derived answers
    /// (`text-frame` held, `split-connect` did not), cells in the broker cases' order.
    fn rows() -> Vec<TagRow> {
        let cells = |close: &str| vec![("text-frame", "PINGRESP".to_string()), ("split-connect", close.to_string())];
        let basis = || "every measured tag with libwebsockets 4.x answers so: debian/bookworm".to_string();
        vec![
            TagRow { tag: "2.0.12".into(), cells: cells("not derived"), sources: vec![Source::Derived { basis: basis() }, Source::NotDerived { why: "they disagree".into() }] },
            TagRow {
                tag: "2.0.13".into(),
                cells: cells("FIN"),
                sources: vec![Source::Held { basis: basis() }, Source::NotHeld { derived: "close 1000 \"bye\"".into(), basis: basis() }],
            },
        ]
    }

    #[test]
    fn the_terminal_table_marks_each_derived_answer_and_gives_its_basis() {
        let text = brokers_text(&rows());
        for want in ["PINGRESP (derived)", "not derived", "PINGRESP (derived, held)", "FIN (derived, did not hold)"] {
            assert!(text.contains(want), "{want}: {text}");
        }
        assert!(text.contains("2.0.12 × text-frame: derived from: every measured tag with libwebsockets 4.x"), "{text}");
        assert!(text.contains("2.0.12 × split-connect: not derived: they disagree"), "{text}");
        assert!(text.contains("derived answers held in 1 of 2 cases, not in: split-connect"), "{text}");
    }

    #[test]
    fn markdown_marks_each_derived_answer_and_lists_the_bases() {
        let md = brokers_markdown(&rows());
        assert!(md.contains("| `text-frame` | 🟨 PINGRESP (derived) | 🟨 PINGRESP (derived, held) |"), "{md}");
        assert!(md.contains("| `split-connect` | ⬜ not derived | 🟥 FIN (derived, did not hold) |"), "{md}");
        assert!(md.contains("- 2.0.13 × split-connect: derived \"close 1000 \\\"bye\\\"\" from: every measured tag"), "{md}");
    }

    #[test]
    fn json_gives_each_cell_its_source_with_the_basis() {
        let doc: serde_json::Value = serde_json::from_str(&brokers_json("eclipse", &rows())).expect("JSON");
        let (a, b) = (&doc["tags"][0]["sources"], &doc["tags"][1]["sources"]);
        assert_eq!(a["text-frame"]["source"], "derived");
        assert!(a["text-frame"]["basis"].as_str().unwrap_or_default().contains("debian/bookworm"), "{a}");
        assert_eq!((a["split-connect"]["source"].as_str(), a["split-connect"]["why"].as_str()), (Some("not-derived"), Some("they disagree")));
        assert_eq!(doc["tags"][0]["kinds"]["split-connect"]["kind"], "not-applicable");
        assert_eq!((b["text-frame"]["source"].as_str(), b["split-connect"]["source"].as_str()), (Some("held"), Some("not-held")));
        assert_eq!(b["split-connect"]["derived"], "close 1000 \"bye\"");
    }

    #[test]
    fn a_measured_grid_has_no_derived_marks() {
        let row = TagRow { tag: "bookworm".into(), cells: vec![("text-frame", "PINGRESP".into())], sources: Vec::new() };
        let (text, md) = (brokers_text(std::slice::from_ref(&row)), brokers_markdown(std::slice::from_ref(&row)));
        assert!(!text.contains("derived") && !md.contains("derived"), "{text}\n{md}");
        let doc: serde_json::Value = serde_json::from_str(&brokers_json("debian", &[row])).expect("JSON");
        assert_eq!(doc["tags"][0]["sources"]["text-frame"]["source"], "measured");
    }
}
