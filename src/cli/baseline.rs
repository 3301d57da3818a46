//! `baseline`: a result's proven outcomes written into matrix.toml as its expectations.
//!
//! Prints what it would change as a diff of matrix.toml, then writes it (`--dry-run`: only
//! prints). Cells it cannot accept (ERROR, an OK a quick look could not prove) are skipped,
//! one line each on stderr. Exit status: 0, or 2 when a file cannot be read or written.

use std::path::{Path, PathBuf};

use mosquitto_matrix::plan::MatrixFile;
use mosquitto_matrix::report::{baseline, exit};

use crate::cli::output::say;
use crate::cli::{read_result, Error};

/// `baseline`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The result to accept.
    result: PathBuf,
    /// Print the diff of matrix.toml and write nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Shows the change, then writes it unless `--dry-run`.
pub fn exec(config: &Path, args: Args) -> Result<u8, Error> {
    let r = read_result(&args.result)?;
    let text = std::fs::read_to_string(config).map_err(|e| Error::File { path: config.to_path_buf(), what: format!("cannot read: {e}") })?;
    let b = baseline::apply(config, &text, &r).map_err(|why| Error::Baseline { path: config.to_path_buf(), why })?;
    // Refuse to write a file that would no longer load.
    MatrixFile::parse(config, &b.text).map_err(|e| Error::File {
        path: config.to_path_buf(),
        what: format!("the baseline would make it invalid, so nothing was written: {e}"),
    })?;
    for s in &b.skipped {
        eprintln!("skipped {s}");
    }
    let shown = config.display().to_string();
    say(&baseline::file_diff(&shown, &text, &b.text))?;
    let what = format!(
        "{} expectation(s), {} digest(s), {} tag(s)",
        b.changed.len(),
        b.digests.len(),
        b.added_tags.len()
    );
    if args.dry_run {
        eprintln!("{shown}: --dry-run: {what} would be written; nothing was");
        return Ok(exit::MET);
    }
    if b.text != text {
        std::fs::write(config, &b.text).map_err(|e| Error::File { path: config.to_path_buf(), what: format!("cannot write: {e}") })?;
    }
    eprintln!("{shown}: {what} written");
    Ok(exit::MET)
}
