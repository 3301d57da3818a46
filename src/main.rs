//! `mosquitto-matrix`: the command line around the same engine `cargo test --test matrix` uses.
//!
//! Only parses, dispatches and prints the one error: each subcommand is a file of
//! [`cli`] with its arguments and its `exec`, and the exit statuses are
//! `mosquitto_matrix::report::exit`'s.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use mosquitto_matrix::report::exit;

use crate::cli::{Cli, Command, Error};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and succeed; anything else is a usage error.
            let status = if e.use_stderr() { exit::USAGE } else { exit::MET };
            let _ = e.print();
            return ExitCode::from(status);
        }
    };
    let config = cli.config_path();
    let done = match cli.command {
        Command::Run(args) => cli::run::exec(&config, args).await,
        Command::Diff(args) => cli::diff::exec(args),
        Command::Agree(args) => cli::agree::exec(args),
        Command::Merge(args) => cli::merge::exec(&config, args),
        Command::Discover(args) => cli::discover::exec(&config, args).await,
        Command::Baseline(args) => cli::baseline::exec(&config, args),
        Command::Reap(args) => cli::reap::exec(args).await,
        Command::Client(args) => cli::client::exec(args).await,
        Command::Probe(args) => cli::probe::exec(&config, args).await,
        Command::Conformance(args) => cli::conformance::exec(&config, args).await,
        Command::History(args) => cli::history::exec(args),
        Command::Site(args) => cli::site::exec(args),
    };
    ExitCode::from(done.unwrap_or_else(|e| {
        if !matches!(e, Error::StdoutClosed) {
            eprintln!("mosquitto-matrix: {e}");
        }
        e.exit_status()
    }))
}
