//! Readiness: a broker is ready when every listener the run uses answers, not when it
//! prints a line.
//!
//! Log wording differs between versions and can come before the listener accepts: 1.6.9 and
//! 1.6.10 never print "mosquitto version X running", 2.1 prints "running mosquitto as user"
//! before it listens, and a line printed by a wrapper can come seconds before the broker
//! listens at all. So a probe does what a session does, and no more: TCP connect, on
//! WebSocket the upgrade on `/mqtt` answered by `101` with subprotocol `mqtt`, then an MQTT
//! 3.1.1 CONNECT answered by a CONNACK. A CONNACK that refuses still proves the listener
//! works, so it counts as ready. A `wss` listener (a TLS route) is probed the same way inside
//! TLS, trusting the run's CA: its certificate is part of what must work.
//!
//! A probe leaves nothing a cell could see: a client id of its own (`mm-probe-…`), a clean
//! session, and a clean goodbye (DISCONNECT, a close frame on WebSocket, then the end of the
//! stream, waiting briefly for the broker's own end).
//!
//! No Docker here: whether the container still runs is asked through a function the caller
//! passes ([`wait`]), so the back-off is tested against local fakes in milliseconds.

use std::future::Future;
use std::time::Duration;

use tokio::time::{sleep, timeout, Instant};

pub use crate::engine::link::{Listener, Probe, ATTEMPT_TIMEOUT};
use crate::engine::link::Link;
use crate::wire::mqtt::Packet;

/// The first pause between two rounds of probes; it doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_FIRST: Duration = Duration::from_millis(50);
/// The longest pause between two rounds of probes.
pub const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// The keepalive a probe announces; it is gone long before it matters.
const PROBE_KEEPALIVE: u16 = 10;
/// Prefix of every probe's MQTT client id, so a broker log tells probes from sessions.
pub const PROBE_CLIENT_PREFIX: &str = "mm-probe-";

/// What the engine says of the container between two rounds of probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// It runs: keep probing.
    Running,
    /// It exited: stop at once.
    Exited {
        /// Its exit status, when the engine knows it.
        status: Option<i64>,
    },
    /// The engine did not say: keep probing until the time is up.
    Unknown,
}

/// Why a broker was not had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadinessError {
    /// The container exited while its listeners were probed.
    #[error("the broker container exited with {} before its listeners answered", status_text(.status))]
    Exited {
        /// Its exit status, when the engine knows it.
        status: Option<i64>,
    },
    /// Some listener did not answer within the limit.
    #[error("broker not ready within {} ({})", limit_text(*.limit), .last.join("; "))]
    NotReady {
        /// The limit (matrix.toml's `broker.startup_timeout`).
        limit: Duration,
        /// The last answer of every listener that did not answer: `ws 9001 at 127.0.0.1:32768: …`.
        last: Vec<String>,
    },
}

fn status_text(status: &Option<i64>) -> String {
    status.map_or("an unknown status".to_string(), |s| format!("status {s}"))
}

/// `60 s`, `2.5 s`: a limit as matrix.toml's reader wrote it.
fn limit_text(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Every listener answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// From the call of [`wait`] to the last listener's CONNACK.
    pub took: Duration,
    /// Probe attempts made, all listeners together.
    pub attempts: u32,
    /// Each listener's CONNACK return code (0 accepted; non-zero still means it listens).
    pub connack: Vec<(Listener, u8)>,
}

/// The pauses between rounds of probes: 50 ms, doubling, at most 500 ms.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: BACKOFF_FIRST }
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = self.next;
        self.next = (now * 2).min(BACKOFF_MAX);
        Some(now)
    }
}

