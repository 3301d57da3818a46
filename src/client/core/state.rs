//! The rules of a session, observed from both directions: where its times count from,
//! when it is connected, what a missing PINGRESP is, what counts as the round trip, how it
//! ended. The player and the recorder both feed it; neither decides these by itself.

use std::time::Duration;

use crate::judge::record::{ClientEnd, Direction, End, FrameSeen, Party, RoundTrip, SessionRecord, SocketEnd};
use crate::plan::{Transport, LWS_PONG_WINDOW};
use crate::wire::frame::{self, opcode, RawFrame};
use crate::wire::mqtt::{property, Packet, Protocol, Value};

/// The topic whose retained message tells the broker's version.
pub const VERSION_TOPIC: &str = "$SYS/broker/version";

/// A broker frame this close before the client's end (in real time: a client's reaction is
/// its CPU's, which an accelerated clock multiplies) is what the client answered.
const ANSWER_WINDOW: Duration = Duration::from_secs(1);

/// A client's publish counts as the round trip once this share of the hold has passed
/// (slack for the real clients' own timers).
const HOLD_SLACK: f64 = 0.98;

/// How long a broker waits for a silent client, in keepalives (MQTT 3.1.1 §3.1.2.10,
/// MQTT 5 §3.1.2.10): past it the broker's drop is the client's doing.
const BROKER_PATIENCE: f64 = 1.5;

/// An observer reads a client's PINGREQ and its end as they pass the proxy, each a little
/// after the client wrote it: an end this share of a keepalive before the PINGRESP deadline
/// is still the client keeping that deadline.
const OBSERVED_SLACK: f64 = 0.05;

/// A client that has sent nothing this long (broker time) after its connection was accepted
/// is not speaking: a broker that then ends the connection ends a silent client by its own
/// handshake timeout (libwebsockets' for a missing upgrade request), not the session. A
/// working client writes its upgrade request or CONNECT within milliseconds of connecting.
const SPEECHLESS: Duration = Duration::from_secs(1);

/// The least time after its connection was accepted at which a broker ends, by its own
/// timeout, a connection whose CONNECT it has not read: Mosquitto 2.1 (its own WebSocket code)
/// holds a new connection to a keepalive of 20 s, which its 1.5 × patience makes 30 s, checked
/// once a second of its clock. Measured at ×30 with 8 copies: a client that had its CONNECT
/// out 27 s (0.9 s real) after connecting got a close 1000 and no CONNACK at 30 s.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(29);

/// The least real time a client may owe the broker something before the broker's end may be
/// the client's starvation: a broker answers what a client sent sooner.
const MIN_SILENCE: Duration = Duration::from_millis(100);
/// How close (real time) the end of a wait to run must come to a read for the read to count as
/// late by that wait: the meter ticks every 5 ms and notes waits of 20 ms or more.
const READ_NEAR: Duration = Duration::from_millis(20);

/// How much shorter than libwebsockets' window a PING-to-hang-up gap may read and still be the
/// whole window: at ×30 a proxy reads the two up to 30 ms (real) apart from when they left.
const WINDOW_SLACK: Duration = Duration::from_secs(1);

/// How late (broker time) a broker may run before a session it ends, or one its client ends
/// on nothing of the broker's, stops being a measurement on an accelerated clock: half of
/// libwebsockets' PONG window ([`State::overrun`]).
const OVERRUN: Duration = Duration::from_secs(5);

/// What a client owes a broker after its PING ([`State::owed`]).
const OWED_PONG: &str = "its answer to the broker's PING";

/// What the rules need to know about the session.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// ws or tcp.
    pub transport: Transport,
    /// The hold asked of the client, from CONNACK.
    pub hold: Duration,
    /// The keepalive asked of the client.
    pub keepalive: Duration,
    /// The topic of the round trip.
    pub topic: String,
    /// Broker seconds per real second (1 unless the clocks run faster).
    pub speed: f64,
    /// The MQTT version the client was told to speak: a CONNECT asking for another makes the
    /// session no measurement of that version.
    pub protocol: Protocol,
    /// The client keeps back its PONG on purpose (`Profile::withholds_pong`): it never owes one.
    pub withholds_pong: bool,
}

/// What the state learnt from a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// CONNACK accepted the session.
    Connected,
    /// The client's publish after the hold came back from the broker.
    Echoed,
    /// Something that ends the session arrived (a refusing CONNACK, the broker's DISCONNECT).
    Ends,
}

/// Something that ended the session, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
enum Ending {
    BrokerClose { code: Option<u16>, reason: String },
    BrokerDisconnect { reason: u8, reason_string: Option<String> },
    BrokerSocket(SocketEnd),
    BrokerBadBytes(String),
    Client(ClientEnd),
}

