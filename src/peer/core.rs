//! The scripted broker's rules, without I/O: a client's bytes in with the time, the broker's
//! bytes out and at most one end. The upgrade, CONNECT/CONNACK, SUBSCRIBE/SUBACK and the
//! retained version, the round-trip echo, PINGREQ/PINGRESP, WebSocket control frames and the
//! behaviour's script all live here; [`crate::peer::serve`] only moves bytes and sleeps until
//! [`Core::deadline`].

use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::client::VERSION_TOPIC;
use crate::peer::behaviour::{Behaviour, Unmasked};
use crate::peer::observation::{ConnectSeen, Event, Observation, PeerEnd, UpgradeSeen, What};
use crate::peer::{topic_matches, BROKER_VERSION, GRACE_UNITS};
use crate::wire::frame::{self, opcode};
use crate::wire::mqtt::{self, Packet, Protocol};

/// Largest upgrade request head the peer reads.
const MAX_HEAD: usize = 16 * 1024;

/// What the peer's socket must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// Write these bytes; a failed write ends the connection with a socket error.
    Write(Vec<u8>),
    /// Write these bytes if the socket still takes them (the echo of a close frame).
    TryWrite(Vec<u8>),
    /// Send FIN, read and drop what the client still sends until it closes (bounded by
    /// [`GRACE_UNITS`]), and end with [`PeerEnd::HungUp`].
    HangUp(&'static str),
    /// Reset the connection (SO_LINGER 0, then close).
    Reset,
    /// Drop the socket now and end with this.
    Drop(PeerEnd),
}

