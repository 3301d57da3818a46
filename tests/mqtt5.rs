//! MQTT 5 sessions end to end without Docker: a small MQTT 5 broker of ours on loopback, the
//! built-in session under protocol 5, once directly and once through the recording proxy, so
//! the session core is exercised both as the player and as the proxy's observer.

use std::mem::discriminant;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use mosquitto_matrix::client::proxy::Proxy;
use mosquitto_matrix::client::recorder::Watch;
use mosquitto_matrix::client::{self, SessionSpec, Started};
use mosquitto_matrix::judge::record::{End, SessionRecord};
use mosquitto_matrix::judge::verdict;
use mosquitto_matrix::plan::{Outcome, Profile, Timing, Transport};
use mosquitto_matrix::wire::mqtt::{self, property, Packet, Properties, Property, Protocol, Value};

/// What the broker of these tests does after SUBACK.
#[derive(Clone, Copy)]
enum Broker {
    /// Answers PINGREQ and echoes publishes, like Mosquitto.
    Serves,
    /// Sends DISCONNECT 0x8D (keep alive timeout) with a reason string this long after SUBACK, then hangs up.
    Disconnects(Duration),
}

/// The CONNACK Mosquitto 2.0 sends a v5 client, plus a reason string: properties a 3.1.1
/// decoder cannot read.
fn connack() -> Packet {
    let p = |id, value| Property { id, value };
    Packet::ConnAck {
        code: 0,
        properties: Properties(vec![
            p(property::TOPIC_ALIAS_MAXIMUM, Value::U16(10)),
            p(property::RECEIVE_MAXIMUM, Value::U16(20)),
            p(property::REASON_STRING, Value::Str("welcome".into())),
        ]),
    }
}

/// Serves one MQTT 5 connection over TCP as `broker` says.
async fn serve(mut s: TcpStream, broker: Broker) {
    let mut buf = BytesMut::new();
    let mut deadline = None;
    loop {
        let packet = loop {
            match mqtt::decode_as(&mut buf, Protocol::V5) {
                Ok(Some(p)) => break Some(p),
                Ok(None) => {}
                Err(e) => panic!("the client sent a bad packet: {e}"),
            }
            let read = async {
                match deadline {
                    Some(at) => tokio::time::timeout_at(at, s.read_buf(&mut buf)).await.ok(),
                    None => Some(s.read_buf(&mut buf).await),
                }
            };
            match read.await {
                None => break None,
                Some(Ok(0)) | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        };
        let answer = match packet {
            None => {
                let reason = Properties(vec![Property { id: property::REASON_STRING, value: Value::Str("keepalive".into()) }]);
                let _ = s.write_all(&mqtt::encode_as(&Packet::Disconnect { reason: 0x8D, properties: reason }, Protocol::V5)).await;
                return;
            }
            Some(Packet::Connect { protocol, .. }) => {
                assert_eq!(protocol, Protocol::V5, "the client asked for MQTT 5");
                connack()
            }
            Some(Packet::Subscribe { id, filters }) => {
                if let Broker::Disconnects(after) = broker {
                    deadline = Some(tokio::time::Instant::now() + after);
                }
                Packet::SubAck { id, codes: vec![0; filters.len()] }
            }
            Some(Packet::PingReq) => Packet::PingResp,
            Some(p @ Packet::Publish { .. }) => p,
            Some(Packet::Disconnect { .. }) | Some(_) => continue,
        };
        if s.write_all(&mqtt::encode_as(&answer, Protocol::V5)).await.is_err() {
            return;
        }
    }
}

/// A listener serving every connection as `broker` says; its port.
async fn broker(behaviour: Broker) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve(s, behaviour));
        }
    });
    port
}

fn timing() -> Timing {
    Timing {
        hold: Duration::from_millis(400),
        keepalive: Duration::from_secs(1),
        late_pong: Duration::from_secs(1),
        setup_timeout: Duration::from_secs(2),
        round_trip_timeout: Duration::from_millis(500),
    }
}

fn spec(port: u16) -> SessionSpec {
    SessionSpec {
        profile: Profile::Tcp,
        protocol: Protocol::V5,
        host: "127.0.0.1".into(),
        port,
        path: "/mqtt".into(),
        username: "u".into(),
        password: "p".into(),
        client_id: "c5".into(),
        topic: "test/c5".into(),
        timing: timing(),
        started: Started::new(),
        tls: None,
    }
}

/// The same session twice: in process, and through the recording proxy (the proxy's record).
async fn both_ways(behaviour: Broker) -> (SessionRecord, SessionRecord) {
    let port = broker(behaviour).await;
    let direct = client::run(&spec(port)).await;
    let t = timing();
    let watch = Watch {
        column: "tcp+v5".into(),
        transport: Transport::Tcp,
        hold: t.hold,
        keepalive: t.keepalive,
        client_id: "c5".into(),
        topic: "test/c5".into(),
        speed: 1.0,
        protocol: Protocol::V5,
        lateness: None,
    };
    let proxy = Proxy::start(format!("127.0.0.1:{port}"), watch, Started::new(), None, Duration::from_secs(10)).await.expect("a proxy");
    let through = client::run(&spec(proxy.port())).await;
    assert_eq!(discriminant(&through.end), discriminant(&direct.end), "the client ends alike through the proxy: {:?}", through.end);
    let seen = proxy.finish(Duration::from_secs(2)).await.expect("the proxy worked");
    (direct, seen.record.expect("the proxy saw the connection"))
}

#[tokio::test]
async fn a_v5_session_with_a_connack_carrying_properties_holds_in_process_and_through_the_proxy() {
    let (direct, proxied) = both_ways(Broker::Serves).await;
    for record in [&direct, &proxied] {
        let v = verdict::decide(record);
        assert_eq!(v.outcome, Outcome::Ok, "{}: {:?}", v.cause, record.end);
        assert!(record.connected);
    }
    let connack = proxied.wire.iter().find(|w| w.what.starts_with("MQTT CONNACK")).expect("the CONNACK in the transcript");
    assert_eq!(connack.what, "MQTT CONNACK 0 (connection accepted); topic alias maximum 10, receive maximum 20, reason string \"welcome\"");
    assert!(proxied.wire.iter().any(|w| w.what.starts_with("MQTT CONNECT 5 client id \"c5\"")), "{:?}", proxied.wire);
}

#[tokio::test]
async fn a_v5_disconnect_with_a_reason_is_the_cause_in_process_and_through_the_proxy() {
    let (direct, proxied) = both_ways(Broker::Disconnects(Duration::from_millis(150))).await;
    for record in [&direct, &proxied] {
        let End::BrokerDisconnected { at, reason, reason_string } = &record.end else { panic!("{:?}", record.end) };
        assert_eq!((*reason, reason_string.as_deref()), (0x8D, Some("keepalive")));
        assert!(*at >= Duration::from_millis(150) && *at < Duration::from_millis(400), "{at:?}");
        let v = verdict::decide(record);
        assert_eq!(v.outcome, Outcome::Eof);
        assert!(v.cause.starts_with("broker sent DISCONNECT 0x8D (keep alive timeout), reason string \"keepalive\" at 0."), "{}", v.cause);
    }
}