/// One session's state, fed by both directions with times in broker time since the
/// connection began.
#[derive(Debug)]
pub struct State {
    rules: Rules,
    /// The protocol the client's CONNECT asked for.
    pub protocol: Protocol,
    zero: Option<Duration>,
    /// The version a CONNECT asked for when it was not the one the client was told.
    wrong_protocol: Option<Protocol>,
    connack_at: Option<Duration>,
    refused_upgrade: Option<String>,
    refused_connack: Option<u8>,
    /// The keepalive the session runs by: the one asked, or the broker's Server Keep Alive.
    keepalive: Duration,
    /// The keepalive the client's CONNECT declared: the one the broker holds it to.
    declared_keepalive: Option<Duration>,
    pingreq: Option<Duration>,
    published: Option<(Duration, Vec<u8>)>,
    echoed: Option<Duration>,
    last_from_client: Option<Duration>,
    /// When the client's first byte went out, if one did.
    first_from_client: Option<Duration>,
    /// When the client's latest bytes before the session's end went out.
    latest_from_client: Option<Duration>,
    /// When the client's CONNECT went by whole.
    connect_at: Option<Duration>,
    /// When the client's upgrade request went by whole (seen by a proxy).
    request_at: Option<Duration>,
    longest_silence: Duration,
    /// The longest the broker took to answer a PINGREQ of the client's (broker time): how late
    /// its own timers may have run while the session held (its CONNACK, at the start, may
    /// wait on a broker still warming up).
    broker_lag: Duration,
    ending: Option<(Duration, Ending)>,
    /// Waits to run of a thread at the clients' priority or of the proxies (`client::meter`):
    /// when each ended, in broker time since the connection began, and how long it was, in real
    /// time.
    cpu_waits: Vec<(Duration, Duration)>,
    /// The record being filled (frames, version, subprotocol); its end is set by [`State::finish`].
    pub record: SessionRecord,
}

impl State {
    /// A fresh session under `rules`, filling `record`.
    pub fn new(rules: Rules, protocol: Protocol, record: SessionRecord) -> State {
        State {
            keepalive: rules.keepalive,
            rules,
            protocol,
            zero: None,
            request_at: None,
            wrong_protocol: None,
            connack_at: None,
            refused_upgrade: None,
            refused_connack: None,
            declared_keepalive: None,
            pingreq: None,
            published: None,
            echoed: None,
            last_from_client: None,
            first_from_client: None,
            latest_from_client: None,
            connect_at: None,
            longest_silence: Duration::ZERO,
            broker_lag: Duration::ZERO,
            ending: None,
            cpu_waits: Vec::new(),
            record,
        }
    }

    /// Whether CONNACK accepted the session.
    pub fn connected(&self) -> bool {
        self.connack_at.is_some()
    }

    /// When CONNACK accepted the session: the hold counts from here.
    pub fn connack_at(&self) -> Option<Duration> {
        self.connack_at
    }

    /// The keepalive the session runs by (the broker's Server Keep Alive overrides the one asked).
    pub fn keepalive(&self) -> Duration {
        self.keepalive
    }

    /// When the PINGREQ that waits for its PINGRESP was sent, if one does.
    pub fn pingreq_at(&self) -> Option<Duration> {
        self.pingreq
    }

    /// The session's zero, once reached (`judge::record::TimeZero`).
    pub fn zero(&self) -> Option<Duration> {
        self.zero
    }

    /// Time after the session's zero (zero before it).
    pub fn rel(&self, t: Duration) -> Duration {
        self.zero.map_or(Duration::ZERO, |z| t.saturating_sub(z))
    }

    /// When a PINGRESP is overdue: one keepalive after its PINGREQ, as the clients measured
    /// here give up (Paho, rumqttc: at their next keepalive tick). The one place this is decided.
    pub fn pingresp_deadline(&self) -> Option<Duration> {
        self.pingreq.map(|sent| sent + self.keepalive)
    }

    /// The broker accepted the WebSocket upgrade: a WebSocket session's times count from here.
    pub fn upgraded(&mut self, t: Duration, subprotocol: Option<String>) {
        if self.zero.is_none() {
            self.record.upgrade_span = self.request_at.map(|r| t.saturating_sub(r));
        }
        self.zero.get_or_insert(t); // TimeZero::Upgrade
        self.record.subprotocol = subprotocol;
    }

    /// The client's whole upgrade request went by (a proxy saw it): the broker's timers start
    /// between it and the 101 ([`SessionRecord::upgrade_span`]).
    pub fn upgrade_requested(&mut self, t: Duration) {
        self.request_at.get_or_insert(t);
    }

    /// The broker refused the upgrade.
    pub fn upgrade_refused(&mut self, detail: String) {
        self.refused_upgrade.get_or_insert(detail);
    }

    /// A frame either side sent.
    pub fn frame(&mut self, from: Party, t: Duration, f: &RawFrame) {
        if f.opcode != opcode::BINARY {
            let direction = if from == Party::Broker { Direction::Received } else { Direction::Sent };
            let seen = FrameSeen { at: self.rel(t), direction, opcode: f.opcode, payload_len: f.payload.len(), masked: f.masked };
            self.record.frames.push(seen);
        }
        if f.opcode == opcode::CLOSE {
            let (code, reason) = frame::parse_close(&f.payload);
            match from {
                Party::Broker => self.end(t, Ending::BrokerClose { code, reason }),
                Party::Client => {
                    let valid = code.filter(|c| (1000..=4999).contains(c));
                    let payload = if valid.is_some() { reason } else { printable(&f.payload) };
                    self.end(t, Ending::Client(ClientEnd::CloseFrame { code: valid, payload }));
                }
            }
        }
    }