impl Out {
    /// Whether the connection ends with this output.
    pub fn ends(&self) -> bool {
        !matches!(self, Out::Write(_) | Out::TryWrite(_))
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
    Pong,
    Close(u16, &'static str),
    Fin,
    Reset,
    Fragments,
    TwoInOne,
    Text,
    /// The client did not finish after the peer ended the session.
    GraceOver,
}

/// One client connection's scripted broker.
#[derive(Debug)]
pub struct Core {
    ws: bool,
    upgraded: bool,
    behaviour: Behaviour,
    unit: Duration,
    protocol: Protocol,
    inbuf: BytesMut,
    mqtt_buf: BytesMut,
    connack_at: Option<Instant>,
    /// The 101 over WebSocket, CONNACK over TCP: where the peer's script counts from.
    zero: Option<Instant>,
    script: Vec<(Instant, Act)>,
    subscriptions: Vec<String>,
    close_sent: bool,
    out: Vec<Out>,
    seen: Observation,
}

/// The end of a step: a terminal output.
type Ended = Out;

impl Core {
    /// A fresh connection; `ws` when it is a WebSocket listener (the upgrade comes first).
    pub fn new(ws: bool, behaviour: Behaviour, unit: Duration) -> Core {
        Core {
            ws,
            upgraded: !ws,
            behaviour,
            unit,
            protocol: Protocol::V311,
            inbuf: BytesMut::with_capacity(4096),
            mqtt_buf: BytesMut::new(),
            connack_at: None,
            zero: None,
            script: Vec::new(),
            subscriptions: Vec::new(),
            close_sent: false,
            out: Vec::new(),
            seen: Observation::ended(PeerEnd::ClientEof),
        }
    }

    /// The unit times a whole number: how long `n` units are.
    pub fn units(&self, n: u32) -> Duration {
        self.unit * n
    }

    /// When [`Core::on_time`] must next be called, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        self.script.iter().map(|(t, _)| *t).min()
    }

    /// What the peer saw, ended with `end`.
    pub fn finish(mut self, end: PeerEnd) -> Observation {
        self.seen.end = end;
        self.seen
    }

    /// Bytes from the client, read at `now`: what to write, and at most one end (last).
    pub fn on_bytes(&mut self, now: Instant, bytes: &[u8]) -> Vec<Out> {
        self.inbuf.extend_from_slice(bytes);
        let step = self.input(now);
        self.outputs(step)
    }

    /// The time reached [`Core::deadline`]: what the script does now.
    pub fn on_time(&mut self, now: Instant) -> Vec<Out> {
        let step = self.script_due(now);
        self.outputs(step)
    }

    fn outputs(&mut self, step: Result<(), Ended>) -> Vec<Out> {
        let mut out = std::mem::take(&mut self.out);
        if let Err(end) = step {
            out.push(end);
        }
        out
    }

    fn rel(&self, t: Instant) -> Duration {
        self.zero.map_or(Duration::ZERO, |c| t.saturating_duration_since(c))
    }

    fn note(&mut self, now: Instant, what: What) {
        let at = self.rel(now);
        self.seen.events.push(Event { at, what });
    }

    fn write(&mut self, bytes: Vec<u8>) {
        self.out.push(Out::Write(bytes));
    }

    fn send(&mut self, p: &Packet) {
        let bytes = mqtt::encode_as(p, self.protocol);
        if self.ws {
            self.write(frame::encode(opcode::BINARY, &bytes, false));
        } else {
            self.write(bytes);
        }
    }

    fn input(&mut self, now: Instant) -> Result<(), Ended> {
        if !self.upgraded {
            let Some(end) = self.inbuf.windows(4).position(|w| w == b"\r\n\r\n") else {
                if self.inbuf.len() > MAX_HEAD {
                    return Err(Out::Drop(PeerEnd::BadBytes("upgrade request head too long".into())));
                }
                return Ok(());
            };
            let head = self.inbuf.split_to(end + 4);
            self.upgrade(now, &head)?;
            self.upgraded = true;
        }
        if self.ws {
            loop {
                match frame::decode(&mut self.inbuf) {
                    Ok(Some(f)) => self.on_frame(now, f)?,
                    Ok(None) => break,
                    Err(e) => return Err(Out::Drop(PeerEnd::BadBytes(e.to_string()))),
                }
            }
        } else {
            let bytes = self.inbuf.split();
            self.mqtt_buf.unsplit(bytes);
        }
        loop {
            match mqtt::decode_as(&mut self.mqtt_buf, self.protocol) {
                Ok(Some(p)) => self.on_packet(now, p)?,
                Ok(None) => return Ok(()),
                Err(e) => return Err(Out::Drop(PeerEnd::BadBytes(e.to_string()))),
            }
        }
    }

    /// Answers the upgrade request head; an error when the script refuses it.
    fn upgrade(&mut self, now: Instant, head: &[u8]) -> Result<(), Ended> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        if !matches!(request.parse(head), Ok(httparse::Status::Complete(_))) {
            return Err(Out::Drop(PeerEnd::BadBytes("malformed upgrade request".into())));
        }
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
        };
        let key = header("Sec-WebSocket-Key");
        self.seen.upgrade =
            Some(UpgradeSeen { path: request.path.unwrap_or("").to_string(), protocols: header("Sec-WebSocket-Protocol") });
        let response = match (self.behaviour, key) {
            (Behaviour::RefuseUpgrade { status }, _) => {
                let reason = match status {
                    401 => "Unauthorized",
                    403 => "Forbidden",
                    404 => "Not Found",
                    _ => "Refused",
                };
                self.write(
                    format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes(),
                );
                return Err(Out::HangUp("upgrade refused"));
            }
            (_, None) => return Err(Out::Drop(PeerEnd::BadBytes("upgrade request without Sec-WebSocket-Key".into()))),
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
        self.write(response.into_bytes());
        self.zero = Some(now);
        Ok(())
    }

    fn script_due(&mut self, now: Instant) -> Result<(), Ended> {
        let mut due: Vec<(Instant, Act)> = self.script.iter().copied().filter(|(t, _)| *t <= now).collect();
        self.script.retain(|(t, _)| *t > now);
        due.sort_by_key(|(t, _)| *t);
        for (_, act) in due {
            self.act(now, act)?;
        }
        Ok(())
    }

