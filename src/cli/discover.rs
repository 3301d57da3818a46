//! `discover`: the registry's release tags that matrix.toml does not list; with `--clients`, the
//! client releases each client's own registry serves that matrix.toml's versions lack (with
//! `--newer`, only those after the newest listed, no pre-release).

use std::path::Path;

use mosquitto_matrix::engine::{discover, releases};
use mosquitto_matrix::plan::releases::newer_than_known;
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
    /// With --clients: only releases after the newest version matrix.toml lists, pre-releases left out (what the
    /// nightly runs). Example: --clients --newer --new-only
    #[arg(long, requires = "clients")]
    newer: bool,
}

/// Lists the registry's tags against the set's, or each client's releases against its versions.
pub async fn exec(config: &Path, args: Args) -> Result<u8, Error> {
    let file = MatrixFile::load(config)?;
    if args.clients {
        return client_releases(&file, args.new_only, args.newer).await;
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
async fn client_releases(file: &MatrixFile, new_only: bool, newer: bool) -> Result<u8, Error> {
    let mut found = releases::discover_clients(file).await;
    if newer {
        for c in &mut found {
            let known = file.versioned.iter().find(|f| f.client == c.client).map(|f| f.versions.clone()).unwrap_or_default();
            if let Ok(new) = &mut c.new {
                *new = newer_than_known(new, &known);
            }
        }
    }
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