    /// A packet either side sent; what it meant for the session.
    pub fn packet(&mut self, from: Party, t: Duration, p: &Packet) -> Option<Event> {
        if from == Party::Client {
            self.client_spoke(t);
        }
        match (p, from) {
            (Packet::Connect { protocol, keepalive, .. }, Party::Client) => {
                self.connect_at.get_or_insert(t);
                self.protocol = *protocol;
                if *protocol != self.rules.protocol {
                    self.wrong_protocol.get_or_insert(*protocol);
                }
                self.declared_keepalive.get_or_insert(Duration::from_secs(u64::from(*keepalive)));
            }
            (Packet::ConnAck { code, properties }, Party::Broker) if self.connack_at.is_none() && self.refused_connack.is_none() => {
                if *code != 0 {
                    self.refused_connack = Some(*code);
                    return Some(Event::Ends);
                }
                self.connack_at = Some(t);
                self.zero.get_or_insert(t); // TimeZero::ConnAck, over TCP
                self.record.connected = true;
                // MQTT 5 §3.2.2.3.14: a Server Keep Alive replaces the client's keepalive.
                if let Some(Value::U16(secs)) = properties.get(property::SERVER_KEEP_ALIVE) {
                    let secs = Duration::from_secs(u64::from(*secs));
                    self.keepalive = secs;
                    self.declared_keepalive = Some(secs);
                }
                return Some(Event::Connected);
            }
            (Packet::PingReq, Party::Client) => {
                self.pingreq.get_or_insert(t);
            }
            (Packet::PingResp, Party::Broker) => {
                self.lagged(self.pingreq, t);
                self.pingreq = None;
            }
            (Packet::Disconnect { .. }, Party::Client) => self.end(t, Ending::Client(ClientEnd::Disconnect)),
            (Packet::Disconnect { reason, properties }, Party::Broker) => {
                let reason_string = properties.reason_string().map(str::to_string);
                self.end(t, Ending::BrokerDisconnect { reason: *reason, reason_string });
                return Some(Event::Ends);
            }
            (Packet::Publish { topic, payload, .. }, Party::Client)
                if *topic == self.rules.topic
                    && self.connack_at.is_some_and(|c| t.saturating_sub(c) >= self.rules.hold.mul_f64(HOLD_SLACK)) =>
            {
                self.published.get_or_insert((t, payload.clone()));
            }
            (Packet::Publish { topic, payload, .. }, Party::Broker) => {
                if topic == VERSION_TOPIC {
                    self.record.broker_version = Some(String::from_utf8_lossy(payload).into_owned());
                }
                if *topic == self.rules.topic && self.echoed.is_none() && self.published.as_ref().is_some_and(|(_, sent)| sent == payload) {
                    self.echoed = Some(t);
                    return Some(Event::Echoed);
                }
            }
            _ => {}
        }
        None
    }

    /// One side's end of the TCP connection (FIN, reset or error).
    pub fn closed(&mut self, from: Party, t: Duration, how: SocketEnd) {
        match from {
            Party::Broker => self.end(t, Ending::BrokerSocket(how)),
            Party::Client => {
                let with = if how == SocketEnd::Reset { ClientEnd::Reset } else { ClientEnd::Fin };
                self.end(t, Ending::Client(with));
            }
        }
    }

    /// Bytes the broker cannot have meant: the client drops the session.
    pub fn broker_bad_bytes(&mut self, t: Duration, detail: String) {
        self.end(t, Ending::BrokerBadBytes(detail));
    }

    /// The client wrote bytes (its upgrade request, a frame, a packet).
    pub fn client_sent(&mut self, t: Duration) {
        self.first_from_client.get_or_insert(t);
        if self.ending.as_ref().is_none_or(|(end, _)| t <= *end) {
            self.latest_from_client = Some(t);
        }
    }

    /// A thread at the clients' priority, or the proxies, waited `length` (real time) to run,
    /// until `t` (`client::meter`).
    pub fn cpu_waited(&mut self, t: Duration, length: Duration) {
        self.cpu_waits.push((t, length));
    }

    /// Whether something has ended the session.
    pub fn ended(&self) -> bool {
        self.ending.is_some() || self.refused_connack.is_some() || self.refused_upgrade.is_some()
    }

    fn end(&mut self, t: Duration, ending: Ending) {
        // The earliest end wins, whichever direction reported it first.
        if self.ending.as_ref().is_none_or(|(old, _)| t < *old) {
            self.ending = Some((t, ending));
        }
    }

