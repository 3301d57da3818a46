//! The `rumqttc` profile: the real rumqttc client over WebSocket (or WebSocket over TLS on a
//! TLS route, with the run's rustls configuration), driven through its event loop.
//!
//! Its verdict comes from what the library itself reports. It stops at the first error,
//! because polling again would reconnect and hide the drop.

use std::time::Duration;

use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, NetworkOptions, Outgoing, Packet, QoS, StateError, TlsConfiguration, Transport};
use tokio::time::{sleep_until, timeout, Instant};

use crate::judge::record::{End, RoundTrip, SessionRecord, SocketEnd};
use crate::client::{SessionSpec, VERSION_TOPIC};

/// rumqttc refuses keepalives under one second.
const MIN_KEEPALIVE: Duration = Duration::from_secs(1);

/// Runs one rumqttc session to its end.
pub async fn run(spec: &SessionSpec) -> SessionRecord {
    let keepalive = spec.timing.keepalive.max(MIN_KEEPALIVE);
    let mut record = SessionRecord::new(spec.profile, spec.timing.hold, keepalive, &spec.client_id);
    let (client, mut eventloop) = AsyncClient::new(options(spec, keepalive), 16);
    // Its own connection timeout (5 s) would be half a second of real time at ×10: the
    // set-up bound instead, which the contract puts on the client's clock.
    let mut network = NetworkOptions::new();
    network.set_connection_timeout(spec.timing.setup_timeout.as_secs().max(1));
    eventloop.set_network_options(network);
    let mut hold = Hold::new(spec);
    record.end = loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            _ = sleep_until(hold.wake(spec)) => match hold.woken(spec, &client) {
                Some(end) => break end,
                None => continue,
            },
        };
        if let Some(end) = hold.heard(spec, &client, &mut record, event).await {
            break end;
        }
    };
    record
}

/// The library's options for one session: its URL, transport (the run's TLS on a TLS route),
/// keepalive and credentials.
fn options(spec: &SessionSpec, keepalive: Duration) -> MqttOptions {
    let scheme = if spec.tls.is_some() { "wss" } else { "ws" };
    let url = format!("{scheme}://{}:{}{}", spec.host, spec.port, spec.path);
    let mut options = MqttOptions::new(spec.client_id.clone(), url, spec.port);
    // On a TLS route the library gets the run's client configuration: the run's CA only.
    let transport = match &spec.tls {
        Some(run) => Transport::wss_with_config(TlsConfiguration::Rustls(run.client_config())),
        None => Transport::Ws,
    };
    options
        .set_transport(transport)
        .set_keep_alive(keepalive)
        .set_credentials(spec.username.clone(), spec.password.clone())
        .set_clean_session(true);
    options
}

/// Where one session stands: connected when, holding until when, a round trip in flight, a
/// PINGREQ not yet answered.
struct Hold {
    connack_at: Option<Instant>,
    hold_until: Instant,
    round_trip: Option<(Instant, String, Vec<u8>)>,
    last_pingreq: Option<Duration>,
}

impl Hold {
    /// Before the CONNACK: the set-up bound runs.
    fn new(spec: &SessionSpec) -> Hold {
        Hold { connack_at: None, hold_until: Instant::now() + spec.timing.setup_timeout, round_trip: None, last_pingreq: None }
    }

    /// Time since the CONNACK (zero before it).
    fn since_connack(&self) -> Duration {
        self.connack_at.map_or(Duration::ZERO, |c| c.elapsed())
    }

    /// When the session must act unasked: the round trip's bound while one is in flight, else
    /// the end of the set-up or of the hold.
    fn wake(&self, spec: &SessionSpec) -> Instant {
        match &self.round_trip {
            Some((sent, ..)) => *sent + spec.timing.round_trip_timeout,
            None => self.hold_until,
        }
    }

    /// The wake time came: no CONNACK in time, the round trip lost, or the hold over and the
    /// round trip to send. `None` while the session goes on.
    fn woken(&mut self, spec: &SessionSpec, client: &AsyncClient) -> Option<End> {
        let now = Instant::now();
        match (&self.round_trip, self.connack_at) {
            (None, None) => Some(End::HarnessError { detail: format!("rumqttc got no CONNACK within {:?}", spec.timing.setup_timeout) }),
            (Some((sent, ..)), _) => Some(End::HoldCompleted { round_trip: RoundTrip::Lost { waited: now - *sent } }),
            (None, Some(_)) => {
                let topic = spec.topic.clone();
                let payload = format!("alive {:016x}", rand::random::<u64>()).into_bytes();
                if let Err(e) = client.try_publish(topic.clone(), QoS::AtMostOnce, false, payload.clone()) {
                    return Some(End::HarnessError { detail: format!("rumqttc refused the round-trip publish: {e}") });
                }
                self.round_trip = Some((now, topic, payload));
                None
            }
        }
    }

