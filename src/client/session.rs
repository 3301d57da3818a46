//! One client session against one broker: connect, hold, prove alive, record everything.
//!
//! The same code runs against real brokers and the scripted peer; durations come from
//! [`Timing`], so a test can make "300 s" happen in 300 ms.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Instant};

use crate::wire::frame::{self, opcode, RawFrame};
use crate::wire::handshake::{self, HandshakeError};
use crate::wire::mqtt::{self, Packet};
use crate::client::behaviour::{self, react, Reaction};
use crate::plan::{Profile, Timing, Transport};
use crate::judge::record::{Direction, End, FrameSeen, RoundTrip, SessionRecord, SocketEnd};

/// The topic whose retained message tells the broker's version.
pub const VERSION_TOPIC: &str = "$SYS/broker/version";

/// Where and as whom a session connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// The client profile.
    pub profile: Profile,
    /// Host to connect to (loopback for local engines).
    pub host: String,
    /// The port for the profile's transport, as mapped on the host.
    pub port: u16,
    /// WebSocket path (Paho uses `/mqtt`).
    pub path: String,
    /// MQTT user name.
    pub username: String,
    /// MQTT password.
    pub password: String,
    /// MQTT client identifier.
    pub client_id: String,
    /// The topic of the round trip (`test/<client id>` in the matrix).
    pub topic: String,
    /// Durations.
    pub timing: Timing,
    /// Told once CONNACK accepted the session.
    pub started: crate::client::Started,
}

/// Runs one session to its end and returns what it observed. Never fails: a session
/// that could not run is a record with [`End::HarnessError`].
pub async fn run(spec: &SessionSpec) -> SessionRecord {
    let mut record = SessionRecord::new(spec.profile, spec.timing.hold, spec.timing.keepalive, &spec.client_id);
    let addr = format!("{}:{}", spec.host, spec.port);
    let mut stream = match timeout(spec.timing.setup_timeout, TcpStream::connect(&addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            record.end = End::HarnessError { detail: format!("could not connect to {addr}: {e}") };
            return record;
        }
        Err(_) => {
            record.end = End::HarnessError { detail: format!("could not connect to {addr} within {:?}", spec.timing.setup_timeout) };
            return record;
        }
    };
    let _ = stream.set_nodelay(true);
    let mut inbuf = BytesMut::with_capacity(4096);
    let mut zero = None;
    if spec.profile.transport() == Transport::Ws {
        match timeout(spec.timing.setup_timeout, handshake::upgrade(&mut stream, &spec.host, spec.port, &spec.path)).await {
            Ok(Ok(up)) => {
                zero = Some(Instant::now()); // TimeZero::Upgrade
                record.subprotocol = up.subprotocol;
                inbuf = up.leftover;
            }
            Ok(Err(HandshakeError::Refused(detail))) => {
                record.end = End::UpgradeRefused { detail: format!("WebSocket upgrade refused: {detail}") };
                return record;
            }
            Ok(Err(HandshakeError::Io(e))) => {
                record.end = End::SocketEnded { at: Duration::ZERO, how: SocketEnd::of(&e) };
                return record;
            }
            Err(_) => {
                record.end = End::HarnessError { detail: format!("no answer to the WebSocket upgrade on {addr} within {:?}", spec.timing.setup_timeout) };
                return record;
            }
        }
    }
    let now = Instant::now();
    let mut live = Live {
        spec,
        ws: spec.profile.transport() == Transport::Ws,
        stream,
        inbuf,
        mqtt_buf: BytesMut::new(),
        zero,
        phase: Phase::AwaitConnAck { deadline: now + spec.timing.setup_timeout },
        next_pingreq: None,
        pingreq_outstanding: None,
        pending_pongs: VecDeque::new(),
        record,
    };
    let connect = Packet::Connect {
        client_id: spec.client_id.clone(),
        username: Some(spec.username.clone()),
        password: Some(spec.password.clone().into_bytes()),
        keepalive: keepalive_secs(spec.timing.keepalive),
    };
    let end = match live.send_packet(&connect).await {
        Ok(()) => live.drive().await,
        Err(end) => end,
    };
    let _ = timeout(Duration::from_secs(1), live.stream.shutdown()).await;
    live.record.end = end;
    live.record
}

/// The keepalive field of CONNECT, whole seconds rounded up (at least 1).
fn keepalive_secs(d: Duration) -> u16 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    s.clamp(1, u64::from(u16::MAX)) as u16
}

enum Phase {
    AwaitConnAck { deadline: Instant },
    Holding { until: Instant },
    RoundTrip { sent: Instant, deadline: Instant, topic: String, payload: Vec<u8> },
}

