//! The client conformance cases: one broker behaviour each, with its clause and what a client
//! must do, in words a reader checks a verdict against (Autobahn's `DESCRIPTION` and
//! `EXPECTATION`). Pure data.

use std::time::Duration;

use crate::peer::{Behaviour, Unmasked, PING_PAYLOAD_125};
use crate::wire::mqtt::Protocol;

/// The unit of broker time the cases are written in: "300 s" of a real broker is 10 units.
pub const UNIT: Duration = Duration::from_millis(100);

/// The hold of most cases, in seconds: past every scripted act (1 s) and the lws 4.x hang-up (2 s).
pub const HOLD_SECS: u64 = 3;

/// The hold of the PINGRESP case: the PINGREQ at 2 s (one keepalive), then up to three keepalives.
const PINGRESP_HOLD_SECS: u64 = 8;

/// When a scripted act happens, in units after the broker's zero (1 s).
const AT: u32 = 10;

/// What a client must do for a case to be answered as required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Required {
    /// Hold the session to its end, as on a quiet broker.
    Hold,
    /// Answer the PING with a masked PONG that echoes its payload, and hold.
    EchoPing,
    /// Close the connection (a text frame: [MQTT-6.0.0-1]).
    Close,
    /// Echo the close frame and end.
    EchoClose,
    /// See the connection end when the broker ends it.
    SeeTheEnd,
    /// Give up on the missing PINGRESP and close ([MQTT-3.1.2-24]'s client side, §4.4).
    TimeOut,
    /// Carry on without the subprotocol, or refuse the upgrade: RFC 6455 leaves it open.
    HoldOrRefuse,
    /// Report the refusal and stop.
    Refused,
}

/// One case of the client grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Its id, as the reports and conformance.toml spell it.
    pub id: &'static str,
    /// Its short name in a summary line.
    pub short: &'static str,
    /// What the scripted broker does, in words.
    pub description: &'static str,
    /// The clause or upstream issue that says what a client must do.
    pub clause: &'static str,
    /// What the broker plays.
    pub behaviour: Behaviour,
    /// What the client must do.
    pub required: Required,
    /// The MQTT version the case needs of a column, when it needs one.
    pub protocol: Option<Protocol>,
    /// How long the column holds, in seconds: [`HOLD_SECS`], or longer where the client needs
    /// time to notice (a missing PINGRESP shows only a keepalive or two after the PINGREQ).
    pub hold_secs: u64,
}

impl Case {
    /// Whether the case means anything to a column on this transport: WebSocket cases mean
    /// nothing on plain TCP.
    pub fn applies_to_websocket_only(&self) -> bool {
        self.behaviour.websocket_only()
    }
}

/// The libwebsockets 4.x PING: 1 s after the upgrade, hang-up 1 s later without a PONG.
pub const LWS4: Behaviour = Behaviour::Lws4 { ping_at: AT, hangup_after: 10, unmasked: Unmasked::Accept };

