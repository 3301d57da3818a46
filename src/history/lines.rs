//! Each cell's line through the runs of a history: its current result, the run it holds
//! since, every change (with both runs' cells as evidence), and the image digest changes
//! beside them. Pure: runs come in one at a time, in order; text comes out.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::judge::results::{content_digest, CellResult, RunResult};
use crate::plan::Outcome;
use crate::report::compare::{same, SAME_TIME};
use crate::report::html::outcome_words;

/// One run of a history, without its cells.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Its number in the history, from 1.
    pub seq: usize,
    /// The run's result, its cells moved into the cells' lines (empty here).
    pub result: RunResult,
    /// The cells it had, in its order, as indexes into [`History::cells`].
    pub cells: Vec<usize>,
    /// The changes it brought, as (cell index, index into that cell's changes).
    pub changes: Vec<(usize, usize)>,
    /// The cells it ran for the first time in its set (after the set's first run).
    pub new_cells: Vec<usize>,
    /// The image digest changes it brought, as indexes into [`History::digests`].
    pub digests: Vec<usize>,
}

/// A cell's result in one run, for a strip of its last runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    /// The run's number.
    pub run: usize,
    /// Its outcome there.
    pub outcome: Outcome,
}

/// A cell whose outcome moved between two runs of its set.
#[derive(Debug, Clone)]
pub struct Change {
    /// The run that brought the new result.
    pub run: usize,
    /// The last run before it that had the cell.
    pub from_run: usize,
    /// The cell there: the old evidence.
    pub old: CellResult,
    /// The cell in `run`: the new evidence.
    pub new: CellResult,
    /// The tag's image digest change between the two runs, if its image was rebuilt.
    pub digest: Option<usize>,
}

/// A tag whose image digest changed from one run of its set to the next that had it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChange {
    /// The run whose digest differs.
    pub run: usize,
    /// The last run before it with a digest for the tag.
    pub from_run: usize,
    /// The set.
    pub set: String,
    /// The tag.
    pub tag: String,
    /// The digest before (`sha256:…`).
    pub old: String,
    /// The digest now.
    pub new: String,
}

/// One cell's line through the history.
#[derive(Debug, Clone)]
pub struct CellHistory {
    /// The set.
    pub set: String,
    /// The tag.
    pub tag: String,
    /// The column under its route, as a result's `profile`.
    pub profile: String,
    /// The cell in the last run that had it.
    pub current: CellResult,
    /// The run the current result holds since (its first run, or its last change).
    pub since: usize,
    /// The first run that had the cell.
    pub first: usize,
    /// Every run that had it, in order.
    pub seen: Vec<Seen>,
    /// Every change, in order.
    pub changes: Vec<Change>,
}

impl CellHistory {
    /// `set/tag/profile`: unique across a history.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.set, self.tag, self.profile)
    }

    /// Its outcome in `run`, if that run had it.
    pub fn in_run(&self, run: usize) -> Option<Outcome> {
        self.seen.binary_search_by_key(&run, |s| s.run).ok().map(|i| self.seen[i].outcome)
    }
}

/// A whole history, built one run at a time.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Every run, in order (`runs[k].seq == k + 1`).
    pub runs: Vec<RunInfo>,
    /// Every cell ever run, in the order first seen.
    pub cells: Vec<CellHistory>,
    /// Every image digest change, in order.
    pub digests: Vec<DigestChange>,
    by_key: HashMap<(String, String, String), usize>,
    digest_now: HashMap<(String, String), (String, usize)>,
}

/// A cell's result in words, without the terminal's symbols: `EOF 300.0 s`, `OK, PING 300.0 s`.
pub fn words(c: &CellResult) -> String {
    outcome_words(c)
}

/// The day of an RFC 3339 time (`2026-12-01`).
pub fn day(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}

impl History {
    /// Builds the history of `runs`, given in order.
    pub fn of(runs: impl IntoIterator<Item = RunResult>) -> History {
        let mut h = History::default();
        for r in runs {
            h.push(r);
        }
        h
    }