/// Probes every listener until each has answered once, or the container exits, or `limit`
/// passes. `liveness` is asked before every round; an exited container ends the wait at once.
pub async fn wait<F, Fut>(listeners: &[Listener], probe: &Probe, limit: Duration, mut liveness: F) -> Result<Ready, ReadinessError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Liveness>,
{
    let start = Instant::now();
    let deadline = start + limit;
    let mut pauses = Backoff::default();
    let mut attempts = 0u32;
    let mut connack = Vec::new();
    let mut waiting: Vec<(&Listener, String)> = listeners.iter().map(|l| (l, "not probed".to_string())).collect();
    loop {
        if let Liveness::Exited { status } = liveness().await {
            return Err(ReadinessError::Exited { status });
        }
        let mut still = Vec::new();
        for (listener, last) in waiting {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                still.push((listener, last));
                continue;
            }
            attempts += 1;
            let bound = probe.attempt_timeout.min(left);
            match timeout(bound, attempt(listener, probe)).await {
                Ok(Ok(code)) => connack.push((listener.clone(), code)),
                Ok(Err(why)) => still.push((listener, why)),
                Err(_) => still.push((listener, format!("no answer within {}", limit_text(bound)))),
            }
        }
        waiting = still;
        if waiting.is_empty() {
            return Ok(Ready { took: start.elapsed(), attempts, connack });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            // One last look: a container that died at the end is an exit, not a silence.
            if let Liveness::Exited { status } = liveness().await {
                return Err(ReadinessError::Exited { status });
            }
            let last = waiting.iter().map(|(l, why)| format!("{l}: {why}")).collect();
            return Err(ReadinessError::NotReady { limit, last });
        }
        sleep(pauses.next().unwrap_or(BACKOFF_MAX).min(left)).await;
    }
}

/// One probe of one listener: the CONNACK return code, or why it did not answer (yet).
pub async fn attempt(listener: &Listener, probe: &Probe) -> Result<u8, String> {
    let id = format!("{PROBE_CLIENT_PREFIX}{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    let (link, code) = Link::open(listener, probe, &id, PROBE_KEEPALIVE).await?;
    link.goodbye(code == 0).await;
    Ok(code)
}

/// The topic whose retained message is the broker's own version words.
pub const VERSION_TOPIC: &str = "$SYS/broker/version";

/// Asks a ready broker its version (`$SYS/broker/version`), over the listener a probe just
/// proved, so the report has it whichever columns run (command clients do not subscribe to
/// it). `None` when it does not answer within `limit`; the goodbye is a probe's.
pub async fn broker_version(listener: &Listener, probe: &Probe, limit: Duration) -> Option<String> {
    let id = format!("{PROBE_CLIENT_PREFIX}{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    let asked = timeout(limit, async {
        let (mut link, code) = Link::open(listener, probe, &id, PROBE_KEEPALIVE).await.ok()?;
        if code != 0 {
            link.goodbye(false).await;
            return None;
        }
        let mut version = None;
        if link.send(&Packet::Subscribe { id: 1, filters: vec![VERSION_TOPIC.to_string()] }).await.is_ok() {
            while let Ok(p) = link.next("the $SYS/broker/version message").await {
                if let Packet::Publish { topic, payload, .. } = p {
                    if topic == VERSION_TOPIC {
                        version = Some(String::from_utf8_lossy(&payload).into_owned());
                        break;
                    }
                }
            }
        }
        link.goodbye(true).await;
        version
    });
    asked.await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_starts_at_50_ms_and_doubles_up_to_500_ms() {
        let ms: Vec<u128> = Backoff::default().take(7).map(|d| d.as_millis()).collect();
        assert_eq!(ms, [50, 100, 200, 400, 500, 500, 500]);
    }

    #[test]
    fn errors_say_the_limit_as_written_and_the_exit_status() {
        let e = ReadinessError::NotReady { limit: Duration::from_secs(60), last: vec!["tcp 1883 at h:1: x".into()] };
        assert_eq!(e.to_string(), "broker not ready within 60 s (tcp 1883 at h:1: x)");
        let e = ReadinessError::Exited { status: Some(1) };
        assert_eq!(e.to_string(), "the broker container exited with status 1 before its listeners answered");
        assert_eq!(limit_text(Duration::from_millis(2500)), "2.5 s");
    }
}
