//! The measured cells, kept in `conformance.toml`: one table per column, one key per case,
//! the kind measured (`ok`, `non-strict`, `dropped`, `not-applicable`). Loaded and checked
//! here, with the file and what is wrong; compared to a grid, cell by cell.

use std::collections::BTreeMap;
use std::path::Path;

use crate::conformance::brokers::{TagRow, BROKER_CASES};
use crate::conformance::case::case;
use crate::conformance::grid::Grid;
use crate::conformance::judge::Kind;
use crate::conformance::ConformanceError;

/// The expected kinds: column → case id → kind; and each broker tag's answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Column name → case id → kind.
    pub columns: BTreeMap<String, BTreeMap<String, Kind>>,
    /// Set → tag → broker case id → the answer in words (`conformance brokers`).
    pub brokers: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    expected: BTreeMap<String, BTreeMap<String, Kind>>,
    #[serde(default)]
    brokers: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
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
        Ok(Expected { columns: shape.expected, brokers: shape.brokers })
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
    /// broker answers of `keep` (the file it replaces) kept as they were.
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
    fn an_unknown_kind_is_a_parse_error_with_its_file() {
        let err = Expected::parse(Path::new("c.toml"), "[expected.rfc6455]\nquiet = \"fine\"\n").expect_err("bad kind");
        assert!(err.to_string().starts_with("c.toml: cannot read the expected cells:"), "{err}");
    }
}
