//! The measured cells, kept in `conformance.toml`: one table per column, one key per case,
//! the kind measured (`ok`, `non-strict`, `dropped`, `not-applicable`); each measured broker
//! tag's answers (`[brokers.SET.TAG]`); and each tag's image (`[builds.SET]`: its Mosquitto
//! version and WebSocket code, the basis of derived answers). Loaded and checked here, with
//! the file and what is wrong; compared to a grid, cell by cell.

use std::collections::BTreeMap;
use std::path::Path;

use crate::conformance::brokers::{TagRow, BROKER_CASES};
use crate::conformance::case::case;
use crate::conformance::grid::Grid;
use crate::conformance::image::{Build, WebSocketCode};
use crate::conformance::judge::Kind;
use crate::conformance::ConformanceError;

/// The expected kinds: column → case id → kind; and each broker tag's answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Column name → case id → kind.
    pub columns: BTreeMap<String, BTreeMap<String, Kind>>,
    /// Set → tag → broker case id → the answer in words (`conformance brokers`).
    pub brokers: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    /// Set → tag → its image (`[builds.SET]`).
    pub builds: BTreeMap<String, BTreeMap<String, Build>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildShape {
    mosquitto: String,
    websocket: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    expected: BTreeMap<String, BTreeMap<String, Kind>>,
    #[serde(default)]
    brokers: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    #[serde(default)]
    builds: BTreeMap<String, BTreeMap<String, BuildShape>>,
}

