//! The behaviours the scripted broker plays: one thing a real broker or proxy does to a
//! session, with its times in units.

/// What a strict server does with a frame from the client whose mask bit is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unmasked {
    /// Take it as if it were masked, as libwebsockets does.
    Accept,
    /// Fail the connection without a close frame, as a strict server does (tungstenite
    /// reports `UnmaskedFrameFromClient` and the application drops the socket).
    HangUp,
}

/// One thing real brokers and proxies do to a session. Times are in units after the peer's
/// zero, as a real broker keeps them: its 101 over WebSocket (libwebsockets starts its timer
/// there), its CONNACK over TCP (`judge::record::TimeZero`); "after CONNACK" below means that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Behaviour {
    /// libwebsockets >= 4 (Mosquitto 2.0.x with websockets): PING (empty) `ping_at` after
    /// CONNACK, hang up without a close frame `hangup_after` the PING unless a PONG came; a
    /// PONG restarts the clock (next PING `ping_at` after it).
    Lws4 {
        /// Units from CONNACK (or from the last PONG) to the PING.
        ping_at: u32,
        /// Units from the PING to the hang-up when no PONG arrives.
        hangup_after: u32,
        /// What an unmasked frame from the client gets.
        unmasked: Unmasked,
    },
    /// libwebsockets 2.x, or Mosquitto 2.1's built-in WebSocket: no pings at all.
    NoPings,
    /// A close frame with this code and reason.
    CloseFrame {
        /// Units after CONNACK.
        at: u32,
        /// The status code.
        code: u16,
        /// The reason text.
        reason: &'static str,
    },
    /// TCP FIN without any close frame (a WebSocket 1006 for the client).
    TcpClose {
        /// Units after CONNACK.
        at: u32,
    },
    /// TCP RST (SO_LINGER 0, then close).
    TcpReset {
        /// Units after CONNACK.
        at: u32,
    },
    /// A hung broker: PINGREQs sent `after` units past CONNACK get no PINGRESP.
    StopPingResp {
        /// Units after CONNACK.
        after: u32,
    },
    /// A PUBLISH on `test/x` split across a binary frame (FIN=0) and a continuation frame.
    Continuation {
        /// Units after CONNACK.
        at: u32,
    },
    /// Two PUBLISHes on `test/x` in one binary frame ([MQTT-6.0.0-2] allows it).
    PacketsInOneFrame {
        /// Units after CONNACK.
        at: u32,
    },
    /// A text frame (opcode 0x1), which MQTT 3.1.1 §6 forbids.
    TextFrame {
        /// Units after CONNACK.
        at: u32,
    },
    /// One PING carrying a payload the PONG must echo; no hang-up.
    PingWithPayload {
        /// Units after CONNACK.
        at: u32,
        /// The PING's payload.
        payload: &'static [u8],
    },
    /// A PONG nobody asked for (RFC 6455 §5.5.3: a unidirectional heartbeat, no answer expected).
    UnsolicitedPong {
        /// Units after CONNACK.
        at: u32,
    },
    /// CONNACK with this non-zero return code, then FIN. To an MQTT 5 client the code is sent
    /// as its MQTT 5 reason code (4 → 0x86, 5 → 0x87).
    RefuseConnack {
        /// The MQTT 3.1.1 return code (4 bad user name or password, 5 not authorized).
        code: u8,
    },
    /// The upgrade request answered with this HTTP status.
    RefuseUpgrade {
        /// 401, 403, 404, …
        status: u16,
    },
    /// A `101` that names no subprotocol (the client asked for `mqtt`).
    NoSubprotocol,
}

/// The payload [`Behaviour::PingWithPayload`] sends in [`Behaviour::ALL`].
pub const PING_PAYLOAD: &[u8] = b"lws-keepalive-42";

/// The largest payload a control frame may carry (RFC 6455 §5.5): 125 bytes.
pub const PING_PAYLOAD_125: &[u8; 125] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+";

