//! The passive decoder behind the recording proxy: copies of both directions in, a
//! [`SessionRecord`] out — the same record the built-in profiles produce, so the same
//! `judge::verdict::decide` judges a real client.
//!
//! Pure: bytes and socket ends with their times in, no I/O. It reads the HTTP upgrade,
//! every WebSocket frame (opcode, length, mask bit, close code and reason) and the MQTT
//! packets inside binary frames, across fragmented frames and packets split over frames,
//! and how the TCP connection ended on each side. Times come in as real time since the
//! connection was accepted and go out in broker time (× the run's speed), after the session's
//! zero (`judge::record::TimeZero`: the broker's 101 over WebSocket, CONNACK over TCP).

use std::time::Duration;

use bytes::BytesMut;

use crate::judge::record::{
    ClientEnd, Direction, End, FrameSeen, Party, RoundTrip, SessionRecord, SocketEnd, Vantage, WireEvent,
};
use crate::plan::Transport;
use crate::wire::frame::{self, opcode, opcode_name};
use crate::wire::handshake::{check_response, HandshakeError};
use crate::wire::mqtt::{self, Packet};

/// Largest HTTP head either side may send before the decoder calls it broken.
const MAX_HEAD: usize = 16 * 1024;
/// How many wire events a record keeps; a hold with a keepalive has a few dozen.
pub const MAX_WIRE_EVENTS: usize = 2000;
/// A broker frame this close before the client's end is what the client answered.
const ANSWER_WINDOW: Duration = Duration::from_secs(1);
/// The topic whose retained message tells the broker's version.
const VERSION_TOPIC: &str = "$SYS/broker/version";

/// What the decoder needs to know about the cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    /// The column's name.
    pub column: String,
    /// ws or tcp.
    pub transport: Transport,
    /// The hold asked of the client.
    pub hold: Duration,
    /// The keepalive asked of the client.
    pub keepalive: Duration,
    /// The client id asked of the client.
    pub client_id: String,
    /// The topic of the round trip.
    pub topic: String,
    /// Broker seconds per real second (1 unless the clocks run faster).
    pub speed: f64,
}

/// Something that ended the session, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
enum Ending {
    BrokerClose { code: Option<u16>, reason: String },
    BrokerSocket(SocketEnd),
    BrokerBadBytes(String),
    Client(ClientEnd),
}

#[derive(Debug, Default)]
struct Side {
    head_done: bool,
    head: BytesMut,
    frames: BytesMut,
    mqtt: BytesMut,
    broken: bool,
    closed: bool,
}

/// Decodes one proxied connection as it happens.
#[derive(Debug)]
pub struct Recorder {
    watch: Watch,
    client: Side,
    broker: Side,
    key: Option<String>,
    /// The first of the broker's 101 and its CONNACK: where the record's times count from.
    zero: Option<Duration>,
    connack_at: Option<Duration>,
    record: SessionRecord,
    ending: Option<(Duration, Ending)>,
    refused_upgrade: Option<String>,
    refused_connack: Option<u8>,
    pingreq: Option<Duration>,
    published: Option<Duration>,
    echoed: Option<Duration>,
    wire_dropped: usize,
    /// When each wire event happened, in broker time since accept: its `at` is set from the
    /// session's zero once the record is finished, since the upgrade request comes before it.
    wire_times: Vec<Duration>,
    /// The keepalive the client's CONNECT declared: the one the broker holds it to.
    declared_keepalive: Option<Duration>,
    /// The client's data frames so far: how many carried its CONNECT, once it decodes.
    client_data_frames: usize,
    /// The client's last packet after CONNACK, and the longest silence between its packets.
    last_from_client: Option<Duration>,
    longest_silence: Duration,
}

impl Recorder {
    /// A decoder for one connection of the cell.
    pub fn new(watch: Watch) -> Recorder {
        let record = SessionRecord::of(&watch.column, Vantage::Proxy, watch.transport, watch.hold, watch.keepalive, &watch.client_id);
        let tcp = watch.transport == Transport::Tcp;
        Recorder {
            client: Side { head_done: tcp, ..Side::default() },
            broker: Side { head_done: tcp, ..Side::default() },
            watch,
            key: None,
            zero: None,
            connack_at: None,
            record,
            ending: None,
            refused_upgrade: None,
            refused_connack: None,
            pingreq: None,
            published: None,
            echoed: None,
            wire_dropped: 0,
            wire_times: Vec::new(),
            declared_keepalive: None,
            client_data_frames: 0,
            last_from_client: None,
            longest_silence: Duration::ZERO,
        }
    }

