//! `agree`: two columns of one result behave alike on every tag.
//!
//! Exit status: 0 they agree, 1 they differ, 2 the result could not be read, 64 a usage error
//! (a column the result does not have, not two columns).

use std::path::PathBuf;

use mosquitto_matrix::report::{self, exit};

use crate::cli::output::say;
use crate::cli::{duration_flag, read_result, Error};

/// `agree`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The result.
    result: PathBuf,
    /// The two columns, comma-separated. Example: --columns paho-java-1.2.5,paho-java@1.2.5
    #[arg(long, value_delimiter = ',', num_args = 1, required = true)]
    columns: Vec<String>,
    /// Times closer than this (broker time) are the same. Example: --within 0.5s
    #[arg(long, default_value = "0.5s")]
    within: String,
}

/// Prints where the columns differ; the exit status says whether they do.
pub fn exec(args: Args) -> Result<u8, Error> {
    let within = duration_flag("--within", &args.within)?;
    let columns_error = |what: String| Error::Argument { name: "--columns".into(), what };
    let [a, b] = args.columns.as_slice() else {
        return Err(columns_error(format!("give two columns, as in paho-java-1.2.5,paho-java@1.2.5 (got {})", args.columns.len())));
    };
    let r = read_result(&args.result)?;
    for c in [a, b] {
        if !r.profiles.contains(c) {
            return Err(columns_error(format!("{} has no column {c:?}; its columns: {}", args.result.display(), r.profiles.join(", "))));
        }
    }
    let found = report::agree::agree(&r, a, b, within);
    say(&found.to_string())?;
    Ok(if found.holds() { exit::MET } else { exit::CHANGED })
}