impl Behaviour {
    /// libwebsockets 4 as Mosquitto 2.0.x runs it, scaled: PING at 15 units, hang-up 10 later.
    pub const LWS4: Behaviour = Behaviour::Lws4 { ping_at: 15, hangup_after: 10, unmasked: Unmasked::Accept };
    /// The same, on a strict server that fails the connection on an unmasked client frame.
    pub const LWS4_STRICT: Behaviour = Behaviour::Lws4 { ping_at: 15, hangup_after: 10, unmasked: Unmasked::HangUp };
    /// No WebSocket pings.
    pub const NO_PINGS: Behaviour = Behaviour::NoPings;
    /// A normal-closure close frame at 10 units.
    pub const CLOSE_1000: Behaviour = Behaviour::CloseFrame { at: 10, code: 1000, reason: "" };
    /// A going-away close frame at 10 units (a broker shutting down).
    pub const CLOSE_1001: Behaviour = Behaviour::CloseFrame { at: 10, code: 1001, reason: "going away" };
    /// FIN without a close frame at 10 units.
    pub const TCP_CLOSE: Behaviour = Behaviour::TcpClose { at: 10 };
    /// RST at 10 units.
    pub const TCP_RESET: Behaviour = Behaviour::TcpReset { at: 10 };
    /// PINGREQs after 10 units go unanswered.
    pub const STOP_PINGRESP: Behaviour = Behaviour::StopPingResp { after: 10 };
    /// A fragmented PUBLISH at 10 units.
    pub const CONTINUATION: Behaviour = Behaviour::Continuation { at: 10 };
    /// A text frame at 10 units.
    pub const TEXT_FRAME: Behaviour = Behaviour::TextFrame { at: 10 };
    /// A PING with [`PING_PAYLOAD`] at 10 units.
    pub const PING_WITH_PAYLOAD: Behaviour = Behaviour::PingWithPayload { at: 10, payload: PING_PAYLOAD };
    /// CONNACK 4: bad user name or password.
    pub const REFUSE_CONNACK_4: Behaviour = Behaviour::RefuseConnack { code: 4 };
    /// CONNACK 5: not authorized.
    pub const REFUSE_CONNACK_5: Behaviour = Behaviour::RefuseConnack { code: 5 };
    /// HTTP 403 to the upgrade.
    pub const REFUSE_UPGRADE_403: Behaviour = Behaviour::RefuseUpgrade { status: 403 };
    /// HTTP 404 to the upgrade (wrong path).
    pub const REFUSE_UPGRADE_404: Behaviour = Behaviour::RefuseUpgrade { status: 404 };
    /// A 101 without `Sec-WebSocket-Protocol`.
    pub const NO_SUBPROTOCOL: Behaviour = Behaviour::NoSubprotocol;

    /// Every behaviour `tests/profiles.rs` decides on for every built-in profile, with its
    /// parameters in units. A new behaviour there joins this list, which makes the coverage
    /// test ask for its cases.
    pub const ALL: [Behaviour; 16] = [
        Self::LWS4,
        Self::LWS4_STRICT,
        Self::NO_PINGS,
        Self::CLOSE_1000,
        Self::CLOSE_1001,
        Self::TCP_CLOSE,
        Self::TCP_RESET,
        Self::STOP_PINGRESP,
        Self::CONTINUATION,
        Self::TEXT_FRAME,
        Self::PING_WITH_PAYLOAD,
        Self::REFUSE_CONNACK_4,
        Self::REFUSE_CONNACK_5,
        Self::REFUSE_UPGRADE_403,
        Self::REFUSE_UPGRADE_404,
        Self::NO_SUBPROTOCOL,
    ];

    /// A short name for messages, e.g. `lws4(ping 15, hang-up +10, unmasked HangUp)`.
    pub fn name(self) -> String {
        match self {
            Behaviour::Lws4 { ping_at, hangup_after, unmasked } => {
                format!("lws4(ping {ping_at}, hang-up +{hangup_after}, unmasked {unmasked:?})")
            }
            Behaviour::NoPings => "no-pings".into(),
            Behaviour::CloseFrame { at, code, .. } => format!("close-{code}@{at}"),
            Behaviour::TcpClose { at } => format!("tcp-close@{at}"),
            Behaviour::TcpReset { at } => format!("tcp-reset@{at}"),
            Behaviour::StopPingResp { after } => format!("stop-pingresp@{after}"),
            Behaviour::Continuation { at } => format!("continuation@{at}"),
            Behaviour::PacketsInOneFrame { at } => format!("packets-in-one-frame@{at}"),
            Behaviour::TextFrame { at } => format!("text-frame@{at}"),
            Behaviour::PingWithPayload { at, .. } => format!("ping-with-payload@{at}"),
            Behaviour::UnsolicitedPong { at } => format!("unsolicited-pong@{at}"),
            Behaviour::RefuseConnack { code } => format!("refuse-connack-{code}"),
            Behaviour::RefuseUpgrade { status } => format!("refuse-upgrade-{status}"),
            Behaviour::NoSubprotocol => "no-subprotocol".into(),
        }
    }

    /// Whether the behaviour exists only on a WebSocket listener.
    pub fn websocket_only(self) -> bool {
        match self {
            Behaviour::Lws4 { .. }
            | Behaviour::CloseFrame { .. }
            | Behaviour::Continuation { .. }
            | Behaviour::PacketsInOneFrame { .. }
            | Behaviour::TextFrame { .. }
            | Behaviour::PingWithPayload { .. }
            | Behaviour::UnsolicitedPong { .. }
            | Behaviour::RefuseUpgrade { .. }
            | Behaviour::NoSubprotocol => true,
            Behaviour::NoPings
            | Behaviour::TcpClose { .. }
            | Behaviour::TcpReset { .. }
            | Behaviour::StopPingResp { .. }
            | Behaviour::RefuseConnack { .. } => false,
        }
    }
}
