//! A history folder on disk: `runs/000001.json` … (each run's result, the bytes as given,
//! written once and never again) and `index.jsonl` (one line per run, only ever appended).

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::judge::results::{RunResult, SCHEMA_VERSION};

/// The index's file name inside a history folder.
pub const INDEX: &str = "index.jsonl";
/// The folder of the runs' files inside a history folder.
pub const RUNS: &str = "runs";

/// Why a history could not be read or added to.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// A file or folder that could not be read or written.
    #[error("{}: {what}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        what: String,
    },
    /// A result this tool cannot read: not JSON, no schema version, a newer schema, a field that does not parse.
    #[error("{}: {what}", path.display())]
    Schema {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// An index line that does not parse.
    #[error("{}:{line}: {what}", path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// Its line, from 1.
        line: usize,
        /// What is wrong with it.
        what: String,
    },
    /// A run the history already holds: a history never takes the same run twice.
    #[error("{}: run {run_id} is already in the history as run {seq}", path.display())]
    Duplicate {
        /// The result offered.
        path: PathBuf,
        /// Its run id.
        run_id: String,
        /// The run number it has there.
        seq: usize,
    },
}

/// One line of the index: a run and where its result is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The run's number in the history, from 1, in the order runs were added.
    pub seq: usize,
    /// Its result's file, relative to the history folder (`runs/000001.json`).
    pub file: String,
    /// The run id.
    pub run_id: String,
    /// The image set.
    pub set: String,
    /// When it started, RFC 3339.
    pub started_at: String,
    /// Its result's schema version.
    pub schema_version: u32,
    /// How many cells it has.
    pub cells: usize,
}

/// A history folder.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

fn io(path: &Path, e: impl std::fmt::Display) -> HistoryError {
    HistoryError::Io { path: path.to_path_buf(), what: e.to_string() }
}

/// Reads a result's text, refusing what this tool cannot read, with why.
pub fn parse_result(path: &Path, text: &str) -> Result<RunResult, HistoryError> {
    /// The schema version alone: read first, so a newer file is refused for what it is.
    #[derive(Deserialize)]
    struct Version {
        schema_version: Option<u64>,
    }
    let schema = |what: String| HistoryError::Schema { path: path.to_path_buf(), what };
    let version = serde_json::from_str::<Version>(text)
        .map_err(|e| schema(format!("not a JSON object: {e}")))?
        .schema_version
        .ok_or_else(|| schema("no schema_version: not a mosquitto-matrix JSON result".to_string()))?;
    if version == 0 || version > u64::from(SCHEMA_VERSION) {
        return Err(schema(format!("schema_version {version}: this tool reads versions 1 to {SCHEMA_VERSION}")));
    }
    serde_json::from_str(text).map_err(|e| schema(format!("schema_version {version}, but {e}")))
}

impl Store {
    /// The history in `dir` (which need not exist yet).
    pub fn at(dir: &Path) -> Store {
        Store { dir: dir.to_path_buf() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The index, in order; empty when the folder has no index yet.
    pub fn entries(&self) -> Result<Vec<Entry>, HistoryError> {
        let path = self.dir.join(INDEX);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&path, format!("cannot read: {e}"))),
        };
        let mut out: Vec<Entry> = Vec::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let bad = |what: String| HistoryError::Index { path: path.clone(), line: n + 1, what };
            let e: Entry = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
            if e.seq != out.len() + 1 {
                return Err(bad(format!("run {} where run {} was due", e.seq, out.len() + 1)));
            }
            out.push(e);
        }
        Ok(out)
    }

    /// The result of one run, read from its file.
    pub fn load(&self, e: &Entry) -> Result<RunResult, HistoryError> {
        let path = self.dir.join(&e.file);
        let text = std::fs::read_to_string(&path).map_err(|err| io(&path, format!("cannot read: {err}")))?;
        parse_result(&path, &text)
    }

    /// Adds the result in `result` as the next run: its bytes go to a new file (never one
    /// that exists), then one line is appended to the index. Returns the run's entry.
    pub fn add(&self, result: &Path) -> Result<Entry, HistoryError> {
        let text = std::fs::read_to_string(result).map_err(|e| io(result, format!("cannot read: {e}")))?;
        let run = parse_result(result, &text)?;
        let entries = self.entries()?;
        if let Some(e) = entries.iter().find(|e| e.run_id == run.run_id && e.set == run.set && e.started_at == run.started_at) {
            return Err(HistoryError::Duplicate { path: result.to_path_buf(), run_id: run.run_id, seq: e.seq });
        }
        let runs = self.dir.join(RUNS);
        std::fs::create_dir_all(&runs).map_err(|e| io(&runs, format!("cannot create: {e}")))?;
        let seq = entries.len() + 1;
        let file = format!("{RUNS}/{seq:06}.json");
        let path = self.dir.join(&file);
        // create_new: an earlier run's file is never written over, whatever the index says.
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io(&path, format!("cannot create (a history never rewrites a run): {e}")))?;
        f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| io(&path, format!("cannot write: {e}")))?;
        let entry = Entry {
            seq,
            file,
            run_id: run.run_id.clone(),
            set: run.set.clone(),
            started_at: run.started_at.clone(),
            schema_version: run.schema_version,
            cells: run.cells.len(),
        };
        let index = self.dir.join(INDEX);
        let line = serde_json::to_string(&entry).map_err(|e| io(&index, e))?;
        let mut f = OpenOptions::new().append(true).create(true).open(&index).map_err(|e| io(&index, format!("cannot open: {e}")))?;
        f.write_all(format!("{line}\n").as_bytes()).and_then(|()| f.sync_all()).map_err(|e| io(&index, format!("cannot append: {e}")))?;
        Ok(entry)
    }

    /// Every run in order: `each` gets the entry and the result, one run at a time. The files
    /// are read and parsed a few at a time on as many threads as the machine has cores.
    pub fn for_each(&self, mut each: impl FnMut(&Entry, RunResult)) -> Result<usize, HistoryError> {
        let entries = self.entries()?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for chunk in entries.chunks(threads * 2) {
            let loaded: Vec<Result<RunResult, HistoryError>> = std::thread::scope(|s| {
                let parts: Vec<_> = chunk.chunks(2).map(|part| s.spawn(move || part.iter().map(|e| self.load(e)).collect::<Vec<_>>())).collect();
                parts
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                    .collect()
            });
            for (e, r) in chunk.iter().zip(loaded) {
                each(e, r?);
            }
        }
        Ok(entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_schema_and_a_file_without_one_are_refused_with_why() {
        let p = Path::new("r.json");
        let newer = parse_result(p, r#"{"schema_version": 99}"#).expect_err("newer schema");
        assert!(newer.to_string().contains("schema_version 99: this tool reads versions 1 to"), "{newer}");
        let none = parse_result(p, r#"{"cells": []}"#).expect_err("no schema");
        assert!(none.to_string().contains("no schema_version"), "{none}");
        let broken = parse_result(p, r#"{"schema_version": 3, "cells": 5}"#).expect_err("bad field");
        assert!(broken.to_string().starts_with("r.json: schema_version 3, but"), "{broken}");
    }
}
