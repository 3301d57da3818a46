//! The columns of the matrix: who a client is — its name, its transport, its command — not
//! what it does.
//!
//! A column is a built-in [`Profile`] or a [`CommandClient`]: any program, started once per
//! cell under the command contract (`client::contract`). What each built-in profile does
//! with a frame lives in `client::behaviour`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::wire::mqtt::Protocol;

/// The broker's MQTT-over-WebSocket port inside its container (`listener 9001` in
/// `docker/mosquitto.conf`).
pub const WS_PORT: u16 = 9001;
/// The broker's plain MQTT port inside its container (`listener 1883`).
pub const TCP_PORT: u16 = 1883;

/// The way a profile reaches the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// MQTT over WebSocket on [`WS_PORT`].
    Ws,
    /// MQTT over plain TCP on [`TCP_PORT`].
    Tcp,
}

impl Transport {
    /// The broker port inside the container.
    pub fn container_port(self) -> u16 {
        match self {
            Transport::Ws => WS_PORT,
            Transport::Tcp => TCP_PORT,
        }
    }

    /// The transport's name as the reports spell it: `ws` or `tcp`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Tcp => "tcp",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One column of the matrix: a client behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Profile {
    /// Eclipse Paho Java 1.2.5: accepts only opcodes 0x2 and 0x8; anything else is an
    /// "invalid frame" after which it writes a close frame with the ASCII payload `1000`
    /// and closes the socket (`Connection lost (32109) - java.io.EOFException`).
    PahoJava125,
    /// Answers every PING with a PONG echoing its payload (RFC 6455 §5.5.2–5.5.3).
    Rfc6455,
    /// Never answers pings and never closes because of them.
    NoPong,
    /// Answers a PING with a close frame, 2 ms later in the wild (reported by users of an
    /// unnamed client: PING, then the client's close).
    CloseOnPing,
    /// Answers with a PONG whose mask bit is off, against RFC 6455 §5.1 (Paho Python's
    /// WebSocket wrapper does this).
    UnmaskedPong,
    /// Answers a PING only when it next reads, `late_pong` after it (clients that pong
    /// only from their read loop).
    LatePong,
    /// Like `rfc6455`, but writes every MQTT packet as several WebSocket frames the way
    /// MQTT.js does: the fixed header byte, the remaining length, then each field of a CONNECT
    /// (the rest of any other packet) in a frame of its own.
    Fragmented,
    /// The real rumqttc client (`Transport::Ws`), driven through its event loop.
    Rumqttc,
    /// The same MQTT session over plain TCP ([`TCP_PORT`]): the control column.
    Tcp,
}

impl Profile {
    /// Every profile, in the matrix's default column order.
    pub const ALL: [Profile; 9] = [
        Profile::PahoJava125,
        Profile::Rfc6455,
        Profile::NoPong,
        Profile::CloseOnPing,
        Profile::UnmaskedPong,
        Profile::LatePong,
        Profile::Fragmented,
        Profile::Rumqttc,
        Profile::Tcp,
    ];

    /// The profile's name as matrix.toml and the reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::PahoJava125 => "paho-java-1.2.5",
            Profile::Rfc6455 => "rfc6455",
            Profile::NoPong => "no-pong",
            Profile::CloseOnPing => "close-on-ping",
            Profile::UnmaskedPong => "unmasked-pong",
            Profile::LatePong => "late-pong",
            Profile::Fragmented => "fragmented",
            Profile::Rumqttc => "rumqttc",
            Profile::Tcp => "tcp",
        }
    }

    /// Whether the profile keeps back its answer to a broker's PING past any broker's patience
    /// on purpose (no-pong never answers, late-pong answers after the broker's 10 s): a
    /// broker's hang-up on it is never a starved client's.
    pub fn withholds_pong(self) -> bool {
        matches!(self, Profile::NoPong | Profile::LatePong)
    }

    /// Looks a profile up by name.
    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The transport the profile uses.
    pub fn transport(self) -> Transport {
        match self {
            Profile::Tcp => Transport::Tcp,
            _ => Transport::Ws,
        }
    }

    /// Whether the session is driven at the frame level by [`crate::client::session`]
    /// (every profile but the real rumqttc client).
    pub fn is_frame_level(self) -> bool {
        self != Profile::Rumqttc
    }
}

