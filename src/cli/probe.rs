//! `probe`: the columns as concurrent sessions against a live endpoint, the result through the
//! same reports as `run`, then what the endpoint does in words (`mosquitto_matrix::probe`).
//! The password is read from MATRIX_PROBE_PASSWORD or --password-file, never from argv.

use std::path::{Path, PathBuf};

use mosquitto_matrix::plan::MatrixFile;
use mosquitto_matrix::probe::{self, ProbeError};

use crate::cli::output::{emit, say, ReportOutput, ResultFormat};
use mosquitto_matrix::report::exit;
use mosquitto_matrix::run::stop::StopSignal;
use crate::cli::Error;

/// `probe`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The endpoint: ws://, wss://, mqtt:// or mqtts://, with the path over WebSocket. Example: ws://127.0.0.1:9001/mqtt
    url: String,
    /// Comma-separated columns (default: rfc6455,no-pong,paho-java-1.2.5, or tcp for a TCP URL, and the installed
    /// real clients). Example: --columns rfc6455,paho-c
    #[arg(long, value_delimiter = ',')]
    columns: Option<Vec<String>>,
    /// How long each session holds (default 330s: past the 300 s PING); longer to catch longer limits. Example: --hold 10m
    #[arg(long)]
    hold: Option<String>,
    /// MQTT keepalives run side by side, each with every column (default 30s,90s,150s): they tell an idle limit from
    /// a session lifetime. Example: --keepalive 30s,90s
    #[arg(long, value_delimiter = ',')]
    keepalive: Option<Vec<String>>,
    /// MQTT user name. Example: --username app
    #[arg(long, default_value = "")]
    username: String,
    /// A file whose first line is the MQTT password (or set MATRIX_PROBE_PASSWORD). Example: --password-file ~/.probe-pw
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// The CA certificate (PEM) to trust for wss:// and mqtts:// (default: the public roots). Example: --ca ca.pem
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Every session's client id starts with this. Example: --client-id-prefix team-probe-
    #[arg(long, default_value = probe::ask::DEFAULT_CLIENT_ID_PREFIX)]
    client_id_prefix: String,
    /// Every session subscribes and publishes (QoS 0, not retained) only under this topic (default
    /// mosquitto-matrix/probe/<random>). Example: --topic-prefix ops/probe
    #[arg(long)]
    topic_prefix: Option<String>,
    #[command(flatten)]
    output: ReportOutput,
}

/// Probes the endpoint: 0 every session held, 1 some dropped, 2 it could not run, 130/143 on a signal.
pub async fn exec(config: &Path, a: Args) -> Result<u8, Error> {
    // matrix.toml gives the bounds and the real clients when it is there; the probe runs without it.
    let file = if config.exists() { Some(MatrixFile::load(config)?) } else { None };
    let from = probe::ask::FromFile::of(file.as_ref());
    let password = probe::password(std::env::var("MATRIX_PROBE_PASSWORD").ok(), a.password_file.as_deref())?;
    let asked = probe::ask::Asked {
        url: a.url,
        columns: a.columns,
        hold: a.hold,
        keepalives: a.keepalive,
        username: a.username,
        password,
        ca: a.ca,
        client_id_prefix: a.client_id_prefix,
        topic_prefix: a.topic_prefix,
    };
    let ask = probe::ask::build(asked, from.timing, &from.clients, |c| probe::installed(c, &from.workdir))?;
    eprintln!("{}", ask.announce());
    match probe::probe(&ask, &from.workdir, StopSignal::wait()).await {
        Ok(p) => {
            emit(&p.result, &a.output)?;
            if let Some(dir) = a.output.out.as_deref() {
                let path = dir.join("probe-answer.txt");
                std::fs::write(&path, p.answer.to_string()).map_err(|e| Error::File { path: path.clone(), what: e.to_string() })?;
                eprintln!("written: {}", path.display());
            }
            // JSON on stdout stays JSON: the answer goes to stderr then.
            match a.output.format {
                ResultFormat::Json => eprint!("\n{}", p.answer),
                _ => say(&format!("\n{}", p.answer))?,
            }
            Ok(p.exit_status())
        }
        Err(ProbeError::Stopped { signal, sessions }) => {
            eprintln!("mosquitto-matrix: {}", ProbeError::Stopped { signal, sessions });
            Ok(match signal {
                StopSignal::Interrupt => exit::INTERRUPTED,
                StopSignal::Terminate => exit::TERMINATED,
            })
        }
        Err(e) => Err(e.into()),
    }
}
