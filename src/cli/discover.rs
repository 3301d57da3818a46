//! `discover`: the registry's release tags that matrix.toml does not list; with `--clients`, the
//! client releases each client's own registry serves that matrix.toml's versions lack.

use std::path::Path;

use mosquitto_matrix::engine::{discover, releases};
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
    /// The clients' releases instead of the set's tags: each client's own registry (PyPI, npm, Maven,
    /// Go module proxy), the versions matrix.toml lacks; with --new-only as --client-versions input.
    /// Example: --clients --new-only
    #[arg(long, conflicts_with = "set")]
    clients: bool,
}

/// Lists the registry's tags against the set's, or each client's releases against its versions.
pub async fn exec(config: &Path, args: Args) -> Result<u8, Error> {
    let file = MatrixFile::load(config)?;
    if args.clients {
        return client_releases(&file, args.new_only).await;
    }
    let d = discover::discover(pick_set(&file, args.set.as_deref(), "--set")?).await?;
    if args.new_only {
        say(&format!("{}\n", d.not_in_set.join(",")))?;
    } else {
        say(&format!("{d}\n"))?;
    }
    Ok(exit::MET)
}

/// `discover --clients`. A registry that did not answer is its client's line (on stderr with
/// --new-only) and exit status 2; the other clients go on.
async fn client_releases(file: &MatrixFile, new_only: bool) -> Result<u8, Error> {
    let found = releases::discover_clients(file).await;
    if new_only {
        for c in found.iter().filter(|c| c.new.is_err()) {
            eprint!("{}", releases::render(std::slice::from_ref(c)));
        }
        say(&format!("{}\n", releases::as_client_versions(&found)))?;
    } else {
        say(&releases::render(&found))?;
    }
    Ok(if found.iter().any(|c| c.new.is_err()) { exit::HARNESS_FAILED } else { exit::MET })
}
