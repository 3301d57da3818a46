//! The command-client contract, version 3: what a command column is started with, and what
//! it prints. Stable; its version goes into every JSON report (`contract_version`). The
//! book's "The command contract" (`docs/src/command-contract.md`) is its one normative text;
//! this module is the source of each name and default it states.
//!
//! Version 2 adds `MATRIX_SETUP_SECS` (the bound on connect + upgrade + CONNACK + SUBACK, on
//! the client's own clock: an accelerated client gets it multiplied, so its deadline is the
//! same in real time), `MATRIX_RUN_ID` (the run, so nothing of it outlives the run) and
//! `MATRIX_PROTOCOL` (`3.1.1` or `5`: the MQTT version the client's CONNECT must ask for;
//! `3.1.1` when unset, so a version-1 client keeps working).
//!
//! Version 3 adds TLS routes: on one, `MATRIX_URL` is `wss://127.0.0.1:PORT/mqtt` and
//! `MATRIX_CA_FILE` names the run's CA certificate (PEM), the only one the client may trust;
//! the certificate it is shown names `127.0.0.1` and `localhost`. Without `MATRIX_CA_FILE`
//! (every plain route) everything is as in version 2. `MATRIX_TRANSPORT` stays `ws`.
//!
//! At an accelerated speed ×N, a client whose clock follows the time library runs on the
//! brokers' clock and gets every duration as it is; one that cannot (matrix.toml's
//! `accelerates = false`: Go programs) runs on real time, gets `MATRIX_HOLD_SECS` already divided
//! by N, `MATRIX_KEEPALIVE_SECS` 0 (the broker reads a CONNECT's keepalive on its own ×N clock, so
//! no keepalive a real-time client can keep would satisfy it), and its set-up and round-trip
//! bounds as they are in real time (`client::command`).
//!
//! The harness starts the command once per cell, with its working directory at matrix.toml's
//! folder, and this environment: `MATRIX_URL` (`ws://127.0.0.1:PORT/mqtt` or
//! `mqtt://127.0.0.1:PORT`), `MATRIX_HOST`, `MATRIX_PORT`, `MATRIX_PATH`, `MATRIX_TRANSPORT`
//! (`ws`/`tcp`), `MATRIX_USERNAME`, `MATRIX_PASSWORD`, `MATRIX_CLIENT_ID`,
//! `MATRIX_KEEPALIVE_SECS` (whole seconds), `MATRIX_HOLD_SECS` (decimal), `MATRIX_TOPIC`,
//! `MATRIX_ROUND_TRIP_SECS` (decimal: how long to wait for the round trip),
//! `MATRIX_SETUP_SECS` (decimal), `MATRIX_RUN_ID`, `MATRIX_PROTOCOL`, and on a TLS route
//! `MATRIX_CA_FILE`.
//!
//! The client prints `client: <library> <version>` first; connects with the MQTT version of
//! `MATRIX_PROTOCOL`, a clean session; subscribes to the topic at QoS 0 and waits for SUBACK;
//! stays connected for the hold (counted from CONNACK); publishes one QoS 0 message to the
//! topic and receives it; disconnects and exits 0. When its library reports the connection
//! lost it prints one line `lost: <the library's own words>` and exits non-zero (`refused: …`
//! when the broker refuses it). Any other line (a `done: …` for people) is not read.

use std::path::PathBuf;
use std::time::Duration;

use crate::plan::Transport;
use crate::wire::mqtt::Protocol;

