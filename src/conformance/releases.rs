//! The release check: a client release's cells against the previous release of the same client
//! (`paho-python@2.2.0` against `paho-python@2.1.0`), case by case. Pure: grids and measured
//! cells in, the changed cases out, and the Markdown a job summary shows.
//!
//! A release column is named `client@version`. Its previous release is the highest version of
//! the same client below it among the grid's columns and the columns `conformance.toml`
//! measured; its cells come from the grid when it ran there, else from the file.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::conformance::expected::Expected;
use crate::conformance::grid::Grid;
use crate::conformance::judge::Kind;
use crate::plan::releases::compare;

/// One case whose kind differs between two releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseChange {
    /// The case id.
    pub case: String,
    /// The previous release's kind, `None` when it was not measured there.
    pub before: Option<Kind>,
    /// This release's kind, `None` when it did not run here.
    pub after: Option<Kind>,
}

/// Where the previous release's cells come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// It ran in the same grid.
    Grid,
    /// `conformance.toml`'s measured cells.
    Measured,
}

/// A release and what changed against its previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseChange {
    /// The release's column (`client@version`).
    pub column: String,
    /// The previous release's column and where its cells come from; `None` for a client's first.
    pub previous: Option<(String, Source)>,
    /// The cases that changed, in the grid's case order.
    pub changes: Vec<CaseChange>,
}

/// A release column's client and version: `paho-java@1.2.5` → (`paho-java`, `1.2.5`).
pub fn client_and_version(column: &str) -> Option<(&str, &str)> {
    column.split_once('@').filter(|(c, v)| !c.is_empty() && !v.is_empty())
}

/// The previous release of `column` among `known` columns: the same client, the highest version
/// below its own.
pub fn previous_release<'a>(column: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let (client, version) = client_and_version(column)?;
    known
        .into_iter()
        .filter_map(|k| client_and_version(k).filter(|(c, v)| *c == client && compare(v, version) == Ordering::Less).map(|(_, v)| (k, v)))
        .max_by(|a, b| compare(a.1, b.1))
        .map(|(k, _)| k)
}

/// The cases whose kinds differ between two columns' cells (case id → kind), in `order`.
pub fn changed_cases(order: &[&str], before: &BTreeMap<String, Kind>, after: &BTreeMap<String, Kind>) -> Vec<CaseChange> {
    order
        .iter()
        .filter_map(|case| {
            let (b, a) = (before.get(*case).copied(), after.get(*case).copied());
            (b != a).then(|| CaseChange { case: (*case).to_string(), before: b, after: a })
        })
        .collect()
}

/// A column's kinds in a grid, case id → kind.
pub fn kinds_in(grid: &Grid, column: &str) -> BTreeMap<String, Kind> {
    grid.cells.iter().filter(|c| c.column == column).map(|c| (c.case.to_string(), c.judged.kind)).collect()
}

/// For each client of the grid, its newest release in the grid against its previous release.
pub fn newest_releases(grid: &Grid, measured: Option<&Expected>) -> Vec<ReleaseChange> {
    let mut newest: BTreeMap<&str, &str> = BTreeMap::new();
    for column in &grid.columns {
        if let Some((client, version)) = client_and_version(column) {
            let keep = newest.get(client).and_then(|c| client_and_version(c)).is_some_and(|(_, v)| compare(v, version) != Ordering::Less);
            if !keep {
                newest.insert(client, column);
            }
        }
    }
    newest.values().map(|column| against_previous(grid, measured, column)).collect()
}

/// One release of the grid against its previous release.
pub fn against_previous(grid: &Grid, measured: Option<&Expected>, column: &str) -> ReleaseChange {
    let order: Vec<&str> = grid.cases.iter().map(|c| c.id).collect();
    let known = grid.columns.iter().map(String::as_str).chain(measured.into_iter().flat_map(|m| m.columns.keys().map(String::as_str)));
    let previous = previous_release(column, known).map(str::to_string);
    let after = kinds_in(grid, column);
    match previous {
        None => ReleaseChange { column: column.to_string(), previous: None, changes: Vec::new() },
        Some(p) => {
            let (before, source) = if grid.columns.contains(&p) {
                (kinds_in(grid, &p), Source::Grid)
            } else {
                let file = measured.and_then(|m| m.columns.get(&p)).cloned().unwrap_or_default();
                // Only the cases this grid ran: a file measures every case, a grid may run a few.
                (file.into_iter().filter(|(c, _)| after.contains_key(c)).collect(), Source::Measured)
            };
            ReleaseChange { column: column.to_string(), changes: changed_cases(&order, &before, &after), previous: Some((p, source)) }
        }
    }
}

fn word(k: Option<Kind>) -> &'static str {
    k.map_or("not run", Kind::word)
}

