//! A built-in profile playing the client: bytes from the broker and the time in; bytes to
//! write, events and at most one end out. No socket, no clock: the session drives it.

use std::collections::VecDeque;
use std::time::Duration;

use crate::client::behaviour::{self, react, Reaction};
use crate::client::contract::keepalive_secs;
use crate::client::core::inbound::{Inbound, Item};
use crate::client::core::state::{Event, Rules, State, VERSION_TOPIC};
use crate::judge::record::{End, FrameSeen, Party, RoundTrip, SessionRecord, SocketEnd};
use crate::plan::{Profile, Timing, Transport};
use crate::wire::frame::{self, opcode, RawFrame};
use crate::wire::mqtt::{self, Packet, Properties, Protocol};

/// Who the player is and what it asks of the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The profile played.
    pub profile: Profile,
    /// The protocol of its CONNECT.
    pub protocol: Protocol,
    /// Durations (real time: the player runs at speed 1).
    pub timing: Timing,
    /// MQTT client identifier.
    pub client_id: String,
    /// MQTT user name.
    pub username: String,
    /// MQTT password.
    pub password: String,
    /// The topic of the round trip.
    pub topic: String,
}

/// What one call produced: bytes to write (in order), events, and the end if it came.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// Bytes to write to the broker, in order.
    pub out: Vec<u8>,
    /// What happened.
    pub events: Vec<Event>,
    /// The session's end: write `out`, then close.
    pub end: Option<End>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Before the session's bytes start (the upgrade is the driver's).
    Opening,
    AwaitConnAck { deadline: Duration },
    Holding { until: Duration },
    RoundTrip { deadline: Duration },
    Over,
}

/// The client side of one session, without I/O. Times are since the TCP connection opened.
#[derive(Debug)]
pub struct Player {
    script: Script,
    ws: bool,
    state: State,
    inbound: Inbound,
    phase: Phase,
    next_pingreq: Option<Duration>,
    pending_pongs: VecDeque<(Duration, Vec<u8>)>,
}

impl Player {
    /// A player for `script`, before any byte.
    pub fn new(script: Script) -> Player {
        let t = &script.timing;
        let transport = script.profile.transport();
        let record = SessionRecord::new(script.profile, t.hold, t.keepalive, &script.client_id);
        let rules =
            Rules { transport, hold: t.hold, keepalive: t.keepalive, topic: script.topic.clone(), speed: 1.0, protocol: script.protocol, withholds_pong: false };
        let ws = transport == Transport::Ws;
        Player {
            state: State::new(rules, script.protocol, record),
            inbound: Inbound::new(ws, script.protocol),
            ws,
            script,
            phase: Phase::Opening,
            next_pingreq: None,
            pending_pongs: VecDeque::new(),
        }
    }

    /// The session starts at `now`: after the broker's 101 over WebSocket (with the
    /// subprotocol it chose), at once over TCP. Sends CONNECT.
    pub fn open(&mut self, now: Duration, subprotocol: Option<String>) -> Step {
        if self.ws {
            self.state.upgraded(now, subprotocol);
        }
        // The upgrade request went before; the CONNECT goes now.
        self.state.client_sent(now);
        self.phase = Phase::AwaitConnAck { deadline: now + self.script.timing.setup_timeout };
        let connect = Packet::Connect {
            protocol: self.script.protocol,
            client_id: self.script.client_id.clone(),
            username: Some(self.script.username.clone()),
            password: Some(self.script.password.clone().into_bytes()),
            keepalive: keepalive_secs(self.script.timing.keepalive),
            properties: Properties::default(),
        };
        let mut step = Step::default();
        self.send_packet(now, &connect, &mut step);
        step
    }

    /// When the player next needs [`Player::tick`], whatever arrives.
    pub fn next_wake(&self) -> Option<Duration> {
        let phase = match self.phase {
            Phase::AwaitConnAck { deadline } | Phase::RoundTrip { deadline } => Some(deadline),
            Phase::Holding { until } => Some(until),
            Phase::Opening | Phase::Over => None,
        };
        [phase, self.next_pingreq, self.state.pingresp_deadline(), self.pending_pongs.front().map(|p| p.0)].into_iter().flatten().min()
    }

