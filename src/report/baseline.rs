//! `baseline`: writes observed outcomes back into matrix.toml as the new expectations, and
//! each tag's image digest into `[sets.<set>.digests]`, keeping its comments and layout (a
//! format-preserving TOML editor, not string surgery).
//!
//! Only registry digests (`repo@sha256:…`) are recorded: they name what a registry serves
//! under the tag, so a later run can tell the tag was rebuilt in place. A locally built image
//! has only an image id, which changes with every build, so it is left out.
//!
//! A cell on a route other than `direct` is written to `[sets.<set>.expect_on.<route>]` only
//! where it differs from what `direct` expects of the column on that tag (after this run's
//! direct cells are written), and its entry there is removed where it no longer differs: a
//! route's table keeps saying only where the route differs.
//!
//! A client version the run ran on demand (`--client-versions X@VERSION`, not in matrix.toml) is
//! first added to its client's `versions = [...]`, then its cells are written like any other.
//!
//! Only what was proven is accepted: an ERROR cell (the harness could not run it) and an OK
//! that the hold could not prove (a quick look that ended before the 5-minute mark) are
//! skipped, one line each. A key is written only where the expectation the plan would use
//! (the same lookup, [`crate::plan::ImageSet::expectation`]: a client's family key stands for
//! each of its versions) is not met by the observed outcome, so a result that met everything
//! writes nothing.

use std::path::Path;

use toml_edit::{value, Array, DocumentMut, InlineTable, Item, Value};

use crate::judge::results::{self, content_digest, CellResult, RunResult};
use crate::plan::file::{find_column, EVERY_COLUMN, EVERY_TAG};
use crate::plan::releases::compare;
use crate::plan::route::DIRECT;
use crate::plan::{MatrixFile, Outcome, Route, FIVE_MINUTE_MARK};

/// Why a baseline could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaselineError {
    /// matrix.toml is not valid TOML.
    #[error("matrix.toml is not valid TOML: {0}")]
    Parse(String),
    /// The result's set is not in the file.
    #[error("the result is for set {0:?}, which matrix.toml does not define")]
    UnknownSet(String),
    /// A run with copies measures the harness under load, not new expectations.
    #[error("the result ran {0} copies of each tag (rows TAG#K); accept a run without --copies")]
    Copies(u32),
    /// matrix.toml does not load as it is, so the plan's expectations cannot be read.
    #[error("{0}")]
    Config(String),
}

/// What a baseline did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baselined {
    /// The new file text.
    pub text: String,
    /// Cells whose expectation was written or changed, as `tag/profile: OLD -> NEW`.
    pub changed: Vec<String>,
    /// Cells left alone, one line each with why: the harness could not run them (ERROR), or
    /// the hold could not prove their OK.
    pub skipped: Vec<String>,
    /// Tags added to the set's tag list.
    pub added_tags: Vec<String>,
    /// Digests written or changed, as `tag: digest OLD -> NEW`.
    pub digests: Vec<String>,
    /// Client versions the run ran on demand, added to their client's `versions = [...]`
    /// (`X@VERSION`).
    pub added_versions: Vec<String>,
}

/// The expectation text for an observed verdict: `OK`, or the outcome with whole seconds.
pub fn expectation_text(outcome: Outcome, at: Option<std::time::Duration>) -> String {
    match (outcome, at) {
        (Outcome::Ok, _) | (_, None) => outcome.name().to_string(),
        (o, Some(at)) => format!("{}@{}", o.name(), at.as_secs_f64().round() as u64),
    }
}

/// Why a cell's outcome cannot become an expectation, if it cannot: one line, the cell named.
pub fn not_accepted(run: &RunResult, c: &CellResult) -> Option<String> {
    match c.verdict.outcome {
        Outcome::Error => Some(format!("{}: ERROR (the harness could not run it), expectation left as it was", c.id())),
        Outcome::Ok if !run.five_minute_mark_reached || run.hold_secs <= FIVE_MINUTE_MARK.as_secs_f64() => Some(format!(
            "{}: OK not proven (the hold of {} s ended before the 5-minute mark), expectation left as it was",
            c.id(),
            run.hold_secs
        )),
        _ => None,
    }
}

/// Whether the expectation the plan would use for this cell (read from `file`) is met by its
/// outcome, within the file's tolerance.
fn plan_is_met(file: &MatrixFile, run: &RunResult, c: &CellResult) -> bool {
    let (Some(set), Some(column)) = (file.set(&run.set), find_column(c.column(), &file.clients)) else { return false };
    let Some(route) = Route::from_name(&c.route) else { return false };
    set.expectation(&c.tag, &column, route).is_some_and(|e| results::meets(&e, &c.verdict, file.tolerance))
}