    /// What the recorder watches.
    pub fn watch(&self) -> &Watch {
        &self.watch
    }

    /// Whether the broker has accepted the session (a CONNACK with code 0 went by).
    pub fn connected(&self) -> bool {
        self.connack_at.is_some()
    }

    /// Broker time of a real instant since the connection was accepted.
    fn broker_time(&self, real: Duration) -> Duration {
        real.mul_f64(self.watch.speed)
    }

    /// Time after the session's zero (zero before it).
    fn rel(&self, t: Duration) -> Duration {
        self.zero.map_or(Duration::ZERO, |c| t.saturating_sub(c))
    }

    fn note(&mut self, t: Duration, from: Party, what: String) {
        if self.record.wire.len() >= MAX_WIRE_EVENTS {
            self.wire_dropped += 1;
            return;
        }
        self.wire_times.push(t);
        self.record.wire.push(WireEvent { at: self.since_zero(t), from, what });
    }

    /// Seconds after the session's zero (negative before it; 0 while there is none), rounded
    /// to the millisecond, never "-0.0".
    fn since_zero(&self, t: Duration) -> f64 {
        let at = match self.zero {
            Some(c) if t >= c => (t - c).as_secs_f64(),
            Some(c) => -(c - t).as_secs_f64(),
            None => 0.0,
        };
        (at * 1000.0).round() / 1000.0 + 0.0
    }

    fn end(&mut self, t: Duration, ending: Ending) {
        // The earliest end wins, whichever direction reported it first.
        if self.ending.as_ref().is_none_or(|(old, _)| t < *old) {
            self.ending = Some((t, ending));
        }
    }

