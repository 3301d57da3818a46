//! The passive decoder behind the recording proxy: copies of both directions in, a
//! [`SessionRecord`] out — the same record the built-in profiles produce, so the same
//! `judge::verdict::decide` judges a real client.
//!
//! Pure: bytes and socket ends with their times in, no I/O. It reads the HTTP upgrade and
//! keeps the wire transcript; the frames and packets of each direction come from the session
//! core's [`Inbound`], and what they mean — the session's zero, the PINGRESP deadline, the
//! round trip, the starved client, how it ended — is decided by the core's [`State`], in
//! observer mode: the recorder feeds it both directions. Times come in as real time since the
//! connection was accepted and go out in broker time (× the run's speed), after the session's
//! zero (`judge::record::TimeZero`: the broker's 101 over WebSocket, CONNACK over TCP).

use std::time::Duration;

use bytes::BytesMut;

use crate::client::core::state::printable;
use crate::client::lateness::Lateness;
use crate::client::core::{Inbound, Item, Rules, State};
use crate::judge::record::{End, Party, SessionRecord, SocketEnd, Vantage, WireEvent};
use crate::plan::{Profile, Transport};
use crate::wire::frame::{self, opcode, opcode_name};
use crate::wire::handshake::{check_response, HandshakeError};
use crate::wire::mqtt::{self, Packet, Protocol};

/// Largest HTTP head either side may send before the decoder calls it broken.
const MAX_HEAD: usize = 16 * 1024;
/// How many wire events a record keeps; a hold with a keepalive has a few dozen.
pub const MAX_WIRE_EVENTS: usize = 2000;

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
    /// The MQTT version the client was asked to speak (`MATRIX_PROTOCOL`).
    pub protocol: Protocol,
    /// How late the broker runs, timed by the run's own connection to it (accelerated clocks).
    pub lateness: Option<Lateness>,
}

#[derive(Debug)]
struct Side {
    head_done: bool,
    head: BytesMut,
    inbound: Inbound,
    broken: bool,
    closed: bool,
}

impl Side {
    fn new(transport: Transport) -> Side {
        let ws = transport == Transport::Ws;
        Side { head_done: !ws, head: BytesMut::new(), inbound: Inbound::new(ws, Protocol::V311), broken: false, closed: false }
    }
}

/// Decodes one proxied connection as it happens.
#[derive(Debug)]
pub struct Recorder {
    watch: Watch,
    client: Side,
    broker: Side,
    key: Option<String>,
    state: State,
    wire: Vec<WireEvent>,
    wire_dropped: usize,
    /// When each wire event happened, in broker time since accept: its `at` is set from the
    /// session's zero once the record is finished, since the upgrade request comes before it.
    wire_times: Vec<Duration>,
    /// The client's data frames so far: how many carried its CONNECT, once it decodes.
    client_data_frames: usize,
    /// How many data frames the client's CONNECT took, once it decoded (WebSocket only).
    connect_frames: Option<usize>,
}

impl Recorder {
    /// A decoder for one connection of the cell.
    pub fn new(watch: Watch) -> Recorder {
        let record = SessionRecord::of(&watch.column, Vantage::Proxy, watch.transport, watch.hold, watch.keepalive, &watch.client_id);
        let rules = Rules {
            transport: watch.transport,
            hold: watch.hold,
            keepalive: watch.keepalive,
            topic: watch.topic.clone(),
            speed: watch.speed,
            protocol: watch.protocol,
            // A built-in profile played as a command is known by its column's name.
            withholds_pong: Profile::from_name(&watch.column).is_some_and(Profile::withholds_pong),
        };
        Recorder {
            client: Side::new(watch.transport),
            broker: Side::new(watch.transport),
            state: State::new(rules, Protocol::V311, record),
            watch,
            key: None,
            wire: Vec::new(),
            wire_dropped: 0,
            wire_times: Vec::new(),
            client_data_frames: 0,
            connect_frames: None,
        }
    }

    /// What the recorder watches.
    pub fn watch(&self) -> &Watch {
        &self.watch
    }

    /// Whether the broker has accepted the session (a CONNACK with code 0 went by).
    pub fn connected(&self) -> bool {
        self.state.connected()
    }

    /// Broker time of a real instant since the connection was accepted.
    fn broker_time(&self, real: Duration) -> Duration {
        real.mul_f64(self.watch.speed)
    }

    fn note(&mut self, t: Duration, from: Party, what: String) {
        if self.wire.len() >= MAX_WIRE_EVENTS {
            self.wire_dropped += 1;
            return;
        }
        self.wire_times.push(t);
        self.wire.push(WireEvent { at: 0.0, from, what });
    }

    /// Seconds after the session's zero (negative before it; 0 while there is none), rounded
    /// to the millisecond, never "-0.0".
    fn since_zero(&self, t: Duration) -> f64 {
        let at = match self.state.zero() {
            Some(c) if t >= c => (t - c).as_secs_f64(),
            Some(c) => -(c - t).as_secs_f64(),
            None => 0.0,
        };
        (at * 1000.0).round() / 1000.0 + 0.0
    }

    /// Bytes one side sent, `real` after the connection was accepted.
    pub fn bytes(&mut self, from: Party, real: Duration, data: &[u8]) {
        let t = self.broker_time(real);
        let side = self.side(from);
        if side.broken || data.is_empty() {
            return;
        }
        if from == Party::Client {
            self.state.client_sent(t);
        }
        let side = self.side(from);
        if side.head_done {
            side.inbound.push(data);
        } else {
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
            side.inbound.push(&rest);
            self.on_head(from, t, &head);
        }
        self.read(from, t);
    }

    /// A thread at the clients' priority waited `length` for a CPU, until `real` after accept
    /// (`client::meter`); the session core weighs it against a hang-up after a PING.
    pub fn cpu_waited(&mut self, real: Duration, length: Duration) {
        let t = self.broker_time(real);
        self.state.cpu_waited(t, length);
    }

    /// The span, in real time after accept, over which the broker's lateness bears on how the
    /// session ended (`State::lateness_span`); `None` while nothing ended it.
    pub fn lateness_span(&self) -> Option<(Duration, Duration)> {
        let (from, to) = self.state.lateness_span()?;
        let speed = self.watch.speed.max(1.0);
        Some((from.div_f64(speed), to.div_f64(speed)))
    }

