//! Whose end it was: the rules that tell a broker's own end from one the harness or the
//! machine made (a client starved of CPU or slowed inside its own process, a broker that could
//! not run and fired its timers late, a timeout that raced a late upgrade request, CONNECT or
//! CONNACK). Each one it finds is an ERROR that says why and what was read; the session core
//! ([`State::decide`]) asks them before it calls an end the broker's.

use std::time::Duration;

use super::{Ending, State, BROKER_PATIENCE};
use crate::judge::record::{Direction, End, FrameSeen};
use crate::plan::{Transport, LWS_PONG_WINDOW};
use crate::wire::frame::opcode;

/// A client that has sent nothing this long (broker time) after its connection was accepted
/// is not speaking: a broker that then ends the connection ends a silent client by its own
/// handshake timeout (libwebsockets' for a missing upgrade request), not the session. A
/// working client writes its upgrade request or CONNECT within milliseconds of connecting.
const SPEECHLESS: Duration = Duration::from_secs(1);

/// The least time after its connection was accepted at which a broker ends, by its own
/// timeout, a connection whose CONNECT it has not read: Mosquitto 2.1 (its own WebSocket code)
/// holds a new connection to a keepalive of 20 s, which its 1.5 × patience makes 30 s, checked
/// once a second of its clock. Measured at ×30 with 8 copies: a client that had its CONNECT
/// out 27 s (0.9 s real) after connecting got a close 1000 and no CONNACK at 30 s.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(29);

/// The least real time a client may owe the broker something before the broker's end may be
/// the client's starvation: a broker answers what a client sent sooner.
const MIN_SILENCE: Duration = Duration::from_millis(100);

/// How close (real time) the end of a wait to run must come to a read for the read to count as
/// late by that wait: the meter ticks every 5 ms and notes waits of 20 ms or more.
pub(super) const READ_NEAR: Duration = Duration::from_millis(20);

/// How much shorter than libwebsockets' window a PING-to-hang-up gap may read and still be the
/// whole window: at ×30 a proxy reads the two up to 30 ms (real) apart from when they left.
const WINDOW_SLACK: Duration = Duration::from_secs(1);

/// How late (broker time) a broker may run before a session it ends, or one its client ends
/// on nothing of the broker's, stops being a measurement on an accelerated clock: half of
/// libwebsockets' PONG window ([`State::overrun`]).
const OVERRUN: Duration = Duration::from_secs(5);

/// Where a broker's lag was seen ([`State::lag_seen`]): its answers to the client's PINGREQs,
/// and the PINGs the run times on a connection of its own (`client::lateness`).
const LAG_SEEN: &str = "to answer this client's PINGREQs or the run's own PINGs";

/// What a client owes a broker after its PING ([`State::owed`]).
const OWED_PONG: &str = "its answer to the broker's PING";