    /// One event of the library's: the CONNACK starts the hold, a PUBLISH may carry the
    /// version or end the round trip, PINGREQ and PINGRESP are noted, an error ends it all.
    async fn heard(&mut self, spec: &SessionSpec, client: &AsyncClient, record: &mut SessionRecord, event: Result<Event, ConnectionError>) -> Option<End> {
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) if self.connack_at.is_none() => {
                let now = Instant::now();
                self.connack_at = Some(now);
                record.connected = true;
                spec.started.reached();
                self.hold_until = now + spec.timing.hold;
                let subscribed = [VERSION_TOPIC, spec.topic.as_str()].into_iter().try_for_each(|f| client.try_subscribe(f, QoS::AtMostOnce));
                if let Err(e) = subscribed {
                    return Some(End::HarnessError { detail: format!("rumqttc refused to subscribe: {e}") });
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if p.topic == VERSION_TOPIC {
                    record.broker_version = Some(String::from_utf8_lossy(&p.payload).into_owned());
                }
                if let Some((sent, topic, payload)) = &self.round_trip {
                    if p.topic == *topic && p.payload[..] == payload[..] {
                        let rtt = sent.elapsed();
                        let _ = timeout(Duration::from_secs(1), client.disconnect()).await;
                        return Some(End::HoldCompleted { round_trip: RoundTrip::Echoed { rtt } });
                    }
                }
            }
            Ok(Event::Outgoing(Outgoing::PingReq)) => self.last_pingreq = Some(self.since_connack()),
            Ok(Event::Incoming(Packet::PingResp)) => self.last_pingreq = None,
            Ok(_) => {}
            Err(e) => return Some(map_error(e, self.since_connack(), self.connack_at.is_some(), self.last_pingreq)),
        }
        None
    }
}

/// Maps rumqttc's error onto the session ends the verdict knows.
fn map_error(e: ConnectionError, at: Duration, connected: bool, pingreq_at: Option<Duration>) -> End {
    match e {
        ConnectionError::ConnectionRefused(code) => End::ConnAckRefused { code: connack_code(code) },
        ConnectionError::MqttState(StateError::AwaitPingResp) => End::PingRespMissing { at, pingreq_at: pingreq_at.unwrap_or(at) },
        // rumqttc does not say whether a WebSocket close frame came first, so its own words stand.
        e @ ConnectionError::MqttState(StateError::ConnectionAborted) => {
            End::LibraryError { at, detail: e.to_string(), by_broker: true }
        }
        ConnectionError::MqttState(StateError::Io(io))
        | ConnectionError::MqttState(StateError::Deserialization(rumqttc::mqttbytes::Error::Io(io)))
        | ConnectionError::Io(io)
            if connected =>
        {
            End::SocketEnded { at, how: SocketEnd::of(&io) }
        }
        ConnectionError::Websocket(ws) if connected => End::LibraryError { at, detail: format!("WebSocket error: {ws}"), by_broker: true },
        ConnectionError::Websocket(ws) => End::UpgradeRefused { detail: format!("WebSocket upgrade failed in rumqttc: {ws}") },
        ConnectionError::ResponseValidation(v) => End::UpgradeRefused { detail: format!("rumqttc rejected the upgrade response: {v:?}") },
        other if connected => End::LibraryError { at, detail: other.to_string(), by_broker: false },
        other => End::HarnessError { detail: format!("rumqttc could not connect: {other}") },
    }
}

fn connack_code(code: ConnectReturnCode) -> u8 {
    match code {
        ConnectReturnCode::Success => 0,
        ConnectReturnCode::RefusedProtocolVersion => 1,
        ConnectReturnCode::BadClientId => 2,
        ConnectReturnCode::ServiceUnavailable => 3,
        ConnectReturnCode::BadUserNamePassword => 4,
        ConnectReturnCode::NotAuthorized => 5,
    }
}
