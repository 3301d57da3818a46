//! The rules of a session, observed from both directions: where its times count from,
//! when it is connected, what a missing PINGRESP is, what counts as the round trip, how it
//! ended. The player and the recorder both feed it; neither decides these by itself. Whether
//! an end was the broker's or the harness's and the machine's is the `blame` submodule's to say.

use std::time::Duration;

use crate::judge::record::{ClientEnd, Direction, End, FrameSeen, Party, RoundTrip, SessionRecord, SocketEnd};
use crate::plan::Transport;
use crate::wire::frame::{self, opcode, RawFrame};
use crate::wire::mqtt::{property, Packet, Protocol, Value};

mod blame;

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
    /// How late the broker ran from its last PING to the session's end, timed apart from the
    /// session (`client::lateness`), in broker time.
    ran_late: Duration,
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
            ran_late: Duration::ZERO,
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

    /// The span, in broker time since the connection began, over which how late the broker
    /// ran bears on how the session ended: from the broker's last PING before the end
    /// (libwebsockets' window runs from it), or from the end itself, to the end. It begins a
    /// little before (`blame::READ_NEAR` of real time): a broker that could not run sends its
    /// overdue PING when it runs again, as the run's own PING out in that stall comes back.
    /// `None` while nothing ended the session.
    pub fn lateness_span(&self) -> Option<(Duration, Duration)> {
        let t = self.ending.as_ref()?.0;
        let at = self.rel(t);
        let from = blame::last_ping(&self.record.frames, at).map_or(t, |ping| t.saturating_sub(at - ping.at));
        Some((from.saturating_sub(blame::READ_NEAR.mul_f64(self.rules.speed.max(1.0))), t))
    }

    /// The broker ran `lag` (broker time) late over [`State::lateness_span`], as timed apart
    /// from the session (`client::lateness`). A time read then may have been meant that much
    /// earlier, and a hang-up sooner than libwebsockets' window, or a session outliving a late
    /// PONG, may be the machine's; the rule that turns a late broker's end into ERROR (in
    /// [`State::decide`]) goes by its answers to the client's PINGREQs alone.
    pub fn ran_late(&mut self, lag: Duration) {
        self.ran_late = lag;
        self.record.broker_late = (!lag.is_zero()).then_some(lag);
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
            // A client that keeps back its PONG on purpose is hung up on after the PING however
            // late the broker runs: such an end is the broker's window, only its time read late
            // (and allowed that much, `Reading::lag`).
            if self.rules.withholds_pong && blame::last_ping(&self.record.frames, at).is_some() {
                return broker(ending);
            }
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
            (None, _) => self.client_ended(at, how, overrun),
        })
    }

    /// A connected session the client ended (at `at`, by `how`) with no round trip and no
    /// keepalive overdue: its answer to the broker's last frame, when one came just before,
    /// unless a broker that overran (`overrun`) or the client's own late timers leave it no
    /// measurement.
    fn client_ended(&self, at: Duration, how: ClientEnd, overrun: Option<End>) -> End {
        let after = self
            .record
            .frames
            .iter()
            .rfind(|f| f.direction == Direction::Received && f.at <= at && at - f.at <= ANSWER_WINDOW.mul_f64(self.rules.speed))
            .cloned();
        // A client that ends on a frame of the broker's answers it, however late the broker
        // ran; one that ends on nothing may have ended on its own timers. Under a broker that
        // late, only a deliberate end (a close frame, a DISCONNECT) answers a frame: a bare FIN
        // or reset after one may be the client's own timeout on the broker's late answers.
        // Measured at ×30 with 8 copies: MQTT.js's reset on "Keepalive timeout" 0.14 s (real)
        // after a PING and a PINGRESP 13.6 s late, read as its answer to the PING (a false EOF
        // where OK was expected).
        let deliberate = matches!(how, ClientEnd::CloseFrame { .. } | ClientEnd::Disconnect);
        let broker_overran = overrun.is_some();
        match (after, overrun.or_else(|| self.client_overrun())) {
            (None, Some(error)) => error,
            (Some(_), Some(error)) if broker_overran && !deliberate => error,
            (after, _) => End::ClientEnded { at, how, after },
        }
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

/// A payload as text when it is printable, else as hex.
pub fn printable(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_string(),
        _ => payload.iter().map(|b| format!("{b:02x}")).collect(),
    }
}
