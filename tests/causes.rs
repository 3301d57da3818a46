//! Causes that say what happened: the recording proxy's decoder and the verdict together, on
//! the bytes MQTT.js sent to Mosquitto 2.0.0–2.0.5 (eclipse-mosquitto/mosquitto#1974).

use std::time::Duration;

use mosquitto_matrix::client::recorder::{Recorder, Watch};
use mosquitto_matrix::judge::record::{Party, SocketEnd};
use mosquitto_matrix::judge::verdict::decide;
use mosquitto_matrix::plan::{Outcome, Transport};
use mosquitto_matrix::wire::frame::{self, opcode};
use mosquitto_matrix::wire::mqtt::{self, Packet};

fn watch() -> Watch {
    Watch {
        column: "mqttjs".into(),
        transport: Transport::Ws,
        hold: Duration::from_secs(330),
        keepalive: Duration::from_secs(60),
        client_id: "c".into(),
        topic: "test/c".into(),
        speed: 1.0,
        protocol: mqtt::Protocol::V311,
        lateness: None,
    }
}

/// The upgrade and its 101, then the client's CONNECT cut into frames of `sizes` bytes.
fn upgraded_then_connect_in(sizes: &[usize]) -> Recorder {
    let mut r = Recorder::new(watch());
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let request = format!("GET /mqtt HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n");
    r.bytes(Party::Client, Duration::ZERO, request.as_bytes());
    let response = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
    r.bytes(Party::Broker, Duration::from_millis(5), response.as_bytes());
    let connect = mqtt::encode(&Packet::Connect {
        protocol: mqtt::Protocol::V311,
        client_id: "mqttjs_c".into(),
        username: Some("matrix".into()),
        password: Some(b"matrix-test-only".to_vec()),
        keepalive: 60,
        properties: Default::default(),
    });
    assert_eq!(sizes.iter().sum::<usize>(), connect.len(), "the frames carry the whole CONNECT");
    let mut at = 0;
    for n in sizes {
        r.bytes(Party::Client, Duration::from_millis(6), &frame::encode(opcode::BINARY, &connect[at..at + n], true));
        at += n;
    }
    r
}

#[test]
fn a_broker_that_hangs_up_on_a_connect_in_13_frames_is_an_eof_before_connack_that_counts_the_frames() {
    // MQTT.js's 13 frames as the proxy recorded them, resized to this CONNECT's 48 bytes.
    let sizes = [1, 1, 2, 4, 1, 1, 2, 2, 15, 2, 6, 2, 9];
    let mut r = upgraded_then_connect_in(&sizes);
    r.closed(Party::Broker, Duration::from_millis(7), SocketEnd::Eof);
    r.closed(Party::Client, Duration::from_millis(8), SocketEnd::Eof);
    let record = r.finish();
    assert_eq!(record.connect_frames, Some(13));
    let v = decide(&record);
    // Times count from the broker's 101 (5 ms); its FIN came 2 ms later.
    assert_eq!((v.outcome, v.before_connack, v.at), (Outcome::Eof, true, Some(Duration::from_millis(2))));
    assert_eq!(v.cause, "broker closed the connection (FIN, no close frame) after a CONNECT sent as 13 WebSocket frames, before any CONNACK");
    let json = serde_json::to_string(&record).expect("JSON");
    // The upgrade request comes before the 101, at a negative time; no time is a negative zero.
    let negative_zero = json.match_indices("-0.0").any(|(i, m)| !json[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()));
    assert!(!negative_zero, "no negative zero in the transcript's times: {json}");
}

#[test]
fn a_connect_in_one_frame_says_so() {
    let mut r = upgraded_then_connect_in(&[48]);
    r.closed(Party::Broker, Duration::from_millis(7), SocketEnd::Reset);
    let v = decide(&r.finish());
    assert_eq!(v.cause, "broker reset the connection after a CONNECT sent in one WebSocket frame, before any CONNACK");
}
