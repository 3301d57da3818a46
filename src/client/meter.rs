//! How long a client, or the proxy between it and its broker, waited to run, measured while
//! sessions run.
//!
//! Clients run at `engine::priority::CLIENT_NICENESS`. When the machine is busier than that
//! niceness can get through, a client's answer to a broker's PING may come after the broker
//! has hung up, and the hang-up is the machine's doing, not the broker's. One thread of the
//! harness, at the same niceness, sleeps [`TICK`] again and again and notes each time it woke
//! [`NOTABLE`] or more late: that lateness is how long a waking client had to wait for a CPU.
//! A task on the proxies' own runtime does the same ([`start_relay_meter`]): every byte of a
//! PING and its PONG passes through a proxy, and a proxy that runs late passes them on late.
//! The proxy hands a cell's recorder the waits its session saw; the session core then judges
//! whether the broker's hang-up could be a starved client's (`State::starved`).
//!
//! Does I/O: one thread per process, started by the first [`start`], one task on the
//! proxies' runtime, and the clock.

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::engine::priority;

/// How long the meter's thread sleeps between looks at the clock.
pub const TICK: Duration = Duration::from_millis(5);
/// The least lateness worth keeping.
pub const NOTABLE: Duration = Duration::from_millis(20);
/// How many notable waits are kept; the oldest go first (a few MB at most).
const KEPT: usize = 50_000;

/// One wait for a CPU: when it ended and how long it was, in real time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// When the waiting thread ran again.
    pub ended: Instant,
    /// How long it waited beyond its sleep.
    pub length: Duration,
}

impl Wait {
    /// When the wait began.
    pub fn began(&self) -> Instant {
        self.ended.checked_sub(self.length).unwrap_or(self.ended)
    }
}

static WAITS: OnceLock<Mutex<VecDeque<Wait>>> = OnceLock::new();

/// Starts the meter once per process; later calls do nothing.
pub fn start() {
    WAITS.get_or_init(|| {
        // A process that cannot start a thread runs without the meter: no waits are noted,
        // and no hang-up is excused.
        let _ = std::thread::Builder::new().name("cpu-wait-meter".to_string()).spawn(measure);
        Mutex::new(VecDeque::new())
    });
}

fn measure() {
    priority::lower_this_thread();
    loop {
        let before = Instant::now();
        std::thread::sleep(TICK);
        note_lateness(before);
    }
}

/// Notes how much later than [`TICK`] after `before` it is now, when that is [`NOTABLE`].
fn note_lateness(before: Instant) {
    let ended = Instant::now();
    let length = ended.duration_since(before).saturating_sub(TICK);
    if length >= NOTABLE {
        note(Wait { ended, length });
    }
}

fn note(wait: Wait) {
    let Some(waits) = WAITS.get() else { return };
    let mut waits = waits.lock().unwrap_or_else(|p| p.into_inner());
    if waits.len() == KEPT {
        waits.pop_front();
    }
    waits.push_back(wait);
}

/// Measures the lateness of the runtime `relays` runs on, as [`start`] measures a thread's:
/// a task there that wakes late is a proxy that passes bytes on late.
pub fn start_relay_meter(relays: &tokio::runtime::Handle) {
    start();
    relays.spawn(async {
        loop {
            let before = Instant::now();
            tokio::time::sleep(TICK).await;
            note_lateness(before);
        }
    });
}

/// The notable waits that overlap `from..=to`, oldest first (none when the meter never started).
pub fn waits_between(from: Instant, to: Instant) -> Vec<Wait> {
    let Some(waits) = WAITS.get() else { return Vec::new() };
    let waits = waits.lock().unwrap_or_else(|p| p.into_inner());
    waits.iter().filter(|w| w.ended >= from && w.began() <= to).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_overlapping_the_window_counts_and_one_outside_it_does_not() {
        start();
        let t0 = Instant::now();
        let inside = Wait { ended: t0 + Duration::from_secs(3600), length: Duration::from_millis(300) };
        let before = Wait { ended: t0 + Duration::from_secs(3000), length: Duration::from_millis(300) };
        note(before);
        note(inside);
        let from = t0 + Duration::from_secs(3599);
        let to = t0 + Duration::from_secs(3601);
        let seen = waits_between(from, to);
        assert!(seen.contains(&inside), "{seen:?}");
        assert!(!seen.contains(&before), "{seen:?}");
    }
}