/// Every case, in report order.
pub const CASES: [Case; 18] = [
    Case { id: "quiet", short: "quiet broker", description: "a broker that sends no WebSocket PING", clause: "the baseline: every other case differs from it in one act", behaviour: Behaviour::NoPings, required: Required::Hold, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "lws4-ping", short: "PING", description: "libwebsockets 4.x: an empty PING 1 s after the upgrade (300 s in Mosquitto), hang-up 1 s later without a PONG", clause: "RFC 6455 §5.5.2-5.5.3; eclipse-paho/paho.mqtt.java#912", behaviour: LWS4, required: Required::EchoPing, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "ping-payload-125", short: "PING with payload", description: "a PING with a 125-byte payload, the most a control frame may carry", clause: "RFC 6455 §5.5.3 (the PONG echoes the payload); EMQX #1496", behaviour: Behaviour::PingWithPayload { at: AT, payload: PING_PAYLOAD_125 }, required: Required::EchoPing, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "unsolicited-pong", short: "unsolicited PONG", description: "a PONG nobody asked for", clause: "RFC 6455 §5.5.3: a unidirectional heartbeat, no response expected", behaviour: Behaviour::UnsolicitedPong { at: AT }, required: Required::Hold, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "text-frame", short: "text frame", description: "a text frame (opcode 0x1) with 5 bytes", clause: "MQTT 3.1.1 and 5.0 §6 [MQTT-6.0.0-1]: the receiver must close the connection; VerneMQ #1717, wolfMQTT #610", behaviour: Behaviour::TextFrame { at: AT }, required: Required::Close, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "continuation", short: "split PUBLISH", description: "a PUBLISH split over a binary frame and a continuation frame", clause: "RFC 6455 §5.4; MQTT §6 [MQTT-6.0.0-2]", behaviour: Behaviour::Continuation { at: AT }, required: Required::Hold, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "packets-in-one-frame", short: "two packets in one frame", description: "two PUBLISH packets in one binary frame", clause: "MQTT §6 [MQTT-6.0.0-2]: frame boundaries are not packet boundaries", behaviour: Behaviour::PacketsInOneFrame { at: AT }, required: Required::Hold, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "close-1000", short: "close 1000", description: "a close frame 1000 \"normal closure\"", clause: "RFC 6455 §5.5.1: the endpoint echoes a close frame", behaviour: Behaviour::CloseFrame { at: AT, code: 1000, reason: "normal closure" }, required: Required::EchoClose, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "close-1001", short: "close 1001", description: "a close frame 1001 \"going away\"", clause: "RFC 6455 §5.5.1, §7.4.1", behaviour: Behaviour::CloseFrame { at: AT, code: 1001, reason: "going away" }, required: Required::EchoClose, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "fin", short: "FIN without close", description: "TCP FIN without a close frame (1006 to the client)", clause: "RFC 6455 §7.1.5 (1006: closed abnormally)", behaviour: Behaviour::TcpClose { at: AT }, required: Required::SeeTheEnd, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "rst", short: "RST", description: "TCP RST", clause: "RFC 6455 §7.1.5", behaviour: Behaviour::TcpReset { at: AT }, required: Required::SeeTheEnd, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "pingresp-stops", short: "PINGRESP stops", description: "PINGREQs after 0.5 s get no PINGRESP (the first comes at 2 s, one keepalive)", clause: "MQTT 3.1.1 §3.1.2.10: a client that gets no PINGRESP in a reasonable time should close", behaviour: Behaviour::StopPingResp { after: 5 }, required: Required::TimeOut, protocol: None, hold_secs: PINGRESP_HOLD_SECS },
    Case { id: "no-subprotocol", short: "no subprotocol", description: "a 101 without Sec-WebSocket-Protocol (the client asked for mqtt)", clause: "MQTT §6 [MQTT-6.0.0-3], [MQTT-6.0.0-4]; RFC 6455 §4.1 leaves the client free", behaviour: Behaviour::NoSubprotocol, required: Required::HoldOrRefuse, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "upgrade-401", short: "upgrade 401", description: "HTTP 401 Unauthorized to the upgrade", clause: "RFC 6455 §4.1: any status but 101 fails the connection", behaviour: Behaviour::RefuseUpgrade { status: 401 }, required: Required::Refused, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "upgrade-403", short: "upgrade 403", description: "HTTP 403 Forbidden to the upgrade", clause: "RFC 6455 §4.1", behaviour: Behaviour::RefuseUpgrade { status: 403 }, required: Required::Refused, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "upgrade-404", short: "upgrade 404", description: "HTTP 404 Not Found to the upgrade", clause: "RFC 6455 §4.1", behaviour: Behaviour::RefuseUpgrade { status: 404 }, required: Required::Refused, protocol: None, hold_secs: HOLD_SECS },
    Case { id: "connack-refused-v3", short: "CONNACK refused (v3)", description: "CONNACK return code 5 (not authorized), then FIN", clause: "MQTT 3.1.1 §3.2.2.3", behaviour: Behaviour::REFUSE_CONNACK_5, required: Required::Refused, protocol: Some(Protocol::V311), hold_secs: HOLD_SECS },
    Case { id: "connack-refused-v5", short: "CONNACK refused (v5)", description: "CONNACK reason code 0x87 (not authorized), then FIN", clause: "MQTT 5.0 §3.2.2.2", behaviour: Behaviour::REFUSE_CONNACK_5, required: Required::Refused, protocol: Some(Protocol::V5), hold_secs: HOLD_SECS },
];

/// The case with this id.
pub fn case(id: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.id == id)
}