    fn act(&mut self, now: Instant, act: Act) -> Result<(), Ended> {
        match act {
            Act::Lws4Ping => {
                self.note(now, What::PingSent(Vec::new()));
                self.write(frame::encode(opcode::PING, b"", false));
                if let Behaviour::Lws4 { hangup_after, .. } = self.behaviour {
                    self.script.push((now + self.units(hangup_after), Act::PongOverdue));
                }
            }
            Act::PongOverdue => return Err(Out::HangUp("no PONG within the libwebsockets timeout")),
            Act::Ping(payload) => {
                self.note(now, What::PingSent(payload.to_vec()));
                self.write(frame::encode(opcode::PING, payload, false));
            }
            Act::Pong => {
                let payload = b"unsolicited";
                self.note(now, What::PongSent(payload.to_vec()));
                self.write(frame::encode(opcode::PONG, payload, false));
            }
            Act::Close(code, reason) => {
                self.note(now, What::CloseSent(code));
                self.write(frame::encode(opcode::CLOSE, &frame::close_payload(code, reason), false));
                self.close_sent = true;
                self.script.push((now + self.units(GRACE_UNITS), Act::GraceOver));
            }
            Act::Fin => return Err(Out::HangUp("scripted TCP close")),
            Act::Reset => return Err(Out::Reset),
            Act::Fragments => {
                let publish = mqtt::encode_as(&publish_x("split across two frames"), self.protocol);
                let (first, rest) = publish.split_at(publish.len() / 2);
                let mut bytes = frame::encode_fragment(opcode::BINARY, first, false, false);
                bytes.extend_from_slice(&frame::encode_fragment(opcode::CONTINUATION, rest, false, true));
                self.note(now, What::FragmentsSent);
                self.write(bytes);
            }
            Act::TwoInOne => {
                let mut packets = mqtt::encode_as(&publish_x("first of two in one frame"), self.protocol);
                packets.extend_from_slice(&mqtt::encode_as(&publish_x("second of two in one frame"), self.protocol));
                self.note(now, What::PacketsInOneFrameSent);
                self.write(frame::encode(opcode::BINARY, &packets, false));
            }
            Act::Text => {
                self.note(now, What::TextSent);
                self.write(frame::encode(opcode::TEXT, b"hello", false));
            }
            Act::GraceOver => {
                return Err(Out::Drop(PeerEnd::HungUp("the client did not finish the closing handshake")))
            }
        }
        Ok(())
    }

    fn on_frame(&mut self, now: Instant, f: frame::RawFrame) -> Result<(), Ended> {
        if f.opcode != opcode::BINARY || !f.fin || !f.masked {
            self.note(now, What::Frame { opcode: f.opcode, fin: f.fin, masked: f.masked, payload: f.payload.clone() });
        }
        if !f.masked {
            if let Behaviour::Lws4 { unmasked: Unmasked::HangUp, .. } = self.behaviour {
                return Err(Out::HangUp("unmasked frame from the client (RFC 6455 §5.1)"));
            }
        }
        match f.opcode {
            opcode::BINARY | opcode::CONTINUATION => self.mqtt_buf.extend_from_slice(&f.payload),
            opcode::PONG => {
                if let Behaviour::Lws4 { ping_at, .. } = self.behaviour {
                    // A PONG proves the client alive: the next PING is a whole interval away.
                    self.script.retain(|(_, a)| !matches!(a, Act::Lws4Ping | Act::PongOverdue));
                    self.script.push((now + self.units(ping_at), Act::Lws4Ping));
                }
            }
            opcode::PING => self.write(frame::encode(opcode::PONG, &f.payload, false)),
            opcode::CLOSE => {
                if !self.close_sent {
                    // Echo the status code, as RFC 6455 §5.5.1 asks; the server then closes TCP first.
                    self.out.push(Out::TryWrite(frame::encode(opcode::CLOSE, &f.payload[..f.payload.len().min(2)], false)));
                }
                return Err(Out::HangUp("closing handshake done"));
            }
            _ => {}
        }
        Ok(())
    }

