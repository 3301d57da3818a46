//! The durations a run is made of, and the mark they must pass.

use std::time::Duration;

/// libwebsockets >= 4.0 pings this long after the last PONG; a hold must pass it to see it.
pub const FIVE_MINUTE_MARK: Duration = Duration::from_secs(300);
/// And hangs up this long after a PING nobody answered with a PONG.
pub const LWS_PONG_WINDOW: Duration = Duration::from_secs(10);

/// The bound on connect + upgrade + CONNACK + SUBACK when matrix.toml says none
/// (`setup_timeout`), and what a command client assumes when `MATRIX_SETUP_SECS` is unset.
pub const DEFAULT_SETUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The bound on the final publish/receive round trip when matrix.toml says none
/// (`round_trip_timeout`), and what a command client assumes when `MATRIX_ROUND_TRIP_SECS`
/// is unset.
pub const DEFAULT_ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `late-pong` waits before its PONG when `mosquitto-matrix client` is not told
/// (`--late-pong`): past libwebsockets' 10 s window, as matrix.toml's `late_pong` is.
pub const DEFAULT_LATE_PONG: Duration = Duration::from_secs(15);

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
