//! A scripted peer: an in-process "Mosquitto" on an ephemeral loopback port that plays one
//! [`Behaviour`] a real broker or proxy has, and records what it saw on the wire.
//!
//! The server side of WebSocket is written on the crate's own frame codec (server frames
//! unmasked) rather than on tungstenite's `Message` stream: the peer must see every PONG with
//! its mask bit, and must send raw frames (continuation, text, PING with a payload) on cue.
//! Every duration is a whole number of `unit`s, so "300 s" can happen in 300 ms.
//!
//! Each client connection is its own little broker: a PUBLISH is delivered back to the
//! subscriptions of the connection that sent it, which is all the round trip needs.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use mosquitto_matrix::wire::frame::{self, opcode};
use mosquitto_matrix::wire::mqtt::{self, Packet};
use mosquitto_matrix::plan::Transport;
use mosquitto_matrix::client::VERSION_TOPIC;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The retained `$SYS/broker/version` payload the peer publishes after SUBACK.
pub const BROKER_VERSION: &str = "mosquitto version 2.0.11";

/// Largest upgrade request head the peer reads.
const MAX_HEAD: usize = 16 * 1024;

/// How long, in units, the peer waits for the client to finish after the peer ended the
/// session (close frame sent, or FIN sent) before it drops the socket anyway.
const GRACE_UNITS: u32 = 50;

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
    /// CONNACK with this non-zero return code, then FIN.
    RefuseConnack {
        /// The return code (4 bad user name or password, 5 not authorized).
        code: u8,
    },
    /// The upgrade request answered with this HTTP status.
    RefuseUpgrade {
        /// 403, 404, …
        status: u16,
    },
    /// A `101` that names no subprotocol (the client asked for `mqtt`).
    NoSubprotocol,
}

/// The payload [`Behaviour::PingWithPayload`] sends in [`Behaviour::ALL`].
pub const PING_PAYLOAD: &[u8] = b"lws-keepalive-42";

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

    /// Every behaviour the profile tests must decide on, with its parameters in units.
    /// A new behaviour joins this list, which makes the coverage test ask for its cases.
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
            Behaviour::TextFrame { at } => format!("text-frame@{at}"),
            Behaviour::PingWithPayload { at, .. } => format!("ping-with-payload@{at}"),
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
            | Behaviour::TextFrame { .. }
            | Behaviour::PingWithPayload { .. }
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

/// One thing the peer saw or did, at a time after its CONNACK (zero before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Time after CONNACK.
    pub at: Duration,
    /// What.
    pub what: What,
}

/// What happened on the peer's side of the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// A WebSocket frame from the client other than a final binary one.
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
    /// The peer sent a close frame with this code.
    CloseSent(u16),
    /// The peer left this PINGREQ unanswered.
    PingRespWithheld,
    /// The peer sent the fragmented PUBLISH.
    FragmentsSent,
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
}

/// A running peer: a listener on 127.0.0.1 with an OS-chosen port.
pub struct Peer {
    port: u16,
    accept: JoinHandle<()>,
    sessions: mpsc::UnboundedReceiver<JoinHandle<Observation>>,
    unit: Duration,
}

impl Peer {
    /// Starts a peer for clients of `transport` that plays `behaviour` with this unit of time.
    pub async fn start(transport: Transport, behaviour: Behaviour, unit: Duration) -> io::Result<Peer> {
        Peer::start_with(transport, behaviour, unit, None).await
    }