    fn on_packet(&mut self, now: Instant, p: Packet) -> Result<(), Ended> {
        match &p {
            Packet::Connect { protocol, client_id, username, keepalive, .. } => {
                self.protocol = *protocol;
                self.seen.connect =
                    Some(ConnectSeen { client_id: client_id.clone(), username: username.clone(), keepalive: *keepalive });
                if let Behaviour::RefuseConnack { code } = self.behaviour {
                    self.note(now, What::Packet(p.clone()));
                    let code = match (self.protocol, code) {
                        (Protocol::V5, 4) => 0x86,
                        (Protocol::V5, 5) => 0x87,
                        (_, c) => c,
                    };
                    self.send(&Packet::connack(code));
                    return Err(Out::HangUp("CONNACK refused the session"));
                }
                self.send(&Packet::connack(0));
                self.connack_at = Some(now);
                let zero = *self.zero.get_or_insert(now);
                self.note(now, What::Packet(p));
                let at = |n: u32| zero + self.unit * n;
                let first = match self.behaviour {
                    Behaviour::Lws4 { ping_at, .. } => Some((at(ping_at), Act::Lws4Ping)),
                    Behaviour::CloseFrame { at: t, code, reason } => Some((at(t), Act::Close(code, reason))),
                    Behaviour::TcpClose { at: t } => Some((at(t), Act::Fin)),
                    Behaviour::TcpReset { at: t } => Some((at(t), Act::Reset)),
                    Behaviour::Continuation { at: t } => Some((at(t), Act::Fragments)),
                    Behaviour::PacketsInOneFrame { at: t } => Some((at(t), Act::TwoInOne)),
                    Behaviour::TextFrame { at: t } => Some((at(t), Act::Text)),
                    Behaviour::PingWithPayload { at: t, payload } => Some((at(t), Act::Ping(payload))),
                    Behaviour::UnsolicitedPong { at: t } => Some((at(t), Act::Pong)),
                    Behaviour::NoPings
                    | Behaviour::StopPingResp { .. }
                    | Behaviour::RefuseConnack { .. }
                    | Behaviour::RefuseUpgrade { .. }
                    | Behaviour::NoSubprotocol => None,
                };
                self.script.extend(first);
            }
            Packet::Subscribe { id, filters } => {
                self.note(now, What::Packet(p.clone()));
                self.send(&Packet::SubAck { id: *id, codes: vec![0; filters.len()] });
                self.subscriptions.extend(filters.iter().cloned());
                if filters.iter().any(|f| topic_matches(f, VERSION_TOPIC)) {
                    let version =
                        Packet::Publish { topic: VERSION_TOPIC.into(), payload: BROKER_VERSION.into(), retain: true };
                    self.send(&version);
                }
            }
            Packet::Publish { topic, payload, .. } => {
                let echo = Packet::Publish { topic: topic.clone(), payload: payload.clone(), retain: false };
                let subscribed = self.subscriptions.iter().any(|f| topic_matches(f, topic));
                self.note(now, What::Packet(p));
                if subscribed {
                    self.send(&echo);
                }
            }
            Packet::PingReq => {
                self.note(now, What::Packet(p));
                let hung = match (self.behaviour, self.connack_at) {
                    (Behaviour::StopPingResp { after }, Some(c)) => now >= c + self.units(after),
                    _ => false,
                };
                if hung {
                    self.note(now, What::PingRespWithheld);
                } else {
                    self.send(&Packet::PingResp);
                }
            }
            _ => self.note(now, What::Packet(p)),
        }
        Ok(())
    }
}