/// The contract's version.
pub const VERSION: u32 = 3;
/// The variable that names the run's CA certificate (PEM) on a TLS route.
pub const CA_FILE_VAR: &str = "MATRIX_CA_FILE";
/// The variable that names the run in every client's environment.
pub const RUN_ID_VAR: &str = "MATRIX_RUN_ID";
/// The variable that names the MQTT version a client must speak (`3.1.1` or `5`).
pub const PROTOCOL_VAR: &str = "MATRIX_PROTOCOL";
/// The round trip's topic: subscribe to it, publish on it.
pub const TOPIC_VAR: &str = "MATRIX_TOPIC";
/// The round-trip bound a client assumes when `MATRIX_ROUND_TRIP_SECS` is not set: the
/// run's own default, one named item.
pub use crate::plan::DEFAULT_ROUND_TRIP_TIMEOUT as DEFAULT_ROUND_TRIP;
/// The set-up bound a client assumes when `MATRIX_SETUP_SECS` is not set: the run's own
/// default, one named item.
pub use crate::plan::DEFAULT_SETUP_TIMEOUT as DEFAULT_SETUP;

/// What one cell's client is told.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractEnv {
    /// Host to connect to (the proxy's loopback address).
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// WebSocket path.
    pub path: String,
    /// ws or tcp.
    pub transport: Transport,
    /// MQTT user name.
    pub username: String,
    /// MQTT password.
    pub password: String,
    /// MQTT client id.
    pub client_id: String,
    /// Keepalive; the contract passes whole seconds, rounded up, at least 1 (0: none).
    pub keepalive: Duration,
    /// How long to stay connected after CONNACK.
    pub hold: Duration,
    /// The topic to subscribe to and publish the round trip on.
    pub topic: String,
    /// How long to wait for the round trip.
    pub round_trip: Duration,
    /// How long connect, upgrade, CONNACK and SUBACK may take, on the client's clock.
    pub setup: Duration,
    /// The MQTT version of the client's CONNECT.
    pub protocol: Protocol,
    /// On a TLS route: the CA certificate to trust (the URL is then `wss://`).
    pub ca_file: Option<PathBuf>,
}

/// An environment that does not follow the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// A variable is missing.
    #[error("{0} is not set; the command contract needs it (see docs/src/command-contract.md)")]
    Missing(&'static str),
    /// A variable has a value the contract does not allow.
    #[error("{name}={value:?}: {why}")]
    Bad {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        why: &'static str,
    },
}

/// The keepalive as the contract passes it: whole seconds, rounded up, at least 1; 0 (MQTT's
/// "no keepalive") only for a zero duration, which only a real-clock client at ×N is given.
pub fn keepalive_secs(d: Duration) -> u16 {
    if d.is_zero() {
        return 0;
    }
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.clamp(1, u64::from(u16::MAX)) as u16
}

