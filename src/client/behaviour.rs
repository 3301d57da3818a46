//! What each built-in profile does with a frame the broker sends.
//!
//! Pure code: a frame in, a [`Reaction`] out. The session carries the reaction out
//! on the socket, so the same profile serves a real broker and the scripted peer.

use std::time::Duration;

use crate::plan::Profile;
use crate::wire::frame::{close_payload, opcode, opcode_name, RawFrame};

/// What a profile does with one frame from the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// The frame carries MQTT bytes: hand them to the packet decoder.
    Data,
    /// Nothing to do.
    Ignore,
    /// Send a PONG with this payload, `after` the frame arrived.
    Pong {
        /// The payload to send back.
        payload: Vec<u8>,
        /// Whether the PONG is masked (RFC 6455 §5.1 says it must be).
        masked: bool,
        /// Delay before sending.
        after: Duration,
    },
    /// End the session from the client's side: send a close frame with this payload (if
    /// any), then close the socket.
    GiveUp {
        /// The close frame's payload, when the client writes one.
        close_payload: Option<Vec<u8>>,
        /// Why, in words that finish the sentence "`<profile>` …".
        why: String,
    },
}

/// How this profile reacts to a frame the broker sent.
pub fn react(profile: Profile, frame: &RawFrame, late_pong: Duration) -> Reaction {
    let op = frame.opcode;
    if profile == Profile::PahoJava125 && op != opcode::BINARY && op != opcode::CLOSE {
        // WebSocketReceiver treats every other opcode as an invalid frame.
        return Reaction::GiveUp {
            close_payload: Some(b"1000".to_vec()),
            why: format!("rejects opcode 0x{op:x} and drops the connection"),
        };
    }
    match op {
        opcode::BINARY | opcode::CONTINUATION => Reaction::Data,
        opcode::CLOSE | opcode::PONG => Reaction::Ignore,
        opcode::TEXT => Reaction::GiveUp {
            close_payload: Some(close_payload(1003, "text frame")),
            // MQTT 3.1.1 §6.0: any data frame but binary must close the connection.
            why: "closes the connection on a text frame, as MQTT 3.1.1 §6 requires".to_string(),
        },
        opcode::PING => on_ping(profile, &frame.payload, late_pong),
        _ => Reaction::GiveUp {
            close_payload: Some(close_payload(1002, "reserved opcode")),
            why: format!("fails the connection on {}, as RFC 6455 §5.2 requires", opcode_name(op)),
        },
    }
}

/// The close frame's payload when the profile ends a session itself, after the hold:
/// Paho Java writes the ASCII text `1000` there too (`WebSocketNetworkModule.stop()`), every
/// other profile the status code 1000 (normal closure).
pub fn goodbye_close_payload(profile: Profile) -> Vec<u8> {
    match profile {
        Profile::PahoJava125 => b"1000".to_vec(),
        _ => close_payload(1000, ""),
    }
}

fn on_ping(profile: Profile, payload: &[u8], late_pong: Duration) -> Reaction {
    let pong = |masked, after| Reaction::Pong { payload: payload.to_vec(), masked, after };
    match profile {
        Profile::Rfc6455 | Profile::Fragmented | Profile::Tcp | Profile::Rumqttc | Profile::PahoJava125 => pong(true, Duration::ZERO),
        Profile::UnmaskedPong => pong(false, Duration::ZERO),
        Profile::LatePong => pong(true, late_pong),
        Profile::NoPong => Reaction::Ignore,
        Profile::CloseOnPing => Reaction::GiveUp {
            close_payload: Some(close_payload(1000, "")),
            why: "answers it with a close frame and ends the session".to_string(),
        },
    }
}

/// How this profile splits one encoded MQTT packet into WebSocket frames: one frame each,
/// but `fragmented` writes the fixed header byte, the remaining length and then each field of
/// a CONNECT (the rest of any other packet) as frames of their own, as MQTT.js 5 does (its
/// CONNECT went as 13 frames of 1, 1, 2, 4, 1, 1, 2, 2, 15, 2, 6, 2 and 16 bytes).
pub fn pieces(profile: Profile, packet: &[u8]) -> Vec<&[u8]> {
    if profile != Profile::Fragmented || packet.len() < 2 {
        return vec![packet];
    }
    let length_end = packet[1..].iter().position(|b| b & 0x80 == 0).map_or(packet.len(), |i| i + 2).min(packet.len());
    let mut cuts = vec![1, length_end];
    if packet[0] >> 4 == 1 {
        connect_fields(packet, length_end, &mut cuts);
    }
    cuts.push(packet.len());
    cuts.dedup();
    let mut out = Vec::new();
    let mut from = 0;
    for to in cuts {
        if to > from && to <= packet.len() {
            out.push(&packet[from..to]);
            from = to;
        }
    }
    out
}

