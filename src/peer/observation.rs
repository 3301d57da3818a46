//! What the scripted broker saw in one client connection: the upgrade, the CONNECT, every
//! frame and packet with its time, its own scripted acts, and how the connection ended.

use std::time::Duration;

use crate::wire::frame::opcode;
use crate::wire::mqtt::Packet;

/// The upgrade request as the peer read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeSeen {
    /// The request path.
    pub path: String,
    /// The `Sec-WebSocket-Protocol` header the client sent.
    pub protocols: Option<String>,
}

/// The CONNECT as the peer read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSeen {
    /// Client identifier.
    pub client_id: String,
    /// User name.
    pub username: Option<String>,
    /// Keepalive in seconds.
    pub keepalive: u16,
}

/// One thing the peer saw or did, at a time after its zero (zero before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Time after the peer's zero (its 101 over WebSocket, its CONNACK over TCP).
    pub at: Duration,
    /// What.
    pub what: What,
}

/// What happened on the peer's side of the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// A WebSocket frame from the client other than a final masked binary one.
    Frame {
        /// Its opcode.
        opcode: u8,
        /// Its FIN bit.
        fin: bool,
        /// Its mask bit.
        masked: bool,
        /// Its payload, unmasked.
        payload: Vec<u8>,
    },
    /// An MQTT packet from the client.
    Packet(Packet),
    /// The peer sent a PING with this payload.
    PingSent(Vec<u8>),
    /// The peer sent a PONG nobody asked for, with this payload.
    PongSent(Vec<u8>),
    /// The peer sent a close frame with this code.
    CloseSent(u16),
    /// The peer left this PINGREQ unanswered.
    PingRespWithheld,
    /// The peer sent the fragmented PUBLISH.
    FragmentsSent,
    /// The peer sent several MQTT packets in one frame.
    PacketsInOneFrameSent,
    /// The peer sent a text frame.
    TextSent,
}

/// How the peer's side of the session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEnd {
    /// The client closed the TCP connection (FIN).
    ClientEof,
    /// Reading or writing failed (the client reset, or the socket broke).
    SocketError(String),
    /// The peer ended it without a close frame, for this reason.
    HungUp(&'static str),
    /// The peer reset the connection.
    Reset,
    /// The client sent bytes that are not WebSocket or MQTT.
    BadBytes(String),
    /// The session task did not end within its bound after the client was done.
    Stuck,
}

/// Everything the peer saw in one client session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The upgrade request (WebSocket listener only).
    pub upgrade: Option<UpgradeSeen>,
    /// The CONNECT.
    pub connect: Option<ConnectSeen>,
    /// Frames, packets and the peer's own scripted acts, in order.
    pub events: Vec<Event>,
    /// How it ended.
    pub end: PeerEnd,
}

impl Observation {
    /// An observation of a connection that ended before anything was seen.
    pub fn ended(end: PeerEnd) -> Observation {
        Observation { upgrade: None, connect: None, events: Vec::new(), end }
    }

    /// Frames from the client with this opcode: (time, masked, payload).
    pub fn frames(&self, op: u8) -> Vec<(Duration, bool, &[u8])> {
        self.events
            .iter()
            .filter_map(|e| match &e.what {
                What::Frame { opcode, masked, payload, .. } if *opcode == op => Some((e.at, *masked, &payload[..])),
                _ => None,
            })
            .collect()
    }

    /// PONGs from the client: (time, masked, payload).
    pub fn pongs(&self) -> Vec<(Duration, bool, &[u8])> {
        self.frames(opcode::PONG)
    }

    /// Close frames from the client: their payloads.
    pub fn client_closes(&self) -> Vec<&[u8]> {
        self.frames(opcode::CLOSE).into_iter().map(|(_, _, p)| p).collect()
    }

    /// PINGs the peer sent: their times.
    pub fn pings_sent(&self) -> Vec<Duration> {
        self.events.iter().filter(|e| matches!(e.what, What::PingSent(_))).map(|e| e.at).collect()
    }

    /// Frames from the client whose mask bit was off (RFC 6455 §5.1 forbids them): (time, opcode).
    pub fn unmasked(&self) -> Vec<(Duration, u8)> {
        self.events
            .iter()
            .filter_map(|e| match &e.what {
                What::Frame { opcode, masked: false, .. } => Some((e.at, *opcode)),
                _ => None,
            })
            .collect()
    }
}