/// Applies a run's outcomes to matrix.toml's text (`path` names the file in errors).
pub fn apply(path: &Path, text: &str, run: &RunResult) -> Result<Baselined, BaselineError> {
    if run.copies > 1 {
        return Err(BaselineError::Copies(run.copies));
    }
    let listed = MatrixFile::parse(path, text).map_err(|e| BaselineError::Config(e.to_string()))?;
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| BaselineError::Parse(e.to_string()))?;
    let mut out = Baselined::default();
    // A version run on demand becomes one of its client's versions first, so its cells have a
    // column to be expected of.
    add_client_versions(&mut doc, &listed, run, &mut out)?;
    let before = MatrixFile::parse(path, &doc.to_string()).map_err(|e| BaselineError::Config(e.to_string()))?;
    let set = doc
        .get_mut("sets")
        .and_then(|s| s.get_mut(&run.set))
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| BaselineError::UnknownSet(run.set.clone()))?;
    if set.get("tags").and_then(Item::as_array).is_none() {
        set.insert("tags", value(Array::new()));
    }
    for t in &run.tags {
        let tags = set.get_mut("tags").and_then(Item::as_array_mut).expect("tags was just ensured");
        if !tags.iter().any(|v| v.as_str() == Some(&t.tag)) {
            tags.push(t.tag.as_str());
            out.added_tags.push(t.tag.clone());
        }
    }
    if set.get("expect").is_none() {
        set.insert("expect", Item::Table(toml_edit::Table::new()));
    }
    let expect = set.get_mut("expect").and_then(Item::as_table_like_mut).ok_or_else(|| BaselineError::UnknownSet(run.set.clone()))?;
    for c in run.cells.iter().filter(|c| c.route == DIRECT) {
        if let Some(why) = not_accepted(run, c) {
            out.skipped.push(why);
            continue;
        }
        if plan_is_met(&before, run, c) {
            continue;
        }
        let new = expectation_text(c.verdict.outcome, c.verdict.at);
        if expect.get(&c.tag).is_none() {
            expect.insert(&c.tag, value(InlineTable::new()));
        }
        let row = expect.get_mut(&c.tag).and_then(Item::as_table_like_mut).ok_or_else(|| BaselineError::UnknownSet(run.set.clone()))?;
        let old = row.get(c.profile.as_str()).and_then(Item::as_str).map(String::from);
        if old.as_deref() == Some(new.as_str()) {
            continue;
        }
        match row.get_mut(c.profile.as_str()) {
            // Keep the cell's own spacing so the aligned columns stay aligned.
            Some(Item::Value(v)) => {
                let decor = v.decor().clone();
                *v = Value::from(new.as_str());
                *v.decor_mut() = decor;
            }
            _ => {
                row.insert(c.profile.as_str(), value(new.as_str()));
            }
        }
        out.changed.push(format!("{}: {} -> {new}", c.id(), old.as_deref().unwrap_or("(none)")));
    }
    // A route inherits from direct: read the plan again with this run's direct cells written.
    let direct_written = MatrixFile::parse(path, &doc.to_string()).map_err(|e| BaselineError::Config(e.to_string()))?;
    for c in run.cells.iter().filter(|c| c.route != DIRECT) {
        if let Some(why) = not_accepted(run, c) {
            out.skipped.push(why);
            continue;
        }
        if plan_is_met(&direct_written, run, c) {
            continue;
        }
        route_cell(&mut doc, run, c, &mut out)?;
    }
    record_digests(&mut doc, run, &mut out)?;
    out.text = doc.to_string();
    Ok(out)
}

/// Adds each client version the run ran that its `[clients.X] versions = [...]` lacks (run on
/// demand) to that list, when at least one of its cells can be accepted.
fn add_client_versions(doc: &mut DocumentMut, listed: &MatrixFile, run: &RunResult, out: &mut Baselined) -> Result<(), BaselineError> {
    for column in run.profiles.iter().filter(|c| !c.contains('+') && !c.contains('/')) {
        let Some((client, version)) = column.split_once('@') else { continue };
        let Some(family) = listed.versioned.iter().find(|f| f.client == client) else { continue };
        if family.versions.iter().any(|v| v == version) || !run.cells.iter().any(|c| &c.profile == column && not_accepted(run, c).is_none()) {
            continue;
        }
        let versions = doc
            .get_mut("clients")
            .and_then(|c| c.get_mut(client))
            .and_then(|t| t.get_mut("versions"))
            .and_then(Item::as_array_mut)
            .ok_or_else(|| BaselineError::Config(format!("[clients.{client}] has no versions = [...] to add {version} to")))?;
        // In release order, where the list is in release order.
        let at = versions.iter().position(|v| v.as_str().is_some_and(|v| compare(v, version) == std::cmp::Ordering::Greater)).unwrap_or(versions.len());
        versions.insert(at, version);
        out.added_versions.push(column.clone());
    }
    Ok(())
}

