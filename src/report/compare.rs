//! Comparing and combining results: `diff` between two runs, `merge` of shards.

use std::fmt::Write as _;
use std::time::Duration;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::Serialize;

use crate::plan::copies;
use crate::report::{cell_text, exit};
use crate::judge::results::{content_digest, CellResult, RunResult, Status};

/// How far two end times may differ and still be the same outcome.
pub const SAME_TIME: Duration = Duration::from_secs(5);

/// One cell whose outcome differs between two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// `tag/profile`.
    pub cell: String,
    /// The old cell text, or `—` where the old run did not have the cell.
    pub old: String,
    /// The new cell text, or `—`.
    pub new: String,
    /// The new cause (or the old one where the cell is gone).
    pub cause: String,
}

/// Whether two cells tell the same outcome: the same outcome, ended by the same side, and the
/// broker's side of the end within `within` of each other, as read (each may truly be up to
/// its upgrade span later: `Reading::agrees_with`).
pub fn same(a: &CellResult, b: &CellResult, within: Duration) -> bool {
    let (x, y) = (&a.verdict, &b.verdict);
    x.outcome == y.outcome
        && x.ended_by == y.ended_by
        && match (x.broker_reading(), y.broker_reading()) {
            (Some(p), Some(q)) => p.agrees_with(&q, within),
            (p, q) => p.is_none() == q.is_none(),
        }
}

/// Why two results cannot be compared cell by cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{old_file} and {new_file} are not comparable: {what} is {old:?} in the first and {new:?} in the second; diff results of the same set, image, keepalive and hold")]
pub struct NotComparable {
    /// The older result's name.
    pub old_file: String,
    /// The newer result's name.
    pub new_file: String,
    /// Which field differs (`set`, `image`, `keepalive`, `hold`).
    pub what: &'static str,
    /// The older result's value.
    pub old: String,
    /// The newer result's value.
    pub new: String,
}

/// Checks that two results ran the same set, image, keepalive and hold, so that a cell of one
/// means what the same cell of the other means. Speed and copies may differ: both report
/// broker time, and copies are compared with their tag (see [`diff_within`]).
pub fn comparable(old_file: &str, old: &RunResult, new_file: &str, new: &RunResult) -> Result<(), NotComparable> {
    let fields: [(&'static str, String, String); 4] = [
        ("set", old.set.clone(), new.set.clone()),
        ("image", old.image.clone(), new.image.clone()),
        ("keepalive", format!("{} s", old.keepalive_secs), format!("{} s", new.keepalive_secs)),
        ("hold", format!("{} s", old.hold_secs), format!("{} s", new.hold_secs)),
    ];
    match fields.into_iter().find(|(_, a, b)| a != b) {
        None => Ok(()),
        Some((what, old, new)) => Err(NotComparable { old_file: old_file.to_string(), new_file: new_file.to_string(), what, old, new }),
    }
}

/// A diff as JSON: the notes (clocks, columns left out), the changed cells and the rebuilt images.
pub fn diff_json(notes: Option<&str>, changes: &[Change], digests: &[DigestChange]) -> String {
    #[derive(Serialize)]
    struct Diff<'a> {
        notes: Vec<&'a str>,
        changes: &'a [Change],
        digests: &'a [DigestChange],
    }
    let notes = notes.map(|n| n.lines().collect()).unwrap_or_default();
    serde_json::to_string_pretty(&Diff { notes, changes, digests }).unwrap_or_default()
}

/// The cells whose outcome changed from `old` to `new`, in `new`'s order, then the gone ones.
pub fn diff(old: &RunResult, new: &RunResult) -> Vec<Change> {
    diff_within(old, new, SAME_TIME)
}

