//! A built-in profile as a command client: `mosquitto-matrix client --profile P` reads the
//! contract's environment, plays the profile (or rumqttc) against `MATRIX_HOST:MATRIX_PORT`
//! (over TLS trusting `MATRIX_CA_FILE` when it is set),
//! and says how it went in the contract's own lines. It lets the built-in behaviours run
//! through the recording proxy, on an accelerated clock, or against any broker by hand.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use crate::client::contract::ContractEnv;
use crate::client::SessionSpec;
use crate::engine::tls::RunTls;
use crate::judge::record::{End, RoundTrip, SocketEnd};
use crate::judge::verdict;
use crate::plan::{Profile, Timing, DEFAULT_LATE_PONG};

/// Durations the contract does not carry, and a keepalive finer than its whole seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tuning {
    /// The keepalive, instead of `MATRIX_KEEPALIVE_SECS`.
    pub keepalive: Option<Duration>,
    /// How long `late-pong` waits (default [`DEFAULT_LATE_PONG`]).
    pub late_pong: Option<Duration>,
    /// Bound on connect + upgrade + CONNACK (default: the contract's `MATRIX_SETUP_SECS`).
    pub setup_timeout: Option<Duration>,
}

/// What a played profile ends with: the contract's lines for stdout and stderr, and its exit
/// status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitReport {
    /// Lines for stdout, in order.
    pub stdout: Vec<String>,
    /// Lines for stderr.
    pub stderr: Vec<String>,
    /// 0 after a round trip, 1 when the session was lost or refused, 2 when it could not run.
    pub status: u8,
}

/// The `client:` line of a built-in profile.
pub fn client_line(profile: Profile) -> String {
    format!("client: mosquitto-matrix {} (built-in profile {profile})", env!("CARGO_PKG_VERSION"))
}

/// Plays one session of `profile` under the contract and returns what to print after it
/// (print [`client_line`] before, as the contract asks for it first).
pub async fn serve(profile: Profile, env: &ContractEnv, tuning: Tuning) -> ExitReport {
    // A TLS route (`MATRIX_CA_FILE`): trust that CA and nothing else.
    let tls = match env.ca_file.as_deref().map(RunTls::trusting).transpose() {
        Ok(t) => t.map(Arc::new),
        Err(e) => return ExitReport { stdout: Vec::new(), stderr: vec![format!("mosquitto-matrix client: MATRIX_CA_FILE: {e}")], status: 2 },
    };
    let spec = SessionSpec {
        protocol: env.protocol,
        profile,
        host: env.host.clone(),
        port: env.port,
        path: env.path.clone(),
        username: env.username.clone(),
        password: env.password.clone(),
        client_id: env.client_id.clone(),
        topic: env.topic.clone(),
        timing: Timing {
            hold: env.hold,
            keepalive: tuning.keepalive.unwrap_or(env.keepalive),
            late_pong: tuning.late_pong.unwrap_or(DEFAULT_LATE_PONG),
            setup_timeout: tuning.setup_timeout.unwrap_or(env.setup),
            round_trip_timeout: env.round_trip,
        },
        started: crate::client::Started::new(),
        tls,
    };
    let record = crate::client::run(&spec).await;
    let mut said = ExitReport { stdout: Vec::new(), stderr: Vec::new(), status: 1 };
    match &record.end {
        End::HoldCompleted { round_trip: RoundTrip::Echoed { rtt } } => {
            said.stdout.push(format!("done: round trip {} ms", rtt.as_millis()));
            said.status = 0;
        }
        End::HarnessError { detail } => {
            said.stderr.push(format!("mosquitto-matrix client: {detail}"));
            said.status = 2;
        }
        End::UpgradeRefused { .. } | End::ConnAckRefused { .. } => {
            said.stdout.push(format!("refused: {}", verdict::decide(&record).cause));
        }
        end => said.stdout.push(format!("lost: {}", lost_words(profile, end))),
    }
    said
}

/// What the built-in client says when it loses the session: short, like a library's own
/// words, since the proxy's record already tells the frames and the times.
fn lost_words(profile: Profile, end: &End) -> String {
    match end {
        End::ClientGaveUp { why, .. } => format!("{profile} {why}"),
        End::SocketEnded { how: SocketEnd::Reset, .. } => "connection reset by the broker".to_string(),
        End::SocketEnded { how: SocketEnd::Error(e), .. } => format!("connection failed: {e}"),
        End::SocketEnded { .. } => "connection closed by the broker, without a close frame".to_string(),
        End::BrokerClosed { code, .. } => format!("the broker sent a close frame ({})", code.map_or("no code".to_string(), |c| c.to_string())),
        End::PingRespMissing { .. } => "no PINGRESP within a keepalive of the PINGREQ".to_string(),
        End::BrokerDisconnected { reason, .. } => format!("the broker sent DISCONNECT 0x{reason:02X} ({})", crate::wire::mqtt::reason_name(*reason)),
        End::HoldCompleted { .. } => "no round trip after the hold".to_string(),
        End::BadBytes { detail, .. } | End::LibraryError { detail, .. } => detail.clone(),
        other => format!("{other:?}"),
    }
}

/// Prints what a client says, flushing each line as the contract asks.
pub fn print(said: &ExitReport) {
    for line in &said.stdout {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    for line in &said.stderr {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}