// Serialised by its name: `Profile::name` is the one place a profile's name is spelt.
impl Serialize for Profile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Profile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Profile, D::Error> {
        let name = String::deserialize(d)?;
        Profile::from_name(&name).ok_or_else(|| {
            let known: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
            serde::de::Error::custom(format!("unknown profile {name:?}; built-in profiles: {}", known.join(", ")))
        })
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What joins a column's name and the MQTT version it runs under: `rfc6455+v5` (`@` names a
/// client's version, `mqttjs@5.16.0+v5`).
pub const PROTOCOL_MARK: &str = "+v";

/// The name of column `base` run under `protocol`: `rfc6455+v5`.
pub fn under_name(base: &str, protocol: Protocol) -> String {
    format!("{base}{PROTOCOL_MARK}{}", protocol.name())
}

/// The WebSocket path a column connects to unless it says otherwise (Paho's).
pub const DEFAULT_PATH: &str = "/mqtt";

/// A program that is a column: started once per cell with the command contract's
/// environment, its connection recorded by a transparent proxy; optionally with a service
/// started once per run for all its cells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandClient {
    /// The column's name, used in `profiles` and in expectations like a built-in name.
    pub name: String,
    /// The program and its arguments (argv, no shell). A relative program path with a `/`
    /// is taken from matrix.toml's folder, where the program also runs.
    pub command: Vec<String>,
    /// How it reaches the broker.
    pub transport: Transport,
    /// The WebSocket path (default `/mqtt`).
    pub path: String,
    /// What it is, for the report.
    pub description: Option<String>,
    /// Where this client is seen in the wild.
    pub seen_in: Option<String>,
    /// The command that installs the client (named in the ERROR when it cannot start).
    pub setup: Option<String>,
    /// Whether its clock follows the time library (false for Go programs, which read the
    /// clock without the C library): an accelerated run then gives it its hold already divided
    /// by the speed, on its own real-time clock ([`CommandClient::real_clock`]).
    pub accelerates: bool,
    /// What a cell of it costs the machine, when matrix.toml declares it.
    #[serde(skip)]
    pub cost: Option<crate::plan::Cost>,
    /// What a cell of it costs inside its runtime (runtime mode), when matrix.toml declares
    /// it (`runtime_cost`); else [`crate::plan::Cost::RUNTIME_CELL`].
    #[serde(skip)]
    pub runtime_cost: Option<crate::plan::Cost>,
    /// A program started once per run for all the column's cells (argv, no shell, relative
    /// paths as for `command`): it prints `service: <value>` and every cell gets the value
    /// as `MATRIX_SERVICE` (the browser column's one Chromium). See `client::service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Vec<String>>,
    /// A program started once per run per column version that runs every cell of the column
    /// inside it, each cell a connection (argv as for `command`, `{version}` substituted; the
    /// runtime protocol of docs/src/command-contract.md). Used in runtime mode only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Vec<String>>,
    /// The MQTT version it is asked to speak (`MATRIX_PROTOCOL`; matrix.toml's `protocol`).
    #[serde(default, skip_serializing_if = "is_v311")]
    pub protocol: Protocol,
    /// A file (relative to matrix.toml's folder) whose first line names the artefact the client
    /// runs, its hash and name, as its set-up wrote it (`clients/setup.sh`:
    /// `target/clients/<name>/<version>/artefact`); the result JSON shows it beside the version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artefact: Option<String>,
}

fn is_v311(p: &Protocol) -> bool {
    *p == Protocol::V311
}

/// The program name that stands for the harness's own CLI in a command, so the built-in
/// profiles can be command columns: `["mosquitto-matrix", "client", "--profile", "no-pong"]`.
pub const SELF_PROGRAM: &str = "mosquitto-matrix";

/// One column of the matrix: a built-in profile or a command.
// A run holds a few dozen columns, each built once from matrix.toml: their size costs
// nothing, and a boxed `CommandClient` would change every match on a column.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// A profile the harness plays itself (in process).
    Builtin(Profile),
    /// Any program, through the recording proxy.
    Command(CommandClient),
    /// A column run under another MQTT version than its own, named with it: `rfc6455+v5`.
    Under {
        /// The column itself (never an `Under`).
        column: Box<Column>,
        /// The version it runs under.
        protocol: Protocol,
        /// `<column>+v<protocol>` ([`under_name`]).
        name: String,
    },
}

