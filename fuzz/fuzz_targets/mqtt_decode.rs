//! Hostile bytes into `mqtt::decode_as`, MQTT 3.1.1 or 5 by the first byte: it must never
//! panic, never hold a packet past `MAX_PACKET`, read the same packets however the bytes
//! arrive, and every packet it reads must survive `encode_as` → `decode_as` unchanged.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mosquitto_matrix::wire::mqtt::{self, Packet, PacketError, Protocol, MAX_PACKET};

fn check_packet(p: &Packet, consumed: usize, protocol: Protocol) {
    // A packet is at least a type byte and a one-byte length, and at most
    // MAX_PACKET plus a four-byte length.
    assert!(consumed >= 2, "consumed {consumed} bytes for {p:?}");
    assert!(consumed <= MAX_PACKET + 5, "consumed {consumed} bytes");
    let held = match p {
        Packet::Connect { client_id, username, password, .. } => {
            client_id.len() + username.as_ref().map_or(0, String::len) + password.as_ref().map_or(0, Vec::len)
        }
        Packet::Publish { topic, payload, .. } => topic.len() + payload.len(),
        Packet::Subscribe { filters, .. } => filters.iter().map(String::len).sum(),
        Packet::SubAck { codes, .. } => codes.len(),
        _ => 0,
    };
    assert!(held <= MAX_PACKET && held < consumed, "packet holds {held} bytes from {consumed}");
    if let Packet::ConnAck { properties, .. } | Packet::Disconnect { properties, .. } | Packet::Auth { properties, .. } = p {
        let _ = properties.to_string();
    }
    let mut again = BytesMut::from(&mqtt::encode_as(p, protocol)[..]);
    assert_eq!(mqtt::decode_as(&mut again, protocol), Ok(Some(p.clone())), "encode/decode changed {p:?}");
    assert!(again.is_empty());
}

fn drain(buf: &mut BytesMut, out: &mut Vec<Packet>, protocol: Protocol) -> Result<(), PacketError> {
    loop {
        let before = buf.clone();
        match mqtt::decode_as(buf, protocol) {
            Ok(Some(p)) => {
                check_packet(&p, before.len() - buf.len(), protocol);
                out.push(p);
            }
            Ok(None) => {
                assert_eq!(&buf[..], &before[..], "Ok(None) changed the buffer");
                return Ok(());
            }
            Err(e) => {
                let _ = e.to_string();
                return Err(e);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else { return };
    let protocol = if seed & 0x80 != 0 { Protocol::V5 } else { Protocol::V311 };

    let mut whole = BytesMut::from(stream);
    let mut packets_whole = Vec::new();
    let end_whole = drain(&mut whole, &mut packets_whole, protocol);

    let mut chunked = BytesMut::new();
    let mut packets_chunked = Vec::new();
    let mut end_chunked = Ok(());
    let mut rest = stream;
    let mut step = seed as usize;
    while !rest.is_empty() {
        step = step.wrapping_mul(31).wrapping_add(7);
        let n = (step % 17 + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        chunked.extend_from_slice(chunk);
        end_chunked = drain(&mut chunked, &mut packets_chunked, protocol);
        if end_chunked.is_err() {
            break;
        }
    }

    assert_eq!(packets_whole, packets_chunked, "chunking changed the packets read");
    assert_eq!(end_whole, end_chunked, "chunking changed the outcome");
    if end_whole.is_ok() {
        assert_eq!(&whole[..], &chunked[..], "chunking changed the bytes left over");
    }
});
