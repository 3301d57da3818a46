//! The command-client contract, version 2: what a command column is started with, and what
//! it prints. Stable; its version goes into every JSON report (`contract_version`).
//!
//! Version 2 adds `MATRIX_SETUP_SECS` (the bound on connect + upgrade + CONNACK + SUBACK, on
//! the client's own clock: an accelerated client gets it multiplied, so its deadline is the
//! same in real time) and `MATRIX_RUN_ID` (the run, so nothing of it outlives the run).
//!
//! The harness starts the command once per cell, with its working directory at matrix.toml's
//! folder, and this environment: `MATRIX_URL` (`ws://127.0.0.1:PORT/mqtt` or
//! `mqtt://127.0.0.1:PORT`), `MATRIX_HOST`, `MATRIX_PORT`, `MATRIX_PATH`, `MATRIX_TRANSPORT`
//! (`ws`/`tcp`), `MATRIX_USERNAME`, `MATRIX_PASSWORD`, `MATRIX_CLIENT_ID`,
//! `MATRIX_KEEPALIVE_SECS` (whole seconds), `MATRIX_HOLD_SECS` (decimal), `MATRIX_TOPIC`,
//! `MATRIX_ROUND_TRIP_SECS` (decimal: how long to wait for the round trip),
//! `MATRIX_SETUP_SECS` (decimal) and `MATRIX_RUN_ID`.
//!
//! The client prints `client: <library> <version>` first; connects; subscribes to the topic;
//! stays connected for the hold (counted from CONNACK); publishes one message to the topic and
//! receives it; disconnects; prints `done: …` and exits 0. When its library reports the
//! connection lost it prints one line `lost: <the library's own words>` and exits non-zero
//! (`refused: …` when the broker refuses it).

use std::time::Duration;

use crate::plan::Transport;

/// The contract's version.
pub const VERSION: u32 = 2;
/// The variable that names the run in every client's environment.
pub const RUN_ID_VAR: &str = "MATRIX_RUN_ID";
/// The set-up bound a client assumes when `MATRIX_SETUP_SECS` is not set.
pub const DEFAULT_SETUP: Duration = Duration::from_secs(20);

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
    /// Keepalive; the contract passes whole seconds, rounded up, at least 1.
    pub keepalive: Duration,
    /// How long to stay connected after CONNACK.
    pub hold: Duration,
    /// The topic to subscribe to and publish the round trip on.
    pub topic: String,
    /// How long to wait for the round trip.
    pub round_trip: Duration,
    /// How long connect, upgrade, CONNACK and SUBACK may take, on the client's clock.
    pub setup: Duration,
}

/// An environment that does not follow the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// A variable is missing.
    #[error("{0} is not set; the command contract needs it (see README, \"Any program as a column\")")]
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

/// The keepalive as the contract passes it: whole seconds, rounded up, at least 1.
pub fn keepalive_secs(d: Duration) -> u16 {
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
            Transport::Ws => format!("ws://{}:{}{}", self.host, self.port, self.path),
            Transport::Tcp => format!("mqtt://{}:{}", self.host, self.port),
        }
    }

    /// The environment variables, in the contract's order.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
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
            ("MATRIX_TOPIC", self.topic.clone()),
            ("MATRIX_ROUND_TRIP_SECS", decimal(self.round_trip)),
            ("MATRIX_SETUP_SECS", decimal(self.setup)),
        ]
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
                None => Duration::from_secs(10),
            },
            setup: match get("MATRIX_SETUP_SECS") {
                Some(v) => secs("MATRIX_SETUP_SECS", v)?,
                None => DEFAULT_SETUP,
            },
        })
    }
}

/// A line a client printed, as the contract reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said<'a> {
    /// `client: <library> <version>`.
    Client(&'a str),
    /// `lost: <words>` or `refused: <words>`: the whole line.
    Lost(&'a str),
    /// `done: …`.
    Done(&'a str),
    /// Anything else.
    Other,
}

/// Reads one line of a client's output.
pub fn said(line: &str) -> Said<'_> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("client:") {
        Said::Client(rest.trim())
    } else if line.starts_with("lost:") || line.starts_with("refused:") {
        Said::Lost(line)
    } else if let Some(rest) = line.strip_prefix("done:") {
        Said::Done(rest.trim())
    } else {
        Said::Other
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
        }
    }

    #[test]
    fn the_environment_reads_back_as_it_was_written_with_whole_second_keepalive() {
        let vars: HashMap<&str, String> = env().vars().into_iter().collect();
        assert_eq!(vars["MATRIX_URL"], "ws://127.0.0.1:4242/mqtt");
        assert_eq!(vars["MATRIX_KEEPALIVE_SECS"], "2");
        assert_eq!(vars["MATRIX_HOLD_SECS"], "330.000");
        let back = ContractEnv::read(|k| vars.get(k).cloned()).expect("complete");
        assert_eq!(back, ContractEnv { keepalive: Duration::from_secs(2), ..env() });
    }

    #[test]
    fn a_missing_or_bad_variable_is_named() {
        let vars: HashMap<&str, String> = env().vars().into_iter().filter(|(k, _)| *k != "MATRIX_TOPIC").collect();
        assert_eq!(ContractEnv::read(|k| vars.get(k).cloned()), Err(ContractError::Missing("MATRIX_TOPIC")));
        let mut vars: HashMap<&str, String> = env().vars().into_iter().collect();
        vars.insert("MATRIX_HOLD_SECS", "soon".into());
        assert!(matches!(ContractEnv::read(|k| vars.get(k).cloned()), Err(ContractError::Bad { name: "MATRIX_HOLD_SECS", .. })));
    }

    #[test]
    fn the_contract_lines_are_read_by_their_prefix() {
        assert_eq!(said("client: paho-mqtt 2.1.0"), Said::Client("paho-mqtt 2.1.0"));
        assert_eq!(said("lost: Connection lost (32109) - java.io.EOFException"), Said::Lost("lost: Connection lost (32109) - java.io.EOFException"));
        assert_eq!(said("refused: not authorised"), Said::Lost("refused: not authorised"));
        assert_eq!(said("done: round trip 2 ms"), Said::Done("round trip 2 ms"));
        assert_eq!(said("DEBUG connected"), Said::Other);
    }
}