    /// Bytes one side sent, `real` after the connection was accepted.
    pub fn bytes(&mut self, from: Party, real: Duration, data: &[u8]) {
        let t = self.broker_time(real);
        let ws = self.watch.transport == Transport::Ws;
        let side = self.side(from);
        if side.broken || data.is_empty() {
            return;
        }
        if !side.head_done {
            side.head.extend_from_slice(data);
            let Some(end) = side.head.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4) else {
                if side.head.len() > MAX_HEAD {
                    side.broken = true;
                    self.note(t, from, format!("HTTP head longer than {MAX_HEAD} bytes"));
                }
                return;
            };
            let head = side.head.split_to(end);
            let rest = side.head.split();
            side.head_done = true;
            side.frames.extend_from_slice(&rest);
            self.on_head(from, t, &head);
        } else if ws {
            side.frames.extend_from_slice(data);
        } else {
            side.mqtt.extend_from_slice(data);
        }
        if ws {
            self.read_frames(from, t);
        } else {
            self.read_packets(from, t);
        }
    }

    /// One side's end of the TCP connection (FIN, reset or error), `real` after accept.
    pub fn closed(&mut self, from: Party, real: Duration, how: SocketEnd) {
        let t = self.broker_time(real);
        let side = self.side(from);
        if side.closed {
            return;
        }
        side.closed = true;
        let word = match &how {
            SocketEnd::Eof => "FIN".to_string(),
            SocketEnd::Reset => "RST".to_string(),
            SocketEnd::Error(e) => format!("socket error: {e}"),
        };
        self.note(t, from, word);
        match from {
            Party::Broker => self.end(t, Ending::BrokerSocket(how)),
            Party::Client => {
                let with = if how == SocketEnd::Reset { ClientEnd::Reset } else { ClientEnd::Fin };
                self.end(t, Ending::Client(with));
            }
        }
    }

    fn side(&mut self, from: Party) -> &mut Side {
        match from {
            Party::Client => &mut self.client,
            Party::Broker => &mut self.broker,
        }
    }

    fn on_head(&mut self, from: Party, t: Duration, head: &[u8]) {
        let first_line = String::from_utf8_lossy(head.split(|b| *b == b'\r').next().unwrap_or_default()).into_owned();
        match from {
            Party::Client => {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut request = httparse::Request::new(&mut headers);
                if request.parse(head).is_ok() {
                    self.key = request
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Key"))
                        .map(|h| String::from_utf8_lossy(h.value).trim().to_string());
                }
                self.note(t, from, format!("upgrade request: {first_line}"));
            }
            Party::Broker => {
                let key = self.key.clone().unwrap_or_default();
                match check_response(head, &key) {
                    Ok(subprotocol) => {
                        self.zero.get_or_insert(t); // TimeZero::Upgrade
                        self.note(t, from, format!("{first_line}, subprotocol {}", subprotocol.as_deref().unwrap_or("none")));
                        self.record.subprotocol = subprotocol;
                    }
                    Err(HandshakeError::Refused(detail)) => {
                        self.note(t, from, format!("upgrade refused: {detail}"));
                        self.refused_upgrade.get_or_insert(detail);
                    }
                    Err(HandshakeError::Io(e)) => self.note(t, from, format!("upgrade failed: {e}")),
                }
            }
        }
    }

    /// Stops decoding one side's bytes (the proxy still forwards them); bytes the broker
    /// cannot have meant end the session as bad bytes, as they do for a built-in profile.
    fn undecodable(&mut self, from: Party, t: Duration, detail: String) {
        self.side(from).broken = true;
        self.note(t, from, detail.clone());
        if from == Party::Broker {
            self.end(t, Ending::BrokerBadBytes(detail));
        }
    }

    fn read_frames(&mut self, from: Party, t: Duration) {
        loop {
            let decoded = frame::decode(&mut self.side(from).frames);
            let f = match decoded {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => return self.undecodable(from, t, format!("{} sent an invalid WebSocket frame ({e})", who(from))),
            };
            self.on_frame(from, t, f);
            self.read_packets(from, t);
        }
    }

    fn on_frame(&mut self, from: Party, t: Duration, f: frame::RawFrame) {
        let mask = if f.masked { "masked" } else { "unmasked" };
        let mut what = format!("frame {} {} B {mask}{}", opcode_name(f.opcode), f.payload.len(), if f.fin { "" } else { " FIN=0" });
        let direction = if from == Party::Broker { Direction::Received } else { Direction::Sent };
        if f.opcode != opcode::BINARY {
            let seen = FrameSeen { at: self.rel(t), direction, opcode: f.opcode, payload_len: f.payload.len(), masked: f.masked };
            self.record.frames.push(seen);
        }
        match f.opcode {
            opcode::BINARY | opcode::CONTINUATION => {
                self.client_data_frames += usize::from(from == Party::Client);
                self.side(from).mqtt.extend_from_slice(&f.payload)
            }
            opcode::CLOSE => {
                let (code, reason) = frame::parse_close(&f.payload);
                let valid = code.filter(|c| (1000..=4999).contains(c));
                what = format!("{what}: code {}, payload {:?}", valid.map_or("none".to_string(), |c| c.to_string()), text(&f.payload));
                match from {
                    Party::Broker => self.end(t, Ending::BrokerClose { code, reason }),
                    Party::Client => {
                        let payload = if valid.is_some() { reason } else { text(&f.payload) };
                        self.end(t, Ending::Client(ClientEnd::CloseFrame { code: valid, payload }));
                    }
                }
            }
            _ => {}
        }
        self.note(t, from, what);
    }

    fn read_packets(&mut self, from: Party, t: Duration) {
        loop {
            let decoded = mqtt::decode(&mut self.side(from).mqtt);
            match decoded {
                Ok(Some(p)) => self.on_packet(from, t, p),
                Ok(None) => return,
                Err(e) => return self.undecodable(from, t, format!("{} sent an invalid MQTT packet ({e})", who(from))),
            }
        }
    }

    fn on_packet(&mut self, from: Party, t: Duration, p: Packet) {
        let what = match (&p, from) {
            (Packet::Connect { client_id, keepalive, .. }, _) => format!("MQTT CONNECT client id {client_id:?}, keepalive {keepalive} s"),
            (Packet::ConnAck { code }, _) => format!("MQTT CONNACK {code} ({})", mqtt::connack_reason(*code)),
            (Packet::Publish { topic, payload, .. }, _) => format!("MQTT PUBLISH {topic:?} {} B", payload.len()),
            (Packet::Subscribe { filters, .. }, _) => format!("MQTT SUBSCRIBE {filters:?}"),
            (Packet::SubAck { codes, .. }, _) => format!("MQTT SUBACK {codes:?}"),
            (Packet::PingReq, _) => "MQTT PINGREQ".to_string(),
            (Packet::PingResp, _) => "MQTT PINGRESP".to_string(),
            (Packet::Disconnect, _) => "MQTT DISCONNECT".to_string(),
            (Packet::Other { kind }, _) => format!("MQTT packet type {kind}"),
        };
        if from == Party::Client {
            self.client_spoke(t);
        }
        match (p, from) {
            (Packet::ConnAck { code }, Party::Broker) if self.connack_at.is_none() && self.refused_connack.is_none() => {
                if code == 0 {
                    self.connack_at = Some(t);
                    self.zero.get_or_insert(t); // TimeZero::ConnAck, over TCP
                    self.record.connected = true;
                } else {
                    self.refused_connack = Some(code);
                }
            }
            (Packet::Connect { keepalive, .. }, Party::Client) => {
                self.declared_keepalive.get_or_insert(Duration::from_secs(u64::from(keepalive)));
                if self.watch.transport == Transport::Ws {
                    self.record.connect_frames.get_or_insert(self.client_data_frames);
                }
            }
            (Packet::PingReq, Party::Client) => {
                self.pingreq.get_or_insert(t);
            }
            (Packet::PingResp, Party::Broker) => self.pingreq = None,
            (Packet::Disconnect, Party::Client) => self.end(t, Ending::Client(ClientEnd::Disconnect)),
            // Only a publish after the hold is the round trip (2 % slack for the clients' timers).
            (Packet::Publish { topic, .. }, Party::Client)
                if topic == self.watch.topic && self.connack_at.is_some_and(|c| t.saturating_sub(c) >= self.watch.hold.mul_f64(0.98)) =>
            {
                self.published.get_or_insert(t);
            }
            (Packet::Publish { topic, payload, .. }, Party::Broker) => {
                if topic == VERSION_TOPIC {
                    self.record.broker_version = Some(String::from_utf8_lossy(&payload).into_owned());
                }
                if topic == self.watch.topic && self.published.is_some() {
                    self.echoed.get_or_insert(t);
                }
            }
            _ => {}
        }
        self.note(t, from, what);
    }

    /// Notes a client packet, to see whether its keepalive runs on the broker's clock.
    fn client_spoke(&mut self, t: Duration) {
        if let Some(since) = self.last_from_client.or(self.connack_at) {
            self.longest_silence = self.longest_silence.max(t.saturating_sub(since));
        }
        if self.connack_at.is_some() {
            self.last_from_client = Some(t);
        }
    }

    /// The record, once both sides have ended (or the harness gave up on them).
    pub fn finish(mut self) -> SessionRecord {
        let times = std::mem::take(&mut self.wire_times);
        for (i, t) in times.into_iter().enumerate() {
            let at = self.since_zero(t);
            self.record.wire[i].at = at;
        }
        if self.wire_dropped > 0 {
            let what = format!("… {} more wire events not kept", self.wire_dropped);
            self.record.wire.push(WireEvent { at: self.record.wire.last().map_or(0.0, |w| w.at), from: Party::Client, what });
        }
        self.record.end = self.decide_end();
        self.record
    }

    fn decide_end(&self) -> End {
        if let Some(detail) = &self.refused_upgrade {
            return End::UpgradeRefused { detail: format!("WebSocket upgrade refused: {detail}") };
        }
        if let Some(code) = self.refused_connack {
            return End::ConnAckRefused { code };
        }
        let Some((t, ending)) = self.ending.clone() else {
            return End::HarnessError { detail: "the proxied connection had not ended when the cell finished".to_string() };
        };
        let at = self.rel(t);
        // A client silent past 1.5 × keepalive gets dropped by the broker, rightly: but the
        // silence is the harness's doing, never the broker's — on an accelerated clock a client
        // whose own clock did not follow sends its PINGREQs N times too late, and at any speed
        // a client starved of CPU sends them late too (at real time only a broker's end can be
        // the drop of a silent client; a client that ends by itself ends as it says).
        let broker_ended = matches!(ending, Ending::BrokerSocket(_) | Ending::BrokerClose { .. });
        // The broker holds a client to the keepalive its CONNECT declared (0: none).
        let keepalive = self.declared_keepalive.unwrap_or(self.watch.keepalive);
        if self.connack_at.is_some() && !keepalive.is_zero() && (self.watch.speed > 1.0 || broker_ended) {
            let silence = self.longest_silence.max(t.saturating_sub(self.last_from_client.or(self.connack_at).unwrap_or(t)));
            if silence > keepalive.mul_f64(1.5) {
                let (secs, keepalive) = (silence.as_secs_f64(), keepalive.as_secs_f64());
                let detail = if self.watch.speed > 1.0 {
                    format!(
                        "acceleration not in effect for the client: it sent nothing for {secs:.1} s of broker time with a keepalive of {keepalive:.0} s, \
                         so its clock did not run ×{} with the time library (a Go program, a static binary?) or it was starved of CPU",
                        self.watch.speed
                    )
                } else {
                    format!(
                        "the client was starved or stalled: it sent nothing for {secs:.1} s with a keepalive of {keepalive:.0} s, \
                         past the 1.5 × keepalive a broker waits; not a broker drop"
                    )
                };
                return End::HarnessError { detail };
            }
        }
        if self.connack_at.is_none() {
            return match ending {
                Ending::BrokerSocket(how) => End::SocketEnded { at, how },
                Ending::BrokerClose { code, reason } => End::BrokerClosed { at, code, reason },
                Ending::BrokerBadBytes(detail) => End::BadBytes { at, detail },
                // A 101 without the subprotocol the client asked for, and the client leaves.
                Ending::Client(_) if self.broker.head_done && self.watch.transport == Transport::Ws && self.record.subprotocol.is_none() => {
                    End::UpgradeRefused {
                        detail: "the broker's 101 named no subprotocol (the client asked for mqtt) and the client closed the connection".to_string(),
                    }
                }
                Ending::Client(_) => End::HarnessError {
                    detail: "the client ended its connection before the broker accepted it (no CONNACK)".to_string(),
                },
            };
        }
        match ending {
            Ending::BrokerClose { code, reason } => End::BrokerClosed { at, code, reason },
            Ending::BrokerSocket(how) => End::SocketEnded { at, how },
            Ending::BrokerBadBytes(detail) => End::BadBytes { at, detail },
            Ending::Client(how) => match (self.published, self.echoed, self.pingreq) {
                (Some(sent), Some(back), _) => End::HoldCompleted { round_trip: RoundTrip::Echoed { rtt: back.saturating_sub(sent) } },
                (Some(sent), None, _) => End::HoldCompleted { round_trip: RoundTrip::Lost { waited: t.saturating_sub(sent) } },
                (None, _, Some(ping)) if t.saturating_sub(ping) >= self.watch.keepalive => {
                    End::PingRespMissing { at, pingreq_at: self.rel(ping) }
                }
                _ => {
                    let after = self
                        .record
                        .frames
                        .iter()
                        .rfind(|f| f.direction == Direction::Received && f.at <= at && at - f.at <= ANSWER_WINDOW)
                        .cloned();
                    End::ClientEnded { at, how, after }
                }
            },
        }
    }
}