/// The release check as Markdown for a job summary: one line per release, then its changed cases.
pub fn markdown(changes: &[ReleaseChange]) -> String {
    let mut out = String::from("### Client releases against their previous release (conformance grid)\n\n");
    if changes.is_empty() {
        out.push_str("No release column (`client@version`) in the grid.\n");
    }
    for r in changes {
        match &r.previous {
            None => out.push_str(&format!("- `{}`: the client's first release here, nothing to compare with\n", r.column)),
            Some((p, source)) => {
                let from = match source {
                    Source::Grid => "",
                    Source::Measured => " (as measured in conformance.toml)",
                };
                if r.changes.is_empty() {
                    out.push_str(&format!("- `{}` against `{p}`{from}: no case changed\n", r.column));
                } else {
                    out.push_str(&format!("- `{}` against `{p}`{from}: {} case(s) changed\n", r.column, r.changes.len()));
                    for c in &r.changes {
                        out.push_str(&format!("  - `{}`: {} → {}\n", c.case, word(c.before), word(c.after)));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(pairs: &[(&str, Kind)]) -> BTreeMap<String, Kind> {
        pairs.iter().map(|(c, k)| ((*c).to_string(), *k)).collect()
    }

    #[test]
    fn the_previous_release_is_the_highest_version_below_of_the_same_client() {
        let known = ["paho-java@1.2.4", "paho-java@1.2.10", "paho-java@1.1.0", "paho-python@2.1.0", "paho-java@1.2.5", "rfc6455"];
        assert_eq!(previous_release("paho-java@1.2.5", known), Some("paho-java@1.2.4"));
        assert_eq!(previous_release("paho-java@1.2.11", known), Some("paho-java@1.2.10"));
        assert_eq!(previous_release("paho-java@1.1.0", known), None);
        assert_eq!(previous_release("paho-python@2.2.0", known), Some("paho-python@2.1.0"));
        assert_eq!(previous_release("rfc6455", known), None);
    }

    #[test]
    fn only_the_cases_whose_kind_changed_are_named_in_case_order() {
        let before = kinds(&[("quiet", Kind::Ok), ("lws4-ping", Kind::Ok), ("text-frame", Kind::NonStrict)]);
        let after = kinds(&[("quiet", Kind::Ok), ("lws4-ping", Kind::Dropped), ("text-frame", Kind::NonStrict), ("rst", Kind::Ok)]);
        let changed = changed_cases(&["quiet", "lws4-ping", "text-frame", "rst"], &before, &after);
        assert_eq!(
            changed,
            vec![
                CaseChange { case: "lws4-ping".into(), before: Some(Kind::Ok), after: Some(Kind::Dropped) },
                CaseChange { case: "rst".into(), before: None, after: Some(Kind::Ok) },
            ]
        );
        assert!(changed_cases(&["quiet"], &before, &before).is_empty());
    }

    fn grid(columns: &[(&str, [Kind; 2])]) -> Grid {
        use crate::conformance::grid::GridCell;
        use crate::conformance::judge::Judged;
        let cases: Vec<&'static crate::conformance::case::Case> = crate::conformance::case::CASES[..2].iter().collect();
        let cells = columns
            .iter()
            .flat_map(|(col, kinds)| {
                cases.iter().zip(kinds).map(|(case, kind)| GridCell {
                    column: (*col).to_string(),
                    case: case.id,
                    judged: Judged { kind: *kind, did: String::new(), evidence: Vec::new() },
                    took: std::time::Duration::ZERO,
                })
            })
            .collect();
        Grid { cases, columns: columns.iter().map(|(c, _)| (*c).to_string()).collect(), cells, wall: std::time::Duration::ZERO }
    }

    #[test]
    fn each_clients_newest_release_is_compared_with_its_previous_in_the_grid_or_in_the_file() {
        let g = grid(&[("paho-java@1.2.4", [Kind::Ok, Kind::Ok]), ("paho-java@1.2.5", [Kind::Ok, Kind::Dropped]), ("mqttjs@5.16.0", [Kind::Ok, Kind::Ok]), ("rfc6455", [Kind::Ok, Kind::Ok])]);
        let measured = Expected { columns: [("mqttjs@4.3.8".to_string(), kinds(&[("quiet", Kind::Ok), ("lws4-ping", Kind::NonStrict), ("rst", Kind::Ok)]))].into(), ..Expected::default() };
        let changes = newest_releases(&g, Some(&measured));
        let lws4 = |before, after| CaseChange { case: "lws4-ping".into(), before: Some(before), after: Some(after) };
        assert_eq!(
            changes,
            vec![
                ReleaseChange { column: "mqttjs@5.16.0".into(), previous: Some(("mqttjs@4.3.8".into(), Source::Measured)), changes: vec![lws4(Kind::NonStrict, Kind::Ok)] },
                ReleaseChange { column: "paho-java@1.2.5".into(), previous: Some(("paho-java@1.2.4".into(), Source::Grid)), changes: vec![lws4(Kind::Ok, Kind::Dropped)] },
            ]
        );
    }

    #[test]
    fn the_summary_says_what_changed_and_against_which_release() {
        let r = ReleaseChange {
            column: "paho-java@1.2.5".into(),
            previous: Some(("paho-java@1.2.4".into(), Source::Measured)),
            changes: vec![CaseChange { case: "lws4-ping".into(), before: Some(Kind::Ok), after: Some(Kind::Dropped) }],
        };
        let md = markdown(&[r]);
        assert!(md.contains("- `paho-java@1.2.5` against `paho-java@1.2.4` (as measured in conformance.toml): 1 case(s) changed\n  - `lws4-ping`: OK → DROPPED\n"), "{md}");
    }
}