impl State {
    /// The client was silent past what a broker waits for: the broker's end is the harness's
    /// doing (a starved client, or one whose clock did not follow the run's speed).
    pub(super) fn starved(&self, t: Duration, ending: &Ending) -> Option<End> {
        // At real time only a broker's end can be the drop of a silent client; a client that
        // ends by itself ends as it says. On an accelerated clock a client whose own clock did
        // not follow sends its PINGREQs N times too late, whoever ends.
        let broker_ended = !matches!(ending, Ending::Client(_));
        if broker_ended && t >= SPEECHLESS && self.first_from_client.is_none_or(|first| first > t) {
            return Some(End::HarnessError {
                detail: format!(
                    "the client sent nothing in the {:.1} s between its connection being accepted and the broker closing it \
                     (no upgrade request, no CONNECT): a client starved of CPU or stalled, cut off by the broker's handshake timeout; \
                     not a broker drop",
                    t.as_secs_f64()
                ),
            });
        }
        if broker_ended {
            if let Some(error) = self.starved_while_owing(t).or_else(|| self.reaction_multiplied(t)).or_else(|| self.window_shortened(t)) {
                return Some(error);
            }
        }
        // A broker answers a whole upgrade request with a 101 or an HTTP refusal, never a bare
        // end; one that ends the connection unanswered, after a client slow to send even its
        // request, ended it by its handshake timeout, racing the late request.
        if let Some(first) = self.first_from_client.filter(|first| {
            broker_ended && self.zero.is_none() && self.rules.transport == Transport::Ws && t >= SPEECHLESS && first.mul_f64(2.0) >= t
        }) {
            return Some(End::HarnessError {
                detail: format!(
                    "the client's upgrade request came {:.1} s after its connection was accepted, and the broker ended the connection \
                     unanswered at {:.1} s: a client starved of CPU or stalled, cut off by the broker's handshake timeout; not a broker drop",
                    first.as_secs_f64(),
                    t.as_secs_f64()
                ),
            });
        }
        if let Some(error) = self
            .upgrade_unanswered(t, ending)
            .or_else(|| self.connect_raced(t, broker_ended))
            .or_else(|| self.connack_raced(t, broker_ended))
        {
            return Some(error);
        }
        // The broker holds a client to the keepalive its CONNECT declared (0: none).
        let keepalive = self.declared_keepalive.unwrap_or(self.keepalive);
        if self.connack_at.is_none() || keepalive.is_zero() || !(self.rules.speed > 1.0 || broker_ended) {
            return None;
        }
        let silence = self.longest_silence.max(t.saturating_sub(self.last_from_client.or(self.connack_at).unwrap_or(t)));
        if silence <= keepalive.mul_f64(BROKER_PATIENCE) {
            return None;
        }
        let (secs, keepalive) = (silence.as_secs_f64(), keepalive.as_secs_f64());
        let detail = if self.rules.speed > 1.0 {
            format!(
                "acceleration not in effect for the client: it sent nothing for {secs:.1} s of broker time with a keepalive of {keepalive:.0} s, \
                 so its clock did not run ×{} with the time library (a Go program, a static binary?) or it was starved of CPU",
                self.rules.speed
            )
        } else {
            format!(
                "the client was starved or stalled: it sent nothing for {secs:.1} s with a keepalive of {keepalive:.0} s, \
                 past the {BROKER_PATIENCE} × keepalive a broker waits; not a broker drop"
            )
        };
        Some(End::HarnessError { detail })
    }

    /// On an accelerated clock, the broker's side ended a WebSocket connection (FIN or reset) at
    /// `t` without a byte of answer to the client's whole upgrade request: no 101, no HTTP
    /// refusal. Mosquitto answers a whole upgrade request within milliseconds of its clock, so
    /// what ends one unanswered is a broker that could not keep up with its own clock (its
    /// handshake timeout ran out first) or the engine's port proxy failing to reach the broker
    /// (docker-proxy accepts a connection, then closes it at once when its own connection to
    /// the container fails). Measured at ×30 with 8 copies: three of the 21 connections one
    /// broker was sent in the same millisecond ended 2 ms after their requests, unanswered,
    /// while the other 18 got their 101s. At real time such an end stays the broker's.
    fn upgrade_unanswered(&self, t: Duration, ending: &Ending) -> Option<End> {
        let asked = self.request_at.filter(|asked| *asked <= t)?;
        let unanswered = self.zero.is_none() && self.rules.transport == Transport::Ws;
        if !matches!(ending, Ending::BrokerSocket(_)) || !unanswered || self.rules.speed <= 1.0 {
            return None;
        }
        Some(End::HarnessError {
            detail: format!(
                "the broker's side ended the connection {} ms of real time after the client's whole upgrade request, without \
                 answering it (no 101, no HTTP refusal), on a clock running ×{}: Mosquitto answers a whole upgrade request, so \
                 this was a broker that could not keep up with its clock, or the engine's port proxy failing to reach the broker; \
                 not a broker drop (run at a lower speed, or with fewer copies)",
                t.saturating_sub(asked).div_f64(self.rules.speed).as_millis(),
                self.rules.speed
            ),
        })
    }