    /// The same peer behind TLS with `server` (a `wss` listener): the handshake comes first,
    /// then everything as on a plain peer.
    pub async fn start_with(transport: Transport, behaviour: Behaviour, unit: Duration, tls: Option<Arc<ServerConfig>>) -> io::Result<Peer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (tx, sessions) = mpsc::unbounded_channel();
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                let stream = match &tls {
                    None => PeerStream::Plain(tcp),
                    Some(config) => match TlsAcceptor::from(Arc::clone(config)).accept(tcp).await {
                        Ok(s) => PeerStream::Tls(Box::new(s)),
                        Err(e) => {
                            let failed = Observation { upgrade: None, connect: None, events: Vec::new(), end: PeerEnd::SocketError(format!("TLS handshake: {e}")) };
                            if tx.send(tokio::spawn(async move { failed })).is_err() {
                                break;
                            }
                            continue;
                        }
                    },
                };
                let session = tokio::spawn(serve(stream, transport, behaviour, unit));
                if tx.send(session).is_err() {
                    break;
                }
            }
        });
        Ok(Peer { port, accept, sessions, unit })
    }

    /// The port the peer listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops accepting and returns what each session saw, once each has ended.
    pub async fn finish(mut self) -> Vec<Observation> {
        self.accept.abort();
        let bound = self.unit * GRACE_UNITS * 2;
        let mut seen = Vec::new();
        while let Some(mut session) = self.sessions.recv().await {
            match timeout(bound, &mut session).await {
                Ok(Ok(observation)) => seen.push(observation),
                Ok(Err(e)) => panic!("a scripted peer session panicked: {e}"),
                Err(_) => {
                    session.abort();
                    seen.push(Observation { upgrade: None, connect: None, events: Vec::new(), end: PeerEnd::Stuck });
                }
            }
        }
        seen
    }
}