fn decimal(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

impl ContractEnv {
    /// The URL the client connects to.
    pub fn url(&self) -> String {
        match self.transport {
            Transport::Ws if self.ca_file.is_some() => format!("wss://{}:{}{}", self.host, self.port, self.path),
            Transport::Ws => format!("ws://{}:{}{}", self.host, self.port, self.path),
            Transport::Tcp => format!("mqtt://{}:{}", self.host, self.port),
        }
    }

    /// The environment variables, in the contract's order.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("MATRIX_URL", self.url()),
            ("MATRIX_HOST", self.host.clone()),
            ("MATRIX_PORT", self.port.to_string()),
            ("MATRIX_PATH", self.path.clone()),
            ("MATRIX_TRANSPORT", self.transport.name().to_string()),
            ("MATRIX_USERNAME", self.username.clone()),
            ("MATRIX_PASSWORD", self.password.clone()),
            ("MATRIX_CLIENT_ID", self.client_id.clone()),
            ("MATRIX_KEEPALIVE_SECS", keepalive_secs(self.keepalive).to_string()),
            ("MATRIX_HOLD_SECS", decimal(self.hold)),
            (TOPIC_VAR, self.topic.clone()),
            ("MATRIX_ROUND_TRIP_SECS", decimal(self.round_trip)),
            ("MATRIX_SETUP_SECS", decimal(self.setup)),
            (PROTOCOL_VAR, self.protocol.name().to_string()),
        ];
        if let Some(ca) = &self.ca_file {
            vars.push((CA_FILE_VAR, ca.display().to_string()));
        }
        vars
    }

    /// Reads the contract's variables through `get` (the process environment in a client).
    pub fn read(get: impl Fn(&'static str) -> Option<String>) -> Result<ContractEnv, ContractError> {
        let need = |name: &'static str| get(name).ok_or(ContractError::Missing(name));
        let secs = |name: &'static str, value: String| {
            value
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|v| Duration::try_from_secs_f64(v).ok())
                .ok_or(ContractError::Bad { name, value, why: "not a number of seconds" })
        };
        let transport = match need("MATRIX_TRANSPORT")?.as_str() {
            "ws" => Transport::Ws,
            "tcp" => Transport::Tcp,
            other => return Err(ContractError::Bad { name: "MATRIX_TRANSPORT", value: other.to_string(), why: "not ws or tcp" }),
        };
        let port = need("MATRIX_PORT")?;
        let port = port.trim().parse().map_err(|_| ContractError::Bad { name: "MATRIX_PORT", value: port, why: "not a port number" })?;
        Ok(ContractEnv {
            host: need("MATRIX_HOST")?,
            port,
            path: get("MATRIX_PATH").unwrap_or_else(|| crate::plan::column::DEFAULT_PATH.to_string()),
            transport,
            username: need("MATRIX_USERNAME")?,
            password: need("MATRIX_PASSWORD")?,
            client_id: need("MATRIX_CLIENT_ID")?,
            keepalive: secs("MATRIX_KEEPALIVE_SECS", need("MATRIX_KEEPALIVE_SECS")?)?,
            hold: secs("MATRIX_HOLD_SECS", need("MATRIX_HOLD_SECS")?)?,
            topic: need("MATRIX_TOPIC")?,
            round_trip: match get("MATRIX_ROUND_TRIP_SECS") {
                Some(v) => secs("MATRIX_ROUND_TRIP_SECS", v)?,
                None => DEFAULT_ROUND_TRIP,
            },
            setup: match get("MATRIX_SETUP_SECS") {
                Some(v) => secs("MATRIX_SETUP_SECS", v)?,
                None => DEFAULT_SETUP,
            },
            protocol: match get(PROTOCOL_VAR) {
                Some(v) => Protocol::from_name(&v).ok_or(ContractError::Bad { name: PROTOCOL_VAR, value: v, why: "not 3.1.1 or 5" })?,
                None => Protocol::V311,
            },
            ca_file: match get(CA_FILE_VAR) {
                Some(v) if v.trim().is_empty() => return Err(ContractError::Bad { name: CA_FILE_VAR, value: v, why: "empty; unset it for a plain route" }),
                Some(v) => Some(PathBuf::from(v)),
                None => None,
            },
        })
    }
}