    /// A broker's end before any CONNACK, at its timeout for a CONNECT ([`CONNECT_TIMEOUT`] or
    /// later), of a client that was still writing in the second half of that time: the broker's
    /// timeout raced a late CONNECT. A broker answers a CONNECT that came in time with its
    /// CONNACK or at once; an end before that time (Mosquitto 2.0.0-2.0.5 closing at once on a
    /// split CONNECT), or long after the client's last bytes, stays the broker's.
    fn connect_raced(&self, t: Duration, broker_ended: bool) -> Option<End> {
        let upgraded = self.zero.is_some() || self.rules.transport == Transport::Tcp;
        if !broker_ended || !upgraded || self.connack_at.is_some() || self.refused_connack.is_some() || t < CONNECT_TIMEOUT {
            return None;
        }
        let latest = self.latest_from_client.filter(|latest| latest.mul_f64(2.0) >= t && *latest <= t)?;
        let what = if self.connect_at.is_some_and(|c| c <= t) {
            "CONNECT"
        } else if self.zero.is_none_or(|zero| latest >= zero) {
            "CONNECT, still incomplete,"
        } else {
            "upgrade request, and no CONNECT after the 101,"
        };
        Some(End::HarnessError {
            detail: format!(
                "the client's {what} came {:.1} s after its connection was accepted, and the broker ended the connection at {:.1} s \
                 before any CONNACK: a client starved of CPU or stalled, cut off by the broker's timeout for a CONNECT \
                 (Mosquitto 2.1: 30 s of its clock); not a broker drop",
                latest.as_secs_f64(),
                t.as_secs_f64()
            ),
        })
    }

    /// On an accelerated clock the client ended its connection at `t`, after a CONNACK that came
    /// a second or more (broker time) after its CONNECT, having sent nothing since (not even
    /// its SUBSCRIBE): its own set-up bound ran out on a CONNACK the machine made late.
    /// Measured at ×30 with 12 copies: Paho Python's FIN 2 ms (broker time) after a CONNACK
    /// that came 14 s after its CONNECT, and its reset 0.2-1 s (real) after CONNACKs that came
    /// 4.4-10.5 s late, each read as the client's EOF. A client that ends on a prompt CONNACK
    /// (one it refuses) ends as it says.
    fn connack_raced(&self, t: Duration, broker_ended: bool) -> Option<End> {
        let (connect, connack) = (self.connect_at?, self.connack_at?);
        let waited = connack.checked_sub(connect)?;
        let after = t.checked_sub(connack)?;
        let quiet = self.latest_from_client.is_none_or(|latest| latest <= connack);
        if broker_ended || self.rules.speed <= 1.0 || !quiet || waited < SPEECHLESS {
            return None;
        }
        Some(End::HarnessError {
            detail: format!(
                "the client ended its connection {} ms of real time after the broker's CONNACK, which came {:.1} s after its CONNECT \
                 (clocks ×{}), having sent nothing since: its own set-up bound ran out on a CONNACK the machine made late; \
                 not a measurement (run at a lower speed, or with fewer copies)",
                after.div_f64(self.rules.speed).as_millis(),
                waited.as_secs_f64(),
                self.rules.speed
            ),
        })
    }

    /// What the client owed the broker when the broker ended the session at `t`, and since
    /// when: its upgrade request and CONNECT from the start, while no CONNECT had gone by; its
    /// answer to the last PING, while it had not answered it.
    fn owed(&self, t: Duration) -> Option<(&'static str, Duration)> {
        if self.connack_at.is_none() {
            return self.connect_at.is_none_or(|c| c > t).then_some(("its upgrade request and CONNECT", Duration::ZERO));
        }
        if self.rules.withholds_pong {
            return None;
        }
        let at = self.rel(t);
        let frames = &self.record.frames;
        let ping = last_ping(frames, at)?;
        let answers = [opcode::PONG, opcode::CLOSE];
        if frames.iter().any(|f| f.direction == Direction::Sent && answers.contains(&f.opcode) && f.at >= ping.at && f.at <= at) {
            return None;
        }
        Some((OWED_PONG, self.arrived_by(t - (at - ping.at))))
    }