    /// Notes how long the broker took to answer a PINGREQ the client sent at `asked`.
    fn lagged(&mut self, asked: Option<Duration>, t: Duration) {
        if let Some(asked) = asked {
            self.broker_lag = self.broker_lag.max(t.saturating_sub(asked));
            self.record.broker_lag = Some(self.broker_lag);
        }
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

    /// The client was silent past what a broker waits for: the broker's end is the harness's
    /// doing (a starved client, or one whose clock did not follow the run's speed).
    fn starved(&self, t: Duration, ending: &Ending) -> Option<End> {
        // At real time only a broker's end can be the drop of a silent client; a client that
        // ends by itself ends as it says. On an accelerated clock a client whose own clock did
        // not follow sends its PINGREQs N times too late, whoever ends.
        let broker_ended = !matches!(ending, Ending::Client(_));
        if broker_ended && t >= SPEECHLESS && self.first_from_client.is_none_or(|first| first > t) {
            return Some(End::HarnessError {
                detail: format!(
                    "the client sent nothing in the {:.1} s between its connection being accepted and the broker closing it \
                     (no upgrade request, no CONNECT): a client starved of CPU or stalled, cut off by the broker's handshake timeout; \
                     not a broker drop",
                    t.as_secs_f64()
                ),
            });
        }
        if broker_ended {
            if let Some(error) = self.starved_while_owing(t).or_else(|| self.reaction_multiplied(t)).or_else(|| self.window_shortened(t)) {
                return Some(error);
            }
        }
        // A broker answers a whole upgrade request with a 101 or an HTTP refusal, never a bare
        // end; one that ends the connection unanswered, after a client slow to send even its
        // request, ended it by its handshake timeout, racing the late request.
        if let Some(first) = self.first_from_client.filter(|first| {
            broker_ended && self.zero.is_none() && self.rules.transport == Transport::Ws && t >= SPEECHLESS && first.mul_f64(2.0) >= t
        }) {
            return Some(End::HarnessError {
                detail: format!(
                    "the client's upgrade request came {:.1} s after its connection was accepted, and the broker ended the connection \
                     unanswered at {:.1} s: a client starved of CPU or stalled, cut off by the broker's handshake timeout; not a broker drop",
                    first.as_secs_f64(),
                    t.as_secs_f64()
                ),
            });
        }
        if let Some(error) = self.connect_raced(t, broker_ended).or_else(|| self.connack_raced(t, broker_ended)) {
            return Some(error);
        }
        // The broker holds a client to the keepalive its CONNECT declared (0: none).
        let keepalive = self.declared_keepalive.unwrap_or(self.keepalive);
        if self.connack_at.is_none() || keepalive.is_zero() || !(self.rules.speed > 1.0 || broker_ended) {
            return None;
        }
        let silence = self.longest_silence.max(t.saturating_sub(self.last_from_client.or(self.connack_at).unwrap_or(t)));
        if silence <= keepalive.mul_f64(BROKER_PATIENCE) {
            return None;
        }
        let (secs, keepalive) = (silence.as_secs_f64(), keepalive.as_secs_f64());
        let detail = if self.rules.speed > 1.0 {
            format!(
                "acceleration not in effect for the client: it sent nothing for {secs:.1} s of broker time with a keepalive of {keepalive:.0} s, \
                 so its clock did not run ×{} with the time library (a Go program, a static binary?) or it was starved of CPU",
                self.rules.speed
            )
        } else {
            format!(
                "the client was starved or stalled: it sent nothing for {secs:.1} s with a keepalive of {keepalive:.0} s, \
                 past the {BROKER_PATIENCE} × keepalive a broker waits; not a broker drop"
            )
        };
        Some(End::HarnessError { detail })
    }

    /// A broker's end before any CONNACK, at its timeout for a CONNECT ([`CONNECT_TIMEOUT`] or
    /// later), of a client that was still writing in the second half of that time: the broker's
    /// timeout raced a late CONNECT. A broker answers a CONNECT that came in time with its
    /// CONNACK or at once; an end before that time (Mosquitto 2.0.0-2.0.5 closing at once on a
    /// split CONNECT), or long after the client's last bytes, stays the broker's.
    fn connect_raced(&self, t: Duration, broker_ended: bool) -> Option<End> {
        let upgraded = self.zero.is_some() || self.rules.transport == Transport::Tcp;
        if !broker_ended || !upgraded || self.connack_at.is_some() || self.refused_connack.is_some() || t < CONNECT_TIMEOUT {
            return None;
        }
        let latest = self.latest_from_client.filter(|latest| latest.mul_f64(2.0) >= t && *latest <= t)?;
        let what = if self.connect_at.is_some_and(|c| c <= t) {
            "CONNECT"
        } else if self.zero.is_none_or(|zero| latest >= zero) {
            "CONNECT, still incomplete,"
        } else {
            "upgrade request, and no CONNECT after the 101,"
        };
        Some(End::HarnessError {
            detail: format!(
                "the client's {what} came {:.1} s after its connection was accepted, and the broker ended the connection at {:.1} s \
                 before any CONNACK: a client starved of CPU or stalled, cut off by the broker's timeout for a CONNECT \
                 (Mosquitto 2.1: 30 s of its clock); not a broker drop",
                latest.as_secs_f64(),
                t.as_secs_f64()
            ),
        })
    }

    /// On an accelerated clock the client ended its connection at `t`, after a CONNACK that came
    /// a second or more (broker time) after its CONNECT, having sent nothing since (not even
    /// its SUBSCRIBE): its own set-up bound ran out on a CONNACK the machine made late.
    /// Measured at ×30 with 12 copies: Paho Python's FIN 2 ms (broker time) after a CONNACK
    /// that came 14 s after its CONNECT, and its reset 0.2-1 s (real) after CONNACKs that came
    /// 4.4-10.5 s late, each read as the client's EOF. A client that ends on a prompt CONNACK
    /// (one it refuses) ends as it says.
    fn connack_raced(&self, t: Duration, broker_ended: bool) -> Option<End> {
        let (connect, connack) = (self.connect_at?, self.connack_at?);
        let waited = connack.checked_sub(connect)?;
        let after = t.checked_sub(connack)?;
        let quiet = self.latest_from_client.is_none_or(|latest| latest <= connack);
        if broker_ended || self.rules.speed <= 1.0 || !quiet || waited < SPEECHLESS {
            return None;
        }
        Some(End::HarnessError {
            detail: format!(
                "the client ended its connection {} ms of real time after the broker's CONNACK, which came {:.1} s after its CONNECT \
                 (clocks ×{}), having sent nothing since: its own set-up bound ran out on a CONNACK the machine made late; \
                 not a measurement (run at a lower speed, or with fewer copies)",
                after.div_f64(self.rules.speed).as_millis(),
                waited.as_secs_f64(),
                self.rules.speed
            ),
        })
    }

    /// What the client owed the broker when the broker ended the session at `t`, and since
    /// when: its upgrade request and CONNECT from the start, while no CONNECT had gone by; its
    /// answer to the last PING, while it had not answered it.
    fn owed(&self, t: Duration) -> Option<(&'static str, Duration)> {
        if self.connack_at.is_none() {
            return self.connect_at.is_none_or(|c| c > t).then_some(("its upgrade request and CONNECT", Duration::ZERO));
        }
        if self.rules.withholds_pong {
            return None;
        }
        let at = self.rel(t);
        let frames = &self.record.frames;
        let ping = last_ping(frames, at)?;
        let answers = [opcode::PONG, opcode::CLOSE];
        if frames.iter().any(|f| f.direction == Direction::Sent && answers.contains(&f.opcode) && f.at >= ping.at && f.at <= at) {
            return None;
        }
        Some((OWED_PONG, self.arrived_by(t - (at - ping.at))))
    }

    /// When bytes read at `read` may truly have come: where a wait to run (`client::meter`)
    /// ended within [`READ_NEAR`] of `read`, when that wait began (the proxies, or a thread at
    /// the clients' priority, could not run: the bytes may have waited unread all along); else
    /// `read`. Measured at ×30 on a busy machine: PINGs read together with the broker's hang-up,
    /// "0.0 s after a PING", so that nothing seemed owed.
    fn arrived_by(&self, read: Duration) -> Duration {
        let speed = self.rules.speed.max(1.0);
        let near = READ_NEAR.mul_f64(speed);
        self.cpu_waits
            .iter()
            .filter(|(ended, _)| ended.abs_diff(read) <= near)
            .map(|&(ended, length)| wait_began(ended, length, speed))
            .fold(read, Duration::min)
    }

    /// The broker ended the session at `t` while the client owed it something ([`State::owed`]),
    /// at least [`MIN_SILENCE`] of real time after it began to, and in that time a thread at the
    /// clients' priority or the proxies waited to run half of it or more: the client may have been starved,
    /// so the end cannot be told from a broker drop. (A broker that ends a session at once on
    /// what a starved client did send reads as this too: which it was cannot be told.)
    fn starved_while_owing(&self, t: Duration) -> Option<End> {
        let (what, since) = self.owed(t)?;
        let speed = self.rules.speed.max(1.0);
        let owing = t.saturating_sub(since).div_f64(speed);
        if owing < MIN_SILENCE {
            return None;
        }
        let waited = waited_within(&self.cpu_waits, since, t, speed);
        if waited * 2 < owing {
            return None;
        }
        let clock = if speed > 1.0 { format!(" (clocks ×{speed})") } else { String::new() };
        let detail = format!(
            "the broker ended the connection while it waited for {what} from the client, {} ms of real time{clock}; \
             in those, a thread at the clients' priority or the harness's proxies waited {} ms to run: a client starved of CPU \
             or passed on late, not a broker drop \
             (run at a lower speed, or with fewer copies)",
            owing.as_millis(),
            waited.as_millis(),
        );
        Some(End::HarnessError { detail })
    }

    /// On an accelerated clock the broker ended the session at `t` sooner after its PING than
    /// libwebsockets' [`LWS_PONG_WINDOW`], where the window was short because the PING left or
    /// was read late, the hang-up keeping its own time:
    /// - the client had not answered, and the end came less than [`MIN_SILENCE`] of real time
    ///   after the PING was read: no client on a busy machine answers that fast. Measured at
    ///   ×30 with 8 copies: the PING read at 307.2 s, the hang-up at 309.7 s (83 ms real),
    ///   before Paho Java v5 could drop the connection as it does on a PING; on an overloaded
    ///   machine, 74 cells in one run read `EOF ≠ OK`, the PING read 4-16 s after it was due
    ///   and 0.0-0.2 s before the hang-up, from brokers that could not run until both timers
    ///   were overdue;
    /// - or the broker took at least the window's shortfall to answer one of the client's
    ///   PINGREQs: its PING may have left that late. Measured at ×30 with 12 copies: Paho
    ///   Python's PONG 60 ms (real) after a PING read at 309.5 s, the hang-up at 314.4 s, from
    ///   a broker that took up to 6.6 s to answer a PINGREQ.
    ///
    /// Whatever the gap: a PONG inside the window, from a broker that took as long to answer a
    /// PINGREQ as it then had the PONG before it hung up: its timer may have fired before it
    /// read the PONG (measured: a PONG 0.2 s after the PING, the hang-up 10.5 s after the PONG,
    /// PINGREQs answered up to 15.9 s late).
    ///
    /// At real time such readings stay the broker's end: no broker runs seconds late.
    fn window_shortened(&self, t: Duration) -> Option<End> {
        if self.rules.speed <= 1.0 || self.rules.withholds_pong || self.connack_at.is_none() {
            return None;
        }
        let at = self.rel(t);
        let frames = &self.record.frames;
        let ping = last_ping(frames, at)?;
        let gap = at - ping.at;
        let real = |d: Duration| d.div_f64(self.rules.speed).as_millis();
        let lagged = format!(
            "and the broker took up to {:.1} s ({} ms of real time, clocks ×{}) to answer this client's PINGREQs",
            self.broker_lag.as_secs_f64(),
            real(self.broker_lag),
            self.rules.speed
        );
        let pong = frames.iter().find(|f| f.direction == Direction::Sent && f.opcode == opcode::PONG && f.at >= ping.at && f.at <= at);
        // A PONG in the window, and a broker that lagged as long as it then had it: the
        // broker's timer may have fired before it read the PONG.
        if let Some(pong) = pong.filter(|p| p.at - ping.at < LWS_PONG_WINDOW && self.broker_lag >= at - p.at) {
            let detail = format!(
                "the broker ended the connection {:.1} s after its PING at {:.1} s, which the client answered {:.1} s after it, {lagged}: \
                 its timer may have fired before it read the PONG; not a broker drop (run at a lower speed, or with fewer copies)",
                gap.as_secs_f64(),
                ping.at.as_secs_f64(),
                (pong.at - ping.at).as_secs_f64()
            );
            return Some(End::HarnessError { detail });
        }
        let shortfall = LWS_PONG_WINDOW.checked_sub(gap).filter(|s| *s >= WINDOW_SLACK)?;
        let unanswered = self.owed(t).is_some_and(|(what, _)| what == OWED_PONG);
        let why = if unanswered && gap.div_f64(self.rules.speed) < MIN_SILENCE {
            format!("{} ms of real time (clocks ×{}), before the client could answer", real(gap), self.rules.speed)
        } else if self.broker_lag >= shortfall {
            lagged
        } else {
            return None;
        };
        let detail = format!(
            "the broker ended the connection {:.1} s after its PING at {:.1} s, {why}: sooner than libwebsockets' {} s window, \
             so the PING left or was read late on a busy machine; not a broker drop (run at a lower speed, or with fewer copies)",
            gap.as_secs_f64(),
            ping.at.as_secs_f64(),
            LWS_PONG_WINDOW.as_secs()
        );
        Some(End::HarnessError { detail })
    }

    /// On an accelerated clock the broker ended the session at `t` after a PING that the client
    /// did answer (before the end, or after it), but so slowly that its answer took half or more
    /// of the time from the PING to the end (both as read; of libwebsockets' 10 s at most),
    /// while in real time it took less than that time in broker seconds: at real time the same
    /// client would have answered in time. The clock multiplied
    /// the client's reaction (slowed inside its own process: a busy runtime), so the end cannot
    /// be told from a broker drop. Measured at ×30, 8 copies: Paho Python's PONG 277 ms (real)
    /// after a PING that libwebsockets sent 90 ms late, its 310 s hang-up 12 ms after the PONG.
    fn reaction_multiplied(&self, t: Duration) -> Option<End> {
        if self.rules.speed <= 1.0 || self.rules.withholds_pong || self.connack_at.is_none() {
            return None;
        }
        let at = self.rel(t);
        let frames = &self.record.frames;
        let ping = last_ping(frames, at)?;
        // The client's PONG, before the end or after it: one that came after the broker had hung
        // up still shows how slowly the client answered.
        let pong = frames.iter().find(|f| f.direction == Direction::Sent && f.opcode == opcode::PONG && f.at >= ping.at)?;
        let (reaction, window) = (pong.at - ping.at, at - ping.at);
        // A broker running late hangs up later than its window: the window the answer was due
        // in is libwebsockets' at most.
        let due = window.min(LWS_PONG_WINDOW);
        let real = reaction.div_f64(self.rules.speed);
        if reaction * 2 < due || real >= due {
            return None;
        }
        let detail = format!(
            "the broker ended the connection {:.1} s after its PING at {:.1} s, which the client answered {} ms of real time later \
             ({:.1} s at clocks ×{}): at real time that answer would have come in time; the clock multiplied the reaction of a client \
             slowed inside its own process, not a broker drop (run at a lower speed, or with fewer copies)",
            window.as_secs_f64(),
            ping.at.as_secs_f64(),
            real.as_millis(),
            reaction.as_secs_f64(),
            self.rules.speed,
        );
        Some(End::HarnessError { detail })
    }

    /// How the session ended, from everything observed (`None` while nothing ended it).
    pub fn decide(&self) -> Option<End> {
        if let Some(asked) = self.wrong_protocol {
            let detail = format!(
                "the client's CONNECT asked for MQTT {asked}, not the MQTT {} it was told to speak (MATRIX_PROTOCOL)",
                self.rules.protocol
            );
            return Some(End::HarnessError { detail });
        }
        if let Some(detail) = &self.refused_upgrade {
            return Some(End::UpgradeRefused { detail: format!("WebSocket upgrade refused: {detail}") });
        }
        if let Some(code) = self.refused_connack {
            return Some(End::ConnAckRefused { code });
        }
        let (t, ending) = self.ending.clone()?;
        if let Some(error) = self.starved(t, &ending) {
            return Some(error);
        }
        let at = self.rel(t);
        let broker = |ending: Ending| match ending {
            Ending::BrokerClose { code, reason } => Some(End::BrokerClosed { at, code, reason }),
            Ending::BrokerDisconnect { reason, reason_string } => Some(End::BrokerDisconnected { at, reason, reason_string }),
            Ending::BrokerSocket(how) => Some(End::SocketEnded { at, how }),
            Ending::BrokerBadBytes(detail) => Some(End::BadBytes { at, detail }),
            Ending::Client(_) => None,
        };
        // A CONNACK read after the end did not connect the session: the client had gone.
        if self.connack_at.is_none_or(|connack| connack > t) {
            return Some(match ending {
                // A 101 without the subprotocol the client asked for, and the client leaves.
                Ending::Client(_) if self.zero.is_some() && self.rules.transport == Transport::Ws && self.record.subprotocol.is_none() => {
                    End::UpgradeRefused {
                        detail: "the broker's 101 named no subprotocol (the client asked for mqtt) and the client closed the connection".to_string(),
                    }
                }
                Ending::Client(_) => End::HarnessError {
                    detail: "the client ended its connection before the broker accepted it (no CONNACK)".to_string(),
                },
                other => broker(other)?,
            });
        }
        let overrun = self.overrun(t);
        let Ending::Client(how) = ending else {
            return overrun.or_else(|| broker(ending));
        };
        if let Some(error) = self.late_pong_unseen() {
            return Some(error);
        }
        Some(match (&self.published, self.echoed) {
            (Some((sent, _)), Some(back)) => End::HoldCompleted { round_trip: RoundTrip::Echoed { rtt: back.saturating_sub(*sent) } },
            (Some((sent, _)), None) => End::HoldCompleted { round_trip: RoundTrip::Lost { waited: t.saturating_sub(*sent) } },
            (None, _) if self.pingresp_deadline().is_some_and(|d| t + self.keepalive.mul_f64(OBSERVED_SLACK) >= d) => {
                overrun.unwrap_or(End::PingRespMissing { at, pingreq_at: self.rel(self.pingreq.unwrap_or(t)) })
            }
            (None, _) => {
                let after = self
                    .record
                    .frames
                    .iter()
                    .rfind(|f| f.direction == Direction::Received && f.at <= at && at - f.at <= ANSWER_WINDOW.mul_f64(self.rules.speed))
                    .cloned();
                // A client that ends on a frame of the broker's answers it, however late the
                // broker ran; one that ends on nothing may have ended on its own timers.
                match (after, overrun) {
                    (None, Some(error)) => error,
                    (after, _) => End::ClientEnded { at, how, after },
                }
            }
        })
    }

    /// On an accelerated clock, a connected session whose broker ran [`OVERRUN`] or more late:
    /// the longest it took to answer one of the client's PINGREQs, or the age of one still
    /// unanswered at `t`. A broker that late cannot keep libwebsockets' PONG window apart from
    /// the client's answer, nor its answers apart from a client's own timeouts, so a session it
    /// ended, or one a client ended on nothing of the broker's, is not a measurement.
    /// Measured at ×30 with 12 copies on 2 cores: PINGREQs answered up to 45 s (1.5 s real)
    /// late; built-in clients ending on "no PINGRESP within a keepalive", MQTT.js on its own
    /// keepalive timeout, and no-pong's hang-up read 15 s late with the PING.
    fn overrun(&self, t: Duration) -> Option<End> {
        if self.rules.speed <= 1.0 || self.connack_at.is_none_or(|c| c > t) {
            return None;
        }
        let pending = self.pingreq.map_or(Duration::ZERO, |asked| t.saturating_sub(asked));
        let lag = self.broker_lag.max(pending);
        if lag < OVERRUN {
            return None;
        }
        let what = if pending > self.broker_lag { "had not answered a PINGREQ of this client's for" } else { "took up to" };
        Some(End::HarnessError {
            detail: format!(
                "the broker {what} {:.1} s ({} ms of real time, clocks ×{}) to answer this client's PINGREQs: a broker running that \
                 late cannot keep its PING window, or its answers, apart from what the client does, so how this session ended is \
                 not a measurement (run at a lower speed, or with fewer copies)",
                lag.as_secs_f64(),
                lag.div_f64(self.rules.speed).as_millis(),
                self.rules.speed
            ),
        })
    }

    /// A session that outlived a PONG sent past libwebsockets' [`LWS_PONG_WINDOW`] after the
    /// broker's PING, from a broker slower than that margin to answer this client: a hang-up
    /// as late as its answers could have been under way and not seen, so the session's
    /// surviving the late PONG measures the machine, not the broker's window. Measured at ×30
    /// with 8 copies: a PONG 15.1 s after the PING, a broker that took up to 6.3 s (0.21 s
    /// real) to answer a PINGREQ, and no hang-up where libwebsockets hangs up at ×1.
    fn late_pong_unseen(&self) -> Option<End> {
        let frames = &self.record.frames;
        let ping = frames.iter().find(|f| f.direction == Direction::Received && f.opcode == opcode::PING)?;
        let pong = frames.iter().find(|f| f.direction == Direction::Sent && f.opcode == opcode::PONG && f.at >= ping.at)?;
        let margin = (pong.at - ping.at).checked_sub(LWS_PONG_WINDOW)?;
        if self.broker_lag < margin {
            return None;
        }
        let real = |d: Duration| d.div_f64(self.rules.speed).as_secs_f64() * 1000.0;
        Some(End::HarnessError {
            detail: format!(
                "the session outlived a PONG {:.1} s after the broker's PING at {:.1} s, {:.1} s past libwebsockets' {} s window, \
                 but the broker took up to {:.1} s to answer this client ({:.0} ms of real time, clocks ×{}): a hang-up that late \
                 could have been under way unseen; not a measurement of the broker's window (run at a lower speed, or with fewer copies)",
                (pong.at - ping.at).as_secs_f64(),
                ping.at.as_secs_f64(),
                margin.as_secs_f64(),
                LWS_PONG_WINDOW.as_secs(),
                self.broker_lag.as_secs_f64(),
                real(self.broker_lag),
                self.rules.speed
            ),
        })
    }

    /// The round trip's times, once the publish after the hold went out: (sent, echoed).
    pub fn round_trip(&self) -> Option<(Duration, Option<Duration>)> {
        self.published.as_ref().map(|(sent, _)| (*sent, self.echoed))
    }

    /// The record, ended by `end`.
    pub fn finish(mut self, end: End) -> SessionRecord {
        self.record.end = end;
        self.record
    }
}

/// How much of `since..t` (broker time) the waits cover, in real time: the waits (each when it
/// ended, in broker time, and how long it was, in real time) as intervals, merged where they
/// overlap, so that two meters seeing the same stall count it once.
fn waited_within(waits: &[(Duration, Duration)], since: Duration, t: Duration, speed: f64) -> Duration {
    let mut spans: Vec<(Duration, Duration)> = waits
        .iter()
        .map(|&(ended, length)| (wait_began(ended, length, speed).max(since), ended.min(t)))
        .filter(|(began, ended)| began < ended)
        .collect();
    spans.sort();
    let mut covered = Duration::ZERO;
    let mut reach = since;
    for (began, ended) in spans {
        let from = began.max(reach);
        if ended > from {
            covered += ended - from;
            reach = ended;
        }
    }
    covered.div_f64(speed)
}

/// The broker's last WebSocket PING at or before `at` (record time), if one came.
fn last_ping(frames: &[FrameSeen], at: Duration) -> Option<&FrameSeen> {
    frames.iter().rfind(|f| f.direction == Direction::Received && f.opcode == opcode::PING && f.at <= at)
}

/// When a wait to run began, in broker time: it ended at `ended` (broker time) and lasted
/// `length` of real time.
fn wait_began(ended: Duration, length: Duration, speed: f64) -> Duration {
    ended.saturating_sub(length.mul_f64(speed))
}

/// A payload as text when it is printable, else as hex.
pub fn printable(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_string(),
        _ => payload.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn waits_that_overlap_count_once_and_only_their_part_inside_the_span_counts() {
        // At ×10: a 0.2 s wait ending at 13 s (broker) began at 11 s; a 0.1 s one ending at
        // 12.5 s lies inside it; a 0.5 s one ending at 20 s began at 15 s, half outside the span.
        let waits = [(s(13.0), s(0.2)), (s(12.5), s(0.1)), (s(20.0), s(0.5))];
        let got = waited_within(&waits, s(10.0), s(17.5), 10.0);
        assert!((got.as_secs_f64() - 0.45).abs() < 1e-9, "{got:?}");
        assert_eq!(waited_within(&[], s(0.0), s(5.0), 1.0), Duration::ZERO);
    }
}
