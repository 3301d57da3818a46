//! `merge`: the results of every shard of one `--shard K/N` series into one result.
//!
//! Exit status: the merged result's, as `run`'s (0, 1, 3 or 4); 2 when a shard is missing,
//! given twice, unreadable, or of another set, image, keepalive, hold, speed or copies.

use std::path::{Path, PathBuf};

use mosquitto_matrix::plan::MatrixFile;
use mosquitto_matrix::report::compare;

use crate::cli::output::{emit, ReportOutput};
use crate::cli::{read_result, Error};

/// `merge`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The shard results: every shard of the series, once.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    #[command(flatten)]
    output: ReportOutput,
}

/// Merges, prints and writes; the exit status is the merged result's.
pub fn exec(config: &Path, args: Args) -> Result<u8, Error> {
    let parts = args.shards.iter().map(|p| Ok((p.display().to_string(), read_result(p)?))).collect::<Result<Vec<_>, Error>>()?;
    let mut merged = compare::merge(parts)?;
    // The file gives the tags their order when it can be read; a merge does not need it otherwise.
    if let Ok(file) = MatrixFile::load(config) {
        if let Some(set) = file.set(&merged.set) {
            compare::reorder(&mut merged, &set.tags);
        }
    }
    emit(&merged, &args.output)?;
    Ok(compare::exit_status(&merged))
}