/// [`diff`] with end times the same only when they agree `within` this (broker time): the
/// broker's side of each end (`Verdict::broker_time`), so a client's own reaction, which an
/// accelerated clock multiplies, does not count as the broker's time. A column that ran on real
/// time in an accelerated run (`ColumnInfo::real_clock`: its hold ÷ speed) is held to `within`
/// of its own, real time: its reactions (connect, subscribe) reach the broker ×speed later in
/// broker time, so its times agree within `within` × that speed.
///
/// A copy (`bookworm#3`) is compared with the same copy in the other run, or, when that run
/// has no such row, with every row of the same tag there (the tag itself, or all its copies):
/// each copy of a run with copies must agree with a single run, and the other way round.
pub fn diff_within(old: &RunResult, new: &RunResult, within: Duration) -> Vec<Change> {
    let mut out = Vec::new();
    for n in &new.cells {
        let olds = counterparts(old, &n.tag, &n.profile);
        let within = within * real_clock_factor(old, n.column()).max(real_clock_factor(new, n.column()));
        match olds.iter().find(|o| !same(o, n, within)).or(olds.first()) {
            Some(o) if same(o, n, within) => {}
            Some(o) => out.push(Change { cell: n.id(), old: cell_text(o), new: cell_text(n), cause: n.verdict.cause.clone() }),
            None => out.push(Change { cell: n.id(), old: "—".into(), new: cell_text(n), cause: n.verdict.cause.clone() }),
        }
    }
    for o in &old.cells {
        // A column the new run left out on purpose (and says why) has not changed.
        let left_out = new.left_out.iter().any(|l| l.column == o.profile);
        if counterparts(new, &o.tag, &o.profile).is_empty() && !left_out {
            out.push(Change { cell: o.id(), old: cell_text(o), new: "—".into(), cause: o.verdict.cause.clone() });
        }
    }
    out
}

/// The cells of `r` that a cell `tag/profile` of another run is compared with: the same row,
/// else every row of `r` made from the same image tag.
/// How many times a column's own reactions are stretched in `r`'s broker time: its speed when it
/// ran on real time there, else 1.
fn real_clock_factor(r: &RunResult, column: &str) -> u32 {
    if r.columns.iter().any(|c| c.name == column && c.real_clock) {
        r.speed.max(1)
    } else {
        1
    }
}

fn counterparts<'a>(r: &'a RunResult, tag: &str, profile: &str) -> Vec<&'a CellResult> {
    match r.cell(tag, profile) {
        Some(c) => vec![c],
        None => r.cells.iter().filter(|c| c.profile == profile && copies::image_tag(&c.tag) == copies::image_tag(tag)).collect(),
    }
}

/// What a diff must say before its changes when the two runs' clocks differ: both report
/// broker time, so their times compare, but a reader must know one was accelerated.
pub fn clocks_note(old: &RunResult, new: &RunResult) -> Option<String> {
    let words = |r: &RunResult| r.clock_words().unwrap_or_else(|| "real time".to_string());
    let left: Vec<String> = new.left_out.iter().map(|l| format!("{} ({})", l.column, l.why)).collect();
    let mut note = (old.speed != new.speed)
        .then(|| format!("note: the old run ran in {}, the new one in {}; both report broker time", words(old), words(new)));
    if !left.is_empty() {
        let line = format!("note: left out of the new run: {}", left.join("; "));
        note = Some(note.map_or(line.clone(), |n| format!("{n}\n{line}")));
    }
    note
}

/// A tag whose image digest differs between two runs: the image was rebuilt in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestChange {
    /// The tag.
    pub tag: String,
    /// The old run's digest (`sha256:…`).
    pub old: String,
    /// The new run's digest (`sha256:…`).
    pub new: String,
}

/// The tags both runs have whose image digest changed, in `new`'s order. Digests are
/// compared by content (`sha256:…`), whatever repository prefix each run recorded.
pub fn digest_changes(old: &RunResult, new: &RunResult) -> Vec<DigestChange> {
    new.tags
        .iter()
        .filter_map(|n| {
            let o = old.tags.iter().find(|o| o.tag == n.tag)?;
            let (a, b) = (content_digest(o.image.digest.as_deref()?), content_digest(n.image.digest.as_deref()?));
            (a != b).then(|| DigestChange { tag: n.tag.clone(), old: a.to_string(), new: b.to_string() })
        })
        .collect()
}

