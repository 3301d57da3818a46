//! The columns of the matrix: who a client is — its name, its transport — not what it does.
//!
//! What each built-in profile does with a frame lives in `client::behaviour`.

use std::fmt;

use serde::{Deserialize, Serialize};

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

    /// The transport's name as the reports spell it: `ws` or `tcp`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Tcp => "tcp",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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

    /// Whether the session is driven at the frame level by [`crate::client::session`]
    /// (every profile but the real rumqttc client).
    pub fn is_frame_level(self) -> bool {
        self != Profile::Rumqttc
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

    #[test]
    fn every_profile_name_looks_itself_up() {
        for p in Profile::ALL {
            assert_eq!(Profile::from_name(p.name()), Some(p));
        }
        assert_eq!(Profile::from_name("paho"), None);
    }
}
