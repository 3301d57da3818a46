//! Hostile bytes through the session's read path: frames are decoded from the
//! socket buffer, each profile reacts to them, data frames feed the MQTT
//! buffer, and packets are decoded from that — as `Session::on_input` does.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mosquitto_matrix::wire::frame::{self, opcode, MAX_PAYLOAD};
use mosquitto_matrix::wire::mqtt::{self, MAX_PACKET};
use mosquitto_matrix::client::behaviour;
use mosquitto_matrix::plan::Profile;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else { return };
    let profile = Profile::ALL[seed as usize % Profile::ALL.len()];
    let mut inbuf = BytesMut::new();
    let mut mqtt_buf = BytesMut::new();
    let mut fed = 0usize;
    let mut rest = stream;
    let mut step = seed as usize;
    'session: while !rest.is_empty() {
        step = step.wrapping_mul(31).wrapping_add(7);
        let n = (step % 23 + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        inbuf.extend_from_slice(chunk);
        fed += n;
        loop {
            match frame::decode(&mut inbuf) {
                Ok(Some(f)) => {
                    assert!(f.payload.len() as u64 <= MAX_PAYLOAD);
                    let _ = behaviour::react(profile, &f, Duration::from_secs(1));
                    if matches!(f.opcode, opcode::BINARY | opcode::CONTINUATION) {
                        mqtt_buf.extend_from_slice(&f.payload);
                    }
                    if f.opcode == opcode::CLOSE {
                        let _ = frame::parse_close(&f.payload);
                        let _ = &f.payload[..f.payload.len().min(2)];
                        break 'session;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = e.to_string();
                    break 'session;
                }
            }
        }
        // The MQTT buffer never holds more than the peer sent.
        assert!(mqtt_buf.len() <= fed);
        loop {
            match mqtt::decode(&mut mqtt_buf) {
                Ok(Some(p)) => {
                    if let mqtt::Packet::Publish { payload, .. } = &p {
                        assert!(payload.len() <= MAX_PACKET);
                    }
                    if let mqtt::Packet::ConnAck { code } = p {
                        let _ = mqtt::connack_reason(code);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = e.to_string();
                    break 'session;
                }
            }
        }
    }
});