/// The digest changes, one line each (`- ` before each in Markdown); empty when there are none.
pub fn digest_lines(changes: &[DigestChange], markdown: bool) -> String {
    let mut out = String::new();
    for c in changes {
        let bullet = if markdown { "- " } else { "" };
        let _ = writeln!(out, "{bullet}{}: image digest changed ({} → {})", c.tag, c.old, c.new);
    }
    out
}

/// The changes as a terminal table.
pub fn diff_table(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no cell changed its outcome\n".to_string();
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(["cell", "old", "new", "cause"]);
    for c in changes {
        t.add_row([&c.cell, &c.old, &c.new, &c.cause]);
    }
    format!("{t}\n")
}

/// The changes as Markdown.
pub fn diff_markdown(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "No cell changed its outcome.\n".to_string();
    }
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = String::from("| cell | old | new | cause |\n|---|---|---|---|\n");
    for c in changes {
        let _ = writeln!(out, "| {} | {} | {} | {} |", esc(&c.cell), esc(&c.old), esc(&c.new), esc(&c.cause));
    }
    out
}

/// Why shards cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no shard results given")]
    Empty,
    /// The shards come from different sets, images, holds or schema versions.
    #[error("{file}: {what} is {theirs:?}, but the first shard has {ours:?}")]
    Mismatch {
        /// Which input.
        file: String,
        /// Which field.
        what: &'static str,
        /// The first shard's value.
        ours: String,
        /// This one's.
        theirs: String,
    },
    /// Two shards ran the same cell.
    #[error("{file}: cell {cell} is also in an earlier shard")]
    Duplicate {
        /// Which input.
        file: String,
        /// The cell.
        cell: String,
    },
    /// Results of a sharded run and of a whole run, or of series of different sizes.
    #[error("{file}: shard {theirs}, but the first result is shard {ours}; merge the shards of one --shard K/N series")]
    ShardSeries {
        /// Which input.
        file: String,
        /// The first result's shard (`2/3`, or `none`).
        ours: String,
        /// This one's.
        theirs: String,
    },
    /// The same shard given twice.
    #[error("{file}: shard {shard} is also an earlier file")]
    ShardTwice {
        /// Which input.
        file: String,
        /// The shard (`2/3`).
        shard: String,
    },
    /// A shard of the series is not among the files.
    #[error("shard {missing} of {count} is missing: give every shard of the --shard K/{count} series")]
    ShardMissing {
        /// The missing shards, comma-separated (`2/3, 3/3`).
        missing: String,
        /// How many shards the series has.
        count: usize,
    },
}

/// Checks that the parts are one whole `K/N` series (or all unsharded results).
fn check_series(parts: &[(String, RunResult)]) -> Result<(), MergeError> {
    let shard = |r: &RunResult| r.shard.as_deref().map(|s| s.parse::<crate::plan::Shard>().map_err(|_| s.to_string()));
    let Some((_, first)) = parts.first() else { return Err(MergeError::Empty) };
    let Some(first_shard) = shard(first) else {
        // Whole runs (e.g. of other tags) merge as before; a shard among them does not.
        return match parts.iter().find(|(_, r)| r.shard.is_some()) {
            None => Ok(()),
            Some((file, r)) => Err(MergeError::ShardSeries { file: file.clone(), ours: "none".into(), theirs: r.shard.clone().unwrap_or_default() }),
        };
    };
    let count = first_shard.map(|s| s.count).unwrap_or(0);
    let mut seen = Vec::new();
    for (file, r) in parts {
        let theirs = r.shard.clone().unwrap_or_else(|| "none".to_string());
        match shard(r) {
            Some(Ok(s)) if s.count == count && count > 0 => {
                if seen.contains(&s.index) {
                    return Err(MergeError::ShardTwice { file: file.clone(), shard: theirs });
                }
                seen.push(s.index);
            }
            _ => return Err(MergeError::ShardSeries { file: file.clone(), ours: first.shard.clone().unwrap_or_default(), theirs }),
        }
    }
    let missing: Vec<String> = (1..=count).filter(|i| !seen.contains(i)).map(|i| format!("{i}/{count}")).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(MergeError::ShardMissing { missing: missing.join(", "), count })
    }
}