/// A QoS 0 PUBLISH on `test/x`, a topic no client subscribed to.
fn publish_x(payload: &str) -> Packet {
    Packet::Publish { topic: "test/x".into(), payload: payload.as_bytes().to_vec(), retain: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: Duration = Duration::from_millis(10);

    fn upgrade_request() -> Vec<u8> {
        b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Protocol: mqtt\r\n\r\n"
            .to_vec()
    }

    fn connect() -> Vec<u8> {
        let connect = Packet::Connect {
            protocol: Protocol::V311,
            client_id: "c".into(),
            username: None,
            password: None,
            keepalive: 60,
            properties: Default::default(),
        };
        frame::encode(opcode::BINARY, &mqtt::encode(&connect), true)
    }

    fn written(outs: &[Out]) -> Vec<u8> {
        outs.iter()
            .filter_map(|o| match o {
                Out::Write(b) | Out::TryWrite(b) => Some(b.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn lws4_pings_at_its_time_and_hangs_up_when_no_pong_follows() {
        let t0 = Instant::now();
        let mut core = Core::new(true, Behaviour::LWS4, UNIT);
        let outs = core.on_bytes(t0, &upgrade_request());
        assert!(String::from_utf8_lossy(&written(&outs)).starts_with("HTTP/1.1 101"), "{outs:?}");
        let outs = core.on_bytes(t0, &connect());
        assert!(!outs.iter().any(Out::ends), "CONNACK only: {outs:?}");
        assert_eq!(core.deadline(), Some(t0 + UNIT * 15));
        let outs = core.on_time(t0 + UNIT * 15);
        assert_eq!(written(&outs), frame::encode(opcode::PING, b"", false));
        assert_eq!(core.deadline(), Some(t0 + UNIT * 25));
        let outs = core.on_time(t0 + UNIT * 25);
        assert_eq!(outs, vec![Out::HangUp("no PONG within the libwebsockets timeout")]);
    }

    #[test]
    fn a_pong_moves_the_next_lws4_ping_a_whole_interval_away() {
        let t0 = Instant::now();
        let mut core = Core::new(true, Behaviour::LWS4, UNIT);
        core.on_bytes(t0, &upgrade_request());
        core.on_bytes(t0, &connect());
        core.on_time(t0 + UNIT * 15);
        let outs = core.on_bytes(t0 + UNIT * 16, &frame::encode(opcode::PONG, b"", true));
        assert!(outs.is_empty(), "{outs:?}");
        assert_eq!(core.deadline(), Some(t0 + UNIT * 31));
        let seen = core.finish(PeerEnd::ClientEof);
        assert_eq!(seen.pongs().len(), 1);
    }

    #[test]
    fn a_refused_upgrade_answers_with_its_status_and_hangs_up() {
        let mut core = Core::new(true, Behaviour::RefuseUpgrade { status: 401 }, UNIT);
        let outs = core.on_bytes(Instant::now(), &upgrade_request());
        assert!(String::from_utf8_lossy(&written(&outs)).starts_with("HTTP/1.1 401 Unauthorized"));
        assert_eq!(outs.last(), Some(&Out::HangUp("upgrade refused")));
    }

    #[test]
    fn a_v5_client_is_refused_with_the_v5_reason_code() {
        let mut core = Core::new(false, Behaviour::REFUSE_CONNACK_5, UNIT);
        let connect = Packet::Connect {
            protocol: Protocol::V5,
            client_id: "c".into(),
            username: None,
            password: None,
            keepalive: 60,
            properties: Default::default(),
        };
        let outs = core.on_bytes(Instant::now(), &mqtt::encode_as(&connect, Protocol::V5));
        let mut bytes = BytesMut::from(&written(&outs)[..]);
        assert_eq!(mqtt::decode_as(&mut bytes, Protocol::V5), Ok(Some(Packet::connack(0x87))));
    }

    #[test]
    fn garbage_instead_of_a_frame_ends_the_connection_without_a_panic() {
        let mut core = Core::new(true, Behaviour::NO_PINGS, UNIT);
        core.on_bytes(Instant::now(), &upgrade_request());
        let outs = core.on_bytes(Instant::now(), &[0xff; 64]);
        assert!(matches!(outs.last(), Some(Out::Drop(PeerEnd::BadBytes(_)))), "{outs:?}");
    }
}
