//! The harness's own MQTT connection to a broker, for what the engine asks of it before any
//! cell runs: the readiness probes and the proof of an accelerated clock.
//!
//! TCP (or TLS over it, for a `wss` listener), or on WebSocket the upgrade on the probe's path answered by `101` with subprotocol
//! `mqtt`; an MQTT 3.1.1 CONNECT answered by a CONNACK; packets both ways (a PING from the
//! broker is answered); and a clean goodbye: DISCONNECT, a close frame on WebSocket, the end
//! of our stream, then a brief wait for the broker's own end.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use crate::engine::stream::{self, Stream};
use crate::engine::tls::RunTls;
use crate::plan::Transport;
use crate::wire::frame::{self, opcode};
use crate::wire::handshake::{self, HandshakeError};
use crate::wire::mqtt::{self, Packet};

/// The bound on one probe attempt (connect, upgrade, CONNACK) unless the caller sets another.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a goodbye waits for the broker to end its side.
const GOODBYE_WAIT: Duration = Duration::from_millis(500);

/// The container port of the broker's TLS WebSocket listener (`wss`).
pub const WSS_CONTAINER_PORT: u16 = 9443;

/// One listener to probe: its transport, whether TLS runs on it, and where it is published
/// on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// How it is spoken to.
    pub transport: Transport,
    /// Host to connect to.
    pub host: String,
    /// The port on the host.
    pub port: u16,
    /// TLS with the run's CA (`wss`), or plain.
    pub tls: Option<Arc<RunTls>>,
}

impl Listener {
    /// A plain listener.
    pub fn plain(transport: Transport, host: impl Into<String>, port: u16) -> Listener {
        Listener { transport, host: host.into(), port, tls: None }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.tls, self.transport) {
            (Some(_), Transport::Ws) => write!(f, "wss {WSS_CONTAINER_PORT} at {}:{}", self.host, self.port),
            (Some(_), t) => write!(f, "{t}+tls at {}:{}", self.host, self.port),
            (None, t) => write!(f, "{} {} at {}:{}", t, t.container_port(), self.host, self.port),
        }
    }
}

/// How a probe logs in and how long one attempt may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// MQTT user name (the run's).
    pub username: String,
    /// MQTT password (the run's).
    pub password: String,
    /// WebSocket path.
    pub path: String,
    /// The bound on one attempt.
    pub attempt_timeout: Duration,
}

impl Probe {
    /// A probe with the run's credentials, on path `/mqtt`, each attempt bounded by [`ATTEMPT_TIMEOUT`].
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Probe {
        Probe { username: username.into(), password: password.into(), path: "/mqtt".into(), attempt_timeout: ATTEMPT_TIMEOUT }
    }

    /// The same probe with another bound on each attempt.
    #[must_use]
    pub fn with_attempt_timeout(mut self, limit: Duration) -> Probe {
        self.attempt_timeout = limit;
        self
    }
}

/// An open MQTT connection, after CONNACK.
pub struct Link {
    stream: Stream,
    ws: bool,
    frames: BytesMut,
    packets: BytesMut,
}

impl Link {
    /// Connects, upgrades on WebSocket, and sends CONNECT as `client_id` with the probe's
    /// credentials; returns the link and CONNACK's return code (a refusal is still an answer).
    pub async fn open(listener: &Listener, probe: &Probe, client_id: &str, keepalive: u16) -> Result<(Link, u8), String> {
        let mut stream = stream::connect(&listener.host, listener.port, listener.tls.as_deref()).await.map_err(|e| match e {
            stream::ConnectError::Tcp { source, .. } => format!("connect failed: {source}"),
            other => other.to_string(),
        })?;
        let ws = listener.transport == Transport::Ws;
        let mut frames = BytesMut::new();
        if ws {
            let upgraded = match handshake::upgrade(&mut stream, &listener.host, listener.port, &probe.path).await {
                Ok(u) => u,
                Err(e @ HandshakeError::Refused(_)) => return Err(e.to_string()),
                Err(HandshakeError::Io(e)) => return Err(format!("connection ended during the WebSocket upgrade ({e})")),
            };
            if upgraded.subprotocol.as_deref() != Some("mqtt") {
                return Err(format!("101 without subprotocol mqtt (Sec-WebSocket-Protocol: {:?})", upgraded.subprotocol));
            }
            frames = upgraded.leftover;
        }
        let mut link = Link { stream, ws, frames, packets: BytesMut::new() };
        let connect = Packet::Connect {
            protocol: mqtt::Protocol::V311,
            client_id: client_id.to_string(),
            username: Some(probe.username.clone()),
            password: Some(probe.password.clone().into_bytes()),
            keepalive,
            properties: mqtt::Properties::default(),
        };
        link.send(&connect).await.map_err(|e| format!("CONNECT not sent: {e}"))?;
        match link.next("CONNACK").await? {
            Packet::ConnAck { code, .. } => Ok((link, code)),
            other => Err(format!("answered CONNECT with {other:?}, not CONNACK")),
        }
    }

