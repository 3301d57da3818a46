//! `history`: keep every run's result in a history folder, and show what each cell did.
//!
//! `history add RESULT.json --into DIR` appends one run (exit 0; 2 when the result cannot be
//! read, its schema is not one this tool reads, or the run is already there). `history show
//! DIR` prints each cell's current result, since which run, and every change (exit 0).

use std::path::PathBuf;

use mosquitto_matrix::history::{History, Store};
use mosquitto_matrix::report::exit;

use crate::cli::output::say;
use crate::cli::Error;

/// `history`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// What to do with the history.
    #[command(subcommand)]
    action: Action,
}

/// What `history` does.
#[derive(clap::Subcommand)]
enum Action {
    /// Append a run's JSON result to a history folder (created if need be); an earlier run is
    /// never rewritten. Example: mosquitto-matrix history add target/matrix/debian.json --into history
    Add {
        /// The run's JSON result.
        result: PathBuf,
        /// The history folder.
        #[arg(long)]
        into: PathBuf,
    },
    /// Print per cell its current result and since which run, every change, and the image
    /// digest changes beside them. Example: mosquitto-matrix history show history
    Show {
        /// The history folder.
        dir: PathBuf,
    },
}

impl From<mosquitto_matrix::history::HistoryError> for Error {
    fn from(e: mosquitto_matrix::history::HistoryError) -> Error {
        Error::History(e)
    }
}

/// Reads every run of a history, in order.
pub fn read(dir: &std::path::Path) -> Result<History, Error> {
    let store = Store::at(dir);
    let mut h = History::default();
    if !dir.is_dir() {
        return Err(Error::File { path: dir.to_path_buf(), what: "not a history folder (no such directory)".to_string() });
    }
    store.for_each(|_, r| h.push(r))?;
    Ok(h)
}

/// Adds or shows.
pub fn exec(args: Args) -> Result<u8, Error> {
    match args.action {
        Action::Add { result, into } => {
            let e = Store::at(&into).add(&result)?;
            say(&format!("{}: run {} ({}, {}, {} cells) added as {}\n", into.display(), e.seq, e.set, e.run_id, e.cells, e.file))?;
        }
        Action::Show { dir } => {
            let h = read(&dir)?;
            say(&h.show())?;
        }
    }
    Ok(exit::MET)
}
