//! The command line, one file per subcommand (as cargo's `src/bin/cargo/commands/*.rs`):
//! each has its clap arguments (`Args`) and its `exec`, which returns the exit status or the
//! one [`Error`] that `main` prints. Part of the binary, not the library: it sits above every
//! stage of the pipeline and may use any of them (`tests/layers.rs`).

pub mod agree;
pub mod baseline;
pub mod client;
pub mod conformance;
pub mod diff;
pub mod discover;
pub mod error;
pub mod history;
pub mod merge;
pub mod output;
pub mod probe;
pub mod reap;
pub mod run;
pub mod site;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use mosquitto_matrix::judge::results::RunResult;
use mosquitto_matrix::plan::{config_path, ImageSet, MatrixFile};

pub use error::Error;

/// The whole command line.
#[derive(Parser)]
#[command(
    name = "mosquitto-matrix",
    version,
    about = "Hold MQTT-over-WebSocket sessions past the 5-minute mark on every Mosquitto image tag and fill a pass/EOF table",
    after_help = after_help()
)]
pub struct Cli {
    /// The matrix file (else MATRIX_CONFIG, else ./matrix.toml). Example: --config ./matrix.toml
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// matrix.toml's path: `--config`, else `MATRIX_CONFIG` (the same function
    /// `cargo test --test matrix` reads it through), else `./matrix.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.config.clone().unwrap_or_else(|| config_path(|k| std::env::var(k).ok(), Path::new("matrix.toml")))
    }
}

/// The subcommands.
#[derive(Subcommand)]
// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the matrix on real brokers. Example: mosquitto-matrix run --set debian --shard 1/2 --out target/shard1
    Run(run::Args),
    /// Show the cells whose outcome changed between two JSON results of the same set, image, keepalive and hold,
    /// and the tags whose image digest changed. Example: mosquitto-matrix diff old.json new.json
    Diff(diff::Args),
    /// Check that two columns of one result behave alike on every tag: the same outcome, the broker's PING and the
    /// end within --within, the same close frame from the client; any difference is shown with both transcripts and
    /// exits 1. Example: mosquitto-matrix agree target/matrix/debian.json --columns paho-java-1.2.5,paho-java@1.2.5
    Agree(agree::Args),
    /// Merge the results of every shard of one --shard K/N series into one result and one table.
    /// Example: mosquitto-matrix merge a.json b.json --out merged
    Merge(merge::Args),
    /// List the set's image repository in its registry (HTTP API v2) and show the release tags matrix.toml does not
    /// list yet. Example: mosquitto-matrix discover --set eclipse
    Discover(discover::Args),
    /// Probe your own broker: the columns as concurrent sessions against a live endpoint (no container), the same
    /// verdicts and reports as `run`, and what the endpoint does: its PING, its hang-up, an idle limit or a session
    /// lifetime and the hops known to have it, what to do. Exit 0 every session held, 1 some dropped, 2 it could not
    /// run. Example: MATRIX_PROBE_PASSWORD=… mosquitto-matrix probe wss://broker.example/mqtt --username app
    Probe(probe::Args),
    /// Play one built-in profile as a command client: reads the contract's MATRIX_* environment, connects to
    /// MATRIX_HOST:MATRIX_PORT, prints the contract's lines. Example: MATRIX_…=… mosquitto-matrix client --profile rfc6455
    Client(client::Args),
    /// Conformance grids in seconds, Autobahn-style: `conformance clients` plays every client column against a scripted
    /// broker, one behaviour per case (the libwebsockets 4.x PING, a text frame, a refused upgrade …), and says per cell
    /// whether the client answered as RFC 6455 and MQTT §6 require, survived otherwise, or dropped.
    /// Example: mosquitto-matrix conformance clients --format json
    Conformance(conformance::Args),
    /// The run's reaper (started by `run` itself): waits until its standard input closes — the run ended or was
    /// killed — then kills the run's client processes and removes its containers.
    #[command(hide = true)]
    Reap(reap::Args),
    /// Write a result's proven outcomes into matrix.toml as the new expectations (where the plan's differ), and each
    /// tag's registry digest into [sets.<set>.digests], keeping comments and layout; prints the change as a diff
    /// first. Example: mosquitto-matrix baseline target/matrix/debian.json --dry-run
    Baseline(baseline::Args),
    /// Keep every run's result in a history folder and show each cell's changes over time.
    /// Example: mosquitto-matrix history add target/matrix/debian.json --into history; mosquitto-matrix history show history
    History(history::Args),
    /// Write the static site of a history folder: the latest answer, a grid per set with each cell's last runs, a page
    /// per tag, column, cell and run with every change and its evidence, latest.json; nothing fetched.
    /// Example: mosquitto-matrix site history --out target/site
    Site(site::Args),
}

/// What `--help` says after the options: the exit statuses and a few examples.
fn after_help() -> String {
    format!(
        "{}\nExamples:\n  mosquitto-matrix run --set debian\n  \
         mosquitto-matrix run --set eclipse --tags 2.0.22 --format markdown --out target/matrix\n  \
         mosquitto-matrix diff last-night.json tonight.json\n  mosquitto-matrix merge shard-1.json shard-2.json --out merged\n  \
         mosquitto-matrix baseline target/matrix/debian.json --dry-run",
        mosquitto_matrix::report::exit::help_text()
    )
}

/// The set named, or the file's default; `flag` names where the name came from.
pub fn pick_set<'a>(file: &'a MatrixFile, set: Option<&str>, flag: &str) -> Result<&'a ImageSet, Error> {
    let name = set.unwrap_or(&file.default_set);
    file.set(name).ok_or_else(|| {
        let known: Vec<&str> = file.sets.iter().map(|s| s.name.as_str()).collect();
        Error::Argument { name: flag.to_string(), what: format!("unknown set {name:?}; matrix.toml has {}", known.join(", ")) }
    })
}

/// A JSON result read from a file, or the error naming the file.
pub fn read_result(path: &Path) -> Result<RunResult, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::File { path: path.to_path_buf(), what: format!("cannot read: {e}") })?;
    serde_json::from_str(&text)
        .map_err(|e| Error::File { path: path.to_path_buf(), what: format!("not a mosquitto-matrix JSON result: {e}") })
}

/// A duration flag (`--within 1s`), or the usage error naming it.
pub fn duration_flag(name: &str, text: &str) -> Result<std::time::Duration, Error> {
    mosquitto_matrix::units::parse_duration(text).map_err(|what| Error::Argument { name: name.to_string(), what })
}