/// What a row says of a column: its own entry, else its client's (`paho-java` for `paho-java@1.2.5`).
fn entry(row: Option<&Item>, column: &str) -> Option<String> {
    let row = row?.as_table_like()?;
    let family = column.split_once('@').map(|(f, _)| f);
    row.get(column).or_else(|| family.and_then(|f| row.get(f))).and_then(Item::as_str).map(String::from)
}

/// Writes one cell of a route other than `direct`, where it differs from `direct`.
fn route_cell(doc: &mut DocumentMut, run: &RunResult, c: &CellResult, out: &mut Baselined) -> Result<(), BaselineError> {
    let unknown = || BaselineError::UnknownSet(run.set.clone());
    let new = expectation_text(c.verdict.outcome, c.verdict.at);
    let column = c.column();
    let set = doc.get_mut("sets").and_then(|s| s.get_mut(&run.set)).and_then(Item::as_table_like_mut).ok_or_else(unknown)?;
    let direct = entry(set.get("expect").and_then(|e| e.get(&c.tag)), column);
    if set.get("expect_on").is_none() {
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        set.insert("expect_on", Item::Table(t));
    }
    let on = set.get_mut("expect_on").and_then(Item::as_table_like_mut).ok_or_else(unknown)?;
    if on.get(&c.route).is_none() {
        on.insert(&c.route, Item::Table(toml_edit::Table::new()));
    }
    let route = on.get_mut(&c.route).and_then(Item::as_table_like_mut).ok_or_else(unknown)?;
    // Without an entry of its own on this tag, the cell is expected what the tag's row says of
    // every column, else the route's "*" row (of the column, else of every column), else direct.
    let every = |row: Option<&Item>| row.and_then(|r| r.get(EVERY_COLUMN)).and_then(Item::as_str).map(String::from);
    let inherited = every(route.get(&c.tag)).or_else(|| entry(route.get(EVERY_TAG), column)).or_else(|| every(route.get(EVERY_TAG))).or(direct);
    let old = entry(route.get(&c.tag), column);
    if inherited.as_deref() == Some(new.as_str()) {
        if let Some(row) = route.get_mut(&c.tag).and_then(Item::as_table_like_mut) {
            if row.remove(column).is_some() {
                out.changed.push(format!("{}: {} -> {new} (as direct; the route's own entry is removed)", c.id(), old.as_deref().unwrap_or("(none)")));
            }
        }
        return Ok(());
    }
    if old.as_deref() == Some(new.as_str()) {
        return Ok(());
    }
    if route.get(&c.tag).is_none() {
        route.insert(&c.tag, value(InlineTable::new()));
    }
    let row = route.get_mut(&c.tag).and_then(Item::as_table_like_mut).ok_or_else(unknown)?;
    row.insert(column, value(new.as_str()));
    out.changed.push(format!("{}: {} -> {new}", c.id(), old.or(inherited).as_deref().unwrap_or("(none)")));
    Ok(())
}

/// Writes each tag's registry digest into `[sets.<set>.digests]`.
fn record_digests(doc: &mut DocumentMut, run: &RunResult, out: &mut Baselined) -> Result<(), BaselineError> {
    let seen: Vec<(&str, &str)> = run
        .tags
        .iter()
        // A tag whose broker could not be had had no outcome accepted: its digest would vouch for nothing.
        .filter(|t| t.error.is_none())
        .filter_map(|t| {
            let d = t.image.digest.as_deref().filter(|d| d.contains('@'))?;
            Some((t.tag.as_str(), content_digest(d)))
        })
        .collect();
    if seen.is_empty() {
        return Ok(());
    }
    let set = doc
        .get_mut("sets")
        .and_then(|s| s.get_mut(&run.set))
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| BaselineError::UnknownSet(run.set.clone()))?;
    if set.get("digests").is_none() {
        set.insert("digests", Item::Table(toml_edit::Table::new()));
    }
    let digests = set.get_mut("digests").and_then(Item::as_table_like_mut).ok_or_else(|| BaselineError::UnknownSet(run.set.clone()))?;
    for (tag, digest) in seen {
        let old = digests.get(tag).and_then(Item::as_str).map(String::from);
        if old.as_deref() == Some(digest) {
            continue;
        }
        digests.insert(tag, value(digest));
        out.digests.push(format!("{tag}: digest {} -> {digest}", old.as_deref().unwrap_or("(none)")));
    }
    Ok(())
}

/// What a baseline would change in matrix.toml, as a unified diff (`--- path`, `+++ path`,
/// three lines of context); empty when nothing changes.
pub fn file_diff(path: &str, before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    similar::TextDiff::from_lines(before, after).unified_diff().context_radius(3).header(path, path).to_string()
}
