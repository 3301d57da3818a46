//! Client profiles: how each kind of MQTT-over-WebSocket client reacts to the frames a broker sends.
//!
//! Pure code: a frame in, a [`Reaction`] out. The session carries the reaction out
//! on the socket, so the same profile serves a real broker and the scripted peer.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::frame::{opcode, opcode_name, RawFrame};

/// The way a profile reaches the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// MQTT over WebSocket on port 9001.
    Ws,
    /// MQTT over plain TCP on port 1883.
    Tcp,
}

impl Transport {
    /// The broker port inside the container.
    pub fn container_port(self) -> u16 {
        match self {
            Transport::Ws => 9001,
            Transport::Tcp => 1883,
        }
    }
}

/// One column of the matrix: a client behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Profile {
    /// Eclipse Paho Java 1.2.5: accepts only opcodes 0x2 and 0x8; anything else is an
    /// "invalid frame" after which it writes a close frame with the ASCII payload `1000`
    /// and closes the socket (`Connection lost (32109) - java.io.EOFException`).
    #[serde(rename = "paho-java-1.2.5")]
    PahoJava125,
    /// Answers every PING with a PONG echoing its payload (RFC 6455 §5.5.2–5.5.3).
    #[serde(rename = "rfc6455")]
    Rfc6455,
    /// Never answers pings and never closes because of them.
    #[serde(rename = "no-pong")]
    NoPong,
    /// Answers a PING with a close frame, 2 ms later in the wild (reported by users of an
    /// unnamed client: PING, then the client's close).
    #[serde(rename = "close-on-ping")]
    CloseOnPing,
    /// Answers with a PONG whose mask bit is off, against RFC 6455 §5.1 (Paho Python's
    /// WebSocket wrapper does this).
    #[serde(rename = "unmasked-pong")]
    UnmaskedPong,
    /// Answers a PING only when it next reads, `late_pong` after it (clients that pong
    /// only from their read loop).
    #[serde(rename = "late-pong")]
    LatePong,
    /// The real rumqttc client (`Transport::Ws`), driven through its event loop.
    #[serde(rename = "rumqttc")]
    Rumqttc,
    /// The same MQTT session over TCP on port 1883: the control column.
    #[serde(rename = "tcp")]
    Tcp,
}

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
        /// Why, in words that finish the sentence "<profile> …".
        why: String,
    },
}

impl Profile {
    /// Every profile, in the matrix's default column order.
    pub const ALL: [Profile; 8] = [
        Profile::PahoJava125,
        Profile::Rfc6455,
        Profile::NoPong,
        Profile::CloseOnPing,
        Profile::UnmaskedPong,
        Profile::LatePong,
        Profile::Rumqttc,
        Profile::Tcp,
    ];

    /// The profile's name as matrix.toml and the reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::PahoJava125 => "paho-java-1.2.5",
            Profile::Rfc6455 => "rfc6455",
            Profile::NoPong => "no-pong",
            Profile::CloseOnPing => "close-on-ping",
            Profile::UnmaskedPong => "unmasked-pong",
            Profile::LatePong => "late-pong",
            Profile::Rumqttc => "rumqttc",
            Profile::Tcp => "tcp",
        }
    }

    /// Looks a profile up by name.
    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The transport the profile uses.
    pub fn transport(self) -> Transport {
        match self {
            Profile::Tcp => Transport::Tcp,
            _ => Transport::Ws,
        }
    }

    /// Whether the session is driven at the frame level by [`crate::session`]
    /// (every profile but the real rumqttc client).
    pub fn is_frame_level(self) -> bool {
        self != Profile::Rumqttc
    }

    /// How this profile reacts to a frame the broker sent.
    pub fn react(self, frame: &RawFrame, late_pong: Duration) -> Reaction {
        let op = frame.opcode;
        if self == Profile::PahoJava125 && op != opcode::BINARY && op != opcode::CLOSE {
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
                close_payload: Some(crate::frame::close_payload(1003, "text frame")),
                // MQTT 3.1.1 §6.0: any data frame but binary must close the connection.
                why: "closes the connection on a text frame, as MQTT 3.1.1 §6 requires".to_string(),
            },
            opcode::PING => self.on_ping(&frame.payload, late_pong),
            _ => Reaction::GiveUp {
                close_payload: Some(crate::frame::close_payload(1002, "reserved opcode")),
                why: format!("fails the connection on {}, as RFC 6455 §5.2 requires", opcode_name(op)),
            },
        }
    }

    fn on_ping(self, payload: &[u8], late_pong: Duration) -> Reaction {
        let pong = |masked, after| Reaction::Pong { payload: payload.to_vec(), masked, after };
        match self {
            Profile::Rfc6455 | Profile::Tcp | Profile::Rumqttc | Profile::PahoJava125 => pong(true, Duration::ZERO),
            Profile::UnmaskedPong => pong(false, Duration::ZERO),
            Profile::LatePong => pong(true, late_pong),
            Profile::NoPong => Reaction::Ignore,
            Profile::CloseOnPing => Reaction::GiveUp {
                close_payload: Some(crate::frame::close_payload(1000, "")),
                why: "answers it with a close frame and ends the session".to_string(),
            },
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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
        let r = Profile::PahoJava125.react(&frame(opcode::PING, b""), Duration::ZERO);
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
        let r = Profile::PahoJava125.react(&frame(opcode::CONTINUATION, b"x"), Duration::ZERO);
        assert!(matches!(r, Reaction::GiveUp { .. }));
    }

    #[test]
    fn rfc6455_echoes_the_ping_payload_in_a_masked_pong() {
        let r = Profile::Rfc6455.react(&frame(opcode::PING, b"abc"), Duration::ZERO);
        assert_eq!(r, Reaction::Pong { payload: b"abc".to_vec(), masked: true, after: Duration::ZERO });
    }

    #[test]
    fn late_pong_waits_for_its_delay_and_unmasked_pong_drops_the_mask() {
        let late = Profile::LatePong.react(&frame(opcode::PING, b""), Duration::from_secs(15));
        assert!(matches!(late, Reaction::Pong { masked: true, after, .. } if after == Duration::from_secs(15)));
        let unmasked = Profile::UnmaskedPong.react(&frame(opcode::PING, b""), Duration::ZERO);
        assert!(matches!(unmasked, Reaction::Pong { masked: false, .. }));
    }

    #[test]
    fn no_pong_ignores_pings() {
        assert_eq!(Profile::NoPong.react(&frame(opcode::PING, b""), Duration::ZERO), Reaction::Ignore);
    }

    #[test]
    fn every_profile_name_looks_itself_up() {
        for p in Profile::ALL {
            assert_eq!(Profile::from_name(p.name()), Some(p));
        }
        assert_eq!(Profile::from_name("paho"), None);
    }
}