/// One step of the script, due at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// The libwebsockets PING, which arms a hang-up.
    Lws4Ping,
    /// Hang up: no PONG came in time.
    PongOverdue,
    /// A PING with a payload, nothing armed.
    Ping(&'static [u8]),
    Close(u16, &'static str),
    Fin,
    Reset,
    Fragments,
    Text,
    /// The client did not finish after the peer ended the session.
    GraceOver,
}

/// A client's connection to the peer: plain, or TLS after the handshake.
enum PeerStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl PeerStream {
    fn set_zero_linger(&self) -> io::Result<()> {
        match self {
            PeerStream::Plain(s) => s.set_zero_linger(),
            PeerStream::Tls(s) => s.get_ref().0.set_zero_linger(),
        }
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

struct Conn {
    stream: PeerStream,
    ws: bool,
    behaviour: Behaviour,
    unit: Duration,
    inbuf: BytesMut,
    mqtt_buf: BytesMut,
    connack_at: Option<Instant>,
    /// The 101 over WebSocket, CONNACK over TCP: where the peer's script counts from.
    zero: Option<Instant>,
    script: Vec<(Instant, Act)>,
    subscriptions: Vec<String>,
    close_sent: bool,
    seen: Observation,
}

async fn serve(stream: PeerStream, transport: Transport, behaviour: Behaviour, unit: Duration) -> Observation {
    let mut conn = Conn {
        stream,
        ws: transport == Transport::Ws,
        behaviour,
        unit,
        inbuf: BytesMut::with_capacity(4096),
        mqtt_buf: BytesMut::new(),
        connack_at: None,
        zero: None,
        script: Vec::new(),
        subscriptions: Vec::new(),
        close_sent: false,
        seen: Observation { upgrade: None, connect: None, events: Vec::new(), end: PeerEnd::ClientEof },
    };
    let end = match conn.upgrade().await {
        Ok(true) => conn.run().await,
        Ok(false) => conn.hang_up("upgrade refused").await,
        Err(end) => end,
    };
    conn.seen.end = end;
    conn.seen
}

impl Conn {
    fn units(&self, n: u32) -> Duration {
        self.unit * n
    }

    fn rel(&self, t: Instant) -> Duration {
        self.zero.map_or(Duration::ZERO, |c| t.saturating_duration_since(c))
    }

    fn note(&mut self, what: What) {
        let at = self.rel(Instant::now());
        self.seen.events.push(Event { at, what });
    }

    /// Answers the upgrade request; `Ok(false)` when the script refuses it.
    async fn upgrade(&mut self) -> Result<bool, PeerEnd> {
        if !self.ws {
            return Ok(true);
        }
        let head = loop {
            if let Some(end) = self.inbuf.windows(4).position(|w| w == b"\r\n\r\n") {
                break self.inbuf.split_to(end + 4);
            }
            if self.inbuf.len() > MAX_HEAD {
                return Err(PeerEnd::BadBytes("upgrade request head too long".into()));
            }
            match self.stream.read_buf(&mut self.inbuf).await {
                Ok(0) => return Err(PeerEnd::ClientEof),
                Ok(_) => {}
                Err(e) => return Err(PeerEnd::SocketError(e.to_string())),
            }
        };
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        if !matches!(request.parse(&head), Ok(httparse::Status::Complete(_))) {
            return Err(PeerEnd::BadBytes("malformed upgrade request".into()));
        }
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
        };
        let key = header("Sec-WebSocket-Key");
        self.seen.upgrade = Some(UpgradeSeen {
            path: request.path.unwrap_or("").to_string(),
            protocols: header("Sec-WebSocket-Protocol"),
        });
        let response = match (self.behaviour, key) {
            (Behaviour::RefuseUpgrade { status }, _) => {
                let reason = match status {
                    403 => "Forbidden",
                    404 => "Not Found",
                    _ => "Refused",
                };
                self.write(
                    format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
                )
                .await?;
                return Ok(false);
            }
            (_, None) => return Err(PeerEnd::BadBytes("upgrade request without Sec-WebSocket-Key".into())),
            (behaviour, Some(key)) => {
                let protocol =
                    if behaviour == Behaviour::NoSubprotocol { "" } else { "Sec-WebSocket-Protocol: mqtt\r\n" };
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Accept: {}\r\n{protocol}\r\n",
                    derive_accept_key(key.as_bytes())
                )
            }
        };
        self.write(response.as_bytes()).await?;
        self.zero = Some(Instant::now());
        Ok(true)
    }

    async fn run(&mut self) -> PeerEnd {
        loop {
            // Bytes that came with the upgrade request are handled before the next read.
            if !self.inbuf.is_empty() {
                if let Err(end) = self.on_input().await {
                    return end;
                }
            }
            let next = self.script.iter().map(|(t, _)| *t).min();
            let far = Instant::now() + Duration::from_secs(3600);
            let step = tokio::select! {
                read = self.stream.read_buf(&mut self.inbuf) => match read {
                    Ok(0) => Err(PeerEnd::ClientEof),
                    Ok(_) => self.on_input().await,
                    Err(e) => Err(PeerEnd::SocketError(e.to_string())),
                },
                _ = sleep_until(next.unwrap_or(far)), if next.is_some() => self.on_script().await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn on_script(&mut self) -> Result<(), PeerEnd> {
        let now = Instant::now();
        let mut due: Vec<(Instant, Act)> = self.script.iter().copied().filter(|(t, _)| *t <= now).collect();
        self.script.retain(|(t, _)| *t > now);
        due.sort_by_key(|(t, _)| *t);
        for (_, act) in due {
            match act {
                Act::Lws4Ping => {
                    self.note(What::PingSent(Vec::new()));
                    self.write(&frame::encode(opcode::PING, b"", false)).await?;
                    if let Behaviour::Lws4 { hangup_after, .. } = self.behaviour {
                        self.script.push((now + self.units(hangup_after), Act::PongOverdue));
                    }
                }
                Act::PongOverdue => return Err(self.hang_up("no PONG within the libwebsockets timeout").await),
                Act::Ping(payload) => {
                    self.note(What::PingSent(payload.to_vec()));
                    self.write(&frame::encode(opcode::PING, payload, false)).await?;
                }
                Act::Close(code, reason) => {
                    self.note(What::CloseSent(code));
                    self.write(&frame::encode(opcode::CLOSE, &frame::close_payload(code, reason), false)).await?;
                    self.close_sent = true;
                    self.script.push((now + self.units(GRACE_UNITS), Act::GraceOver));
                }
                Act::Fin => return Err(self.hang_up("scripted TCP close").await),
                Act::Reset => {
                    if let Err(e) = self.stream.set_zero_linger() {
                        return Err(PeerEnd::SocketError(format!("could not set SO_LINGER 0: {e}")));
                    }
                    // Dropping the stream (with the connection task) now sends the RST.
                    return Err(PeerEnd::Reset);
                }
                Act::Fragments => {
                    let publish = mqtt::encode(&Packet::Publish {
                        topic: "test/x".into(),
                        payload: b"split across two frames".to_vec(),
                        retain: false,
                    });
                    let (first, rest) = publish.split_at(publish.len() / 2);
                    let mut bytes = frame::encode_fragment(opcode::BINARY, first, false, false);
                    bytes.extend_from_slice(&frame::encode_fragment(opcode::CONTINUATION, rest, false, true));
                    self.note(What::FragmentsSent);
                    self.write(&bytes).await?;
                }
                Act::Text => {
                    self.note(What::TextSent);
                    self.write(&frame::encode(opcode::TEXT, b"hello", false)).await?;
                }
                Act::GraceOver => return Err(PeerEnd::HungUp("the client did not finish the closing handshake")),
            }
        }
        Ok(())
    }

    async fn on_input(&mut self) -> Result<(), PeerEnd> {
        if self.ws {
            loop {
                match frame::decode(&mut self.inbuf) {
                    Ok(Some(f)) => self.on_frame(f).await?,
                    Ok(None) => break,
                    Err(e) => return Err(PeerEnd::BadBytes(e.to_string())),
                }
            }
        } else {
            let bytes = self.inbuf.split();
            self.mqtt_buf.unsplit(bytes);
        }
        loop {
            match mqtt::decode(&mut self.mqtt_buf) {
                Ok(Some(p)) => self.on_packet(p).await?,
                Ok(None) => return Ok(()),
                Err(e) => return Err(PeerEnd::BadBytes(e.to_string())),
            }
        }
    }

    async fn on_frame(&mut self, f: frame::RawFrame) -> Result<(), PeerEnd> {
        if f.opcode != opcode::BINARY || !f.fin {
            self.note(What::Frame { opcode: f.opcode, fin: f.fin, masked: f.masked, payload: f.payload.clone() });
        }
        if !f.masked {
            if let Behaviour::Lws4 { unmasked: Unmasked::HangUp, .. } = self.behaviour {
                return Err(self.hang_up("unmasked frame from the client (RFC 6455 §5.1)").await);
            }
        }
        match f.opcode {
            opcode::BINARY | opcode::CONTINUATION => self.mqtt_buf.extend_from_slice(&f.payload),
            opcode::PONG => {
                if let Behaviour::Lws4 { ping_at, .. } = self.behaviour {
                    // A PONG proves the client alive: the next PING is a whole interval away.
                    self.script.retain(|(_, a)| !matches!(a, Act::Lws4Ping | Act::PongOverdue));
                    self.script.push((Instant::now() + self.units(ping_at), Act::Lws4Ping));
                }
            }
            opcode::PING => self.write(&frame::encode(opcode::PONG, &f.payload, false)).await?,
            opcode::CLOSE => {
                if !self.close_sent {
                    // Echo the status code, as RFC 6455 §5.5.1 asks; the server then closes TCP first.
                    let _ =
                        self.write(&frame::encode(opcode::CLOSE, &f.payload[..f.payload.len().min(2)], false)).await;
                }
                return Err(self.hang_up("closing handshake done").await);
            }
            _ => {}
        }
        Ok(())
    }

    async fn on_packet(&mut self, p: Packet) -> Result<(), PeerEnd> {
        match &p {
            Packet::Connect { client_id, username, keepalive, .. } => {
                self.seen.connect = Some(ConnectSeen {
                    client_id: client_id.clone(),
                    username: username.clone(),
                    keepalive: *keepalive,
                });
                if let Behaviour::RefuseConnack { code } = self.behaviour {
                    self.note(What::Packet(p.clone()));
                    self.send(&Packet::connack(code)).await?;
                    return Err(self.hang_up("CONNACK refused the session").await);
                }
                self.send(&Packet::connack(0)).await?;
                let now = Instant::now();
                self.connack_at = Some(now);
                let zero = *self.zero.get_or_insert(now);
                self.note(What::Packet(p));
                let at = |n: u32| zero + self.units(n);
                let first = match self.behaviour {
                    Behaviour::Lws4 { ping_at, .. } => Some((at(ping_at), Act::Lws4Ping)),
                    Behaviour::CloseFrame { at: t, code, reason } => Some((at(t), Act::Close(code, reason))),
                    Behaviour::TcpClose { at: t } => Some((at(t), Act::Fin)),
                    Behaviour::TcpReset { at: t } => Some((at(t), Act::Reset)),
                    Behaviour::Continuation { at: t } => Some((at(t), Act::Fragments)),
                    Behaviour::TextFrame { at: t } => Some((at(t), Act::Text)),
                    Behaviour::PingWithPayload { at: t, payload } => Some((at(t), Act::Ping(payload))),
                    Behaviour::NoPings
                    | Behaviour::StopPingResp { .. }
                    | Behaviour::RefuseConnack { .. }
                    | Behaviour::RefuseUpgrade { .. }
                    | Behaviour::NoSubprotocol => None,
                };
                self.script.extend(first);
                return Ok(());
            }
            Packet::Subscribe { id, filters } => {
                self.note(What::Packet(p.clone()));
                self.send(&Packet::SubAck { id: *id, codes: vec![0; filters.len()] }).await?;
                self.subscriptions.extend(filters.iter().cloned());
                if filters.iter().any(|f| topic_matches(f, VERSION_TOPIC)) {
                    let version =
                        Packet::Publish { topic: VERSION_TOPIC.into(), payload: BROKER_VERSION.into(), retain: true };
                    self.send(&version).await?;
                }
                return Ok(());
            }
            Packet::Publish { topic, payload, .. } => {
                let echo = Packet::Publish { topic: topic.clone(), payload: payload.clone(), retain: false };
                let subscribed = self.subscriptions.iter().any(|f| topic_matches(f, topic));
                self.note(What::Packet(p));
                if subscribed {
                    self.send(&echo).await?;
                }
                return Ok(());
            }
            Packet::PingReq => {
                self.note(What::Packet(p));
                let hung = match (self.behaviour, self.connack_at) {
                    (Behaviour::StopPingResp { after }, Some(c)) => Instant::now() >= c + self.units(after),
                    _ => false,
                };
                if hung {
                    self.note(What::PingRespWithheld);
                } else {
                    self.send(&Packet::PingResp).await?;
                }
                return Ok(());
            }
            _ => self.note(What::Packet(p)),
        }
        Ok(())
    }

    async fn send(&mut self, p: &Packet) -> Result<(), PeerEnd> {
        let bytes = mqtt::encode(p);
        if self.ws {
            self.write(&frame::encode(opcode::BINARY, &bytes, false)).await
        } else {
            self.write(&bytes).await
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), PeerEnd> {
        self.stream.write_all(bytes).await.map_err(|e| PeerEnd::SocketError(e.to_string()))
    }

    /// Ends the connection without a close frame: FIN, then read (and drop) whatever the
    /// client still sends until it closes too, so the kernel sends no RST for unread bytes.
    async fn hang_up(&mut self, why: &'static str) -> PeerEnd {
        let _ = self.stream.shutdown().await;
        let bound = self.units(GRACE_UNITS);
        let mut sink = [0u8; 1024];
        let _ = timeout(bound, async {
            while let Ok(n) = self.stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        PeerEnd::HungUp(why)
    }
}

/// MQTT topic matching with `+` and `#` (MQTT 3.1.1 §4.7); `$` topics match no leading wildcard.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut levels = topic.split('/');
    for f in filter.split('/') {
        match (f, levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (f, Some(t)) if f == t => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}