    /// The broker ran up to `real` late over [`Recorder::lateness_span`], as the run's own
    /// connection to it timed (`client::lateness`).
    pub fn ran_late(&mut self, real: Duration) {
        let lag = self.broker_time(real);
        self.state.ran_late(lag);
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
        self.state.closed(from, t, how);
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
                self.state.upgrade_requested(t);
            }
            Party::Broker => {
                let key = self.key.clone().unwrap_or_default();
                match check_response(head, &key) {
                    Ok(subprotocol) => {
                        self.note(t, from, format!("{first_line}, subprotocol {}", subprotocol.as_deref().unwrap_or("none")));
                        self.state.upgraded(t, subprotocol);
                    }
                    Err(HandshakeError::Refused(detail)) => {
                        self.note(t, from, format!("upgrade refused: {detail}"));
                        self.state.upgrade_refused(detail);
                    }
                    Err(HandshakeError::Io(e)) => self.note(t, from, format!("upgrade failed: {e}")),
                }
            }
        }
    }

    /// Reads every frame and packet one side's bytes completed, in wire order.
    fn read(&mut self, from: Party, t: Duration) {
        loop {
            let decoded = self.side(from).inbound.next_item();
            match decoded {
                Ok(Some(Item::Frame(f))) => {
                    let mask = if f.masked { "masked" } else { "unmasked" };
                    let mut what = format!("frame {} {} B {mask}{}", opcode_name(f.opcode), f.payload.len(), if f.fin { "" } else { " FIN=0" });
                    if f.opcode == opcode::CLOSE {
                        let (code, _) = frame::parse_close(&f.payload);
                        let valid = code.filter(|c| (1000..=4999).contains(c));
                        what = format!("{what}: code {}, payload {:?}", valid.map_or("none".to_string(), |c| c.to_string()), printable(&f.payload));
                    }
                    if from == Party::Client && matches!(f.opcode, opcode::BINARY | opcode::CONTINUATION) {
                        self.client_data_frames += 1;
                    }
                    self.state.frame(from, t, &f);
                    self.note(t, from, what);
                }
                Ok(Some(Item::Packet(p))) => {
                    let what = describe(&p);
                    self.state.packet(from, t, &p);
                    if let Packet::Connect { protocol, .. } = p {
                        self.client.inbound.set_protocol(protocol);
                        self.broker.inbound.set_protocol(protocol);
                        if from == Party::Client && self.watch.transport == Transport::Ws {
                            self.connect_frames.get_or_insert(self.client_data_frames);
                        }
                    }
                    self.note(t, from, what);
                }
                Ok(None) => return,
                // Stops decoding this side's bytes (the proxy still forwards them); bytes the
                // broker cannot have meant end the session as bad bytes, as for a built-in.
                Err(e) => {
                    let detail = format!("{} sent {e}", who(from));
                    self.side(from).broken = true;
                    self.note(t, from, detail.clone());
                    if from == Party::Broker {
                        self.state.broker_bad_bytes(t, detail);
                    }
                    return;
                }
            }
        }
    }

    /// The record, once both sides have ended (or the harness gave up on them).
    pub fn finish(mut self) -> SessionRecord {
        let times = std::mem::take(&mut self.wire_times);
        let mut wire = std::mem::take(&mut self.wire);
        for (event, t) in wire.iter_mut().zip(times) {
            event.at = self.since_zero(t);
        }
        if self.wire_dropped > 0 {
            let what = format!("… {} more wire events not kept", self.wire_dropped);
            wire.push(WireEvent { at: wire.last().map_or(0.0, |w| w.at), from: Party::Client, what });
        }
        let end = self.state.decide().unwrap_or_else(|| End::HarnessError {
            detail: "the proxied connection had not ended when the cell finished".to_string(),
        });
        let mut record = self.state.finish(end);
        record.wire = wire;
        record.connect_frames = self.connect_frames;
        record
    }
}

/// A packet's line in the transcript.
fn describe(p: &Packet) -> String {
    let props = |properties: &mqtt::Properties| if properties.is_empty() { String::new() } else { format!("; {properties}") };
    match p {
        Packet::Connect { protocol, client_id, keepalive, properties, .. } => {
            format!("MQTT CONNECT {protocol} client id {client_id:?}, keepalive {keepalive} s{}", props(properties))
        }
        Packet::ConnAck { code, properties } => format!("MQTT CONNACK {code} ({}){}", mqtt::connack_reason(*code), props(properties)),
        Packet::Publish { topic, payload, .. } => format!("MQTT PUBLISH {topic:?} {} B", payload.len()),
        Packet::Subscribe { filters, .. } => format!("MQTT SUBSCRIBE {filters:?}"),
        Packet::SubAck { codes, .. } => format!("MQTT SUBACK {codes:?}"),
        Packet::PingReq => "MQTT PINGREQ".to_string(),
        Packet::PingResp => "MQTT PINGRESP".to_string(),
        Packet::Disconnect { reason: 0, properties } if properties.is_empty() => "MQTT DISCONNECT".to_string(),
        Packet::Disconnect { reason, properties } => {
            format!("MQTT DISCONNECT 0x{reason:02X} ({}){}", mqtt::reason_name(*reason), props(properties))
        }
        Packet::Auth { reason, properties } => format!("MQTT AUTH 0x{reason:02X} ({}){}", mqtt::reason_name(*reason), props(properties)),
        Packet::Other { kind } => format!("MQTT packet type {kind}"),
    }
}

