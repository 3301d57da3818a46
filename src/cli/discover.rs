//! `discover`: the registry's release tags that matrix.toml does not list.

use std::path::Path;

use mosquitto_matrix::engine::discover;
use mosquitto_matrix::plan::MatrixFile;
use mosquitto_matrix::report::exit;

use crate::cli::output::say;
use crate::cli::{pick_set, Error};

/// `discover`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The image set from matrix.toml (default: the file's default set). Example: --set eclipse
    #[arg(long)]
    set: Option<String>,
    /// Print only the new release tags, comma-separated (for scripts and CI). Example: --new-only
    #[arg(long)]
    new_only: bool,
}

/// Lists the registry's tags against the set's.
pub async fn exec(config: &Path, args: Args) -> Result<u8, Error> {
    let file = MatrixFile::load(config)?;
    let d = discover::discover(pick_set(&file, args.set.as_deref(), "--set")?).await?;
    if args.new_only {
        say(&format!("{}\n", d.not_in_set.join(",")))?;
    } else {
        say(&format!("{d}\n"))?;
    }
    Ok(exit::MET)
}
