//! The one error a subcommand can end with, and the exit status it maps to.

use std::path::PathBuf;

use mosquitto_matrix::engine::cleanup::EngineError;
use mosquitto_matrix::engine::discover::DiscoverError;
use mosquitto_matrix::plan::ConfigError;
use mosquitto_matrix::probe::ProbeError;
use mosquitto_matrix::report::baseline::BaselineError;
use mosquitto_matrix::report::compare::{MergeError, NotComparable};
use mosquitto_matrix::report::exit;
use mosquitto_matrix::report::text::WriteError;

/// Why a subcommand could not do what it was asked: printed once, by `main`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// matrix.toml or what was asked of it.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The Docker engine.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The registry, while discovering tags.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// A client version the run asked for that could not be installed on demand.
    #[error(transparent)]
    OnDemand(#[from] mosquitto_matrix::engine::ondemand::OnDemandError),
    /// Shards that do not fit together.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// Two results that `diff` cannot compare.
    #[error(transparent)]
    NotComparable(#[from] NotComparable),
    /// A baseline that cannot be written.
    #[error("{path}: {why}")]
    Baseline {
        /// matrix.toml.
        path: PathBuf,
        /// Why.
        why: BaselineError,
    },
    /// A probe that could not run (exit 2, as the probe's own statuses say).
    #[error("probe: {0}")]
    Probe(#[from] ProbeError),
    /// A conformance grid that could not be set up (its cells' outcomes are not errors).
    #[error(transparent)]
    Conformance(#[from] mosquitto_matrix::conformance::ConformanceError),
    /// A report that could not be written whole.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A file that could not be read, parsed or written.
    #[error("{}: {what}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong with it.
        what: String,
    },
    /// A flag's value that the subcommand itself checks (`--within`, `--columns`, `--profile`).
    #[error("{name}: {what}")]
    Argument {
        /// The flag, as written (`--within`).
        name: String,
        /// What is wrong with its value.
        what: String,
    },
    /// A variable of the environment (`MATRIX_TAGS`, the command-client contract's) that does
    /// not fit what was asked.
    #[error("{name}: {what}")]
    Environment {
        /// The variable.
        name: String,
        /// What is wrong.
        what: String,
    },
    /// A history folder that cannot be read or added to.
    #[error(transparent)]
    History(mosquitto_matrix::history::HistoryError),
    /// Standard output could not be written (not a closed pipe: that is [`Error::StdoutClosed`]).
    #[error("cannot write to standard output: {0}")]
    Stdout(String),
    /// Standard output was closed by its reader (`| head -1`): not a failure, the end.
    #[error("standard output was closed")]
    StdoutClosed,
}

impl Error {
    /// The exit status this error ends the process with (see `report::exit`).
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::StdoutClosed => exit::MET,
            Error::Argument { .. } => exit::USAGE,
            // A URL, a column or a flag of `probe` that cannot be used is a usage error; an
            // endpoint that cannot be probed is the harness's (2), as the probe's statuses say.
            Error::Probe(ProbeError::Target(_) | ProbeError::Columns(_) | ProbeError::Asked(_)) => exit::USAGE,
            Error::Conformance(mosquitto_matrix::conformance::ConformanceError::Asked(_)) => exit::USAGE,
            Error::Config(ConfigError::Asked { origin, .. }) if origin.starts_with("--") => exit::USAGE,
            _ => exit::HARNESS_FAILED,
        }
    }
}

impl From<std::io::Error> for Error {
    /// A write to standard output; a closed pipe is [`Error::StdoutClosed`].
    fn from(e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Error::StdoutClosed
        } else {
            Error::Stdout(e.to_string())
        }
    }
}
