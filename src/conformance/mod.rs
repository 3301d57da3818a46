//! Conformance: every client column against a scripted broker, one behaviour per case, in
//! broker time compressed to seconds; each cell judged Autobahn-style (OK, NON-STRICT,
//! DROPPED) with the frames as evidence, and a summary line per column.
//!
//! In: columns (the built-in profiles and the installed real clients of matrix.toml) and the
//! [`case::CASES`]. Out: a [`grid::Grid`]. [`case`] and [`judge`] are pure; [`grid`] does the
//! I/O (loopback sockets, the clients' processes, the clock); [`expected`] reads the measured
//! cells kept in `conformance.toml`; [`releases`] compares a client release's cells with its
//! previous release's (pure). Broker conformance: [`brokers`] plays scripted WebSocket clients
//! against a tag's broker (Docker, loopback; every step bounded), [`broker_judge`] gives each
//! answer its kind (pure); [`derive`](mod@derive) derives the answers of tags nobody measured (the eclipse
//! set) from the measured ones and each image's WebSocket code ([`image`]), marked as derived ([`source`]) (pure). The
//! reports render both grids (`report::conformance`).

pub mod broker_judge;
pub mod brokers;
pub mod case;
pub mod derive;
pub mod image;
pub mod expected;
pub mod grid;
pub mod judge;
pub mod releases;
pub mod source;

use std::path::{Path, PathBuf};

use crate::plan::{Column, CommandClient, Profile};

/// What goes wrong around a conformance grid (its cells' outcomes are values, not errors).
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// The expectations file cannot be read.
    #[error("{}: cannot read: {what}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        what: String,
    },
    /// The expectations file is not what it must be.
    #[error("{}: cannot read the expected cells: {what}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        what: String,
    },
    /// The expectations name a case that does not exist.
    #[error("{}: column {column} names the case {case}, which is not a conformance case", path.display())]
    UnknownCase {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The unknown case id.
        case: String,
    },
    /// A column or case asked for on the command line does not exist or is not installed.
    #[error("conformance: {0}")]
    Asked(String),
}

/// The default columns: every built-in profile, then every real client of matrix.toml that
/// is installed and needs no per-run service; and the clients left out, each with why.
pub fn default_columns(clients: &[CommandClient], installed: impl Fn(&CommandClient) -> bool) -> (Vec<Column>, Vec<String>) {
    let mut columns: Vec<Column> = Profile::ALL.iter().map(|p| Column::Builtin(*p)).collect();
    let mut left_out = Vec::new();
    for c in clients {
        if c.service.is_some() {
            left_out.push(format!("{}: needs its per-run service, which the conformance grid does not start", c.name));
        } else if !installed(c) {
            left_out.push(format!("{}: not installed ({})", c.name, c.setup.as_deref().unwrap_or("no set-up command")));
        } else {
            columns.push(Column::Command(c.clone()));
        }
    }
    (columns, left_out)
}

/// The columns named on the command line, among the built-ins and the installed clients.
pub fn named_columns(names: &[String], clients: &[CommandClient], workdir: &Path) -> Result<Vec<Column>, ConformanceError> {
    names
        .iter()
        .map(|name| {
            if let Some(p) = Profile::from_name(name) {
                return Ok(Column::Builtin(p));
            }
            match clients.iter().find(|c| &c.name == name) {
                Some(c) if crate::probe::installed(c, workdir) => Ok(Column::Command(c.clone())),
                Some(c) => Err(ConformanceError::Asked(format!(
                    "column {name} is not installed ({})",
                    c.setup.as_deref().unwrap_or("no set-up command")
                ))),
                None => Err(ConformanceError::Asked(format!("no column {name}: neither a built-in profile nor a client of matrix.toml"))),
            }
        })
        .collect()
}

/// The cases named on the command line.
pub fn named_cases(ids: &[String]) -> Result<Vec<&'static case::Case>, ConformanceError> {
    ids.iter()
        .map(|id| {
            case::case(id).ok_or_else(|| {
                let known: Vec<&str> = case::CASES.iter().map(|c| c.id).collect();
                ConformanceError::Asked(format!("no case {id}; the cases are {}", known.join(", ")))
            })
        })
        .collect()
}