    /// The runs of `set`, in order.
    pub fn runs_of<'a>(&'a self, set: &'a str) -> impl Iterator<Item = &'a RunInfo> + 'a {
        self.runs.iter().filter(move |r| r.result.set == set)
    }

    /// The sets, in the order first seen.
    pub fn sets(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in &self.runs {
            if !out.contains(&r.result.set.as_str()) {
                out.push(&r.result.set);
            }
        }
        out
    }

    /// The run numbered `seq`.
    pub fn run(&self, seq: usize) -> Option<&RunInfo> {
        seq.checked_sub(1).and_then(|i| self.runs.get(i))
    }

    /// The latest run of `set`, with the cells it had put back.
    pub fn latest(&self, set: &str) -> Option<RunResult> {
        let info = self.runs_of(set).last()?;
        let mut r = info.result.clone();
        r.cells = info.cells.iter().map(|&i| self.cells[i].current.clone()).collect();
        Some(r)
    }

    /// Adds the next run (numbered the history's next).
    pub fn push(&mut self, mut r: RunResult) {
        let seq = self.runs.len() + 1;
        let set = r.set.clone();
        let set_is_new = !self.runs.iter().any(|x| x.result.set == set);
        let cells = std::mem::take(&mut r.cells);
        let mut info = RunInfo { seq, result: r, cells: Vec::new(), changes: Vec::new(), new_cells: Vec::new(), digests: Vec::new() };
        for t in &info.result.tags {
            let Some(d) = t.image.digest.as_deref().map(content_digest) else { continue };
            let key = (set.clone(), t.tag.clone());
            match self.digest_now.get(&key) {
                Some((old, from)) if old != d => {
                    info.digests.push(self.digests.len());
                    self.digests.push(DigestChange { run: seq, from_run: *from, set: set.clone(), tag: t.tag.clone(), old: old.clone(), new: d.to_string() });
                }
                _ => {}
            }
            self.digest_now.insert(key, (d.to_string(), seq));
        }
        for c in cells {
            let key = (set.clone(), c.tag.clone(), c.profile.clone());
            let seen = Seen { run: seq, outcome: c.verdict.outcome };
            match self.by_key.get(&key) {
                Some(&i) => {
                    let line = &mut self.cells[i];
                    let from_run = line.seen.last().map_or(seq, |s| s.run);
                    line.seen.push(seen);
                    let old = std::mem::replace(&mut line.current, c);
                    if !same(&old, &line.current, SAME_TIME) {
                        let digest = self.digests.iter().rposition(|d| d.set == set && d.tag == line.tag && d.run > from_run && d.run <= seq);
                        let new = line.current.clone();
                        line.changes.push(Change { run: seq, from_run, old, new, digest });
                        line.since = seq;
                        info.changes.push((i, line.changes.len() - 1));
                    }
                    info.cells.push(i);
                }
                None => {
                    let i = self.cells.len();
                    self.cells.push(CellHistory { set: set.clone(), tag: c.tag.clone(), profile: c.profile.clone(), current: c, since: seq, first: seq, seen: vec![seen], changes: Vec::new() });
                    self.by_key.insert(key, i);
                    if !set_is_new {
                        info.new_cells.push(i);
                    }
                    info.cells.push(i);
                }
            }
        }
        self.runs.push(info);
    }

    /// What `history show` prints: per set, per cell its current result and since which run,
    /// then every change with the image digest change beside it; then every digest change.
    pub fn show(&self) -> String {
        let mut out = String::new();
        let changes: usize = self.cells.iter().map(|c| c.changes.len()).sum();
        let _ = writeln!(
            out,
            "{} runs, {} cells, {} changes, {} image digest changes",
            self.runs.len(),
            self.cells.len(),
            changes,
            self.digests.len()
        );
        for set in self.sets() {
            let runs: Vec<&RunInfo> = self.runs_of(set).collect();
            let (Some(first), Some(last)) = (runs.first(), runs.last()) else { continue };
            let _ = writeln!(
                out,
                "\n{set}: {} runs, run {} ({}) to run {} ({})",
                runs.len(),
                first.seq,
                day(&first.result.started_at),
                last.seq,
                day(&last.result.started_at)
            );
            let lines: Vec<&CellHistory> = self.cells.iter().filter(|c| c.set == set).collect();
            let width = lines.iter().map(|c| c.tag.len() + c.profile.len() + 1).max().unwrap_or(0);
            for c in lines {
                let id = format!("{}/{}", c.tag, c.profile);
                let gone = if c.seen.last().is_some_and(|s| s.run != last.seq) {
                    format!(" (not in the latest run; last seen in run {})", c.seen.last().map_or(0, |s| s.run))
                } else {
                    String::new()
                };
                let _ = writeln!(out, "  {id:<width$}  {}  since run {}{gone}", words(&c.current), self.run_label(c.since));
                for ch in &c.changes {
                    let _ = write!(out, "    run {}: {} → {}", self.run_label(ch.run), words(&ch.old), words(&ch.new));
                    if let Some(d) = ch.digest.and_then(|d| self.digests.get(d)) {
                        let _ = write!(out, "  [image digest {} → {}]", short(&d.old), short(&d.new));
                    }
                    let _ = writeln!(out, "; {}", ch.new.verdict.cause);
                }
            }
        }
        if !self.digests.is_empty() {
            let _ = writeln!(out, "\nimage digest changes");
            for d in &self.digests {
                let _ = writeln!(out, "  {} {}: run {}: {} → {}", d.set, d.tag, self.run_label(d.run), d.old, d.new);
            }
        }
        out
    }

    /// `7 (2026-12-01)`: a run's number and day.
    pub fn run_label(&self, seq: usize) -> String {
        match self.run(seq) {
            Some(r) => format!("{seq} ({})", day(&r.result.started_at)),
            None => seq.to_string(),
        }
    }
}

