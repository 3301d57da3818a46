//! `site`: the static site of a history folder, written into a folder of its own.
//!
//! Exit status: 0 written, 2 the history could not be read or a file not written.

use std::path::PathBuf;

use mosquitto_matrix::history::site::site;
use mosquitto_matrix::report::exit;
use mosquitto_matrix::report::write_whole;

use crate::cli::output::say;
use crate::cli::Error;

/// `site`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The history folder (`history add … --into DIR`).
    dir: PathBuf,
    /// Where the site goes (created if need be; its files are replaced). Example: --out target/site
    #[arg(long)]
    out: PathBuf,
}

/// Reads the history and writes the site.
pub fn exec(args: Args) -> Result<u8, Error> {
    let h = crate::cli::history::read(&args.dir)?;
    let files = site(&h);
    let mut bytes = 0usize;
    for (rel, text) in &files {
        let path = args.out.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::File { path: parent.to_path_buf(), what: format!("cannot create: {e}") })?;
        }
        write_whole(&path, text.as_bytes()).map_err(|e| Error::File { path: path.clone(), what: format!("cannot write: {e}") })?;
        bytes += text.len();
    }
    say(&format!(
        "{}: {} files, {:.1} MB, from {} runs; open {}\n",
        args.out.display(),
        files.len(),
        bytes as f64 / 1e6,
        h.runs.len(),
        args.out.join("index.html").display()
    ))?;
    Ok(exit::MET)
}