impl Column {
    /// The column's name as matrix.toml and the reports spell it.
    pub fn name(&self) -> &str {
        match self {
            Column::Builtin(p) => p.name(),
            Column::Command(c) => &c.name,
            Column::Under { name, .. } => name,
        }
    }

    /// The MQTT version the column speaks: 3.1.1 for a built-in, what a client's `protocol`
    /// says, or the one it runs under.
    pub fn protocol(&self) -> Protocol {
        match self {
            Column::Builtin(_) => Protocol::V311,
            Column::Command(c) => c.protocol,
            Column::Under { protocol, .. } => *protocol,
        }
    }

    /// The column without the version it runs under.
    pub fn base(&self) -> &Column {
        match self {
            Column::Under { column, .. } => column.base(),
            other => other,
        }
    }

    /// The same column under `protocol`: itself when that is already its own, else named
    /// [`under_name`]. rumqttc is driven as an MQTT 3.1.1 client only; a client whose
    /// matrix.toml table says `protocol = "5"` speaks MQTT 5 only (paho.golang, Paho Java's v5
    /// client) and is not asked for 3.1.1.
    pub fn under(self, protocol: Protocol) -> Result<Column, String> {
        if self.protocol() == protocol {
            return Ok(self);
        }
        let base = self.base().clone();
        if base == Column::Builtin(Profile::Rumqttc) {
            return Err(format!("{base} is driven as an MQTT 3.1.1 client only and cannot run under MQTT {protocol}"));
        }
        if matches!(&base, Column::Command(c) if c.protocol == Protocol::V5) && protocol == Protocol::V311 {
            return Err(format!("{base} speaks MQTT 5 only (protocol = \"5\" in matrix.toml) and cannot run under MQTT 3.1.1"));
        }
        if base.protocol() == protocol {
            return Ok(base);
        }
        let name = under_name(base.name(), protocol);
        Ok(Column::Under { column: Box::new(base), protocol, name })
    }

    /// How the column reaches the broker.
    pub fn transport(&self) -> Transport {
        match self {
            Column::Builtin(p) => p.transport(),
            Column::Command(c) => c.transport,
            Column::Under { column, .. } => column.transport(),
        }
    }

