//! What a session observed: the events a verdict is decided from.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plan::{Profile, Transport};

/// Who ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Party {
    /// The broker (or whatever sits between us and it).
    Broker,
    /// The client itself.
    Client,
}

/// How much of the wire the record saw, which decides what a verdict may claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vantage {
    /// A built-in profile played frame by frame: every frame, from the client's side.
    Client,
    /// A real library in process (rumqttc): control frames stay inside the library.
    Library,
    /// A command client through the recording proxy: every frame, from between the two.
    Proxy,
}

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the broker to the client.
    Received,
    /// From the client to the broker.
    Sent,
}

/// Where a session's times count from: the moment the broker's own timers start, so that
/// load on the machine cannot move a time the broker keeps.
///
/// libwebsockets starts its 300 s PING timer when it accepts the WebSocket, so a WebSocket
/// session counts from the broker's `101 Switching Protocols`; a CONNECT sent late (a JVM
/// loading classes, a starved client) then delays nothing. Over TCP Mosquitto keeps no timer
/// before the session exists, so a TCP session counts from CONNACK. Either way the zero is
/// the first of the two that the broker sends. The hold is still counted from CONNACK, as
/// the command contract says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeZero {
    /// The broker's 101 answer to the WebSocket upgrade.
    Upgrade,
    /// The CONNACK that accepted the session.
    ConnAck,
}

impl TimeZero {
    /// The zero of a session over `transport`.
    pub fn of(transport: Transport) -> TimeZero {
        match transport {
            Transport::Ws => TimeZero::Upgrade,
            Transport::Tcp => TimeZero::ConnAck,
        }
    }
}

/// A WebSocket frame worth a line in the report: every control frame and every
/// data frame that is not a plain binary one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameSeen {
    /// Time after the session's [`TimeZero`] (zero before it).
    #[serde(with = "crate::units::secs")]
    pub at: Duration,
    /// Which way it went.
    pub direction: Direction,
    /// Its opcode.
    pub opcode: u8,
    /// Its payload length in bytes.
    pub payload_len: usize,
    /// Whether the payload was masked.
    pub masked: bool,
}

/// How the TCP connection ended when nobody sent a close frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketEnd {
    /// An orderly end of stream (FIN).
    Eof,
    /// A TCP reset.
    Reset,
    /// Any other socket error, in the operating system's words.
    Error(String),
}

impl SocketEnd {
    /// How a socket error ended the connection: a reset, an end of stream, or another error.
    pub fn of(e: &std::io::Error) -> SocketEnd {
        use std::io::ErrorKind::*;
        match e.kind() {
            ConnectionReset => SocketEnd::Reset,
            UnexpectedEof | ConnectionAborted | BrokenPipe => SocketEnd::Eof,
            _ => SocketEnd::Error(e.to_string()),
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum End {
    /// The hold elapsed; then the publish/receive round trip was tried.
    HoldCompleted {
        /// How the round trip went.
        round_trip: RoundTrip,
    },
    /// The client profile itself ended the session because of a frame.
    ClientGaveUp {
        /// When.
        #[serde(with = "crate::units::secs")]
        at: Duration,
        /// The frame that made it give up.
        trigger: FrameSeen,
        /// Why, finishing the sentence "`<profile>` …".
        why: String,
    },
    /// The broker sent a close frame.
    BrokerClosed {
        /// When.
        #[serde(with = "crate::units::secs")]
        at: Duration,
        /// Its status code, if it had one.
        code: Option<u16>,
        /// Its reason text.
        reason: String,
    },
    /// The broker sent an MQTT 5 DISCONNECT (with its reason code) before ending the connection.
    BrokerDisconnected {
        /// When.
        #[serde(with = "crate::units::secs")]
        at: Duration,
        /// Its reason code (MQTT 5 §3.14.2.1), e.g. 0x8D keep alive timeout.
        reason: u8,
        /// Its reason string property, if it had one.
        reason_string: Option<String>,
    },
    /// The connection ended without a close frame.
    SocketEnded {
        /// When.
        #[serde(with = "crate::units::secs")]
        at: Duration,
        /// How.
        how: SocketEnd,
    },
    /// No PINGRESP came in time (the rule: `client::core::State::pingresp_deadline`).
    PingRespMissing {
        /// When the client gave up waiting.
        #[serde(with = "crate::units::secs")]
        at: Duration,
        /// When the unanswered PINGREQ was sent.
        #[serde(with = "crate::units::secs")]
        pingreq_at: Duration,
    },
    /// The broker refused the WebSocket upgrade.
    UpgradeRefused {
        /// The refusal in the server's words.
        detail: String,
    },
    /// CONNACK carried a non-zero return code.
    ConnAckRefused {
        /// The return code.
        code: u8,
    },
    /// The broker sent bytes that are not valid WebSocket or MQTT, and the client dropped it.
    BadBytes {
        /// When.
        #[serde(with = "crate::units::secs")]
        at: Duration,
        /// What was wrong.
        detail: String,
    },
    /// A command client ended the connection itself (DISCONNECT, close frame, FIN or reset)
    /// before a round trip after the hold.
    ClientEnded {
        /// When.
        #[serde(with = "crate::units::secs")]
        at: Duration,
        /// The first thing the client sent to end it.
        how: ClientEnd,
        /// The last frame the broker sent before it, when it came within a second.
        after: Option<FrameSeen>,
    },
    /// The real client library reported an error (rumqttc profile).
    LibraryError {
        /// When.
        #[serde(with = "crate::units::secs")]
        at: Duration,
        /// The library's error, as it displays it.
        detail: String,
        /// Whether the library says the broker ended the connection.
        by_broker: bool,
    },
    /// The session could not run at all (nothing listening, setup timed out).
    HarnessError {
        /// What went wrong.
        detail: String,
    },
}

/// How a command client ended its connection, as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "with", rename_all = "snake_case")]
pub enum ClientEnd {
    /// An MQTT DISCONNECT.
    Disconnect,
    /// A WebSocket close frame.
    CloseFrame {
        /// Its status code, when its payload has one.
        code: Option<u16>,
        /// Its payload as text, e.g. `1000` for Paho Java 1.2.5's ASCII digits.
        payload: String,
    },
    /// A TCP FIN with nothing before it.
    Fin,
    /// A TCP reset.
    Reset,
}

/// How a command client's process ended, and what it said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientProcess {
    /// The library and version from its `client:` line.
    pub library: Option<String>,
    /// Its exit code, when it exited by itself.
    pub exit_code: Option<i32>,
    /// How it ended, in words: `exited 0`, `killed by signal 9`, `killed at the bound …`.
    pub ended: String,
    /// Whether the harness had to kill it.
    pub killed: bool,
    /// The signal that ended it, when one did (9: SIGKILL, by the harness or from outside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Its `lost:` or `refused:` line, in the library's own words.
    pub words: Option<String>,
    /// The last lines of its stdout and stderr.
    pub tail: Vec<String>,
    /// How many connections it opened through the proxy (the first is the one judged).
    pub connections: usize,
}

/// One thing the proxy saw on the wire, for the report's transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireEvent {
    /// Seconds after the session's [`TimeZero`] (negative before it), in broker time; never written as `-0.0`.
    #[serde(serialize_with = "crate::units::signed_secs")]
    pub at: f64,
    /// Who sent it.
    pub from: Party,
    /// What it was: `frame PING 0 B`, `MQTT PINGREQ`, `FIN` …
    pub what: String,
}

/// The publish/receive round trip that proves a session alive at the end of the hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RoundTrip {
    /// The client received its own publish back after this long.
    Echoed {
        /// Round-trip time.
        #[serde(with = "crate::units::secs")]
        rtt: Duration,
    },
    /// It did not come back in time.
    Lost {
        /// How long the client waited.
        #[serde(with = "crate::units::secs")]
        waited: Duration,
    },
}