/// A line a client printed, as the contract reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientLine<'a> {
    /// `client: <library> <version>`.
    Client(&'a str),
    /// `lost: <words>` or `refused: <words>`: the whole line.
    Lost(&'a str),
    /// Anything else (a `done: …` line too: the wire and the exit status say whether it was done).
    Other,
}

/// Reads one line of a client's output.
pub fn read_line(line: &str) -> ClientLine<'_> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("client:") {
        ClientLine::Client(rest.trim())
    } else if line.starts_with("lost:") || line.starts_with("refused:") {
        ClientLine::Lost(line)
    } else {
        ClientLine::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env() -> ContractEnv {
        ContractEnv {
            host: "127.0.0.1".into(),
            port: 4242,
            path: "/mqtt".into(),
            transport: Transport::Ws,
            username: "u".into(),
            password: "p".into(),
            client_id: "c".into(),
            keepalive: Duration::from_millis(1500),
            hold: Duration::from_millis(330_000),
            topic: "test/c".into(),
            round_trip: Duration::from_secs(10),
            setup: Duration::from_secs(20),
            protocol: Protocol::V5,
            ca_file: None,
        }
    }

    #[test]
    fn the_environment_reads_back_as_it_was_written_with_whole_second_keepalive() {
        let vars: HashMap<&str, String> = env().vars().into_iter().collect();
        assert_eq!(vars["MATRIX_URL"], "ws://127.0.0.1:4242/mqtt");
        assert_eq!(vars["MATRIX_KEEPALIVE_SECS"], "2");
        assert_eq!(vars["MATRIX_HOLD_SECS"], "330.000");
        assert_eq!(vars["MATRIX_PROTOCOL"], "5");
        let back = ContractEnv::read(|k| vars.get(k).cloned()).expect("complete");
        assert_eq!(back, ContractEnv { keepalive: Duration::from_secs(2), ..env() });
    }

    #[test]
    fn a_tls_route_passes_a_wss_url_and_the_ca_file_and_reads_them_back() {
        let tls = ContractEnv { ca_file: Some(PathBuf::from("/tmp/run/ca.pem")), ..env() };
        let vars: HashMap<&str, String> = tls.vars().into_iter().collect();
        assert_eq!(vars["MATRIX_URL"], "wss://127.0.0.1:4242/mqtt");
        assert_eq!(vars["MATRIX_CA_FILE"], "/tmp/run/ca.pem");
        assert_eq!(vars["MATRIX_TRANSPORT"], "ws");
        let back = ContractEnv::read(|k| vars.get(k).cloned()).expect("complete");
        assert_eq!(back.ca_file, tls.ca_file);
        let plain: HashMap<&str, String> = env().vars().into_iter().collect();
        assert!(!plain.contains_key("MATRIX_CA_FILE"), "a plain route passes no CA");
        let mut empty = vars.clone();
        empty.insert("MATRIX_CA_FILE", String::new());
        assert!(matches!(ContractEnv::read(|k| empty.get(k).cloned()), Err(ContractError::Bad { name: "MATRIX_CA_FILE", .. })));
    }

    #[test]
    fn a_missing_or_bad_variable_is_named() {
        let vars: HashMap<&str, String> = env().vars().into_iter().filter(|(k, _)| *k != "MATRIX_TOPIC").collect();
        assert_eq!(ContractEnv::read(|k| vars.get(k).cloned()), Err(ContractError::Missing("MATRIX_TOPIC")));
        let mut vars: HashMap<&str, String> = env().vars().into_iter().collect();
        vars.insert("MATRIX_HOLD_SECS", "soon".into());
        assert!(matches!(ContractEnv::read(|k| vars.get(k).cloned()), Err(ContractError::Bad { name: "MATRIX_HOLD_SECS", .. })));
        vars.insert("MATRIX_HOLD_SECS", "1".into());
        vars.insert("MATRIX_PROTOCOL", "3.1".into());
        assert!(matches!(ContractEnv::read(|k| vars.get(k).cloned()), Err(ContractError::Bad { name: "MATRIX_PROTOCOL", .. })));
        vars.remove("MATRIX_PROTOCOL");
        assert_eq!(ContractEnv::read(|k| vars.get(k).cloned()).map(|e| e.protocol), Ok(Protocol::V311), "unset is 3.1.1");
    }

    #[test]
    fn the_contract_lines_are_read_by_their_prefix() {
        assert_eq!(read_line("client: paho-mqtt 2.1.0"), ClientLine::Client("paho-mqtt 2.1.0"));
        assert_eq!(read_line("lost: Connection lost (32109) - java.io.EOFException"), ClientLine::Lost("lost: Connection lost (32109) - java.io.EOFException"));
        assert_eq!(read_line("refused: not authorised"), ClientLine::Lost("refused: not authorised"));
        assert_eq!(read_line("done: round trip 2 ms"), ClientLine::Other);
        assert_eq!(read_line("DEBUG connected"), ClientLine::Other);
    }
}
