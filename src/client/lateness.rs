//! How late a broker runs while its sessions run on an accelerated clock, measured apart from
//! them.
//!
//! A broker answers a WebSocket PING at once when it runs. The run keeps one connection of its
//! own to each accelerated broker (a [`Lateness`]) and times a PING on it every [`INTERVAL`]
//! of real time, one at a time, on the proxies' runtime, from when it was due: a PING that
//! takes long went out while the broker could not run (a timer of the broker's due then fired
//! that late), or while the proxies' runtime could not (it read what the broker sent that
//! late). A cell's proxy asks, once the session ended, how late things ran from the broker's
//! last PING to the session's end ([`Lateness::within`]); the session core records that as
//! `SessionRecord::broker_late`, beside how late the broker answered the client's own PINGREQs
//! (`broker_lag`), which come only once a keepalive. Measured at ×30 with 8 copies: hang-ups
//! read 1.3–3 s (40–100 ms real) after libwebsockets' 310 s from brokers whose PINGREQ answers
//! had lagged 0.06–1.4 s.
//!
//! Does I/O: one connection per broker at a time and a task on the proxies' runtime; a
//! connection the broker ends is opened again once it timed a PING, up to [`REOPENS`] times.
//! It stops when the last handle goes, or when a connection cannot open or ends before its
//! first answer, and then says nothing more (no lag is no excuse).

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::engine::link::{Link, Listener, Probe};

/// How often (real time) a broker's lateness is sampled: shorter than any wait that matters
/// at ×30 (a tenth of a second of real time is 3 s of broker time).
pub const INTERVAL: Duration = Duration::from_millis(50);

/// How many times a connection the broker ended is opened again, at most: libwebsockets may
/// end one every 310 s of broker time; a broker that ended every one at once would otherwise
/// be asked to connect again and again (each a line in its log).
pub const REOPENS: usize = 8;

/// The most samples kept per broker: an hour at [`INTERVAL`].
const KEPT: usize = 72_000;

/// How long (real time) a question about a span waits for a PING that went out in it and is
/// still out: a broker that stalls answers it when it runs again, and a session it ended in
/// that stall is judged as soon as it ended.
pub const SETTLE: Duration = Duration::from_secs(1);

/// One timed PING: when it was due to go out and when its PONG came back, in real time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    sent: Instant,
    answered: Instant,
}