    /// When bytes read at `read` may truly have come: where a wait to run (`client::meter`)
    /// ended within [`READ_NEAR`] of `read`, when that wait began (the proxies, or a thread at
    /// the clients' priority, could not run: the bytes may have waited unread all along); else
    /// `read`. Measured at ×30 on a busy machine: PINGs read together with the broker's hang-up,
    /// "0.0 s after a PING", so that nothing seemed owed.
    fn arrived_by(&self, read: Duration) -> Duration {
        let speed = self.rules.speed.max(1.0);
        let near = READ_NEAR.mul_f64(speed);
        self.cpu_waits
            .iter()
            .filter(|(ended, _)| ended.abs_diff(read) <= near)
            .map(|&(ended, length)| wait_began(ended, length, speed))
            .fold(read, Duration::min)
    }

    /// The broker ended the session at `t` while the client owed it something ([`State::owed`]),
    /// at least [`MIN_SILENCE`] of real time after it began to, and in that time a thread at the
    /// clients' priority or the proxies waited to run half of it or more: the client may have been starved,
    /// so the end cannot be told from a broker drop. (A broker that ends a session at once on
    /// what a starved client did send reads as this too: which it was cannot be told.)
    fn starved_while_owing(&self, t: Duration) -> Option<End> {
        let (what, since) = self.owed(t)?;
        let speed = self.rules.speed.max(1.0);
        let owing = t.saturating_sub(since).div_f64(speed);
        if owing < MIN_SILENCE {
            return None;
        }
        let waited = waited_within(&self.cpu_waits, since, t, speed);
        if waited * 2 < owing {
            return None;
        }
        let clock = if speed > 1.0 { format!(" (clocks ×{speed})") } else { String::new() };
        let detail = format!(
            "the broker ended the connection while it waited for {what} from the client, {} ms of real time{clock}; \
             in those, a thread at the clients' priority or the harness's proxies waited {} ms to run: a client starved of CPU \
             or passed on late, not a broker drop \
             (run at a lower speed, or with fewer copies)",
            owing.as_millis(),
            waited.as_millis(),
        );
        Some(End::HarnessError { detail })
    }

    /// For the rules of a PING's answer: on an accelerated clock, a connected session of a
    /// client that owes PINGs an answer, ended at `t`; the end's time since the session's zero
    /// and the broker's last PING before it.
    fn pinged_before(&self, t: Duration) -> Option<(Duration, &FrameSeen)> {
        if self.rules.speed <= 1.0 || self.rules.withholds_pong || self.connack_at.is_none() {
            return None;
        }
        let at = self.rel(t);
        Some((at, last_ping(&self.record.frames, at)?))
    }

