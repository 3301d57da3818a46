//! How late a broker runs while its sessions run on an accelerated clock, measured apart from
//! them.
//!
//! A broker answers a WebSocket PING at once when it runs. The run keeps one connection of its
//! own to each accelerated broker (a [`Lateness`]) and times a PING on it every [`INTERVAL`]
//! of real time, one at a time, on the proxies' runtime: a PING that takes long was sent while
//! the broker, or the proxies reading it, could not run, and a timer of the broker's that was
//! due then fired that late. A cell's proxy asks, once the session ended, how late the broker
//! ran from the broker's last PING to the session's end ([`Lateness::within`]); the session
//! core counts that as its broker's lag (`SessionRecord::broker_lag`), beside its own
//! PINGREQs' answers, which come only once a keepalive. Measured at ×30 with 8 copies: hang-ups
//! read 1.3–3 s (40–100 ms real) after libwebsockets' 310 s from brokers whose PINGREQ answers
//! had lagged 0.06–1.4 s.
//!
//! Does I/O: one connection per broker and a task on the proxies' runtime; it stops when the
//! last handle goes or the connection ends, and then says nothing more (no lag is no excuse).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::engine::link::{Link, Listener, Probe};

/// How often (real time) a broker's lateness is sampled: shorter than any wait that matters
/// at ×30 (a tenth of a second of real time is 3 s of broker time).
pub const INTERVAL: Duration = Duration::from_millis(50);

/// The most samples kept per broker: an hour at [`INTERVAL`].
const KEPT: usize = 72_000;

/// One timed PING: when it went out and when its PONG came back, in real time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    sent: Instant,
    answered: Instant,
}

#[derive(Debug)]
struct Inner {
    samples: Mutex<Vec<Sample>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

/// One broker's lateness, sampled by a connection of the run's own; cloned to every cell of
/// the broker. Two handles are equal when they watch the same broker.
#[derive(Debug, Clone)]
pub struct Lateness(Arc<Inner>);

impl PartialEq for Lateness {
    fn eq(&self, other: &Lateness) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Lateness {
    /// Starts timing the broker on `listener` (a WebSocket one), logged in with `probe`'s
    /// credentials as `client_id`, on the runtime `on` (the proxies', so that a proxy reading
    /// late shows too). Returns at once: samples come once the connection is open; a
    /// connection that cannot open gives none.
    pub fn watch(listener: Listener, probe: Probe, client_id: String, on: &tokio::runtime::Handle) -> Lateness {
        let inner = Arc::new(Inner { samples: Mutex::new(Vec::new()), task: Mutex::new(None) });
        let weak = Arc::downgrade(&inner);
        let task = on.spawn(async move {
            let Ok((mut link, 0)) = Link::open(&listener, &probe, &client_id, 0).await else { return };
            let mut next = tokio::time::Instant::now();
            loop {
                tokio::time::sleep_until(next).await;
                let sent = Instant::now();
                if link.ping().await.is_err() {
                    return;
                }
                let Some(inner) = weak.upgrade() else { return };
                let mut samples = inner.samples.lock().unwrap_or_else(|p| p.into_inner());
                if samples.len() >= KEPT {
                    samples.drain(..KEPT / 2);
                }
                samples.push(Sample { sent, answered: Instant::now() });
                next = tokio::time::Instant::from_std(sent) + INTERVAL;
            }
        });
        *inner.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Lateness(inner)
    }

    /// The longest a PING took (real time) among those out at some time from `from` to `to`:
    /// how late the broker may have run then. Zero when none was timed.
    pub fn within(&self, from: Instant, to: Instant) -> Duration {
        let samples = self.0.samples.lock().unwrap_or_else(|p| p.into_inner());
        longest_within(&samples, from, to)
    }
}

/// The longest round trip among `samples` out at some time from `from` to `to` (one that went
/// out by `to` and came back from `from` on).
fn longest_within(samples: &[Sample], from: Instant, to: Instant) -> Duration {
    samples.iter().filter(|s| s.sent <= to && s.answered >= from).map(|s| s.answered.saturating_duration_since(s.sent)).max().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn only_pings_out_during_the_span_count_and_the_longest_of_them_is_the_lateness() {
        let t0 = Instant::now();
        let samples = [
            Sample { sent: t0, answered: t0 + ms(400) },
            Sample { sent: t0 + ms(450), answered: t0 + ms(451) },
            Sample { sent: t0 + ms(500), answered: t0 + ms(620) },
            Sample { sent: t0 + ms(670), answered: t0 + ms(671) },
        ];
        // The 400 ms PING ended before the span; the 120 ms one overlaps its start.
        assert_eq!(longest_within(&samples, t0 + ms(600), t0 + ms(700)), ms(120));
        assert_eq!(longest_within(&samples, t0 + ms(300), t0 + ms(700)), ms(400));
        assert_eq!(longest_within(&samples, t0 + ms(660), t0 + ms(665)), Duration::ZERO);
        assert_eq!(longest_within(&[], t0, t0 + ms(1)), Duration::ZERO);
    }
}