struct Live<'a> {
    spec: &'a SessionSpec,
    ws: bool,
    stream: TcpStream,
    inbuf: BytesMut,
    mqtt_buf: BytesMut,
    /// Where the session's times count from (`judge::record::TimeZero`: the 101 over
    /// WebSocket, CONNACK over TCP); `None` until it is reached.
    zero: Option<Instant>,
    phase: Phase,
    next_pingreq: Option<Instant>,
    pingreq_outstanding: Option<Instant>,
    pending_pongs: VecDeque<(Instant, Vec<u8>)>,
    record: SessionRecord,
}

impl Live<'_> {
    /// Time after the session's zero (zero before it).
    fn rel(&self, t: Instant) -> Duration {
        self.zero.map_or(Duration::ZERO, |c| t.saturating_duration_since(c))
    }

    fn ping_deadline(&self) -> Option<Instant> {
        self.pingreq_outstanding.map(|t| t + self.spec.timing.keepalive.mul_f64(1.5))
    }

    fn next_wake(&self) -> Instant {
        let phase = match &self.phase {
            Phase::AwaitConnAck { deadline } => *deadline,
            Phase::Holding { until } => *until,
            Phase::RoundTrip { deadline, .. } => *deadline,
        };
        [Some(phase), self.next_pingreq, self.ping_deadline(), self.pending_pongs.front().map(|p| p.0)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(phase)
    }

    async fn drive(&mut self) -> End {
        loop {
            let wake = self.next_wake();
            let step = tokio::select! {
                read = self.stream.read_buf(&mut self.inbuf) => match read {
                    Ok(0) => Err(End::SocketEnded { at: self.rel(Instant::now()), how: SocketEnd::Eof }),
                    Ok(_) => self.on_input().await,
                    Err(e) => Err(End::SocketEnded { at: self.rel(Instant::now()), how: SocketEnd::of(&e) }),
                },
                _ = sleep_until(wake) => self.on_timer().await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn on_timer(&mut self) -> Result<(), End> {
        let now = Instant::now();
        match &self.phase {
            Phase::AwaitConnAck { deadline } if now >= *deadline => {
                return Err(End::HarnessError {
                    detail: format!("no CONNACK within {:?} of CONNECT", self.spec.timing.setup_timeout),
                });
            }
            Phase::Holding { until } if now >= *until => {
                let topic = self.spec.topic.clone();
                let payload = format!("alive {:016x}", rand::random::<u64>()).into_bytes();
                self.send_packet(&Packet::Publish { topic: topic.clone(), payload: payload.clone(), retain: false }).await?;
                let deadline = now + self.spec.timing.round_trip_timeout;
                self.phase = Phase::RoundTrip { sent: now, deadline, topic, payload };
            }
            Phase::RoundTrip { sent, deadline, .. } if now >= *deadline => {
                return Err(End::HoldCompleted { round_trip: RoundTrip::Lost { waited: now - *sent } });
            }
            _ => {}
        }
        if let (Some(sent), Some(deadline)) = (self.pingreq_outstanding, self.ping_deadline()) {
            if now >= deadline {
                return Err(End::PingRespMissing { at: self.rel(now), pingreq_at: self.rel(sent) });
            }
        }
        if let Some(due) = self.next_pingreq {
            if now >= due {
                self.next_pingreq = Some(now + self.spec.timing.keepalive);
                if self.pingreq_outstanding.is_none() {
                    self.send_packet(&Packet::PingReq).await?;
                    self.pingreq_outstanding = Some(now);
                }
            }
        }
        while let Some((due, _)) = self.pending_pongs.front() {
            if *due > now {
                break;
            }
            let (_, payload) = self.pending_pongs.pop_front().expect("front exists");
            self.send_frame(opcode::PONG, &payload, true).await?;
        }
        Ok(())
    }

    async fn on_input(&mut self) -> Result<(), End> {
        if !self.ws {
            let bytes = self.inbuf.split();
            self.mqtt_buf.unsplit(bytes);
            return self.on_mqtt_bytes().await;
        }
        loop {
            match frame::decode(&mut self.inbuf) {
                // Packets are handled frame by frame, in wire order: a CONNACK followed by a
                // close frame in one read is a refusal, not a close.
                Ok(Some(f)) => {
                    self.on_frame(f).await?;
                    self.on_mqtt_bytes().await?;
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(End::BadBytes {
                        at: self.rel(Instant::now()),
                        detail: format!("broker sent an invalid WebSocket frame ({e})"),
                    })
                }
            }
        }
    }

    async fn on_mqtt_bytes(&mut self) -> Result<(), End> {
        loop {
            match mqtt::decode(&mut self.mqtt_buf) {
                Ok(Some(p)) => self.on_packet(p).await?,
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(End::BadBytes {
                        at: self.rel(Instant::now()),
                        detail: format!("broker sent an invalid MQTT packet ({e})"),
                    })
                }
            }
        }
    }

    async fn on_frame(&mut self, f: RawFrame) -> Result<(), End> {
        let now = Instant::now();
        let seen = FrameSeen {
            at: self.rel(now),
            direction: Direction::Received,
            opcode: f.opcode,
            payload_len: f.payload.len(),
            masked: f.masked,
        };
        if f.opcode != opcode::BINARY {
            self.record.frames.push(seen.clone());
        }
        match react(self.spec.profile, &f, self.spec.timing.late_pong) {
            Reaction::GiveUp { close_payload, why } => {
                if let Some(payload) = close_payload {
                    // The client gives up whatever happens to this write.
                    let _ = self.send_frame(opcode::CLOSE, &payload, true).await;
                }
                return Err(End::ClientGaveUp { at: seen.at, trigger: seen, why });
            }
            Reaction::Pong { payload, masked, after } if after.is_zero() => {
                self.send_frame(opcode::PONG, &payload, masked).await?;
            }
            Reaction::Pong { payload, after, .. } => self.pending_pongs.push_back((now + after, payload)),
            Reaction::Data => self.mqtt_buf.extend_from_slice(&f.payload),
            Reaction::Ignore => {}
        }
        if f.opcode == opcode::CLOSE {
            let (code, reason) = frame::parse_close(&f.payload);
            // Echo the close as RFC 6455 §5.5.1 asks; the session is over either way.
            let _ = self.send_frame(opcode::CLOSE, &f.payload[..f.payload.len().min(2)], true).await;
            return Err(End::BrokerClosed { at: seen.at, code, reason });
        }
        Ok(())
    }

    async fn on_packet(&mut self, p: Packet) -> Result<(), End> {
        let now = Instant::now();
        match p {
            Packet::ConnAck { code } if matches!(self.phase, Phase::AwaitConnAck { .. }) => {
                if code != 0 {
                    return Err(End::ConnAckRefused { code });
                }
                self.record.connected = true;
                self.zero.get_or_insert(now); // TimeZero::ConnAck, over TCP
                self.spec.started.reached();
                self.phase = Phase::Holding { until: now + self.spec.timing.hold };
                self.next_pingreq = Some(now + self.spec.timing.keepalive);
                let subscribe = Packet::Subscribe { id: 1, filters: vec![VERSION_TOPIC.to_string(), self.spec.topic.clone()] };
                self.send_packet(&subscribe).await?;
            }
            Packet::PingResp => self.pingreq_outstanding = None,
            Packet::Publish { topic, payload, .. } => {
                if topic == VERSION_TOPIC {
                    self.record.broker_version = Some(String::from_utf8_lossy(&payload).into_owned());
                }
                if let Phase::RoundTrip { sent, topic: want, payload: expected, .. } = &self.phase {
                    if topic == *want && payload == *expected {
                        let rtt = now - *sent;
                        let _ = self.send_packet(&Packet::Disconnect).await;
                        if self.ws {
                            let goodbye = behaviour::goodbye_close_payload(self.spec.profile);
                            let _ = self.send_frame(opcode::CLOSE, &goodbye, true).await;
                        }
                        return Err(End::HoldCompleted { round_trip: RoundTrip::Echoed { rtt } });
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn send_packet(&mut self, p: &Packet) -> Result<(), End> {
        let bytes = mqtt::encode(p);
        if self.ws {
            self.write(&frame::encode(opcode::BINARY, &bytes, true)).await
        } else {
            self.write(&bytes).await
        }
    }

    async fn send_frame(&mut self, op: u8, payload: &[u8], masked: bool) -> Result<(), End> {
        let at = self.rel(Instant::now());
        self.record.frames.push(FrameSeen { at, direction: Direction::Sent, opcode: op, payload_len: payload.len(), masked });
        self.write(&frame::encode(op, payload, masked)).await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), End> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| End::SocketEnded { at: self.rel(Instant::now()), how: SocketEnd::of(&e) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_rounds_up_to_whole_seconds() {
        assert_eq!(keepalive_secs(Duration::from_secs(60)), 60);
        assert_eq!(keepalive_secs(Duration::from_millis(60)), 1);
        assert_eq!(keepalive_secs(Duration::from_millis(1500)), 2);
    }
}