fn who(from: Party) -> &'static str {
    match from {
        Party::Broker => "broker",
        Party::Client => "client",
    }
}

/// A payload as text when it is printable, else as hex.
fn text(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_string(),
        _ => payload.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch() -> Watch {
        Watch {
            column: "app".into(),
            transport: Transport::Ws,
            hold: Duration::from_secs(330),
            keepalive: Duration::from_secs(60),
            client_id: "c".into(),
            topic: "test/c".into(),
            speed: 1.0,
        }
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    /// A recorder past the upgrade and CONNACK at 1 s.
    fn connected(w: Watch) -> Recorder {
        let mut r = Recorder::new(w);
        let request = format!("GET /mqtt HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: {KEY}\r\n\r\n");
        r.bytes(Party::Client, s(0.0), request.as_bytes());
        let response = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
        let connack = frame::encode(opcode::BINARY, &mqtt::encode(&Packet::ConnAck { code: 0 }), false);
        let mut bytes = response.as_bytes().to_vec();
        bytes.extend_from_slice(&connack);
        r.bytes(Party::Broker, s(1.0), &bytes);
        r
    }

    #[test]
    fn a_close_after_a_ping_is_the_client_answering_the_ping() {
        let mut r = connected(watch());
        r.bytes(Party::Broker, s(301.0), &frame::encode(opcode::PING, b"", false));
        r.bytes(Party::Client, s(301.002), &frame::encode(opcode::CLOSE, b"1000", true));
        r.closed(Party::Client, s(301.003), SocketEnd::Eof);
        r.closed(Party::Broker, s(301.004), SocketEnd::Eof);
        let rec = r.finish();
        assert_eq!(rec.subprotocol.as_deref(), Some("mqtt"));
        match rec.end {
            End::ClientEnded { at, how: ClientEnd::CloseFrame { code: None, payload }, after: Some(ping) } => {
                assert_eq!(payload, "1000");
                assert_eq!(ping.opcode, opcode::PING);
                assert_eq!((ping.at, at), (s(300.0), s(300.002)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn times_count_from_the_brokers_101_so_a_late_connack_cannot_move_them() {
        // A client that sends its CONNECT 0.3 s after the upgrade (a JVM loading classes):
        // the broker's timer started at its 101, and so do the record's times.
        let mut r = Recorder::new(watch());
        let request = format!("GET /mqtt HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: {KEY}\r\n\r\n");
        r.bytes(Party::Client, s(0.0), request.as_bytes());
        let response = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
        r.bytes(Party::Broker, s(1.0), response.as_bytes());
        r.bytes(Party::Broker, s(1.3), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::ConnAck { code: 0 }), false));
        r.bytes(Party::Broker, s(301.0), &frame::encode(opcode::PING, b"", false));
        r.bytes(Party::Client, s(301.001), &frame::encode(opcode::CLOSE, b"1000", true));
        r.closed(Party::Client, s(301.002), SocketEnd::Eof);
        let rec = r.finish();
        match rec.end {
            End::ClientEnded { at, after: Some(ping), .. } => assert_eq!((ping.at, at), (s(300.0), s(300.001))),
            other => panic!("{other:?}"),
        }
        let upgrade = rec.wire.iter().find(|w| w.what.starts_with("upgrade request")).expect("the request is in the transcript");
        assert_eq!(upgrade.at, -1.0);
        let connack = rec.wire.iter().find(|w| w.what.starts_with("MQTT CONNACK")).expect("the CONNACK is in the transcript");
        assert_eq!(connack.at, 0.3);
        assert!(rec.wire.iter().all(|w| w.at.to_string() != "-0"), "no time reads -0.0");
    }

    #[test]
    fn a_publish_split_over_two_frames_still_completes_the_round_trip() {
        let mut r = connected(watch());
        let publish = mqtt::encode(&Packet::Publish { topic: "test/c".into(), payload: b"alive".to_vec(), retain: false });
        r.bytes(Party::Client, s(331.0), &frame::encode(opcode::BINARY, &publish, true));
        let (a, b) = publish.split_at(3);
        let mut back = frame::encode_fragment(opcode::BINARY, a, false, false);
        back.extend(frame::encode_fragment(opcode::CONTINUATION, b, false, true));
        r.bytes(Party::Broker, s(331.002), &back[..5]);
        r.bytes(Party::Broker, s(331.003), &back[5..]);
        r.bytes(Party::Client, s(331.004), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::Disconnect), true));
        r.closed(Party::Client, s(331.005), SocketEnd::Eof);
        let rec = r.finish();
        assert!(matches!(rec.end, End::HoldCompleted { round_trip: RoundTrip::Echoed { .. } }), "{:?}", rec.end);
    }

    #[test]
    fn a_publish_before_the_hold_is_no_round_trip_and_leaving_early_is_the_clients_end() {
        let mut r = connected(watch());
        let publish = mqtt::encode(&Packet::Publish { topic: "test/c".into(), payload: b"x".to_vec(), retain: false });
        r.bytes(Party::Client, s(10.0), &frame::encode(opcode::BINARY, &publish, true));
        r.bytes(Party::Broker, s(10.001), &frame::encode(opcode::BINARY, &publish, false));
        r.bytes(Party::Client, s(10.002), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::Disconnect), true));
        let rec = r.finish();
        assert!(matches!(rec.end, End::ClientEnded { how: ClientEnd::Disconnect, after: None, .. }), "{:?}", rec.end);
    }

    #[test]
    fn an_unanswered_pingreq_a_keepalive_old_is_a_timeout_when_the_client_hangs_up() {
        let mut r = connected(watch());
        r.bytes(Party::Client, s(61.0), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingReq), true));
        r.closed(Party::Client, s(151.0), SocketEnd::Eof);
        assert_eq!(r.finish().end, End::PingRespMissing { at: s(150.0), pingreq_at: s(60.0) });
    }

    #[test]
    fn the_broker_hanging_up_first_is_an_eof_by_the_broker_in_broker_time() {
        // CONNACK at 1 s real is 10 s of broker time; PINGREQs every 6 s real (60 s broker).
        let mut r = connected(Watch { speed: 10.0, ..watch() });
        let ping = frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingReq), true);
        for k in 1..=5 {
            r.bytes(Party::Client, s(1.0 + 6.0 * f64::from(k)), &ping);
        }
        r.closed(Party::Broker, s(32.0), SocketEnd::Eof);
        r.closed(Party::Client, s(32.1), SocketEnd::Eof);
        assert_eq!(r.finish().end, End::SocketEnded { at: s(310.0), how: SocketEnd::Eof });
    }

    #[test]
    fn a_refused_upgrade_and_garbage_from_the_broker_are_named() {
        let mut r = Recorder::new(watch());
        r.bytes(Party::Client, s(0.0), b"GET /mqtt HTTP/1.1\r\n\r\n");
        r.bytes(Party::Broker, s(0.1), b"HTTP/1.1 404 Not Found\r\n\r\n");
        assert_eq!(r.finish().end, End::UpgradeRefused { detail: "WebSocket upgrade refused: HTTP 404 Not Found".into() });
        let mut r = connected(watch());
        r.bytes(Party::Broker, s(5.0), &[0x83, 0x00]);
        assert!(matches!(r.finish().end, End::BadBytes { .. }));
    }

    #[test]
    fn a_client_silent_past_its_keepalive_on_an_accelerated_clock_is_an_error_not_a_broker_drop() {
        let mut r = connected(Watch { speed: 10.0, ..watch() });
        // keepalive 60 s broker time = 6 s real; the client's first PINGREQ would come at 60 s
        // real on its own, unaccelerated clock, but the broker hangs up after 90 s broker time.
        r.closed(Party::Broker, s(1.0 + 9.1), SocketEnd::Eof);
        let end = r.finish().end;
        assert!(
            matches!(&end, End::HarnessError { detail } if detail.contains("acceleration not in effect for the client")),
            "{end:?}"
        );
    }

    #[test]
    fn a_client_silent_past_its_keepalive_at_real_time_is_starved_not_dropped_by_the_broker() {
        let mut r = connected(watch());
        // No PINGREQ for 95 s with a keepalive of 60 s: the broker's drop at 96 s is its right,
        // and the silence is no broker's fault.
        r.closed(Party::Broker, s(96.0), SocketEnd::Eof);
        let end = r.finish().end;
        assert!(matches!(&end, End::HarnessError { detail } if detail.contains("starved")), "{end:?}");
    }

    #[test]
    fn the_wire_transcript_is_bounded() {
        let mut r = connected(watch());
        let ping = frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingReq), true);
        for i in 0..(MAX_WIRE_EVENTS * 2) {
            r.bytes(Party::Client, s(2.0 + i as f64 * 0.001), &ping);
        }
        let rec = r.finish();
        assert_eq!(rec.wire.len(), MAX_WIRE_EVENTS + 1);
        assert!(rec.wire.last().expect("a note").what.contains("more wire events not kept"));
    }
}
