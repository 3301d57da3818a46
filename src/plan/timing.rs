//! The durations a run is made of, and the mark they must pass.

use std::time::Duration;

/// libwebsockets >= 4.0 pings this long after the last PONG; a hold must pass it to see it.
pub const FIVE_MINUTE_MARK: Duration = Duration::from_secs(300);

/// The durations a session runs by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long the session is held open after CONNACK.
    pub hold: Duration,
    /// MQTT keepalive: a PINGREQ is sent this often (when a PINGRESP is missing: `client::core`).
    pub keepalive: Duration,
    /// How long the `late-pong` profile waits before answering a PING.
    pub late_pong: Duration,
    /// Bound on connect + WebSocket upgrade + CONNACK.
    pub setup_timeout: Duration,
    /// Bound on the final publish/receive round trip.
    pub round_trip_timeout: Duration,
}