    /// On an accelerated clock the broker ended the session at `t` sooner after its PING than
    /// libwebsockets' [`LWS_PONG_WINDOW`], where the window was short because the PING left or
    /// was read late, the hang-up keeping its own time:
    /// - the client had not answered, and the end came less than [`MIN_SILENCE`] of real time
    ///   after the PING was read: no client on a busy machine answers that fast. Measured at
    ///   ×30 with 8 copies: the PING read at 307.2 s, the hang-up at 309.7 s (83 ms real),
    ///   before Paho Java v5 could drop the connection as it does on a PING; on an overloaded
    ///   machine, 74 cells in one run read `EOF ≠ OK`, the PING read 4-16 s after it was due
    ///   and 0.0-0.2 s before the hang-up, from brokers that could not run until both timers
    ///   were overdue;
    /// - or the broker took at least the window's shortfall to answer one of the client's
    ///   PINGREQs: its PING may have left that late. Measured at ×30 with 12 copies: Paho
    ///   Python's PONG 60 ms (real) after a PING read at 309.5 s, the hang-up at 314.4 s, from
    ///   a broker that took up to 6.6 s to answer a PINGREQ.
    ///
    /// Whatever the gap: a PONG inside the window, from a broker that took as long to answer a
    /// PINGREQ as it then had the PONG before it hung up: its timer may have fired before it
    /// read the PONG (measured: a PONG 0.2 s after the PING, the hang-up 10.5 s after the PONG,
    /// PINGREQs answered up to 15.9 s late).
    ///
    /// At real time such readings stay the broker's end: no broker runs seconds late.
    fn window_shortened(&self, t: Duration) -> Option<End> {
        let (at, ping) = self.pinged_before(t)?;
        let frames = &self.record.frames;
        let gap = at - ping.at;
        let real = |d: Duration| d.div_f64(self.rules.speed).as_millis();
        let lagged = format!(
            "and the broker took up to {:.1} s ({} ms of real time, clocks ×{}) {LAG_SEEN}",
            self.lag_seen().as_secs_f64(),
            real(self.lag_seen()),
            self.rules.speed
        );
        let pong = first_pong(frames, ping.at).filter(|p| p.at <= at);
        // A PONG in the window, and a broker that lagged as long as it then had it: the
        // broker's timer may have fired before it read the PONG.
        if let Some(pong) = pong.filter(|p| p.at - ping.at < LWS_PONG_WINDOW && self.lag_seen() >= at - p.at) {
            let detail = format!(
                "the broker ended the connection {:.1} s after its PING at {:.1} s, which the client answered {:.1} s after it, {lagged}: \
                 its timer may have fired before it read the PONG; not a broker drop (run at a lower speed, or with fewer copies)",
                gap.as_secs_f64(),
                ping.at.as_secs_f64(),
                (pong.at - ping.at).as_secs_f64()
            );
            return Some(End::HarnessError { detail });
        }
        let shortfall = LWS_PONG_WINDOW.checked_sub(gap).filter(|s| *s >= WINDOW_SLACK)?;
        let unanswered = self.owed(t).is_some_and(|(what, _)| what == OWED_PONG);
        let why = if unanswered && gap.div_f64(self.rules.speed) < MIN_SILENCE {
            format!("{} ms of real time (clocks ×{}), before the client could answer", real(gap), self.rules.speed)
        } else if self.lag_seen() >= shortfall {
            lagged
        } else {
            return None;
        };
        let detail = format!(
            "the broker ended the connection {:.1} s after its PING at {:.1} s, {why}: sooner than libwebsockets' {} s window, \
             so the PING left or was read late on a busy machine; not a broker drop (run at a lower speed, or with fewer copies)",
            gap.as_secs_f64(),
            ping.at.as_secs_f64(),
            LWS_PONG_WINDOW.as_secs()
        );
        Some(End::HarnessError { detail })
    }

    /// On an accelerated clock the broker ended the session at `t` after a PING that the client
    /// did answer (before the end, or after it), but so slowly that its answer took half or more
    /// of the time from the PING to the end (both as read; of libwebsockets' 10 s at most),
    /// while in real time it took less than that time in broker seconds: at real time the same
    /// client would have answered in time. The clock multiplied the client's reaction (slowed
    /// inside its own process: a busy runtime), so the end cannot be told from a broker drop.
    /// Measured at ×30, 8 copies: Paho Python's PONG 277 ms (real) after a PING that
    /// libwebsockets sent 90 ms late, its 310 s hang-up 12 ms after the PONG.
    fn reaction_multiplied(&self, t: Duration) -> Option<End> {
        let (at, ping) = self.pinged_before(t)?;
        let frames = &self.record.frames;
        // The client's PONG, before the end or after it: one that came after the broker had hung
        // up still shows how slowly the client answered.
        let pong = first_pong(frames, ping.at)?;
        let (reaction, window) = (pong.at - ping.at, at - ping.at);
        // A broker running late hangs up later than its window: the window the answer was due
        // in is libwebsockets' at most.
        let due = window.min(LWS_PONG_WINDOW);
        let real = reaction.div_f64(self.rules.speed);
        if reaction * 2 < due || real >= due {
            return None;
        }
        let detail = format!(
            "the broker ended the connection {:.1} s after its PING at {:.1} s, which the client answered {} ms of real time later \
             ({:.1} s at clocks ×{}): at real time that answer would have come in time; the clock multiplied the reaction of a client \
             slowed inside its own process, not a broker drop (run at a lower speed, or with fewer copies)",
            window.as_secs_f64(),
            ping.at.as_secs_f64(),
            real.as_millis(),
            reaction.as_secs_f64(),
            self.rules.speed,
        );
        Some(End::HarnessError { detail })
    }