fn who(from: Party) -> &'static str {
    match from {
        Party::Broker => "broker",
        Party::Client => "client",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::record::{ClientEnd, RoundTrip};

    fn watch() -> Watch {
        Watch {
            column: "app".into(),
            transport: Transport::Ws,
            hold: Duration::from_secs(330),
            keepalive: Duration::from_secs(60),
            client_id: "c".into(),
            topic: "test/c".into(),
            speed: 1.0,
            protocol: Protocol::V311,
            lateness: None,
        }
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    /// A recorder past the upgrade and CONNACK at 1 s.
    fn connected(w: Watch) -> Recorder {
        upgraded(w, 0.0, 1.0)
    }

    /// A recorder past the upgrade request at `request` (real seconds) and the 101 and CONNACK
    /// at `answer`.
    fn upgraded(w: Watch, request: f64, answer: f64) -> Recorder {
        let mut r = Recorder::new(w);
        let request_bytes = format!("GET /mqtt HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: {KEY}\r\n\r\n");
        r.bytes(Party::Client, s(request), request_bytes.as_bytes());
        let response = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
        let connack = frame::encode(opcode::BINARY, &mqtt::encode(&Packet::connack(0)), false);
        let mut bytes = response.as_bytes().to_vec();
        bytes.extend_from_slice(&connack);
        r.bytes(Party::Broker, s(answer), &bytes);
        r
    }

    /// At ×30: the upgrade request at `request` and the 101 at `answer`, then the client's
    /// CONNECT (MQTT 3.1.1) at `connect` (real seconds), no CONNACK yet.
    fn connecting_at_x30(request: f64, answer: f64, connect: f64) -> Recorder {
        let mut r = Recorder::new(Watch { speed: 30.0, ..watch() });
        r.bytes(Party::Client, s(request), format!("GET /mqtt HTTP/1.1\r\nSec-WebSocket-Key: {KEY}\r\n\r\n").as_bytes());
        let response = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
        r.bytes(Party::Broker, s(answer), response.as_bytes());
        let packet = Packet::Connect { protocol: Protocol::V311, client_id: "c".into(), username: None, password: None, keepalive: 60, properties: Default::default() };
        r.bytes(Party::Client, s(connect), &frame::encode(opcode::BINARY, &mqtt::encode(&packet), true));
        r
    }

    /// At ×30, after the CONNACK at 1 s (real): four PINGREQs answered, the broker's PING at
    /// `ping` s of broker time, the client's PONG `reaction` (real seconds) after it, and the
    /// broker's FIN `fin` (broker seconds) after the PING.
    fn pong_then_fin(column: &str, ping: f64, reaction: f64, fin: f64) -> SessionRecord {
        lagging_pong_then_fin(column, 0.001, ping, reaction, fin)
    }

    /// [`pong_then_fin`] from a broker that answers each PINGREQ `lag` (real seconds) late.
    fn lagging_pong_then_fin(column: &str, lag: f64, ping: f64, reaction: f64, fin: f64) -> SessionRecord {
        let mut r = connected(Watch { speed: 30.0, column: column.into(), ..watch() });
        let (pingreq, pingresp) = (mqtt::encode(&Packet::PingReq), mqtt::encode(&Packet::PingResp));
        for k in 1..=4 {
            r.bytes(Party::Client, s(1.0 + 2.0 * f64::from(k)), &frame::encode(opcode::BINARY, &pingreq, true));
            r.bytes(Party::Broker, s(1.0 + lag + 2.0 * f64::from(k)), &frame::encode(opcode::BINARY, &pingresp, false));
        }
        let ping_real = 1.0 + ping / 30.0;
        r.bytes(Party::Broker, s(ping_real), &frame::encode(opcode::PING, b"", false));
        r.bytes(Party::Client, s(ping_real + reaction), &frame::encode(opcode::PONG, b"", true));
        r.closed(Party::Broker, s(ping_real + fin / 30.0), SocketEnd::Eof);
        r.finish()
    }

    /// At ×30, the late-pong profile's whole hold: a PINGREQ a minute, each answered `lag` (real
    /// seconds) later, the broker's PING at 298.1 s (broker time), the PONG 15.1 s after it, no
    /// hang-up, the round trip after the hold and the client's close.
    fn late_pong_held(lag: f64) -> End {
        let mut r = connected(Watch { speed: 30.0, column: "late-pong".into(), ..watch() });
        let (pingreq, pingresp) = (mqtt::encode(&Packet::PingReq), mqtt::encode(&Packet::PingResp));
        for k in 1..=5 {
            r.bytes(Party::Client, s(1.0 + 2.0 * f64::from(k)), &frame::encode(opcode::BINARY, &pingreq, true));
            r.bytes(Party::Broker, s(1.0 + 2.0 * f64::from(k) + lag), &frame::encode(opcode::BINARY, &pingresp, false));
        }
        let ping = 1.0 + 298.1 / 30.0;
        r.bytes(Party::Broker, s(ping), &frame::encode(opcode::PING, b"", false));
        r.bytes(Party::Client, s(ping + 15.1 / 30.0), &frame::encode(opcode::PONG, b"", true));
        let publish = mqtt::encode(&Packet::Publish { topic: "test/c".into(), payload: b"x".to_vec(), retain: false });
        let after_hold = 1.0 + 336.0 / 30.0;
        r.bytes(Party::Client, s(after_hold), &frame::encode(opcode::BINARY, &publish, true));
        r.bytes(Party::Broker, s(after_hold + 0.003), &frame::encode(opcode::BINARY, &publish, false));
        r.bytes(Party::Client, s(after_hold + 0.006), &frame::encode(opcode::CLOSE, &1000u16.to_be_bytes(), true));
        r.closed(Party::Client, s(after_hold + 0.007), SocketEnd::Eof);
        r.finish().end
    }

    #[test]
    fn a_session_outliving_a_late_pong_from_a_broker_slower_than_the_margin_is_an_error_not_a_tolerant_broker() {
        // Measured at ×30 with 8 copies on bookworm (libwebsockets 4.1): the broker took up to
        // 6.3 s (0.21 s real) to answer a PINGREQ, and did not hang up on the PONG 15.1 s after
        // its PING, 5.1 s past its 10 s window.
        let end = late_pong_held(0.21);
        let End::HarnessError { detail } = &end else { panic!("{end:?}") };
        assert!(detail.contains("5.1 s past libwebsockets' 10 s window") && detail.contains("up to 6.3 s") && detail.contains("210 ms"), "{detail}");
        // A broker that answered within the margin: the session outlived the late PONG.
        let end = late_pong_held(0.003);
        assert!(matches!(end, End::HoldCompleted { .. }), "{end:?}");
    }

    #[test]
    fn at_x30_a_hang_up_inside_the_window_after_a_prompt_pong_from_a_broker_that_lagged_as_much_is_an_error() {
        // ×30, 12 copies: Paho Python's PONG 60 ms (real) after a PING read at 309.5 s, the
        // hang-up at 314.4 s, from a broker that took up to 6.6 s to answer a PINGREQ.
        let record = lagging_pong_then_fin("paho-python@1.6.1", 0.22, 309.5, 0.06, 4.9);
        let End::HarnessError { detail } = &record.end else { panic!("{:?}", record.end) };
        assert!(detail.contains("4.9 s after its PING at 309.5 s") && detail.contains("the broker took up to 6.6 s (220 ms"), "{detail}");
        let lag = record.broker_lag.expect("the broker's lag, recorded");
        assert!((lag.as_secs_f64() - 6.6).abs() < 0.01, "{lag:?}");
        // The same ends from a broker that answered at once stay its own (a broker may refuse
        // a PONG: an unmasked one, say).
        let record = pong_then_fin("paho-python@1.6.1", 309.5, 0.06, 4.9);
        assert!(matches!(record.end, End::SocketEnded { how: SocketEnd::Eof, .. }), "{:?}", record.end);
    }

    #[test]
    fn at_x30_a_hang_up_past_the_window_after_a_prompt_pong_from_a_broker_that_lagged_longer_than_it_had_the_pong_is_an_error() {
        // ×30, 12 copies: Paho Python's PONG 0.2 s after a PING read at 310.0 s, the hang-up
        // 10.7 s after the PING, PINGREQs answered up to 15.9 s (0.53 s real) late.
        let record = lagging_pong_then_fin("paho-python@2.2.0", 0.53, 310.0, 0.2 / 30.0, 10.7);
        let End::HarnessError { detail } = &record.end else { panic!("{:?}", record.end) };
        assert!(detail.contains("timer may have fired before it read the PONG"), "{detail}");
        // A broker that lagged less than it then had the PONG read it, and hung up anyway.
        let record = lagging_pong_then_fin("paho-python@2.2.0", 0.15, 310.0, 0.2 / 30.0, 10.7);
        assert!(matches!(record.end, End::SocketEnded { how: SocketEnd::Eof, .. }), "{:?}", record.end);
    }

    #[test]
    fn at_x30_a_late_pong_from_a_starved_client_is_judged_against_the_10_s_window_not_a_lagging_brokers_later_hang_up() {
        // ×30, 12 copies: Paho C's PONG 10.2 s (0.34 s real) after a PING read at 297.8 s, the
        // hang-up 22.0 s after the PING from a broker whose PINGREQ answers lagged 8.3 s.
        let record = lagging_pong_then_fin("paho-c", 0.277, 297.8, 0.34, 22.0);
        let End::HarnessError { detail } = &record.end else { panic!("{:?}", record.end) };
        assert!(detail.contains("answered 340 ms of real time later (10.2 s at clocks ×30)"), "{detail}");
    }

    #[test]
    fn at_x30_a_pong_that_came_only_after_the_hang_up_still_shows_a_client_the_clock_multiplied() {
        // ×30, 12 copies: Paho Python's PONG 51.3 s (1.7 s real) after a PING read at 297.1 s,
        // the hang-up 9.6 s after the PING, before the PONG.
        let record = pong_then_fin("paho-python@1.6.1", 297.1, 1.71, 9.6);
        let End::HarnessError { detail } = &record.end else { panic!("{:?}", record.end) };
        assert!(detail.contains("answered 1710 ms of real time later (51.3 s at clocks ×30)"), "{detail}");
        // A PONG 12 s of real time late would have been late at real time too: the broker's end.
        let record = pong_then_fin("paho-python@1.6.1", 297.1, 12.0, 9.6);
        assert!(matches!(record.end, End::SocketEnded { how: SocketEnd::Eof, .. }), "{:?}", record.end);
    }

    #[test]
    fn at_x30_a_hang_up_just_after_a_pong_the_clock_multiplied_past_the_window_is_an_error_not_a_broker_drop() {
        // Paho Python in a busy runtime: PONG 277 ms (real) after a PING read at 302.7 s, the
        // broker's FIN 8.34 s (broker time) after the PING.
        let record = pong_then_fin("paho-python@2.2.0", 302.7, 0.277, 8.34);
        let End::HarnessError { detail } = &record.end else { panic!("{:?}", record.end) };
        assert!(detail.contains("answered 277 ms of real time later (8.3 s at clocks ×30)") && detail.contains("not a broker drop"), "{detail}");
    }

    #[test]
    fn a_hang_up_after_a_prompt_pong_or_after_a_profile_that_withholds_it_stays_the_brokers_end() {
        // A PONG 2 ms (real) after the PING: the broker's end is its own.
        assert!(matches!(pong_then_fin("paho-python@2.2.0", 300.0, 0.002, 10.0).end, End::SocketEnded { how: SocketEnd::Eof, .. }));
        // late-pong keeps its PONG back on purpose.
        assert!(matches!(pong_then_fin("late-pong", 300.0, 0.3, 10.0).end, End::SocketEnded { how: SocketEnd::Eof, .. }));
    }

    #[test]
    fn a_101_that_came_late_after_the_request_gives_the_span_by_which_the_brokers_times_may_read_early() {
        // x10: the 101 read 0.17 s (real) after the request; the PING 29.85 s after it reads
        // 298.5 s, where the broker's own timer, started up to 1.7 s before the 101, said 300.
        let mut r = upgraded(Watch { speed: 10.0, ..watch() }, 0.01, 0.18);
        let (pingreq, pingresp) = (mqtt::encode(&Packet::PingReq), mqtt::encode(&Packet::PingResp));
        for k in 1..=4 {
            r.bytes(Party::Client, s(0.18 + 6.0 * f64::from(k)), &frame::encode(opcode::BINARY, &pingreq, true));
            r.bytes(Party::Broker, s(0.181 + 6.0 * f64::from(k)), &frame::encode(opcode::BINARY, &pingresp, false));
        }
        r.bytes(Party::Broker, s(0.18 + 29.85), &frame::encode(opcode::PING, b"", false));
        r.closed(Party::Broker, s(0.18 + 30.85), SocketEnd::Eof);
        let record = r.finish();
        let span = record.upgrade_span.expect("a span");
        assert!(span.abs_diff(s(1.7)) < s(0.001), "{span:?}");
        let v = crate::judge::verdict::decide(&record);
        assert_eq!(v.upgrade_span, Some(span));
        let read = v.broker_reading().unwrap_or_else(|| panic!("a broker time: {}", v.cause));
        assert!(read.at.abs_diff(s(308.5)) < s(0.001), "the FIN as read: {read:?}");
        assert!(read.is_within(s(310.0), s(0.0)), "the broker's 310 s lies in the reading: {read:?}");
    }

    #[test]
    fn a_broker_hanging_up_on_a_client_silent_since_it_connected_is_a_starved_client_not_a_broker_drop() {
        // At x10 a JVM that had not written its upgrade request 0.5 s (real) after connecting:
        // the broker's handshake timeout closed the connection.
        let mut r = Recorder::new(Watch { speed: 10.0, ..watch() });
        r.closed(Party::Broker, s(0.5), SocketEnd::Eof);
        let record = r.finish();
        let End::HarnessError { detail } = &record.end else { panic!("{:?}", record.end) };
        assert!(detail.contains("sent nothing in the 5.0 s") && detail.contains("not a broker drop"), "{detail}");
    }

    #[test]
    fn a_broker_hanging_up_at_once_or_after_the_request_is_still_the_brokers_end() {
        let mut at_once = Recorder::new(watch());
        at_once.closed(Party::Broker, s(0.05), SocketEnd::Eof);
        assert!(matches!(at_once.finish().end, End::SocketEnded { how: SocketEnd::Eof, .. }));
        let mut after_request = Recorder::new(watch());
        after_request.bytes(Party::Client, s(0.01), format!("GET /mqtt HTTP/1.1\r\nSec-WebSocket-Key: {KEY}\r\n\r\n").as_bytes());
        after_request.closed(Party::Broker, s(30.0), SocketEnd::Eof);
        assert!(matches!(after_request.finish().end, End::SocketEnded { how: SocketEnd::Eof, .. }));
    }

    #[test]
    fn at_x10_a_close_a_tenth_of_a_real_second_after_a_ping_still_answers_it_and_the_verdict_keeps_the_pings_time() {
        // PING at 300 s of broker time (30 s real after the 101 at 1 s); the client's close
        // 0.13 s real later: 1.3 s of broker time, a JVM's reaction multiplied by the clock.
        let mut r = connected(Watch { speed: 10.0, ..watch() });
        let (pingreq, pingresp) = (mqtt::encode(&Packet::PingReq), mqtt::encode(&Packet::PingResp));
        for k in 1..=4 {
            r.bytes(Party::Client, s(1.0 + 6.0 * f64::from(k)), &frame::encode(opcode::BINARY, &pingreq, true));
            r.bytes(Party::Broker, s(1.001 + 6.0 * f64::from(k)), &frame::encode(opcode::BINARY, &pingresp, false));
        }
        r.bytes(Party::Broker, s(31.0), &frame::encode(opcode::PING, b"", false));
        r.bytes(Party::Client, s(31.13), &frame::encode(opcode::CLOSE, b"1000", true));
        r.closed(Party::Client, s(31.131), SocketEnd::Eof);
        r.closed(Party::Broker, s(31.132), SocketEnd::Eof);
        let v = crate::judge::verdict::decide(&r.finish());
        assert_eq!(v.answered, Some(s(300.0)), "{}", v.cause);
        assert!(v.cause.starts_with("broker sent WebSocket PING at 300.0 s; the client answered"), "{}", v.cause);
        assert_eq!(v.broker_time(), Some(s(300.0)));
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
        r.bytes(Party::Broker, s(1.3), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::connack(0)), false));
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
        r.bytes(Party::Client, s(331.004), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::DISCONNECT), true));
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
        r.bytes(Party::Client, s(10.002), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::DISCONNECT), true));
        let rec = r.finish();
        assert!(matches!(rec.end, End::ClientEnded { how: ClientEnd::Disconnect, after: None, .. }), "{:?}", rec.end);
    }

    #[test]
    fn at_x30_a_client_whose_own_timers_ran_late_and_that_ends_on_nothing_of_the_brokers_is_an_error() {
        // ×30, 8 copies: MQTT.js's PINGREQ 77 s after its last packet (keepalive 60 s), answered
        // 2.5 s later, then its reset at 139 s on "Keepalive timeout".
        let ended = |pingreq: f64| {
            let mut r = connected(Watch { speed: 30.0, ..watch() });
            r.bytes(Party::Client, s(1.0 + pingreq / 30.0), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingReq), true));
            r.bytes(Party::Broker, s(1.0 + (pingreq + 2.5) / 30.0), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingResp), false));
            r.closed(Party::Client, s(1.0 + 139.0 / 30.0), SocketEnd::Reset);
            r.finish().end
        };
        let end = ended(77.0);
        assert!(matches!(&end, End::HarnessError { detail } if detail.contains("ran up to 17.0 s late")), "{end:?}");
        // A PINGREQ on time: the client's own end.
        let end = ended(61.0);
        assert!(matches!(end, End::ClientEnded { after: None, .. }), "{end:?}");
    }

    #[test]
    fn an_unanswered_pingreq_a_keepalive_old_is_a_timeout_when_the_client_hangs_up() {
        let mut r = connected(watch());
        r.bytes(Party::Client, s(61.0), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingReq), true));
        r.closed(Party::Client, s(151.0), SocketEnd::Eof);
        assert_eq!(r.finish().end, End::PingRespMissing { at: s(150.0), pingreq_at: s(60.0) });
    }

    #[test]
    fn a_broker_running_late_still_hangs_up_on_a_profile_that_keeps_back_its_pong_and_the_eof_stays_the_brokers() {
        // ×30: PINGREQs answered 6 s (0.2 s real) late, the PING, and the hang-up 11 s later:
        // no-pong never answers, so nothing the broker's lag could mix up; its time is allowed.
        let hung_up = |column: &str| {
            let mut r = connected(Watch { speed: 30.0, column: column.into(), ..watch() });
            let (pingreq, pingresp) = (mqtt::encode(&Packet::PingReq), mqtt::encode(&Packet::PingResp));
            for k in 1..=4 {
                r.bytes(Party::Client, s(1.0 + 2.0 * f64::from(k)), &frame::encode(opcode::BINARY, &pingreq, true));
                r.bytes(Party::Broker, s(1.2 + 2.0 * f64::from(k)), &frame::encode(opcode::BINARY, &pingresp, false));
            }
            r.bytes(Party::Broker, s(11.0), &frame::encode(opcode::PING, b"", false));
            r.closed(Party::Broker, s(11.0 + 11.0 / 30.0), SocketEnd::Eof);
            r.closed(Party::Client, s(11.6), SocketEnd::Eof);
            r.finish()
        };
        let record = hung_up("no-pong");
        assert!(matches!(record.end, End::SocketEnded { how: SocketEnd::Eof, .. }), "{:?}", record.end);
        assert!(record.broker_lag.is_some_and(|lag| (lag.as_secs_f64() - 6.0).abs() < 1e-6), "{:?}", record.broker_lag);
        // A client that could have answered: the same lag leaves no measurement.
        let record = hung_up("rfc6455");
        assert!(matches!(&record.end, End::HarnessError { detail } if detail.contains("took up to 6.0 s")), "{:?}", record.end);
    }

    #[test]
    fn on_an_accelerated_clock_a_broker_running_5_s_late_leaves_no_measurement_of_how_the_session_ended() {
        // ×30, 12 copies: a built-in client's own keepalive rule ended the session on a PINGREQ
        // the broker had not answered for 60 s (2 s real); another broker answered PINGREQs up to
        // 6 s (0.2 s real) late and then hung up.
        let mut r = connected(Watch { speed: 30.0, ..watch() });
        r.bytes(Party::Client, s(1.0 + 60.0 / 30.0), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingReq), true));
        r.closed(Party::Client, s(1.0 + 150.0 / 30.0), SocketEnd::Eof);
        let end = r.finish().end;
        assert!(matches!(&end, End::HarnessError { detail } if detail.contains("had not answered a PINGREQ of this client's for 90.0 s")), "{end:?}");
        let record = lagging_pong_then_fin("paho-python@2.2.0", 0.2, 300.0, 0.002, 10.0);
        assert!(matches!(&record.end, End::HarnessError { detail } if detail.contains("took up to 6.0 s (200 ms")), "{:?}", record.end);
        // A client that ends on a frame of the broker's answers it, however late the broker ran.
        let mut r = keeping_alive_at_x30_as("paho-java-1.2.5");
        let (pingreq, pingresp) = (mqtt::encode(&Packet::PingReq), mqtt::encode(&Packet::PingResp));
        r.bytes(Party::Client, s(10.5), &frame::encode(opcode::BINARY, &pingreq, true));
        r.bytes(Party::Broker, s(10.7), &frame::encode(opcode::BINARY, &pingresp, false));
        r.bytes(Party::Broker, s(11.0), &frame::encode(opcode::PING, b"", false));
        r.bytes(Party::Client, s(11.01), &frame::encode(opcode::CLOSE, b"1000", true));
        r.closed(Party::Client, s(11.011), SocketEnd::Eof);
        let end = r.finish().end;
        assert!(matches!(end, End::ClientEnded { after: Some(_), .. }), "{end:?}");
        // A bare FIN after the same frames is no answer: it may be the client's own timeout.
        let mut r = keeping_alive_at_x30_as("mqttjs@5.16.0+v5");
        r.bytes(Party::Client, s(10.5), &frame::encode(opcode::BINARY, &pingreq, true));
        r.bytes(Party::Broker, s(10.7), &frame::encode(opcode::BINARY, &pingresp, false));
        r.bytes(Party::Broker, s(11.0), &frame::encode(opcode::PING, b"", false));
        r.closed(Party::Client, s(11.14), SocketEnd::Eof);
        let end = r.finish().end;
        assert!(matches!(&end, End::HarnessError { detail } if detail.contains("took up to 6.0 s")), "{end:?}");
        // At real time the same broker's end is its own.
        let mut r = connected(watch());
        r.bytes(Party::Client, s(61.0), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingReq), true));
        r.bytes(Party::Broker, s(67.0), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingResp), false));
        r.closed(Party::Broker, s(120.0), SocketEnd::Eof);
        assert!(matches!(r.finish().end, End::SocketEnded { .. }));
    }

    #[test]
    fn the_broker_hanging_up_first_is_an_eof_by_the_broker_in_broker_time() {
        // CONNACK at 1 s real is 10 s of broker time; PINGREQs every 6 s real (60 s broker),
        // each answered 1 ms later.
        let mut r = connected(Watch { speed: 10.0, ..watch() });
        let ping = frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingReq), true);
        let pingresp = frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingResp), false);
        for k in 1..=5 {
            r.bytes(Party::Client, s(1.0 + 6.0 * f64::from(k)), &ping);
            r.bytes(Party::Broker, s(1.001 + 6.0 * f64::from(k)), &pingresp);
        }
        r.closed(Party::Broker, s(32.0), SocketEnd::Eof);
        r.closed(Party::Client, s(32.1), SocketEnd::Eof);
        assert_eq!(r.finish().end, End::SocketEnded { at: s(310.0), how: SocketEnd::Eof });
    }

    /// At ×30: the 101 at 0 s, CONNACK at 1/30 s real, PINGREQs every 2 s real (60 s broker), a
    /// PING at 10 s real (300 s broker), the broker's hang-up 10 s of broker time later, and
    /// no PONG from the client (a PONG after the hang-up would show how late it answered:
    /// `at_x30_a_pong_that_came_only_after_the_hang_up_still_shows_a_client_the_clock_multiplied`).
    fn pinged_and_hung_up_at_x30(waits: &[(f64, f64)]) -> End {
        let mut r = keeping_alive_at_x30();
        r.bytes(Party::Broker, s(11.0), &frame::encode(opcode::PING, b"", false));
        for &(until, length) in waits {
            r.cpu_waited(s(until), s(length));
        }
        r.closed(Party::Broker, s(11.0 + 10.0 / 30.0), SocketEnd::Eof);
        r.closed(Party::Client, s(11.6), SocketEnd::Eof);
        r.finish().end
    }

    fn keeping_alive_at_x30() -> Recorder {
        keeping_alive_at_x30_as("app")
    }

    /// A `column` cell at ×30, connected, sending its PINGREQ every 2 s of real time, each
    /// answered 1 ms later.
    fn keeping_alive_at_x30_as(column: &str) -> Recorder {
        let mut r = connected(Watch { speed: 30.0, column: column.into(), ..watch() });
        let ping = frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingReq), true);
        let pingresp = frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingResp), false);
        for k in 1..=5 {
            r.bytes(Party::Client, s(1.0 + 2.0 * f64::from(k)), &ping);
            r.bytes(Party::Broker, s(1.001 + 2.0 * f64::from(k)), &pingresp);
        }
        r
    }

    /// At ×30: the broker's PING at 11 s (real), its hang-up `gap` broker seconds later, and the
    /// run's own connection to the broker timing a PING of `late` (real) between the two.
    fn hung_up_with_the_broker_timed_late(gap: f64, late: f64) -> SessionRecord {
        let mut r = keeping_alive_at_x30();
        r.bytes(Party::Broker, s(11.0), &frame::encode(opcode::PING, b"", false));
        r.closed(Party::Broker, s(11.0 + gap / 30.0), SocketEnd::Eof);
        r.closed(Party::Client, s(11.6), SocketEnd::Eof);
        let (from, to) = r.lateness_span().expect("the session ended");
        // From 20 ms (real) before the PING: a stall that held the PING back ended then.
        assert!((from.as_secs_f64() - 10.98).abs() < 1e-6 && (to.as_secs_f64() - (11.0 + gap / 30.0)).abs() < 1e-6, "{from:?} {to:?}");
        r.ran_late(s(late));
        r.finish()
    }

    #[test]
    fn how_late_the_broker_ran_from_its_ping_to_the_hang_up_is_recorded_apart_from_its_pingreq_answers() {
        // Measured at ×30: a hang-up read 13 s after the PING (libwebsockets' is at 10 s) from a
        // broker whose PINGREQ answers had lagged 1 ms (0.03 s of broker time).
        let record = hung_up_with_the_broker_timed_late(13.0, 0.1);
        let (lag, late) = (record.broker_lag.expect("its PINGREQs' lag"), record.broker_late.expect("timed late"));
        assert!((lag.as_secs_f64() - 0.03).abs() < 1e-6 && (late.as_secs_f64() - 3.0).abs() < 1e-6, "{lag:?} {late:?}");
        assert!(matches!(record.end, End::SocketEnded { how: SocketEnd::Eof, .. }), "{:?}", record.end);
        // A broker timed on time leaves nothing to record.
        assert_eq!(hung_up_with_the_broker_timed_late(10.0, 0.0).broker_late, None);
    }

    #[test]
    fn a_broker_timed_late_by_the_runs_own_pings_excuses_a_short_window_but_never_turns_its_own_end_into_an_error() {
        // 6 s late (0.2 s real): a hang-up 8 s after the PING may be libwebsockets' 10 s window
        // read short, so it is ERROR; the same lateness with the whole window leaves the
        // hang-up the broker's (its time is allowed that much, not its outcome).
        let short = hung_up_with_the_broker_timed_late(8.0, 0.2);
        assert!(matches!(&short.end, End::HarnessError { detail } if detail.contains("the run's own PINGs")), "{:?}", short.end);
        let whole = hung_up_with_the_broker_timed_late(10.5, 0.2);
        assert!(matches!(whole.end, End::SocketEnded { how: SocketEnd::Eof, .. }), "{:?}", whole.end);
    }

    fn is_eof_at_310(end: &End) -> bool {
        matches!(end, End::SocketEnded { at, how: SocketEnd::Eof } if (at.as_secs_f64() - 310.0).abs() < 0.01)
    }

    #[test]
    fn a_hang_up_on_an_unanswered_ping_while_clients_waited_half_the_window_for_a_cpu_is_an_error_not_a_broker_drop() {
        // 0.33 s of real time to answer; a client-priority thread waited 0.25 s of it.
        let end = pinged_and_hung_up_at_x30(&[(11.3, 0.25)]);
        let End::HarnessError { detail } = &end else { panic!("{end:?}") };
        assert!(detail.contains("answer to the broker's PING") && detail.contains("waited 250 ms") && detail.contains("client, 333 ms"), "{detail}");
        assert!(detail.contains("not a broker drop"), "{detail}");
    }

    #[test]
    fn a_ping_read_only_with_the_hang_up_after_the_proxies_could_not_run_is_an_error_not_a_broker_drop() {
        // ×30, a busy machine: the proxies' runtime could not run for 0.5 s, then read the
        // broker's PING and its hang-up together ("0.0 s after a PING").
        let mut r = keeping_alive_at_x30();
        r.cpu_waited(s(11.5), s(0.5));
        r.bytes(Party::Broker, s(11.505), &frame::encode(opcode::PING, b"", false));
        r.closed(Party::Broker, s(11.505), SocketEnd::Eof);
        r.closed(Party::Client, s(11.6), SocketEnd::Eof);
        let end = r.finish().end;
        let End::HarnessError { detail } = &end else { panic!("{end:?}") };
        assert!(detail.contains("answer to the broker's PING") && detail.contains("waited 500 ms"), "{detail}");
        // The same reads at real time, with no wait before them, stay the broker's end.
        let mut r = connected(watch());
        let pingreq = frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingReq), true);
        for k in 1..=5 {
            r.bytes(Party::Client, s(1.0 + 60.0 * f64::from(k)), &pingreq);
        }
        r.bytes(Party::Broker, s(301.5), &frame::encode(opcode::PING, b"", false));
        r.closed(Party::Broker, s(301.5), SocketEnd::Eof);
        r.closed(Party::Client, s(301.6), SocketEnd::Eof);
        let end = r.finish().end;
        assert!(matches!(end, End::SocketEnded { how: SocketEnd::Eof, .. }), "{end:?}");
    }

    #[test]
    fn at_x30_a_hang_up_too_soon_after_a_late_ping_for_any_client_to_answer_is_an_error_not_a_broker_drop() {
        // Measured with 8 copies: libwebsockets' PING read at 307.2 s, its hang-up at 309.7 s,
        // 83 ms of real time later, before Paho Java v5 dropped the connection on the PING.
        let hung_up = |after: f64| {
            let mut r = keeping_alive_at_x30();
            let ping = 1.0 + 307.2 / 30.0;
            r.bytes(Party::Broker, s(ping), &frame::encode(opcode::PING, b"", false));
            r.closed(Party::Broker, s(ping + after / 30.0), SocketEnd::Eof);
            r.closed(Party::Client, s(ping + after / 30.0 + 0.01), SocketEnd::Eof);
            r.finish().end
        };
        let end = hung_up(2.5);
        let End::HarnessError { detail } = &end else { panic!("{end:?}") };
        assert!(detail.contains("2.5 s after its PING at 307.2 s, 83 ms of real time") && detail.contains("not a broker drop"), "{detail}");
        // A hang-up read with the PING, 4-16 s after it was due, from a broker that could not
        // run until both its timers were overdue: the same.
        let end = hung_up(0.0);
        assert!(matches!(&end, End::HarnessError { detail } if detail.contains("0.0 s after its PING")), "{end:?}");
        // The full window stays the broker's end.
        let end = hung_up(10.0);
        assert!(matches!(end, End::SocketEnded { how: SocketEnd::Eof, .. }), "{end:?}");
    }

    #[test]
    fn a_hang_up_on_an_unanswered_ping_stays_the_brokers_when_no_client_waited_long_in_its_window() {
        // A short wait inside the window, and a long one long before the PING.
        let end = pinged_and_hung_up_at_x30(&[(11.1, 0.05), (5.0, 2.0)]);
        assert!(is_eof_at_310(&end), "{end:?}");
        let end = pinged_and_hung_up_at_x30(&[]);
        assert!(is_eof_at_310(&end), "{end:?}");
    }

    #[test]
    fn a_broker_closing_on_a_client_that_waited_for_a_cpu_before_its_upgrade_request_is_an_error_not_a_broker_drop() {
        // At ×30 the broker's 10 s handshake timeout is 0.33 s of real time; the client's
        // request came just before it, after a 0.3 s wait for a CPU.
        let mut r = Recorder::new(Watch { speed: 30.0, ..watch() });
        r.cpu_waited(s(0.31), s(0.3));
        r.bytes(Party::Client, s(0.32), format!("GET /mqtt HTTP/1.1\r\nSec-WebSocket-Key: {KEY}\r\n\r\n").as_bytes());
        r.closed(Party::Broker, s(0.34), SocketEnd::Eof);
        let end = r.finish().end;
        let End::HarnessError { detail } = &end else { panic!("{end:?}") };
        assert!(detail.contains("waited for its upgrade request and CONNECT") && detail.contains("starved"), "{detail}");
    }

    #[test]
    fn a_broker_ending_unanswered_a_connection_whose_upgrade_request_came_late_is_a_starved_client_not_a_broker_drop() {
        // At ×30: the request 0.32 s (real) after the connection was accepted, the broker's bare
        // FIN at 0.34 s, no 101: its 10 s handshake timeout raced the late request.
        let mut late = Recorder::new(Watch { speed: 30.0, ..watch() });
        late.bytes(Party::Client, s(0.32), format!("GET /mqtt HTTP/1.1\r\nSec-WebSocket-Key: {KEY}\r\n\r\n").as_bytes());
        late.closed(Party::Broker, s(0.34), SocketEnd::Eof);
        let end = late.finish().end;
        let End::HarnessError { detail } = &end else { panic!("{end:?}") };
        assert!(detail.contains("upgrade request came 9.6 s after") && detail.contains("handshake timeout"), "{detail}");
        // A request sent at once and left unanswered until the broker ended it, at real time, is
        // the broker's end.
        let mut prompt = Recorder::new(watch());
        prompt.bytes(Party::Client, s(0.001), format!("GET /mqtt HTTP/1.1\r\nSec-WebSocket-Key: {KEY}\r\n\r\n").as_bytes());
        prompt.closed(Party::Broker, s(10.2), SocketEnd::Eof);
        let end = prompt.finish().end;
        assert!(matches!(end, End::SocketEnded { how: SocketEnd::Eof, .. }), "{end:?}");
    }

    #[test]
    fn a_whole_upgrade_request_left_unanswered_and_ended_at_once_on_an_accelerated_clock_is_an_error_not_a_broker_drop() {
        // Measured at ×30 with 8 copies: three of 21 connections one broker got in the same
        // millisecond saw a FIN 2 ms after their requests, no 101; the other 18 were answered.
        let unanswered = |speed: f64, how: SocketEnd| {
            let mut r = Recorder::new(Watch { speed, ..watch() });
            r.bytes(Party::Client, s(0.001), format!("GET /mqtt HTTP/1.1\r\nSec-WebSocket-Key: {KEY}\r\n\r\n").as_bytes());
            r.closed(Party::Broker, s(0.003), how);
            r.finish().end
        };
        for how in [SocketEnd::Eof, SocketEnd::Reset] {
            let end = unanswered(30.0, how);
            let End::HarnessError { detail } = &end else { panic!("{end:?}") };
            assert!(detail.contains("without answering it (no 101, no HTTP refusal)") && detail.contains("×30"), "{detail}");
        }
        // At real time the same end is the broker's, as read.
        assert!(matches!(unanswered(1.0, SocketEnd::Eof), End::SocketEnded { how: SocketEnd::Eof, .. }));
        // A refusal is an answer: it stays the broker's at any speed.
        let mut refused = Recorder::new(Watch { speed: 30.0, ..watch() });
        refused.bytes(Party::Client, s(0.001), format!("GET /mqtt HTTP/1.1\r\nSec-WebSocket-Key: {KEY}\r\n\r\n").as_bytes());
        refused.bytes(Party::Broker, s(0.002), b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        refused.closed(Party::Broker, s(0.003), SocketEnd::Eof);
        assert!(matches!(refused.finish().end, End::UpgradeRefused { .. }));
    }

    #[test]
    fn a_close_before_connack_at_the_brokers_connect_timeout_after_a_late_connect_is_a_starved_client_not_a_broker_drop() {
        // Measured at ×30 with 8 copies on Mosquitto 2.1: the CONNECT went out 27 s (0.9 s real)
        // after the connection was accepted, and the broker closed with 1000 at its 30 s
        // timeout for a CONNECT, with no CONNACK.
        let session = |connect_at: f64, close: f64| {
            let mut r = connecting_at_x30(0.13, 0.36, connect_at);
            r.bytes(Party::Broker, s(close), &frame::encode(opcode::CLOSE, &1000u16.to_be_bytes(), false));
            r.bytes(Party::Client, s(close + 0.05), &frame::encode(opcode::CLOSE, &1000u16.to_be_bytes(), true));
            r.closed(Party::Broker, s(close + 0.06), SocketEnd::Eof);
            r.finish().end
        };
        let end = session(0.9, 1.0);
        let End::HarnessError { detail } = &end else { panic!("{end:?}") };
        assert!(detail.contains("CONNECT came 27.0 s after") && detail.contains("timeout for a CONNECT"), "{detail}");
        // Closed before any broker's timeout for a CONNECT: the broker's answer to it.
        let end = session(0.9, 0.95);
        assert!(matches!(end, End::BrokerClosed { .. }), "{end:?}");
        // A CONNECT in the first half of the wait that the broker let lie: the broker's end.
        let end = session(0.4, 1.0);
        assert!(matches!(end, End::BrokerClosed { .. }), "{end:?}");
    }

    #[test]
    fn a_client_that_gave_up_before_a_connack_that_came_after_its_end_never_connected() {
        // ×30, 12 copies: Paho Python's FIN at 55.58 s, the broker's CONNACK read at 55.65 s.
        let mut r = connecting_at_x30(0.0, 0.07, 0.07 + 45.2 / 30.0);
        r.closed(Party::Client, s(0.07 + 55.58 / 30.0), SocketEnd::Eof);
        let connack = frame::encode(opcode::BINARY, &mqtt::encode(&Packet::connack(0)), false);
        r.bytes(Party::Broker, s(0.07 + 55.65 / 30.0), &connack);
        r.closed(Party::Broker, s(0.07 + 59.08 / 30.0), SocketEnd::Eof);
        let end = r.finish().end;
        assert!(matches!(&end, End::HarnessError { detail } if detail.contains("before the broker accepted it")), "{end:?}");
    }

    #[test]
    fn at_x30_a_client_giving_up_as_a_late_connack_came_is_an_error_and_one_refusing_a_prompt_connack_ends_as_it_says() {
        // ×30, 12 copies: Paho Python's CONNECT 36.6 s after the 101, the CONNACK 14.0 s later,
        // the client's FIN 2 ms (broker time) after it.
        let session = |connack_after: f64, end_after: f64| {
            let connect_at = 0.33 + 36.6 / 30.0;
            let mut r = connecting_at_x30(0.0, 0.33, connect_at);
            let connack = frame::encode(opcode::BINARY, &mqtt::encode(&Packet::connack(0)), false);
            let connack_at = connect_at + connack_after / 30.0;
            r.bytes(Party::Broker, s(connack_at), &connack);
            r.closed(Party::Client, s(connack_at + end_after), SocketEnd::Eof);
            r.closed(Party::Broker, s(connack_at + end_after + 0.3), SocketEnd::Eof);
            r.finish().end
        };
        let end = session(14.0, 0.002 / 30.0);
        assert!(matches!(&end, End::HarnessError { detail } if detail.contains("set-up bound ran out on a CONNACK")), "{end:?}");
        // Its reset 1 s (real) after a CONNACK 5.4 s late, with no SUBSCRIBE: the same.
        let end = session(5.4, 1.0);
        assert!(matches!(&end, End::HarnessError { detail } if detail.contains("1000 ms of real time after")), "{end:?}");
        let end = session(0.05, 0.002 / 30.0);
        assert!(matches!(end, End::ClientEnded { .. }), "{end:?}");
    }

    #[test]
    fn a_broker_closing_at_once_on_what_the_client_sent_stays_the_brokers_end_when_no_client_waited() {
        // Mosquitto 2.0.0-2.0.5 closes on the first frame of a split CONNECT: an answer, not a
        // timeout. A wait before the session, or a short one, changes nothing.
        let mut r = Recorder::new(Watch { speed: 30.0, ..watch() });
        r.cpu_waited(s(0.0), s(2.0));
        r.bytes(Party::Client, s(0.0), format!("GET /mqtt HTTP/1.1\r\nSec-WebSocket-Key: {KEY}\r\n\r\n").as_bytes());
        let response = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
        r.bytes(Party::Broker, s(0.01), response.as_bytes());
        r.cpu_waited(s(0.2), s(0.03));
        r.bytes(Party::Client, s(0.2), &frame::encode(opcode::BINARY, &[0x10, 0x20], true));
        r.closed(Party::Broker, s(0.21), SocketEnd::Eof);
        let end = r.finish().end;
        assert!(matches!(end, End::SocketEnded { how: SocketEnd::Eof, .. }), "{end:?}");
    }

    #[test]
    fn a_profile_that_keeps_its_pong_back_on_purpose_is_never_excused_as_starved() {
        let mut r = keeping_alive_at_x30_as("no-pong");
        r.bytes(Party::Broker, s(11.0), &frame::encode(opcode::PING, b"", false));
        r.cpu_waited(s(11.3), s(0.3));
        r.closed(Party::Broker, s(11.0 + 10.0 / 30.0), SocketEnd::Eof);
        let end = r.finish().end;
        assert!(is_eof_at_310(&end), "{end:?}");
    }

    #[test]
    fn a_ping_answered_in_time_is_no_starvation_whatever_the_waits() {
        let mut r = keeping_alive_at_x30();
        r.bytes(Party::Broker, s(11.0), &frame::encode(opcode::PING, b"", false));
        r.bytes(Party::Client, s(11.1), &frame::encode(opcode::PONG, b"", true));
        r.cpu_waited(s(11.3), s(1.0));
        r.closed(Party::Broker, s(11.0 + 10.0 / 30.0), SocketEnd::Eof);
        let end = r.finish().end;
        assert!(is_eof_at_310(&end), "{end:?}");
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

    /// A recorder past a v5 CONNECT, the upgrade and a v5 CONNACK with properties at 1 s.
    fn connected_v5() -> Recorder {
        let mut r = Recorder::new(Watch { protocol: Protocol::V5, ..watch() });
        let request = format!("GET /mqtt HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: {KEY}\r\n\r\n");
        r.bytes(Party::Client, s(0.0), request.as_bytes());
        let response = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
        r.bytes(Party::Broker, s(1.0), response.as_bytes());
        let connect = Packet::Connect {
            protocol: Protocol::V5,
            client_id: "c".into(),
            username: None,
            password: None,
            keepalive: 60,
            properties: mqtt::Properties::default(),
        };
        r.bytes(Party::Client, s(1.0), &frame::encode(opcode::BINARY, &mqtt::encode(&connect), true));
        // Mosquitto's v5 CONNACK: flags, reason 0, topic alias maximum 10, receive maximum 20.
        let connack = [0x20, 0x09, 0x00, 0x00, 0x06, 0x22, 0x00, 0x0a, 0x21, 0x00, 0x14];
        r.bytes(Party::Broker, s(1.001), &frame::encode(opcode::BINARY, &connack, false));
        r
    }

    #[test]
    fn a_v5_connack_with_properties_connects_and_is_in_the_transcript() {
        let mut r = connected_v5();
        assert!(r.connected());
        r.bytes(Party::Client, s(2.0), &frame::encode(opcode::BINARY, &mqtt::encode(&Packet::DISCONNECT), true));
        let rec = r.finish();
        assert!(rec.connected);
        let connack = rec.wire.iter().find(|w| w.what.starts_with("MQTT CONNACK")).expect("the CONNACK is in the transcript");
        assert_eq!(connack.what, "MQTT CONNACK 0 (connection accepted); topic alias maximum 10, receive maximum 20");
        assert!(rec.wire.iter().any(|w| w.what.starts_with("MQTT CONNECT 5 ")));
    }

    #[test]
    fn a_v5_disconnect_from_the_broker_is_the_end_with_its_reason_code() {
        let mut r = connected_v5();
        let ping = frame::encode(opcode::BINARY, &mqtt::encode(&Packet::PingReq), true);
        r.bytes(Party::Client, s(61.0), &ping);
        r.bytes(Party::Broker, s(61.001), &frame::encode(opcode::BINARY, &[0xd0, 0], false));
        r.bytes(Party::Broker, s(100.0), &frame::encode(opcode::BINARY, &[0xe0, 2, 0x8d, 0], false));
        r.closed(Party::Broker, s(100.001), SocketEnd::Eof);
        r.closed(Party::Client, s(100.002), SocketEnd::Eof);
        let rec = r.finish();
        assert_eq!(rec.end, End::BrokerDisconnected { at: s(99.0), reason: 0x8d, reason_string: None });
        assert!(rec.wire.iter().any(|w| w.what == "MQTT DISCONNECT 0x8D (keep alive timeout)"), "{:?}", rec.wire);
        let v = crate::judge::verdict::decide(&rec);
        assert!(v.cause.starts_with("broker sent DISCONNECT 0x8D (keep alive timeout) at 99.0 s"), "{}", v.cause);
    }

    #[test]
    fn a_client_whose_connect_asks_for_another_version_than_it_was_told_is_an_error() {
        // A hold program that ignores MATRIX_PROTOCOL=5 and connects with 3.1.1 (over TCP here).
        let mut told = Recorder::new(Watch { protocol: Protocol::V5, transport: Transport::Tcp, ..watch() });
        let connect = Packet::Connect {
            protocol: Protocol::V311,
            client_id: "c".into(),
            username: None,
            password: None,
            keepalive: 60,
            properties: mqtt::Properties::default(),
        };
        told.bytes(Party::Client, s(0.5), &mqtt::encode(&connect));
        told.closed(Party::Client, s(0.6), SocketEnd::Eof);
        let end = told.finish().end;
        assert!(
            matches!(&end, End::HarnessError { detail } if detail == "the client's CONNECT asked for MQTT 3.1.1, not the MQTT 5 it was told to speak (MATRIX_PROTOCOL)"),
            "{end:?}"
        );
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
