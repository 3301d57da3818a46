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
    /// The emulated client itself.
    Client,
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

/// A WebSocket frame worth a line in the report: every control frame and every
/// data frame that is not a plain binary one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameSeen {
    /// Time after CONNACK (zero before it).
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
        /// Why, finishing the sentence "<profile> …".
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
    /// The connection ended without a close frame.
    SocketEnded {
        /// When.
        #[serde(with = "crate::units::secs")]
        at: Duration,
        /// How.
        how: SocketEnd,
    },
    /// No PINGRESP came within 1.5 × keepalive.
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
    /// The client profile.
    pub profile: Profile,
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
}

impl SessionRecord {
    /// A record for a session about to start; its end is set when it ends.
    pub fn new(profile: Profile, hold: Duration, keepalive: Duration, client_id: &str) -> SessionRecord {
        SessionRecord {
            profile,
            transport: profile.transport(),
            hold,
            keepalive,
            client_id: client_id.to_string(),
            connected: false,
            subprotocol: None,
            frames: Vec::new(),
            broker_version: None,
            end: End::HarnessError { detail: "the session did not end".to_string() },
        }
    }
}