    /// The WebSocket path it connects to.
    pub fn path(&self) -> &str {
        match self {
            Column::Builtin(_) => DEFAULT_PATH,
            Column::Command(c) => &c.path,
            Column::Under { column, .. } => column.path(),
        }
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a `NAME=COMMAND` column given on the command line cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdHocError {
    /// No `=` between the name and the command.
    #[error("{0:?} is not a client; write NAME=COMMAND (or NAME:tcp=COMMAND), as in 'my-app=java -jar app.jar'")]
    Shape(String),
    /// The name is empty or has characters a report cannot carry.
    #[error("{0:?} is not a column name; use letters, digits, '.', '_' and '-'")]
    Name(String),
    /// The transport after `:` is not `ws` or `tcp`.
    #[error("{0:?} is not a transport; write ws or tcp")]
    Transport(String),
    /// The command is empty or its quoting is broken.
    #[error("the command of client {name:?} {why}")]
    Command {
        /// The column.
        name: String,
        /// What is wrong.
        why: String,
    },
}

/// Whether a text can name a column: letters, digits, `.`, `_`, `-`.
pub fn is_column_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl CommandClient {
    /// At `speed` broker seconds per real second, whether this client runs on its own real-time
    /// clock (it cannot follow the time library): the contract then passes its hold divided by
    /// the speed and keepalive 0, and its cells' causes say so (`client::command::real_clock_note`).
    pub fn real_clock(&self, speed: u32) -> bool {
        speed > 1 && !self.accelerates
    }

    /// Parses an ad-hoc column, `NAME=COMMAND` or `NAME:tcp=COMMAND`; the command is split
    /// into words as a POSIX shell would, without running one.
    pub fn parse_ad_hoc(text: &str) -> Result<CommandClient, AdHocError> {
        let (head, command) = text.split_once('=').ok_or_else(|| AdHocError::Shape(text.to_string()))?;
        let (name, transport) = match head.split_once(':') {
            Some((n, "ws")) => (n, Transport::Ws),
            Some((n, "tcp")) => (n, Transport::Tcp),
            Some((_, t)) => return Err(AdHocError::Transport(t.to_string())),
            None => (head, Transport::Ws),
        };
        let name = name.trim();
        if !is_column_name(name) {
            return Err(AdHocError::Name(name.to_string()));
        }
        let bad = |why: String| AdHocError::Command { name: name.to_string(), why };
        let command = shell_words::split(command).map_err(|e| bad(format!("cannot be split into words: {e}")))?;
        if command.is_empty() {
            return Err(bad("is empty".to_string()));
        }
        Ok(CommandClient {
            name: name.to_string(),
            command,
            transport,
            path: DEFAULT_PATH.to_string(),
            description: Some("given on the command line".to_string()),
            seen_in: None,
            setup: None,
            accelerates: true,
            cost: None,
            runtime_cost: None,
            service: None,
            runtime: None,
            protocol: Protocol::V311,
            artefact: None,
        })
    }
}

impl crate::plan::Cost {
    /// The cost of a column's cell run inside its runtime (runtime mode): the column's
    /// declared `runtime_cost`, else [`crate::plan::Cost::RUNTIME_CELL`] (a built-in
    /// profile's runtime is the harness's own client, whose cell is a task).
    pub fn in_runtime(column: &Column) -> crate::plan::Cost {
        match column.base() {
            Column::Command(c) => c.runtime_cost.unwrap_or(crate::plan::Cost::RUNTIME_CELL),
            _ => crate::plan::Cost::RUNTIME_CELL,
        }
    }

    /// The cost of a column's cell; `as_command` when the run plays built-ins as commands.
    pub fn of(column: &Column, as_command: bool) -> crate::plan::Cost {
        use crate::plan::Cost;
        match column.base() {
            Column::Builtin(Profile::Rumqttc) if !as_command => Cost { start_cpu: std::time::Duration::from_millis(5), memory_mb: 1 },
            Column::Builtin(_) if as_command => Cost::SELF_COMMAND,
            Column::Builtin(_) => Cost::IN_PROCESS,
            Column::Command(c) => c.cost.unwrap_or(Cost::UNKNOWN_PROGRAM),
            Column::Under { column, .. } => Cost::of(column, as_command),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_reads_and_writes_as_its_name() {
        for p in Profile::ALL {
            let text = serde_json::to_string(&p).expect("serialises");
            assert_eq!(text, format!("{:?}", p.name()));
            assert_eq!(serde_json::from_str::<Profile>(&text).expect("reads back"), p);
        }
        let e = serde_json::from_str::<Profile>("\"paho\"").expect_err("not a profile");
        assert!(e.to_string().starts_with("unknown profile \"paho\"; built-in profiles: paho-java-1.2.5, rfc6455"), "{e}");
    }

    #[test]
    fn every_profile_name_looks_itself_up() {
        for p in Profile::ALL {
            assert_eq!(Profile::from_name(p.name()), Some(p));
        }
        assert_eq!(Profile::from_name("paho"), None);
    }

    #[test]
    fn an_ad_hoc_client_splits_its_command_like_a_shell_without_running_one() {
        let c = CommandClient::parse_ad_hoc("my-app=java -jar 'my app.jar'").expect("valid");
        assert_eq!(c.name, "my-app");
        assert_eq!(c.command, ["java", "-jar", "my app.jar"]);
        assert_eq!((c.transport, c.path.as_str()), (Transport::Ws, "/mqtt"));
        let tcp = CommandClient::parse_ad_hoc("gw:tcp=./gateway").expect("valid");
        assert_eq!(tcp.transport, Transport::Tcp);
    }

    #[test]
    fn a_broken_ad_hoc_client_says_what_is_wrong() {
        assert_eq!(CommandClient::parse_ad_hoc("java -jar x"), Err(AdHocError::Shape("java -jar x".into())));
        assert!(matches!(CommandClient::parse_ad_hoc("a b=x"), Err(AdHocError::Name(_))));
        assert!(matches!(CommandClient::parse_ad_hoc("a:udp=x"), Err(AdHocError::Transport(_))));
        assert!(matches!(CommandClient::parse_ad_hoc("a=  "), Err(AdHocError::Command { .. })));
        assert!(matches!(CommandClient::parse_ad_hoc("a=say 'unclosed"), Err(AdHocError::Command { .. })));
    }
}