/// The ends of a CONNECT's fields after its fixed header: each length prefix and each value
/// on its own (protocol name, level, flags, keepalive, [properties,] then the payload's strings).
fn connect_fields(packet: &[u8], start: usize, cuts: &mut Vec<usize>) {
    let len_at = |i: usize| packet.get(i..i + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    let Some(name) = len_at(start) else { return };
    let mut at = start + 2;
    cuts.push(at);
    at += name;
    cuts.push(at);
    let level = packet.get(at).copied();
    for width in [1, 1, 2] {
        at += width;
        cuts.push(at);
    }
    if level == Some(5) {
        // The property length (one byte for the empty properties a profile sends), then them.
        let Some(&n) = packet.get(at) else { return };
        at += 1;
        cuts.push(at);
        if n > 0 {
            at += usize::from(n & 0x7f);
            cuts.push(at);
        }
    }
    while let Some(n) = len_at(at) {
        at += 2;
        cuts.push(at);
        at += n;
        cuts.push(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(op: u8, payload: &[u8]) -> RawFrame {
        RawFrame { opcode: op, fin: true, masked: false, payload: payload.to_vec() }
    }

    #[test]
    fn paho_gives_up_on_a_ping_with_the_ascii_close_payload() {
        let r = react(Profile::PahoJava125, &frame(opcode::PING, b""), Duration::ZERO);
        assert_eq!(
            r,
            Reaction::GiveUp {
                close_payload: Some(b"1000".to_vec()),
                why: "rejects opcode 0x9 and drops the connection".into()
            }
        );
    }

    #[test]
    fn paho_gives_up_on_a_continuation_frame() {
        let r = react(Profile::PahoJava125, &frame(opcode::CONTINUATION, b"x"), Duration::ZERO);
        assert!(matches!(r, Reaction::GiveUp { .. }));
    }

    #[test]
    fn rfc6455_echoes_the_ping_payload_in_a_masked_pong() {
        let r = react(Profile::Rfc6455, &frame(opcode::PING, b"abc"), Duration::ZERO);
        assert_eq!(r, Reaction::Pong { payload: b"abc".to_vec(), masked: true, after: Duration::ZERO });
    }

    #[test]
    fn late_pong_waits_for_its_delay_and_unmasked_pong_drops_the_mask() {
        let late = react(Profile::LatePong, &frame(opcode::PING, b""), Duration::from_secs(15));
        assert!(matches!(late, Reaction::Pong { masked: true, after, .. } if after == Duration::from_secs(15)));
        let unmasked = react(Profile::UnmaskedPong, &frame(opcode::PING, b""), Duration::ZERO);
        assert!(matches!(unmasked, Reaction::Pong { masked: false, .. }));
    }

    #[test]
    fn fragmented_splits_a_connect_as_mqtt_js_does() {
        let connect = crate::wire::mqtt::encode(&crate::wire::mqtt::Packet::Connect {
            protocol: crate::wire::mqtt::Protocol::V311,
            client_id: "mm-0123456789ab".into(),
            username: Some("matrix".into()),
            password: Some(b"matrix-test-only".to_vec()),
            keepalive: 60,
            properties: Default::default(),
        });
        let sizes: Vec<usize> = pieces(Profile::Fragmented, &connect).iter().map(|p| p.len()).collect();
        assert_eq!(sizes, [1, 1, 2, 4, 1, 1, 2, 2, 15, 2, 6, 2, 16]);
        assert_eq!(pieces(Profile::Rfc6455, &connect), vec![&connect[..]]);
        assert_eq!(pieces(Profile::Fragmented, &[0xc0, 0]), vec![&[0xc0u8][..], &[0][..]]);
        let publish = [0x30, 5, 0, 1, b't', b'h', b'i'];
        assert_eq!(pieces(Profile::Fragmented, &publish).concat(), publish);
        assert_eq!(pieces(Profile::Fragmented, &publish).len(), 3);
    }

    #[test]
    fn paho_says_goodbye_with_the_ascii_payload_and_the_others_with_code_1000() {
        assert_eq!(goodbye_close_payload(Profile::PahoJava125), b"1000");
        assert_eq!(goodbye_close_payload(Profile::Rfc6455), [0x03, 0xe8]);
    }

    #[test]
    fn no_pong_ignores_pings() {
        assert_eq!(react(Profile::NoPong, &frame(opcode::PING, b""), Duration::ZERO), Reaction::Ignore);
    }
}