/// Everything one session observed, from connect to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The column's name.
    pub column: String,
    /// How much of the wire the record saw.
    pub vantage: Vantage,
    /// The transport used.
    pub transport: Transport,
    /// The hold asked for.
    #[serde(with = "crate::units::secs")]
    pub hold: Duration,
    /// The MQTT keepalive used.
    #[serde(with = "crate::units::secs")]
    pub keepalive: Duration,
    /// The MQTT client identifier.
    pub client_id: String,
    /// Whether CONNACK accepted the session.
    pub connected: bool,
    /// The subprotocol the broker chose in the upgrade (WebSocket only).
    pub subprotocol: Option<String>,
    /// Notable frames in order.
    pub frames: Vec<FrameSeen>,
    /// The payload of the retained `$SYS/broker/version` message, if one came.
    pub broker_version: Option<String>,
    /// How it ended.
    pub end: End,
    /// A command client's process: how it ended and what it said.
    pub process: Option<ClientProcess>,
    /// Everything the proxy saw, for a command client (bounded).
    pub wire: Vec<WireEvent>,
    /// How many WebSocket frames carried the client's CONNECT, when it was seen whole.
    #[serde(default)]
    pub connect_frames: Option<usize>,
    /// WebSocket: how long (broker time) the broker's 101 came after the client's whole upgrade
    /// request, both as the proxy saw them. The broker's timers start in this span, so every
    /// time counted from the 101 may read up to this much early (see [`Reading`](crate::plan::expectation::Reading)).
    #[serde(default, with = "crate::units::opt_secs", skip_serializing_if = "Option::is_none")]
    pub upgrade_span: Option<Duration>,
    /// The longest the broker took to answer one of the client's PINGREQs (broker time): its
    /// own timers may have run as late, so every time it acted at may read up to this much
    /// late (see [`Reading`](crate::plan::expectation::Reading)).
    #[serde(default, with = "crate::units::opt_secs", skip_serializing_if = "Option::is_none")]
    pub broker_lag: Option<Duration>,
    /// On an accelerated clock: how late the broker ran (broker time) from its last PING to the
    /// session's end, timed on a connection of the run's own (`client::lateness`): every time
    /// it acted at then may read up to this much late too.
    #[serde(default, with = "crate::units::opt_secs", skip_serializing_if = "Option::is_none")]
    pub broker_late: Option<Duration>,
}

impl SessionRecord {
    /// A record for a session about to start; its end is set when it ends.
    pub fn new(profile: Profile, hold: Duration, keepalive: Duration, client_id: &str) -> SessionRecord {
        let vantage = if profile.is_frame_level() { Vantage::Client } else { Vantage::Library };
        SessionRecord::of(profile.name(), vantage, profile.transport(), hold, keepalive, client_id)
    }

    /// A record for any column seen from `vantage`.
    pub fn of(column: &str, vantage: Vantage, transport: Transport, hold: Duration, keepalive: Duration, client_id: &str) -> SessionRecord {
        SessionRecord {
            column: column.to_string(),
            vantage,
            transport,
            hold,
            keepalive,
            client_id: client_id.to_string(),
            connected: false,
            subprotocol: None,
            frames: Vec::new(),
            broker_version: None,
            end: End::HarnessError { detail: "the session did not end".to_string() },
            process: None,
            wire: Vec::new(),
            connect_frames: None,
            upgrade_span: None,
            broker_lag: None,
            broker_late: None,
        }
    }
}