/// Merges shard results (named for errors) into one result.
///
/// The parts must be one whole `--shard K/N` series: every shard once, none missing (or
/// results of no shard at all), of the same set, image, keepalive, hold, speed and copies.
pub fn merge(parts: Vec<(String, RunResult)>) -> Result<RunResult, MergeError> {
    check_series(&parts)?;
    let mut iter = parts.into_iter();
    let (_, mut all) = iter.next().ok_or(MergeError::Empty)?;
    for (file, part) in iter {
        let check = |what: &'static str, ours: String, theirs: String| {
            if ours == theirs {
                Ok(())
            } else {
                Err(MergeError::Mismatch { file: file.clone(), what, ours, theirs })
            }
        };
        check("schema_version", all.schema_version.to_string(), part.schema_version.to_string())?;
        check("set", all.set.clone(), part.set.clone())?;
        check("image", all.image.clone(), part.image.clone())?;
        check("hold", all.hold_secs.to_string(), part.hold_secs.to_string())?;
        check("keepalive", all.keepalive_secs.to_string(), part.keepalive_secs.to_string())?;
        check("speed", format!("×{}", all.speed), format!("×{}", part.speed))?;
        check("copies", all.copies.to_string(), part.copies.to_string())?;
        check("profiles", format!("{:?}", all.profiles), format!("{:?}", part.profiles))?;
        for c in &part.cells {
            if all.cell(&c.tag, &c.profile).is_some() {
                return Err(MergeError::Duplicate { file: file.clone(), cell: c.id() });
            }
        }
        all.tags.extend(part.tags);
        all.cells.extend(part.cells);
        all.started_at = all.started_at.min(part.started_at);
        all.ended_at = all.ended_at.max(part.ended_at);
        all.wall_secs = all.wall_secs.max(part.wall_secs);
        all.harness_fault = all.harness_fault.or(part.harness_fault);
    }
    all.shard = None;
    Ok(all)
}

/// Puts tags (and their cells) back in the order given, e.g. matrix.toml's; unknown tags go last.
pub fn reorder(r: &mut RunResult, order: &[String]) {
    let pos = |t: &str| order.iter().position(|o| o == t).unwrap_or(usize::MAX);
    r.tags.sort_by_key(|t| pos(&t.tag));
    let profiles = r.profiles.clone();
    r.cells.sort_by_key(|c| (pos(&c.tag), profiles.iter().position(|p| *p == c.profile)));
}

/// The exit status a result calls for (see [`exit`]): [`exit::HARNESS_FAILED`] when the
/// harness itself could not finish, else [`exit::CHANGED`] when an outcome changed, else
/// [`exit::CELLS_ERRORED`] when a cell could not run, else [`exit::NOTHING_TO_RUN`] for a run
/// of no cell, else [`exit::MET`].
pub fn exit_status(r: &RunResult) -> u8 {
    if r.harness_fault.is_some() {
        exit::HARNESS_FAILED
    } else if r.cells.iter().any(|c| c.status == Status::Changed) {
        exit::CHANGED
    } else if r.cells.iter().any(|c| c.status == Status::Error) {
        exit::CELLS_ERRORED
    } else if r.cells.is_empty() {
        exit::NOTHING_TO_RUN
    } else {
        exit::MET
    }
}
