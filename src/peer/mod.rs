//! The scripted broker: an in-process "Mosquitto" on an ephemeral loopback port that plays one
//! [`Behaviour`] a real broker or proxy has (the libwebsockets 4.x PING, a text frame, a
//! refused upgrade …) and records what it saw on the wire as an [`Observation`].
//!
//! In: a client's bytes and the time. Out: the broker's bytes, how the connection ends, and the
//! observation. [`core`] holds every rule of the scripted broker without I/O (bytes and
//! instants in, [`core::Out`]s out, testable in microseconds); [`serve`] is the only file that
//! touches sockets and the clock: a listener on 127.0.0.1:0 (plain or TLS), one task per
//! client connection driving a [`core::Core`]. Every duration is a whole number of a `unit`,
//! so "300 s" can happen in 300 ms.
//!
//! Each client connection is its own little broker: a PUBLISH is delivered back to the
//! subscriptions of the connection that sent it, which is all the round trip needs. Used by
//! `conformance clients` and by the tests that play the built-in profiles against a broker.

pub mod behaviour;
pub mod core;
pub mod observation;
pub mod serve;

pub use behaviour::{Behaviour, Unmasked, PING_PAYLOAD, PING_PAYLOAD_125};
pub use observation::{ConnectSeen, Event, Observation, PeerEnd, UpgradeSeen, What};
pub use serve::Peer;

/// The retained `$SYS/broker/version` payload the peer publishes after SUBACK.
pub const BROKER_VERSION: &str = "mosquitto version 2.0.11";

/// How long, in units, the peer waits for the client to finish after the peer ended the
/// session (close frame sent, or FIN sent) before it drops the socket anyway.
pub const GRACE_UNITS: u32 = 50;

/// MQTT topic matching with `+` and `#` (MQTT 3.1.1 §4.7); `$` topics match no leading wildcard.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut levels = topic.split('/');
    for f in filter.split('/') {
        match (f, levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (f, Some(t)) if f == t => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn wildcards_match_levels_but_dollar_topics_need_their_own_first_level() {
        assert!(topic_matches("test/#", "test/a/b"));
        assert!(topic_matches("test/+", "test/a"));
        assert!(!topic_matches("test/+", "test/a/b"));
        assert!(!topic_matches("#", "$SYS/broker/version"));
        assert!(topic_matches("$SYS/broker/version", "$SYS/broker/version"));
    }
}