impl Expected {
    /// Reads and checks `path`: every case id must be a case of [`crate::conformance::case::CASES`].
    pub fn load(path: &Path) -> Result<Expected, ConformanceError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConformanceError::Read { path: path.to_path_buf(), what: e.to_string() })?;
        Expected::parse(path, &text)
    }

    /// Checks the text of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Expected, ConformanceError> {
        let shape: FileShape =
            toml::from_str(text).map_err(|e| ConformanceError::Parse { path: path.to_path_buf(), what: e.to_string() })?;
        for (column, cases) in &shape.expected {
            if let Some(id) = cases.keys().find(|id| case(id).is_none()) {
                return Err(ConformanceError::UnknownCase { path: path.to_path_buf(), column: column.clone(), case: id.clone() });
            }
        }
        for (set, tags) in &shape.brokers {
            for (tag, cases) in tags {
                if let Some(id) = cases.keys().find(|id| !BROKER_CASES.iter().any(|c| c.id == id.as_str())) {
                    return Err(ConformanceError::UnknownCase { path: path.to_path_buf(), column: format!("{set}/{tag}"), case: id.clone() });
                }
            }
        }
        let mut builds: BTreeMap<String, BTreeMap<String, Build>> = BTreeMap::new();
        for (set, tags) in shape.builds {
            for (tag, b) in tags {
                let websocket = WebSocketCode::parse(&b.websocket)
                    .map_err(|what| ConformanceError::Parse { path: path.to_path_buf(), what: format!("builds.{set}.{tag:?}: {what}") })?;
                builds.entry(set.clone()).or_default().insert(tag, Build { mosquitto: b.mosquitto, websocket });
            }
        }
        Ok(Expected { columns: shape.expected, brokers: shape.brokers, builds })
    }

    /// Every cell of the grid whose kind differs from the one measured before, in words;
    /// columns and cases the file does not name are not compared.
    pub fn differences(&self, grid: &Grid) -> Vec<String> {
        let mut out = Vec::new();
        for cell in &grid.cells {
            let Some(want) = self.columns.get(&cell.column).and_then(|c| c.get(cell.case)) else { continue };
            if *want != cell.judged.kind {
                out.push(format!(
                    "{} × {}: {} (measured before: {}): {}",
                    cell.column,
                    cell.case,
                    cell.judged.kind.word(),
                    want.word(),
                    cell.judged.did
                ));
            }
        }
        out
    }

    /// Every broker answer of `set` that differs from the one measured before, in words; tags
    /// the file does not name are not compared.
    pub fn broker_differences(&self, set: &str, rows: &[TagRow]) -> Vec<String> {
        let mut out = Vec::new();
        for row in rows {
            let Some(want) = self.brokers.get(set).and_then(|s| s.get(&row.tag)) else { continue };
            for (case, got) in &row.cells {
                match want.get(*case) {
                    Some(w) if w == got => {}
                    Some(w) => out.push(format!("{set}/{} × {case}: {got:?} (measured before: {w:?})", row.tag)),
                    None => out.push(format!("{set}/{} × {case}: {got:?} (nothing measured before)", row.tag)),
                }
            }
        }
        out
    }

    /// The grid's kinds as a `conformance.toml` text, to keep as the new measurement, with the
    /// broker answers and builds of `keep` (the file it replaces) kept as they were.
    pub fn render(grid: &Grid, keep: Option<&Expected>) -> String {
        let mut out = String::from("# Measured by `mosquitto-matrix conformance clients --write-expected conformance.toml`.\n");
        for column in &grid.columns {
            out.push_str(&format!("\n[expected.\"{column}\"]\n"));
            for cell in grid.cells.iter().filter(|c| &c.column == column) {
                let kind = toml::Value::try_from(cell.judged.kind).map(|v| v.to_string()).unwrap_or_default();
                out.push_str(&format!("{} = {kind}\n", cell.case));
            }
        }
        for (set, tags) in keep.map(|k| &k.brokers).into_iter().flatten() {
            for (tag, cases) in tags {
                out.push_str(&format!("\n[brokers.{set}.{tag}]\n"));
                for (case, words) in cases {
                    let words = toml::Value::String(words.clone()).to_string();
                    out.push_str(&format!("\"{case}\" = {words}\n"));
                }
            }
        }
        for (set, tags) in keep.map(|k| &k.builds).into_iter().flatten() {
            out.push_str(&format!("\n[builds.{set}]\n"));
            let mut tags: Vec<(&String, &Build)> = tags.iter().collect();
            tags.sort_by(|a, b| crate::plan::releases::compare(&a.1.mosquitto, &b.1.mosquitto).then(a.0.cmp(b.0)));
            for (tag, b) in tags {
                out.push_str(&format!("\"{tag}\" = {{ mosquitto = \"{}\", websocket = \"{}\" }}\n", b.mosquitto, b.websocket.name()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_case_is_named_with_its_file_and_column() {
        let err = Expected::parse(Path::new("c.toml"), "[expected.rfc6455]\nnot-a-case = \"ok\"\n").expect_err("unknown case");
        assert_eq!(err.to_string(), "c.toml: column rfc6455 names the case not-a-case, which is not a conformance case");
    }

    #[test]
    fn a_build_reads_back_from_its_own_rendering_and_a_bad_websocket_code_is_named_with_its_tag() {
        let text = "[builds.eclipse]\n\"2.0.11\" = { mosquitto = \"2.0.11\", websocket = \"libwebsockets 4.2.0\" }\n\"2.1.0-alpine\" = { mosquitto = \"2.1.0\", websocket = \"built-in\" }\n";
        let e = Expected::parse(Path::new("c.toml"), text).expect("parses");
        assert_eq!(e.builds["eclipse"]["2.0.11"].websocket, WebSocketCode::Libwebsockets("4.2.0".into()));
        let grid = Grid { cases: Vec::new(), columns: Vec::new(), cells: Vec::new(), wall: std::time::Duration::ZERO };
        assert_eq!(Expected::parse(Path::new("c.toml"), &Expected::render(&grid, Some(&e))).expect("reads back").builds, e.builds);
        let err = Expected::parse(Path::new("c.toml"), "[builds.eclipse]\n\"2.0.11\" = { mosquitto = \"2.0.11\", websocket = \"lws 4\" }\n").expect_err("bad code");
        assert!(err.to_string().contains("builds.eclipse.\"2.0.11\": websocket = \"lws 4\" is neither"), "{err}");
    }

    #[test]
    fn an_unknown_kind_is_a_parse_error_with_its_file() {
        let err = Expected::parse(Path::new("c.toml"), "[expected.rfc6455]\nquiet = \"fine\"\n").expect_err("bad kind");
        assert!(err.to_string().starts_with("c.toml: cannot read the expected cells:"), "{err}");
    }
}