    /// Bytes the broker sent, read at `now`.
    pub fn input(&mut self, now: Duration, data: &[u8]) -> Step {
        let mut step = Step::default();
        if self.phase == Phase::Over {
            return step;
        }
        self.inbound.push(data);
        loop {
            let item = match self.inbound.next_item() {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e) => {
                    self.state.broker_bad_bytes(now, format!("broker sent {e}"));
                    self.finish_with(self.state.decide(), &mut step);
                    break;
                }
            };
            match item {
                Item::Frame(f) => self.on_frame(now, f, &mut step),
                Item::Packet(p) => self.on_packet(now, p, &mut step),
            }
            if step.end.is_some() {
                break;
            }
        }
        step
    }

    /// The time is `now`: deadlines, the hold's end, PINGREQs and delayed PONGs.
    pub fn tick(&mut self, now: Duration) -> Step {
        let mut step = Step::default();
        match self.phase {
            Phase::Over => return step,
            Phase::AwaitConnAck { deadline } if now >= deadline => {
                let detail = format!("no CONNACK within {:?} of CONNECT", self.script.timing.setup_timeout);
                self.finish_with(Some(End::HarnessError { detail }), &mut step);
                return step;
            }
            Phase::Holding { until } if now >= until => {
                let payload = format!("alive {:016x}", rand::random::<u64>()).into_bytes();
                let publish = Packet::Publish { topic: self.script.topic.clone(), payload, retain: false };
                self.send_packet(now, &publish, &mut step);
                self.phase = Phase::RoundTrip { deadline: now + self.script.timing.round_trip_timeout };
            }
            Phase::RoundTrip { deadline } if now >= deadline => {
                let waited = self.state.round_trip().map_or(Duration::ZERO, |(sent, _)| now.saturating_sub(sent));
                self.finish_with(Some(End::HoldCompleted { round_trip: RoundTrip::Lost { waited } }), &mut step);
                return step;
            }
            _ => {}
        }
        if let (Some(deadline), Some(sent)) = (self.state.pingresp_deadline(), self.state.pingreq_at()) {
            if now >= deadline {
                let end = End::PingRespMissing { at: self.state.rel(now), pingreq_at: self.state.rel(sent) };
                self.finish_with(Some(end), &mut step);
                return step;
            }
        }
        if let Some(due) = self.next_pingreq {
            if now >= due {
                self.next_pingreq = Some(now + self.state.keepalive());
                if self.state.pingreq_at().is_none() {
                    self.send_packet(now, &Packet::PingReq, &mut step);
                }
            }
        }
        while self.pending_pongs.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, payload)) = self.pending_pongs.pop_front() {
                self.send_frame(now, opcode::PONG, &payload, true, &mut step);
            }
        }
        step
    }

    /// The broker's side of the TCP connection ended at `now` (or a write to it failed).
    pub fn closed(&mut self, now: Duration, how: SocketEnd) -> Step {
        let mut step = Step::default();
        if self.phase != Phase::Over {
            self.state.closed(Party::Broker, now, how);
            self.finish_with(self.state.decide(), &mut step);
        }
        step
    }

    /// The harness stops the session at `now` (Ctrl-C, SIGTERM): a session CONNACK accepted
    /// says goodbye as at the hold's end (DISCONNECT, then the close frame over WebSocket), and
    /// the session ends as the harness's error `why`. Nothing to send once it is over.
    pub fn stop(&mut self, now: Duration, why: &str) -> Step {
        let mut step = Step::default();
        if self.phase == Phase::Over {
            return step;
        }
        if self.state.connected() {
            self.send_packet(now, &Packet::DISCONNECT, &mut step);
            if self.ws {
                let goodbye = behaviour::goodbye_close_payload(self.script.profile);
                self.send_frame(now, opcode::CLOSE, &goodbye, true, &mut step);
            }
        }
        self.finish_with(Some(End::HarnessError { detail: why.to_string() }), &mut step);
        step
    }

    /// Whether the CONNACK accepted the session.
    pub fn connected(&self) -> bool {
        self.state.connected()
    }

    /// The record, ended by `end`.
    pub fn finish(self, end: End) -> SessionRecord {
        self.state.finish(end)
    }

    fn finish_with(&mut self, end: Option<End>, step: &mut Step) {
        if let Some(end) = end {
            self.phase = Phase::Over;
            step.end = Some(end);
        }
    }

    fn on_frame(&mut self, now: Duration, f: RawFrame, step: &mut Step) {
        self.state.frame(Party::Broker, now, &f);
        let trigger = FrameSeen {
            at: self.state.rel(now),
            direction: crate::judge::record::Direction::Received,
            opcode: f.opcode,
            payload_len: f.payload.len(),
            masked: f.masked,
        };
        match react(self.script.profile, &f, self.script.timing.late_pong) {
            Reaction::GiveUp { close_payload, why } => {
                if let Some(payload) = close_payload {
                    self.send_frame(now, opcode::CLOSE, &payload, true, step);
                }
                self.finish_with(Some(End::ClientGaveUp { at: trigger.at, trigger, why }), step);
                return;
            }
            Reaction::Pong { payload, masked, after } if after.is_zero() => self.send_frame(now, opcode::PONG, &payload, masked, step),
            Reaction::Pong { payload, after, .. } => self.pending_pongs.push_back((now + after, payload)),
            Reaction::Data | Reaction::Ignore => {}
        }
        if f.opcode == opcode::CLOSE {
            // Echo the close as RFC 6455 §5.5.1 asks; the session is over either way.
            self.send_frame(now, opcode::CLOSE, &f.payload[..f.payload.len().min(2)], true, step);
            self.finish_with(self.state.decide(), step);
        }
    }

    fn on_packet(&mut self, now: Duration, p: Packet, step: &mut Step) {
        let event = self.state.packet(Party::Broker, now, &p);
        match event {
            Some(Event::Connected) if matches!(self.phase, Phase::AwaitConnAck { .. }) => {
                self.phase = Phase::Holding { until: now + self.script.timing.hold };
                self.next_pingreq = Some(now + self.state.keepalive());
                let subscribe = Packet::Subscribe { id: 1, filters: vec![VERSION_TOPIC.to_string(), self.script.topic.clone()] };
                self.send_packet(now, &subscribe, step);
            }
            Some(Event::Echoed) => {
                let rtt = self.state.round_trip().map_or(Duration::ZERO, |(sent, _)| now.saturating_sub(sent));
                self.send_packet(now, &Packet::DISCONNECT, step);
                if self.ws {
                    let goodbye = behaviour::goodbye_close_payload(self.script.profile);
                    self.send_frame(now, opcode::CLOSE, &goodbye, true, step);
                }
                self.finish_with(Some(End::HoldCompleted { round_trip: RoundTrip::Echoed { rtt } }), step);
                return;
            }
            Some(Event::Ends) => {
                self.finish_with(self.state.decide(), step);
                return;
            }
            _ => {}
        }
        if let Some(event) = event {
            step.events.push(event);
        }
    }

    fn send_packet(&mut self, now: Duration, p: &Packet, step: &mut Step) {
        self.state.packet(Party::Client, now, p);
        let bytes = mqtt::encode_as(p, self.script.protocol);
        if !self.ws {
            step.out.extend_from_slice(&bytes);
            return;
        }
        for piece in behaviour::pieces(self.script.profile, &bytes) {
            step.out.extend_from_slice(&frame::encode(opcode::BINARY, piece, true));
        }
    }

    fn send_frame(&mut self, now: Duration, op: u8, payload: &[u8], masked: bool, step: &mut Step) {
        let f = RawFrame { opcode: op, fin: true, masked, payload: payload.to_vec() };
        self.state.frame(Party::Client, now, &f);
        step.out.extend_from_slice(&frame::encode(op, payload, masked));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::verdict;
    use crate::plan::Outcome;
    use crate::wire::mqtt::{property, Property, Value};
    use bytes::BytesMut;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn script(profile: Profile, protocol: Protocol) -> Script {
        Script {
            profile,
            protocol,
            timing: Timing { hold: ms(1000), keepalive: ms(100), late_pong: ms(300), setup_timeout: ms(500), round_trip_timeout: ms(200) },
            client_id: "c".into(),
            username: "u".into(),
            password: "p".into(),
            topic: "test/c".into(),
        }
    }

    /// Every frame in `out`, unmasked.
    fn frames(out: &[u8]) -> Vec<RawFrame> {
        let mut buf = BytesMut::from(out);
        std::iter::from_fn(|| frame::decode(&mut buf).expect("the player writes valid frames")).collect()
    }

    /// Every packet in `out` (WebSocket frames' payloads joined).
    fn packets(out: &[u8], protocol: Protocol) -> Vec<Packet> {
        let data: Vec<u8> = frames(out).into_iter().filter(|f| f.opcode == opcode::BINARY).flat_map(|f| f.payload).collect();
        let mut buf = BytesMut::from(&data[..]);
        std::iter::from_fn(|| mqtt::decode_as(&mut buf, protocol).expect("the player writes valid packets")).collect()
    }

    /// A broker's binary frame holding `p`.
    fn from_broker(p: &Packet, protocol: Protocol) -> Vec<u8> {
        frame::encode(opcode::BINARY, &mqtt::encode_as(p, protocol), false)
    }

    /// A player past the 101 at 10 ms and an accepting CONNACK at 20 ms.
    fn connected(profile: Profile, protocol: Protocol, connack: Packet) -> (Player, Step) {
        let mut p = Player::new(script(profile, protocol));
        let open = p.open(ms(10), Some("mqtt".into()));
        assert!(matches!(&packets(&open.out, protocol)[..], [Packet::Connect { protocol: asked, keepalive: 1, .. }] if *asked == protocol));
        let step = p.input(ms(20), &from_broker(&connack, protocol));
        (p, step)
    }

    #[test]
    fn a_v5_connack_with_properties_connects_and_its_server_keep_alive_sets_the_pingreq_interval() {
        let connack = Packet::ConnAck {
            code: 0,
            properties: mqtt::Properties(vec![
                Property { id: property::SERVER_KEEP_ALIVE, value: Value::U16(2) },
                Property { id: property::ASSIGNED_CLIENT_IDENTIFIER, value: Value::Str("auto-1".into()) },
            ]),
        };
        let mut s = script(Profile::Rfc6455, Protocol::V5);
        s.timing.hold = ms(5000);
        let mut p = Player::new(s);
        p.open(ms(10), Some("mqtt".into()));
        let step = p.input(ms(20), &from_broker(&connack, Protocol::V5));
        assert_eq!(step.events, vec![Event::Connected]);
        assert!(matches!(&packets(&step.out, Protocol::V5)[..], [Packet::Subscribe { id: 1, filters }] if filters[1] == "test/c"));
        // The broker's 2 s replace the 100 ms asked: no PINGREQ at 120 ms, one at 2020 ms.
        assert_eq!(p.next_wake(), Some(ms(2020)));
        assert!(p.tick(ms(120)).out.is_empty());
        assert_eq!(packets(&p.tick(ms(2020)).out, Protocol::V5), vec![Packet::PingReq]);
    }

    #[test]
    fn a_v5_disconnect_with_a_reason_ends_the_session_with_that_reason_in_the_cause() {
        let (mut p, _) = connected(Profile::Rfc6455, Protocol::V5, Packet::connack(0));
        let disconnect = Packet::Disconnect {
            reason: 0x8D,
            properties: mqtt::Properties(vec![Property { id: property::REASON_STRING, value: Value::Str("keepalive".into()) }]),
        };
        let step = p.input(ms(310), &from_broker(&disconnect, Protocol::V5));
        let end = step.end.expect("the broker's DISCONNECT ends the session");
        assert_eq!(end, End::BrokerDisconnected { at: ms(300), reason: 0x8D, reason_string: Some("keepalive".into()) });
        let v = verdict::decide(&p.finish(end));
        assert_eq!(v.outcome, Outcome::Eof);
        assert!(v.cause.starts_with("broker sent DISCONNECT 0x8D (keep alive timeout), reason string \"keepalive\" at 0.3 s"), "{}", v.cause);
    }

    #[test]
    fn a_pingreq_without_pingresp_is_missing_one_keepalive_later_to_the_millisecond() {
        let (mut p, _) = connected(Profile::Rfc6455, Protocol::V311, Packet::connack(0));
        assert_eq!(packets(&p.tick(ms(120)).out, Protocol::V311), vec![Packet::PingReq]);
        assert_eq!(p.next_wake(), Some(ms(220)));
        let step = p.tick(ms(219));
        assert_eq!(step, Step::default());
        let end = p.tick(ms(220)).end.expect("the deadline passed");
        assert_eq!(end, End::PingRespMissing { at: ms(210), pingreq_at: ms(110) });
    }

    #[test]
    fn a_pingresp_in_time_keeps_the_session_and_the_next_pingreq_goes_a_keepalive_later() {
        let (mut p, _) = connected(Profile::Rfc6455, Protocol::V311, Packet::connack(0));
        p.tick(ms(120));
        assert_eq!(p.input(ms(150), &from_broker(&Packet::PingResp, Protocol::V311)), Step::default());
        assert_eq!(p.next_wake(), Some(ms(220)));
        assert_eq!(packets(&p.tick(ms(220)).out, Protocol::V311), vec![Packet::PingReq]);
    }

    #[test]
    fn a_ping_gets_a_masked_pong_with_its_payload_and_late_pong_waits() {
        let (mut p, _) = connected(Profile::Rfc6455, Protocol::V311, Packet::connack(0));
        let pong = frames(&p.input(ms(50), &frame::encode(opcode::PING, b"xy", false)).out);
        assert_eq!(pong, vec![RawFrame { opcode: opcode::PONG, fin: true, masked: true, payload: b"xy".to_vec() }]);
        let (mut late, _) = connected(Profile::LatePong, Protocol::V311, Packet::connack(0));
        assert!(late.input(ms(50), &frame::encode(opcode::PING, b"", false)).out.is_empty());
        assert_eq!(late.next_wake(), Some(ms(120)), "the PINGREQ first");
        late.tick(ms(120));
        late.input(ms(121), &from_broker(&Packet::PingResp, Protocol::V311));
        assert_eq!(late.next_wake(), Some(ms(220)));
        assert!(frames(&late.tick(ms(350)).out).iter().any(|f| f.opcode == opcode::PONG));
    }

    #[test]
    fn the_round_trip_after_the_hold_ends_the_session_with_disconnect_and_close() {
        let (mut p, _) = connected(Profile::Rfc6455, Protocol::V5, Packet::connack(0));
        for t in (120..1020).step_by(100) {
            p.tick(ms(t));
            p.input(ms(t + 1), &from_broker(&Packet::PingResp, Protocol::V5));
        }
        let sent = packets(&p.tick(ms(1020)).out, Protocol::V5);
        let Some(Packet::Publish { topic, payload, .. }) = sent.iter().find(|p| matches!(p, Packet::Publish { .. })) else { panic!("{sent:?}") };
        let echo = Packet::Publish { topic: topic.clone(), payload: payload.clone(), retain: false };
        let step = p.input(ms(1025), &from_broker(&echo, Protocol::V5));
        assert_eq!(step.end, Some(End::HoldCompleted { round_trip: RoundTrip::Echoed { rtt: ms(5) } }));
        assert_eq!(packets(&step.out, Protocol::V5), vec![Packet::DISCONNECT]);
        assert_eq!(frames(&step.out).last().map(|f| f.opcode), Some(opcode::CLOSE));
    }

    #[test]
    fn a_stopped_session_says_disconnect_and_close_then_ends_as_the_harness_stopping_it() {
        let (mut p, _) = connected(Profile::Rfc6455, Protocol::V311, Packet::connack(0));
        let step = p.stop(ms(500), "stopped by SIGINT");
        assert_eq!(packets(&step.out, Protocol::V311), vec![Packet::DISCONNECT]);
        assert_eq!(frames(&step.out).last().map(|f| f.opcode), Some(opcode::CLOSE));
        assert_eq!(step.end, Some(End::HarnessError { detail: "stopped by SIGINT".into() }));
        assert_eq!(p.stop(ms(600), "again"), Step::default(), "a session over says nothing more");
    }

    #[test]
    fn a_wrong_payload_on_the_topic_is_no_round_trip_and_silence_is_lost() {
        let (mut p, _) = connected(Profile::Rfc6455, Protocol::V311, Packet::connack(0));
        p.tick(ms(1020));
        let other = Packet::Publish { topic: "test/c".into(), payload: b"someone else".to_vec(), retain: false };
        assert_eq!(p.input(ms(1021), &from_broker(&other, Protocol::V311)).end, None);
        assert_eq!(p.tick(ms(1220)).end, Some(End::HoldCompleted { round_trip: RoundTrip::Lost { waited: ms(200) } }));
    }

    #[test]
    fn paho_gives_up_on_a_ping_with_the_ascii_close_payload() {
        let (mut p, _) = connected(Profile::PahoJava125, Protocol::V311, Packet::connack(0));
        let step = p.input(ms(310), &frame::encode(opcode::PING, b"", false));
        assert_eq!(frames(&step.out), vec![RawFrame { opcode: opcode::CLOSE, fin: true, masked: true, payload: b"1000".to_vec() }]);
        assert!(matches!(step.end, Some(End::ClientGaveUp { at, .. }) if at == ms(300)));
    }

    #[test]
    fn fragmented_writes_its_connect_as_thirteen_frames() {
        let mut s = script(Profile::Fragmented, Protocol::V311);
        s.client_id = "mm-0123456789ab".into();
        s.username = "matrix".into();
        s.password = "matrix-test-only".into();
        let mut p = Player::new(s);
        let sizes: Vec<usize> = frames(&p.open(ms(0), Some("mqtt".into())).out).iter().map(|f| f.payload.len()).collect();
        assert_eq!(sizes, [1, 1, 2, 4, 1, 1, 2, 2, 15, 2, 6, 2, 16]);
    }

    #[test]
    fn bytes_that_are_no_v5_connack_end_the_session_naming_the_field() {
        let mut p = Player::new(script(Profile::Rfc6455, Protocol::V5));
        p.open(ms(0), Some("mqtt".into()));
        let step = p.input(ms(5), &frame::encode(opcode::BINARY, &[0x20, 3, 0, 0, 7], false));
        let Some(End::BadBytes { at, detail }) = step.end else { panic!("{:?}", step.end) };
        assert_eq!(at, ms(5));
        assert!(detail.contains("property length 7 runs past the packet"), "{detail}");
    }

    #[test]
    fn a_tcp_session_counts_from_connack_and_a_ws_one_from_the_101() {
        let mut tcp = Player::new(script(Profile::Tcp, Protocol::V311));
        tcp.open(ms(10), None);
        tcp.input(ms(30), &mqtt::encode(&Packet::connack(0)));
        assert_eq!(tcp.closed(ms(130), SocketEnd::Eof).end, Some(End::SocketEnded { at: ms(100), how: SocketEnd::Eof }));
        let (mut ws, _) = connected(Profile::Rfc6455, Protocol::V311, Packet::connack(0));
        assert_eq!(ws.closed(ms(130), SocketEnd::Eof).end, Some(End::SocketEnded { at: ms(120), how: SocketEnd::Eof }));
    }

    #[test]
    fn after_its_end_the_player_writes_nothing_and_ends_no_more() {
        let (mut p, _) = connected(Profile::Rfc6455, Protocol::V311, Packet::connack(0));
        p.tick(ms(120));
        assert!(p.tick(ms(220)).end.is_some(), "the PINGRESP is missing");
        assert_eq!(p.tick(ms(320)), Step::default());
        assert_eq!(p.input(ms(321), &frame::encode(opcode::PING, b"", false)), Step::default());
        assert_eq!(p.closed(ms(322), SocketEnd::Eof), Step::default());
    }

    #[test]
    fn no_connack_within_the_setup_timeout_is_a_harness_error() {
        let mut p = Player::new(script(Profile::Rfc6455, Protocol::V311));
        p.open(ms(0), Some("mqtt".into()));
        assert_eq!(p.next_wake(), Some(ms(500)));
        assert!(matches!(p.tick(ms(500)).end, Some(End::HarnessError { .. })));
    }
}