    /// Sends one packet.
    pub async fn send(&mut self, p: &Packet) -> Result<(), String> {
        let bytes = mqtt::encode(p);
        let bytes = if self.ws { frame::encode(opcode::BINARY, &bytes, true) } else { bytes };
        self.stream.write_all(&bytes).await.map_err(|e| e.to_string())
    }

    /// The next packet from the broker; `awaited` names it in errors.
    pub async fn next(&mut self, awaited: &str) -> Result<Packet, String> {
        loop {
            match mqtt::decode(&mut self.packets) {
                Ok(Some(p)) => return Ok(p),
                Ok(None) => {}
                Err(e) => return Err(format!("answered {awaited} with bytes that are not MQTT ({e})")),
            }
            if self.ws {
                match frame::decode(&mut self.frames) {
                    Ok(Some(f)) if f.opcode == opcode::BINARY || f.opcode == opcode::CONTINUATION => {
                        self.packets.extend_from_slice(&f.payload);
                        continue;
                    }
                    Ok(Some(f)) if f.opcode == opcode::CLOSE => return Err(format!("sent a close frame before {awaited}")),
                    Ok(Some(f)) if f.opcode == opcode::PING => {
                        let _ = self.stream.write_all(&frame::encode(opcode::PONG, &f.payload, true)).await;
                        continue;
                    }
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                    Err(e) => return Err(format!("answered {awaited} with an invalid WebSocket frame ({e})")),
                }
            }
            let buf = if self.ws { &mut self.frames } else { &mut self.packets };
            match self.stream.read_buf(buf).await {
                Ok(0) => return Err(format!("connection ended before {awaited}")),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Err(format!("connection reset before {awaited}")),
                Err(e) => return Err(format!("connection failed before {awaited}: {e}")),
            }
        }
    }

    /// On WebSocket: sends a PING frame and waits for its PONG, answering the broker's own
    /// PINGs and passing over anything else. Neither libwebsockets (at Mosquitto's log level)
    /// nor Mosquitto's own WebSocket code logs a PING, so a broker can be timed this way as
    /// often as needed without filling its log. Not on plain TCP: there it is an error.
    pub async fn ping(&mut self) -> Result<(), String> {
        if !self.ws {
            return Err("a WebSocket PING needs a WebSocket link".to_string());
        }
        self.stream.write_all(&frame::encode(opcode::PING, b"mm", true)).await.map_err(|e| e.to_string())?;
        loop {
            match frame::decode(&mut self.frames) {
                Ok(Some(f)) if f.opcode == opcode::PONG => return Ok(()),
                Ok(Some(f)) if f.opcode == opcode::PING => {
                    self.stream.write_all(&frame::encode(opcode::PONG, &f.payload, true)).await.map_err(|e| e.to_string())?;
                    continue;
                }
                Ok(Some(f)) if f.opcode == opcode::CLOSE => return Err("sent a close frame before the PONG".to_string()),
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => return Err(format!("answered a PING with an invalid WebSocket frame ({e})")),
            }
            match self.stream.read_buf(&mut self.frames).await {
                Ok(0) => return Err("connection ended before the PONG".to_string()),
                Ok(_) => {}
                Err(e) => return Err(format!("connection failed before the PONG: {e}")),
            }
        }
    }

    /// Says goodbye: DISCONNECT when the session was accepted, a close frame on WebSocket,
    /// the end of our stream, then (briefly) the broker's own end, so the broker has handled
    /// the goodbye before any session starts.
    pub async fn goodbye(mut self, accepted: bool) {
        if accepted {
            let _ = self.send(&Packet::DISCONNECT).await;
        }
        if self.ws {
            let _ = self.stream.write_all(&frame::encode(opcode::CLOSE, &frame::close_payload(1000, ""), true)).await;
        }
        let _ = timeout(GOODBYE_WAIT, async {
            let _ = self.stream.shutdown().await;
            // Drained below TLS: after our close_notify nothing the broker sends matters (sid's
            // Mosquitto 2.1 answers with its WebSocket close frame in the clear, 88 02 03 e8).
            let mut sink = [0u8; 256];
            while matches!(self.stream.tcp_mut().read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    }
}