    /// On an accelerated clock, a connected session whose broker ran [`OVERRUN`] or more late:
    /// the longest it took to answer one of the client's PINGREQs, or the age of one still
    /// unanswered at `t`. A broker that late cannot keep libwebsockets' PONG window apart from
    /// the client's answer, nor its answers apart from a client's own timeouts, so a session it
    /// ended, or one a client ended on nothing of the broker's, is not a measurement.
    /// Measured at ×30 with 12 copies on 2 cores: PINGREQs answered up to 45 s (1.5 s real)
    /// late; built-in clients ending on "no PINGRESP within a keepalive", MQTT.js on its own
    /// keepalive timeout, and no-pong's hang-up read 15 s late with the PING.
    pub(super) fn overrun(&self, t: Duration) -> Option<End> {
        if self.rules.speed <= 1.0 || self.connack_at.is_none_or(|c| c > t) {
            return None;
        }
        let pending = self.pingreq.map_or(Duration::ZERO, |asked| t.saturating_sub(asked));
        let lag = self.broker_lag.max(pending);
        if lag < OVERRUN {
            return None;
        }
        let what = if pending > self.broker_lag { "had not answered a PINGREQ of this client's for" } else { "took up to" };
        Some(End::HarnessError {
            detail: format!(
                "the broker {what} {:.1} s ({} ms of real time, clocks ×{}) to answer this client's PINGREQs: a broker running that \
                 late cannot keep its PING window, or its answers, apart from what the client does, so how this session ended is \
                 not a measurement (run at a lower speed, or with fewer copies)",
                lag.as_secs_f64(),
                lag.div_f64(self.rules.speed).as_millis(),
                self.rules.speed
            ),
        })
    }

    /// On an accelerated clock, a client whose own timers ran [`OVERRUN`] or more late: its
    /// longest silence after CONNACK passed its keepalive by that much (a client sends its
    /// PINGREQ a keepalive after its last packet). A client that late which ends the session on
    /// nothing of the broker's may have ended on its own misfiring timers. Measured at ×30 with
    /// 8 copies: MQTT.js's PINGREQ 77 s after its SUBSCRIBE (keepalive 60 s), then its reset on
    /// "Keepalive timeout" although the broker had answered that PINGREQ, read as the client's
    /// EOF.
    pub(super) fn client_overrun(&self) -> Option<End> {
        let keepalive = self.declared_keepalive.unwrap_or(self.keepalive);
        if self.rules.speed <= 1.0 || keepalive.is_zero() {
            return None;
        }
        let late = self.longest_silence.checked_sub(keepalive).filter(|late| *late >= OVERRUN)?;
        Some(End::HarnessError {
            detail: format!(
                "the client ended the session on nothing of the broker's, and its own timers ran up to {:.1} s late \
                 ({} ms of real time, clocks ×{}): it once sent nothing for {:.1} s with a keepalive of {:.0} s; a client slowed \
                 inside its own process may end on its own misfiring timers, so this is not a measurement \
                 (run at a lower speed, or with fewer copies)",
                late.as_secs_f64(),
                late.div_f64(self.rules.speed).as_millis(),
                self.rules.speed,
                self.longest_silence.as_secs_f64(),
                keepalive.as_secs_f64()
            ),
        })
    }