#[derive(Debug)]
struct Inner {
    samples: Mutex<Vec<Sample>>,
    /// When the PING still out went out; `None` between PINGs and once the connection ended.
    out: Mutex<Option<Instant>>,
    /// Told each time `out` is cleared.
    back: Notify,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.task).take() {
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
        let inner = Arc::new(Inner { samples: Mutex::new(Vec::new()), out: Mutex::new(None), back: Notify::new(), task: Mutex::new(None) });
        let weak = Arc::downgrade(&inner);
        let task = on.spawn(async move {
            // A link the broker ends after it timed something is opened again: measured at ×30
            // with 8 copies, brokers ended 3 of 32 links after 107-161 PINGs, and their cells
            // then had no timing at all. (libwebsockets keeps one buffer for the PONG it owes
            // and the PING it means to send, and sends the PONG first: a client that PINGs it
            // often may not get its PING out in time to be answered before the 310 s hang-up:
            // likely, not confirmed.)
            for _ in 0..=REOPENS {
                let Ok((link, 0)) = Link::open(&listener, &probe, &client_id, 0).await else { return };
                if !sample(link, &weak).await {
                    return;
                }
            }
        });
        *lock(&inner.task) = Some(task);
        Lateness(inner)
    }

    /// The longest a PING took (real time) among those out at some time from `from` to `to`:
    /// how late the broker may have run then. A PING that went out by `to` and is still out
    /// is waited for, up to [`SETTLE`]; one the broker never answers counts for nothing. Zero
    /// when none was timed.
    pub async fn within(&self, from: Instant, to: Instant) -> Duration {
        let settled = tokio::time::Instant::now() + SETTLE;
        loop {
            // Asked to be told before looking, so that an answer in between is not missed.
            let back = self.0.back.notified();
            tokio::pin!(back);
            back.as_mut().enable();
            if !lock(&self.0.out).is_some_and(|sent| sent <= to) || tokio::time::timeout_at(settled, back).await.is_err() {
                break;
            }
        }
        longest_within(&lock(&self.0.samples), from, to)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Times a PING on `link` every [`INTERVAL`] into `inner`, until the link ends or `inner` is
/// gone. Returns whether it is worth opening another link: this one timed a PING and the
/// handles are still there.
async fn sample(mut link: Link, inner: &Weak<Inner>) -> bool {
    let mut timed = false;
    let mut next = Instant::now();
    loop {
        tokio::time::sleep_until(next.into()).await;
        // Timed from when it was due: a runtime that could not run sends it late, and reads
        // what its sessions were sent that late too.
        let due = next;
        let Some(strong) = inner.upgrade() else { return false };
        *lock(&strong.out) = Some(due);
        drop(strong);
        let answered = link.ping().await;
        let back = Instant::now();
        let Some(strong) = inner.upgrade() else { return false };
        if answered.is_ok() {
            let mut samples = lock(&strong.samples);
            if samples.len() >= KEPT {
                samples.drain(..KEPT / 2);
            }
            samples.push(Sample { sent: due, answered: back });
        }
        *lock(&strong.out) = None;
        strong.back.notify_waiters();
        if answered.is_err() {
            return timed;
        }
        timed = true;
        next = (due + INTERVAL).max(back);
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

    fn unwatched() -> Lateness {
        Lateness(Arc::new(Inner { samples: Mutex::new(Vec::new()), out: Mutex::new(None), back: Notify::new(), task: Mutex::new(None) }))
    }

    #[tokio::test]
    async fn a_ping_still_out_when_asked_is_waited_for_and_counts_once_answered() {
        // The broker stalls: the PING went out before the session's end and comes back 80 ms
        // after the question.
        let lateness = unwatched();
        let sent = Instant::now();
        *lock(&lateness.0.out) = Some(sent);
        let inner = Arc::clone(&lateness.0);
        let answer = tokio::spawn(async move {
            tokio::time::sleep(ms(80)).await;
            lock(&inner.samples).push(Sample { sent, answered: Instant::now() });
            *lock(&inner.out) = None;
            inner.back.notify_waiters();
        });
        let late = lateness.within(sent, sent + ms(1)).await;
        assert!(late >= ms(80) && late < SETTLE, "{late:?}");
        answer.await.expect("the answer");
    }

    #[tokio::test]
    async fn a_ping_never_answered_counts_for_nothing_after_the_settling_bound() {
        let lateness = unwatched();
        let sent = Instant::now();
        *lock(&lateness.0.out) = Some(sent);
        let asked = Instant::now();
        assert_eq!(lateness.within(sent, sent + ms(1)).await, Duration::ZERO);
        assert!(asked.elapsed() >= SETTLE, "waited {:?}", asked.elapsed());
        // A PING that went out after the span is not waited for.
        let lateness = unwatched();
        *lock(&lateness.0.out) = Some(Instant::now());
        let asked = Instant::now();
        assert_eq!(lateness.within(sent, sent + ms(1)).await, Duration::ZERO);
        assert!(asked.elapsed() < SETTLE);
    }

    /// A stand-in broker on loopback: each connection gets its 101 and CONNACK, then PONGs to
    /// the first `answers(n)` PINGs of the n-th connection (from 0), then its end. Returns its
    /// port and how many connections it accepted.
    async fn broker(answers: fn(usize) -> usize) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let port = server.local_addr().expect("its address").port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = server.accept().await {
                let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = bytes::BytesMut::new();
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let key = head.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap_or_default().trim().to_string();
                let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
                let reply = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n");
                let _ = s.write_all(reply.as_bytes()).await;
                let mut frames = bytes::BytesMut::new();
                let (mut pongs, limit) = (0, answers(n));
                loop {
                    match crate::wire::frame::decode(&mut frames) {
                        Ok(Some(f)) if f.opcode == crate::wire::frame::opcode::BINARY => {
                            let _ = s.write_all(&crate::wire::frame::encode(crate::wire::frame::opcode::BINARY, &[0x20, 0x02, 0x00, 0x00], false)).await;
                            continue;
                        }
                        Ok(Some(f)) if f.opcode == crate::wire::frame::opcode::PING && pongs < limit => {
                            pongs += 1;
                            let _ = s.write_all(&crate::wire::frame::encode(crate::wire::frame::opcode::PONG, &f.payload, false)).await;
                            continue;
                        }
                        Ok(Some(f)) if f.opcode == crate::wire::frame::opcode::PING => break,
                        Ok(Some(_)) => continue,
                        Ok(None) => {}
                        Err(_) => break,
                    }
                    if s.read_buf(&mut frames).await.unwrap_or(0) == 0 {
                        break;
                    }
                }
            }
        });
        (port, accepted)
    }

    fn watch_on(port: u16) -> Lateness {
        let listener = Listener { transport: crate::plan::Transport::Ws, host: "127.0.0.1".into(), port, tls: None };
        let probe = Probe { username: "u".into(), password: "p".into(), path: "/mqtt".into(), attempt_timeout: Duration::from_secs(5) };
        Lateness::watch(listener, probe, "mm-lateness-test".into(), &tokio::runtime::Handle::current())
    }

    #[tokio::test]
    async fn a_link_the_broker_ends_after_it_timed_a_ping_is_opened_again_and_timing_goes_on() {
        // The first connection answers three PINGs and ends; the next ones answer all.
        let (port, accepted) = broker(|n| if n == 0 { 3 } else { usize::MAX }).await;
        let lateness = watch_on(port);
        let enough = async {
            while lock(&lateness.0.samples).len() < 6 {
                lateness.0.back.notified().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), enough).await.expect("six PINGs timed, over two links");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_link_that_ends_before_its_first_answer_is_not_opened_again() {
        let (port, accepted) = broker(|_| 0).await;
        let lateness = watch_on(port);
        // The task ends by itself: nothing more is timed, and nobody connects again.
        let task = lock(&lateness.0.task).take().expect("its task");
        tokio::time::timeout(Duration::from_secs(10), task).await.expect("the task ends").expect("no panic");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(lock(&lateness.0.samples).is_empty());
    }
}