/// A digest shortened for a line: `sha256:` and its first 12 hex digits.
pub fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> RunResult {
        serde_json::from_str(text).expect("the test's result")
    }

    #[test]
    fn an_outcome_change_is_one_change_since_its_run_and_a_digest_change_is_shown_beside_it() {
        let base = run(include_str!("../../tests/data/debian.json"));
        let mut second = base.clone();
        second.started_at = "2026-12-02T14:00:00Z".to_string();
        let cell = &mut second.cells[0];
        cell.verdict.outcome = Outcome::Ok;
        cell.verdict.at = Some(std::time::Duration::from_secs(330));
        cell.verdict.ended_by = None;
        cell.verdict.answered = None;
        let tag = cell.tag.clone();
        let t = second.tags.iter_mut().find(|t| t.tag == tag).expect("the cell's tag");
        t.image.digest = Some("sha256:1111111111111111111111111111111111111111111111111111111111111111".to_string());
        let h = History::of([base.clone(), second]);
        let changed: Vec<&CellHistory> = h.cells.iter().filter(|c| !c.changes.is_empty()).collect();
        assert_eq!(changed.len(), 1, "{}", h.show());
        assert_eq!(changed[0].since, 2);
        assert_eq!(changed[0].changes[0].from_run, 1);
        assert_eq!(h.digests.len(), 1);
        let text = h.show();
        assert!(text.contains("run 2 (2026-12-02): EOF 300.0 s → OK, PING 300.0 s  [image digest sha256:25c0ed89aaa4 → sha256:111111111111]"), "{text}");
        assert_eq!(h.latest("debian").expect("the set").cells.len(), base.cells.len());
    }

    #[test]
    fn a_cell_missing_from_one_run_is_no_change_and_a_cell_first_seen_later_is_new_there() {
        let base = run(include_str!("../../tests/data/debian.json"));
        let mut narrower = base.clone();
        narrower.cells.retain(|c| c.tag != "sid");
        let mut wider = base.clone();
        let mut extra = wider.cells[0].clone();
        extra.tag = "forky".to_string();
        wider.cells.push(extra);
        let h = History::of([base.clone(), narrower, wider]);
        assert!(h.cells.iter().all(|c| c.changes.is_empty()), "{}", h.show());
        let sid = h.cells.iter().find(|c| c.tag == "sid").expect("sid's first cell");
        assert_eq!((sid.since, sid.seen.iter().map(|s| s.run).collect::<Vec<_>>()), (1, vec![1, 3]));
        assert_eq!(sid.in_run(2), None);
        let forky: Vec<usize> = h.runs[2].new_cells.iter().map(|&i| h.cells[i].first).collect();
        assert_eq!(forky, [3]);
        assert!(h.runs[0].new_cells.is_empty(), "a set's first run has no new cells, only cells");
    }
}