    /// A session that outlived a PONG sent past libwebsockets' [`LWS_PONG_WINDOW`] after the
    /// broker's PING, from a broker slower than that margin to answer this client: a hang-up
    /// as late as its answers could have been under way and not seen, so the session's
    /// surviving the late PONG measures the machine, not the broker's window. Measured at ×30
    /// with 8 copies: a PONG 15.1 s after the PING, a broker that took up to 6.3 s (0.21 s
    /// real) to answer a PINGREQ, and no hang-up where libwebsockets hangs up at ×1.
    pub(super) fn late_pong_unseen(&self) -> Option<End> {
        let frames = &self.record.frames;
        let ping = frames.iter().find(|f| f.direction == Direction::Received && f.opcode == opcode::PING)?;
        let pong = first_pong(frames, ping.at)?;
        let margin = (pong.at - ping.at).checked_sub(LWS_PONG_WINDOW)?;
        if self.lag_seen() < margin {
            return None;
        }
        let real = |d: Duration| d.div_f64(self.rules.speed).as_secs_f64() * 1000.0;
        Some(End::HarnessError {
            detail: format!(
                "the session outlived a PONG {:.1} s after the broker's PING at {:.1} s, {:.1} s past libwebsockets' {} s window, \
                 but the broker took up to {:.1} s ({:.0} ms of real time, clocks ×{}) {LAG_SEEN}: a hang-up that late \
                 could have been under way unseen; not a measurement of the broker's window (run at a lower speed, or with fewer copies)",
                (pong.at - ping.at).as_secs_f64(),
                ping.at.as_secs_f64(),
                margin.as_secs_f64(),
                LWS_PONG_WINDOW.as_secs(),
                self.lag_seen().as_secs_f64(),
                real(self.lag_seen()),
                self.rules.speed
            ),
        })
    }

    /// The most a broker's timers may have run late, from all that was seen of it: its answers
    /// to the client's PINGREQs, and the run's own PINGs around the session's end.
    fn lag_seen(&self) -> Duration {
        self.broker_lag.max(self.ran_late)
    }
}

/// How much of `since..t` (broker time) the waits cover, in real time: the waits (each when it
/// ended, in broker time, and how long it was, in real time) as intervals, merged where they
/// overlap, so that two meters seeing the same stall count it once.
fn waited_within(waits: &[(Duration, Duration)], since: Duration, t: Duration, speed: f64) -> Duration {
    let mut spans: Vec<(Duration, Duration)> = waits
        .iter()
        .map(|&(ended, length)| (wait_began(ended, length, speed).max(since), ended.min(t)))
        .filter(|(began, ended)| began < ended)
        .collect();
    spans.sort();
    let mut covered = Duration::ZERO;
    let mut reach = since;
    for (began, ended) in spans {
        let from = began.max(reach);
        if ended > from {
            covered += ended - from;
            reach = ended;
        }
    }
    covered.div_f64(speed)
}

/// The broker's last WebSocket PING at or before `at` (record time), if one came.
pub(super) fn last_ping(frames: &[FrameSeen], at: Duration) -> Option<&FrameSeen> {
    frames.iter().rfind(|f| f.direction == Direction::Received && f.opcode == opcode::PING && f.at <= at)
}

/// The client's first PONG at or after `ping` (its answer to the PING read then), wherever it
/// falls against the session's end.
fn first_pong(frames: &[FrameSeen], ping: Duration) -> Option<&FrameSeen> {
    frames.iter().find(|f| f.direction == Direction::Sent && f.opcode == opcode::PONG && f.at >= ping)
}

/// When a wait to run began, in broker time: it ended at `ended` (broker time) and lasted
/// `length` of real time.
fn wait_began(ended: Duration, length: Duration, speed: f64) -> Duration {
    ended.saturating_sub(length.mul_f64(speed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn waits_that_overlap_count_once_and_only_their_part_inside_the_span_counts() {
        // At ×10: a 0.2 s wait ending at 13 s (broker) began at 11 s; a 0.1 s one ending at
        // 12.5 s lies inside it; a 0.5 s one ending at 20 s began at 15 s, half outside the span.
        let waits = [(s(13.0), s(0.2)), (s(12.5), s(0.1)), (s(20.0), s(0.5))];
        let got = waited_within(&waits, s(10.0), s(17.5), 10.0);
        assert!((got.as_secs_f64() - 0.45).abs() < 1e-9, "{got:?}");
        assert_eq!(waited_within(&[], s(0.0), s(5.0), 1.0), Duration::ZERO);
    }
}
