//! The verdict: what one session's record means, decided by pure code.
//!
//! Honest by construction: OK only when CONNACK accepted the session, it lived through
//! the whole hold, and the final round trip came back.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::judge::record::{ClientEnd, ClientProcess, Direction, End, FrameSeen, Party, RoundTrip, SessionRecord, SocketEnd, Vantage};
use crate::plan::{Outcome, Transport, FIVE_MINUTE_MARK};
use crate::plan::expectation::Reading;
use crate::units::{fmt_secs, opt_secs};
use crate::wire::frame::{opcode, opcode_name};
use crate::wire::mqtt::{connack_reason, reason_name};

/// One cell's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// What happened.
    pub outcome: Outcome,
    /// When the session ended, after CONNACK (the hold for OK; none when it never started).
    #[serde(with = "opt_secs")]
    pub at: Option<Duration>,
    /// Who ended it.
    pub ended_by: Option<Party>,
    /// The close frame's code (CLOSED).
    pub close_code: Option<u16>,
    /// The close frame's reason (CLOSED).
    pub close_reason: Option<String>,
    /// The CONNACK return code (REFUSED by CONNACK).
    pub connack_code: Option<u8>,
    /// Control frames and unusual data frames, with their times.
    pub frames: Vec<FrameSeen>,
    /// One line a person understands.
    pub cause: String,
    /// Whether the hold passed the 5-minute mark; an OK without it proves less.
    pub five_minute_mark_reached: bool,
    /// Whether the session ended before any CONNACK accepted it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub before_connack: bool,
    /// When the client ended the session in answer to a broker frame: that frame's time. The
    /// broker's part of the end; the client's reaction after it is its own (and an accelerated
    /// clock multiplies it).
    #[serde(default, with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub answered: Option<Duration>,
    /// WebSocket: how long the broker's 101 came after the client's upgrade request
    /// ([`SessionRecord::upgrade_span`]): the broker's timers started within it, so its times
    /// may read up to this much early.
    #[serde(default, with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub upgrade_span: Option<Duration>,
    /// The longest the broker took to answer a PINGREQ ([`SessionRecord::broker_lag`]): its
    /// times may read up to this much late.
    #[serde(default, with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub broker_lag: Option<Duration>,
    /// How late the broker ran from its last PING to the end, timed on the run's own connection
    /// ([`SessionRecord::broker_late`]): its times may read up to this much late too.
    #[serde(default, with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub broker_late: Option<Duration>,
}

impl Verdict {
    /// The end's time on the broker's side: the frame the client answered by ending the
    /// session, else the end itself.
    pub fn broker_time(&self) -> Option<Duration> {
        self.answered.or(self.at)
    }

    /// [`Verdict::broker_time`] as read: up to the upgrade span later, or up to the broker's lag
    /// (the longer of [`Verdict::broker_lag`] and [`Verdict::broker_late`]) earlier, truly; twice
    /// that for the broker's own end after a PING of its own, whose time is two of its timers
    /// in a row (libwebsockets starts its 10 s window when its PING timer fired), each of which
    /// may have fired that late. Measured at ×30 with 8 copies: no-pong's hang-up read at
    /// 325.8 s, 18.5 s after a PING at 307.4 s, from a broker whose PINGREQ answers lagged 9.3 s.
    pub fn broker_reading(&self) -> Option<Reading> {
        let lag = self.broker_lag.max(self.broker_late).unwrap_or_default();
        let chained = self.ended_by == Some(Party::Broker)
            && self.at.is_some_and(|at| self.frames.iter().any(|f| f.direction == Direction::Received && f.opcode == opcode::PING && f.at <= at));
        let lag = if chained { lag * 2 } else { lag };
        self.broker_time().map(|at| Reading { at, span: self.upgrade_span.unwrap_or_default(), lag })
    }
}

/// What a session's outcome rests on: one case per rule of [`outcome`], named for what
/// happened, with the facts its sentence needs. Borrowed from the record it was decided on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reason<'a> {
    /// The session lived through the hold and the final round trip came back (OK).
    Held {
        /// The round trip.
        rtt: Duration,
    },
    /// The session lived through the hold, but the final publish never came back (TIMEOUT).
    RoundTripLost {
        /// How long the round trip was waited for.
        waited: Duration,
    },
    /// The client gave up on a frame the broker sent (EOF, ended by the client).
    ClientRejected {
        /// The broker's frame.
        trigger: &'a FrameSeen,
        /// What the client does with it, as words after its name.
        why: &'a str,
    },
    /// The broker sent a WebSocket close frame (CLOSED).
    BrokerClosed {
        /// When.
        at: Duration,
        /// Its status code, if any.
        code: Option<u16>,
        /// Its reason text.
        reason: &'a str,
    },
    /// The broker sent an MQTT 5 DISCONNECT (EOF).
    BrokerDisconnected {
        /// When.
        at: Duration,
        /// Its reason code.
        code: u8,
        /// Its reason string, if any.
        reason_string: Option<&'a str>,
    },
    /// The broker's side of the socket ended without a close frame (EOF).
    BrokerDropped {
        /// When.
        at: Duration,
        /// How: FIN, reset or an error.
        how: &'a SocketEnd,
    },
    /// No PINGRESP came to a PINGREQ in time (TIMEOUT).
    NoPingResp {
        /// When the session was given up.
        at: Duration,
        /// The unanswered PINGREQ.
        pingreq_at: Duration,
    },
    /// The WebSocket upgrade was refused (REFUSED).
    UpgradeRefused {
        /// What the broker answered.
        detail: &'a str,
    },
    /// CONNACK refused the session (REFUSED).
    ConnAckRefused {
        /// The return or reason code.
        code: u8,
    },
    /// The broker sent bytes that are not WebSocket or MQTT, and the client dropped (EOF).
    BadBytes {
        /// When.
        at: Duration,
        /// What was wrong with them.
        detail: &'a str,
    },
    /// An in-process library reported the end (EOF).
    LibraryError {
        /// When.
        at: Duration,
        /// The library's words.
        detail: &'a str,
    },
    /// A command client ended its connection itself (EOF).
    ClientEnded {
        /// When.
        at: Duration,
        /// How: DISCONNECT, close frame, FIN or reset.
        how: &'a ClientEnd,
        /// The broker frame it answered, when it came right after one.
        answering: Option<&'a FrameSeen>,
    },
    /// The harness failed; nothing about the broker or client is known (ERROR).
    Harness {
        /// What failed.
        detail: &'a str,
    },
}

/// The outcome of one session and what it rests on, before any words: every rule of the
/// verdict, and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<'a> {
    /// What happened.
    pub outcome: Outcome,
    /// When the session ended, after CONNACK (the hold for OK).
    pub at: Option<Duration>,
    /// Who ended it.
    pub ended_by: Option<Party>,
    /// Whether the session ended before any CONNACK accepted it.
    pub before_connack: bool,
    /// The broker frame a client's end answered, by its time.
    pub answered: Option<Duration>,
    /// Why.
    pub reason: Reason<'a>,
}

/// Decides the outcome of one session from what it observed: pure, no words.
pub fn outcome(record: &SessionRecord) -> Decision<'_> {
    use Outcome::{Closed, Eof, Ok, Refused, Timeout};
    let d = |outcome, at, by, reason| Decision { outcome, at, ended_by: by, before_connack: false, answered: None, reason };
    let (broker, client) = (Some(Party::Broker), Some(Party::Client));
    let early = !record.connected;
    match &record.end {
        End::HoldCompleted { round_trip: RoundTrip::Echoed { rtt } } => d(Ok, Some(record.hold), None, Reason::Held { rtt: *rtt }),
        End::HoldCompleted { round_trip: RoundTrip::Lost { waited } } => {
            d(Timeout, Some(record.hold + *waited), broker, Reason::RoundTripLost { waited: *waited })
        }
        End::ClientGaveUp { at, trigger, why } => {
            Decision { answered: Some(trigger.at), ..d(Eof, Some(*at), client, Reason::ClientRejected { trigger, why }) }
        }
        End::BrokerClosed { at, code, reason } => Decision {
            before_connack: early,
            ..d(Closed, Some(*at), broker, Reason::BrokerClosed { at: *at, code: *code, reason })
        },
        End::BrokerDisconnected { at, reason, reason_string } => {
            let reason = Reason::BrokerDisconnected { at: *at, code: *reason, reason_string: reason_string.as_deref() };
            d(Eof, Some(*at), broker, reason)
        }
        End::SocketEnded { at, how } => {
            Decision { before_connack: early, ..d(Eof, Some(*at), broker, Reason::BrokerDropped { at: *at, how }) }
        }
        End::PingRespMissing { at, pingreq_at } => {
            d(Timeout, Some(*at), broker, Reason::NoPingResp { at: *at, pingreq_at: *pingreq_at })
        }
        End::UpgradeRefused { detail } => d(Refused, None, broker, Reason::UpgradeRefused { detail }),
        End::ConnAckRefused { code } => d(Refused, None, broker, Reason::ConnAckRefused { code: *code }),
        End::BadBytes { at, detail } => d(Eof, Some(*at), client, Reason::BadBytes { at: *at, detail }),
        End::LibraryError { at, detail, by_broker } => {
            let by = if *by_broker { broker } else { client };
            d(Eof, Some(*at), by, Reason::LibraryError { at: *at, detail })
        }
        End::ClientEnded { at, how, after } => Decision {
            answered: after.as_ref().map(|f| f.at),
            ..d(Eof, Some(*at), client, Reason::ClientEnded { at: *at, how, answering: after.as_ref() })
        },
        End::HarnessError { detail } => d(Outcome::Error, None, None, Reason::Harness { detail }),
    }
}

/// The one line a person reads for a decision: the words every report shows as a cell's
/// cause. `record` gives the context the words name (the column, the hold, the pings).
pub fn sentence(d: &Decision, record: &SessionRecord) -> String {
    let ping_note = |at: Duration| ping_context(&record.frames, at);
    match d.reason {
        Reason::Held { rtt } => {
            let mut cause = format!("alive after the {} hold, round trip {} ms; {}", fmt_secs(record.hold), rtt.as_millis(), pings_answered(record));
            if record.hold <= FIVE_MINUTE_MARK {
                cause.push_str(&format!(
                    " (hold {} ends before the 5-minute mark: a PING at {} could not be seen)",
                    fmt_secs(record.hold),
                    mark_words()
                ));
            }
            cause
        }
        Reason::RoundTripLost { waited } => format!(
            "the connection stayed open through the {} hold, but the final publish did not come back within {}",
            fmt_secs(record.hold),
            fmt_secs(waited)
        ),
        Reason::ClientRejected { trigger, why } => {
            format!("broker sent WebSocket {} at {}; {} {why}", frame_word(trigger.opcode), fmt_secs(trigger.at), record.column)
        }
        Reason::BrokerClosed { at, code, reason } => {
            let code_text = code.map_or("without a status code".to_string(), |c| format!("{c}"));
            match d.before_connack {
                true => format!("broker sent WebSocket close {code_text} {reason:?}{}, before any CONNACK", connect_words(record)),
                false => format!("broker sent WebSocket close {code_text} {reason:?} at {}{}", fmt_secs(at), ping_note(at)),
            }
        }
        Reason::BrokerDisconnected { at, code, reason_string } => {
            let said = reason_string.map_or(String::new(), |s| format!(", reason string {s:?}"));
            format!("broker sent DISCONNECT 0x{code:02X} ({}){said} at {}{}", reason_name(code), fmt_secs(at), ping_note(at))
        }
        Reason::BrokerDropped { at, how } => dropped_words(d.before_connack, at, how, record),
        Reason::NoPingResp { at, pingreq_at } => match record.vantage {
            Vantage::Proxy => {
                format!("no PINGRESP to the PINGREQ at {}; the client ended the connection at {}", fmt_secs(pingreq_at), fmt_secs(at))
            }
            Vantage::Client => format!(
                "no PINGRESP to the PINGREQ at {}; the client gave up at {}, {} later",
                fmt_secs(pingreq_at),
                fmt_secs(at),
                fmt_secs(at.saturating_sub(pingreq_at))
            ),
            _ => format!(
                "no PINGRESP to the PINGREQ at {}; {} gave up at its next keepalive tick, {}",
                fmt_secs(pingreq_at),
                record.column,
                fmt_secs(at)
            ),
        },
        Reason::UpgradeRefused { detail } | Reason::Harness { detail } => detail.to_string(),
        Reason::ConnAckRefused { code } => format!("CONNACK refused the session: return code {code} ({})", connack_reason(code)),
        Reason::BadBytes { at, detail } => format!("{detail} at {}; {} dropped the connection", fmt_secs(at), client_word(record)),
        Reason::LibraryError { at, detail } => format!("{} reported at {}: {detail}", record.column, fmt_secs(at)),
        Reason::ClientEnded { at, how, answering } => client_ended_words(at, how, answering, record),
    }
}

/// The 5-minute mark as the sentences say it: `300 s`.
fn mark_words() -> String {
    format!("{} s", FIVE_MINUTE_MARK.as_secs())
}

/// A broker that ended the socket without a close frame, before CONNACK or after it.
fn dropped_words(before_connack: bool, at: Duration, how: &SocketEnd, record: &SessionRecord) -> String {
    if before_connack {
        let what = match how {
            SocketEnd::Eof => "closed the connection (FIN, no close frame)".to_string(),
            SocketEnd::Reset => "reset the connection".to_string(),
            SocketEnd::Error(e) => format!("ended the connection with an error ({e})"),
        };
        return format!("broker {what}{}, before any CONNACK", connect_words(record));
    }
    let what = match how {
        SocketEnd::Eof => "ended the connection without a close frame".to_string(),
        SocketEnd::Reset => "reset the connection".to_string(),
        SocketEnd::Error(e) => format!("connection failed ({e})"),
    };
    let over = if record.transport == Transport::Tcp { " (TCP)" } else { "" };
    format!("broker {what}{over} at {}{}", fmt_secs(at), ping_context(&record.frames, at))
}

/// A command client that ended its connection: in answer to a broker frame, early, or after
/// the hold.
fn client_ended_words(at: Duration, how: &ClientEnd, answering: Option<&FrameSeen>, record: &SessionRecord) -> String {
    let with = client_end_words(how);
    match answering {
        Some(f) => format!(
            "broker sent WebSocket {} at {}; the client answered with {with} {} ms later",
            frame_word(f.opcode),
            fmt_secs(f.at),
            at.saturating_sub(f.at).as_millis()
        ),
        None if at < record.hold => {
            format!("the client ended the session with {with} at {}, before the {} hold ended", fmt_secs(at), fmt_secs(record.hold))
        }
        None => format!("the client ended the session with {with} at {}", fmt_secs(at)),
    }
}

/// Decides the verdict of one session from what it observed: the [`outcome`], worded by
/// [`sentence`], held to the command contract when a program played the client.
pub fn decide(record: &SessionRecord) -> Verdict {
    let d = outcome(record);
    let mut v = Verdict {
        frames: record.frames.clone(),
        five_minute_mark_reached: record.hold > FIVE_MINUTE_MARK,
        cause: sentence(&d, record),
        ..error("")
    };
    v.outcome = d.outcome;
    v.at = d.at;
    v.ended_by = d.ended_by;
    v.before_connack = d.before_connack;
    v.answered = d.answered;
    v.upgrade_span = record.upgrade_span;
    v.broker_lag = record.broker_lag;
    v.broker_late = record.broker_late;
    match d.reason {
        Reason::BrokerClosed { code, reason, .. } => {
            v.close_code = code;
            v.close_reason = Some(reason.to_string());
        }
        Reason::ConnAckRefused { code } => v.connack_code = Some(code),
        _ => {}
    }
    match &record.process {
        Some(p) => with_process(v, &record.end, p),
        None => v,
    }
}

/// Adds a command client's own words to a verdict, and holds it to the contract: OK only when
/// it exited 0 after its round trip, and a client the harness had to kill ended nothing itself.
fn with_process(mut v: Verdict, end: &End, p: &ClientProcess) -> Verdict {
    let words = p.words.as_deref().map(|w| format!(": {w}")).unwrap_or_default();
    let tail = if p.words.is_none() && !p.tail.is_empty() { format!("; its last output: {}", p.tail.join(" | ")) } else { String::new() };
    match (v.outcome, end) {
        (Outcome::Ok, _) if p.exit_code != Some(0) => {
            let cause = format!(
                "the round trip came back after the hold, but the client {}{words}{tail} (the command contract asks for exit 0)",
                p.ended
            );
            return Verdict { cause, frames: v.frames, ..error("") };
        }
        (Outcome::Ok, _) => {}
        // Exit 2 is the contract's "anything else": the program failed, not the session.
        (_, End::ClientEnded { .. }) if p.exit_code == Some(2) => {
            let cause = format!("the client program failed: it {}{words}{tail}; the connection ended with it: {}", p.ended, v.cause);
            return Verdict { cause, frames: v.frames, ..error("") };
        }
        (_, End::ClientEnded { .. }) if p.killed => {
            let cause = format!("the client never ended its session itself: it {}{tail}; the connection ended with it: {}", p.ended, v.cause);
            return Verdict { cause, frames: v.frames, ..error("") };
        }
        (_, End::ClientEnded { .. }) => v.cause = format!("{} and {}{words}{tail}", v.cause, p.ended),
        (_, End::HarnessError { .. }) => {}
        _ => v.cause = format!("{}; the client {}{words}{tail}", v.cause, p.ended),
    }
    v
}

/// What the client had sent when the broker ended a session before CONNACK, as words after
/// "broker closed the connection": ` after a CONNECT sent as 13 WebSocket frames`.
fn connect_words(record: &SessionRecord) -> String {
    match (record.connect_frames, record.vantage) {
        (Some(1), _) => " after a CONNECT sent in one WebSocket frame".to_string(),
        (Some(n), _) => format!(" after a CONNECT sent as {n} WebSocket frames"),
        (None, Vantage::Proxy) if record.transport == Transport::Ws => " before the client's CONNECT was complete".to_string(),
        (None, _) => String::new(),
    }
}

/// "the client" for command columns, the column's name otherwise.
fn client_word(record: &SessionRecord) -> String {
    match record.vantage {
        Vantage::Proxy => "the client".to_string(),
        _ => record.column.clone(),
    }
}

/// How a command client ended its connection, as words after "with".
fn client_end_words(how: &ClientEnd) -> String {
    match how {
        ClientEnd::Disconnect => "an MQTT DISCONNECT".to_string(),
        ClientEnd::CloseFrame { code: Some(code), payload } if payload.is_empty() => format!("a close frame (code {code})"),
        ClientEnd::CloseFrame { code: Some(code), payload } => format!("a close frame (code {code}, {payload:?})"),
        ClientEnd::CloseFrame { code: None, payload } => format!("a close frame (payload {payload:?})"),
        ClientEnd::Fin => "a TCP FIN, no close frame".to_string(),
        ClientEnd::Reset => "a TCP reset".to_string(),
    }
}

/// What the engine said about the broker container after a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BrokerState {
    /// Whether it is still running.
    pub running: bool,
    /// Its exit status, when it is not.
    pub exit_code: Option<i64>,
    /// Whether it was restarted during the run.
    pub restarted: bool,
    /// Whether it is paused.
    pub paused: bool,
    /// Whether it is still attached to a network.
    pub networked: bool,
}

/// Puts the broker container's fate into a verdict: a session that ended because the
/// broker died must say so, not blame the WebSocket.
pub fn with_broker_state(mut v: Verdict, state: &BrokerState) -> Verdict {
    if !state.running {
        let status = state.exit_code.map_or("an unknown status".to_string(), |c| format!("status {c}"));
        v.ended_by = Some(Party::Broker);
        v.cause = format!("the broker container exited with {status}; the session saw: {}", v.cause);
    } else if state.restarted {
        v.ended_by = Some(Party::Broker);
        v.cause = format!("the broker container was restarted during the hold; the session saw: {}", v.cause);
    } else if state.paused {
        v.ended_by = Some(Party::Broker);
        v.cause = format!("the broker container is paused; the session saw: {}", v.cause);
    } else if !state.networked {
        v.ended_by = Some(Party::Broker);
        v.cause = format!("the broker container was cut off its network; the session saw: {}", v.cause);
    }
    v
}

/// A verdict for a cell the harness could not run at all.
pub fn error(cause: impl Into<String>) -> Verdict {
    Verdict {
        outcome: Outcome::Error,
        at: None,
        ended_by: None,
        close_code: None,
        close_reason: None,
        connack_code: None,
        frames: Vec::new(),
        cause: cause.into(),
        five_minute_mark_reached: false,
        before_connack: false,
        answered: None,
        upgrade_span: None,
        broker_lag: None,
        broker_late: None,
    }
}

fn frame_word(op: u8) -> String {
    match op {
        opcode::PING => "PING".to_string(),
        _ => opcode_name(op),
    }
}

fn pings_answered(record: &SessionRecord) -> String {
    if record.transport == Transport::Tcp {
        return "MQTT over TCP: no WebSocket frames".to_string();
    }
    if record.vantage == Vantage::Library {
        return format!("{} answers WebSocket control frames inside the library, where they are not visible", record.column);
    }
    let pings: Vec<&FrameSeen> =
        record.frames.iter().filter(|f| f.direction == Direction::Received && f.opcode == opcode::PING).collect();
    match pings.first() {
        None => "no WebSocket PING seen".to_string(),
        Some(first) => {
            let pongs: Vec<&FrameSeen> =
                record.frames.iter().filter(|f| f.direction == Direction::Sent && f.opcode == opcode::PONG).collect();
            let unmasked = if pongs.iter().any(|p| !p.masked) { ", unmasked, and the broker accepted them" } else { "" };
            format!(
                "{} PING(s) from the broker, the first at {}, {} PONG(s) sent{unmasked}",
                pings.len(),
                fmt_secs(first.at),
                pongs.len()
            )
        }
    }
}

/// What the pings before `end` say about it, e.g. "; 10.1 s after an unanswered PING at 300.0 s".
fn ping_context(frames: &[FrameSeen], end: Duration) -> String {
    let Some(ping) = frames
        .iter()
        .rfind(|f| f.direction == Direction::Received && f.opcode == opcode::PING && f.at <= end)
    else {
        return String::new();
    };
    let pong = frames.iter().find(|f| f.direction == Direction::Sent && f.opcode == opcode::PONG && f.at >= ping.at);
    let since = end.saturating_sub(ping.at);
    match pong {
        None => format!(", {} after an unanswered PING at {}", fmt_secs(since), fmt_secs(ping.at)),
        Some(p) if !p.masked => format!(
            ", {} after a PING at {} that was answered with an unmasked PONG at {}",
            fmt_secs(since),
            fmt_secs(ping.at),
            fmt_secs(p.at)
        ),
        Some(p) => format!(
            ", {} after a PING at {} answered by a PONG at {}",
            fmt_secs(since),
            fmt_secs(ping.at),
            fmt_secs(p.at)
        ),
    }
}

/// A command client ended by a signal the harness did not send: the client's loss, never the
/// broker's drop. SIGKILL, SIGTERM and SIGINT come from outside (the OOM killer, a person);
/// SIGABRT, SIGSEGV, SIGBUS, SIGILL and SIGFPE are the program's own crash (an abort from a
/// failed check such as glibc's "double free", a bad memory access), said as such. `None` when
/// it exited by itself or the harness ended it.
pub fn ended_by_signal(record: &SessionRecord) -> Option<String> {
    let p = record.process.as_ref()?;
    let signal = p.signal.filter(|_| !p.killed)?;
    let crash = match signal {
        6 => Some("SIGABRT"),
        11 => Some("SIGSEGV"),
        7 => Some("SIGBUS"),
        4 => Some("SIGILL"),
        8 => Some("SIGFPE"),
        _ => None,
    };
    if let Some(name) = crash {
        return Some(format!("the client crashed ({name}, a signal the harness did not send)"));
    }
    let name = match signal {
        9 => "SIGKILL".to_string(),
        15 => "SIGTERM".to_string(),
        2 => "SIGINT".to_string(),
        n => format!("signal {n}"),
    };
    let hint = if signal == 9 { ", for example by the kernel's OOM killer" } else { "" };
    Some(format!("the client was killed ({name}) from outside the harness{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::plan::Profile;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_brokers_hang_up_after_its_own_ping_may_read_twice_its_lag_late_and_a_pinged_clients_end_once() {
        let frame = ping(307.0);
        let v = Verdict {
            outcome: Outcome::Eof,
            at: Some(Duration::from_secs(326)),
            ended_by: Some(Party::Broker),
            close_code: None,
            close_reason: None,
            connack_code: None,
            frames: vec![frame.clone()],
            cause: String::new(),
            five_minute_mark_reached: true,
            before_connack: false,
            answered: None,
            upgrade_span: None,
            broker_lag: Some(Duration::from_secs(9)),
            broker_late: None,
        };
        let five = Duration::from_secs(5);
        let read = v.broker_reading().expect("a reading");
        assert_eq!(read.lag, Duration::from_secs(18));
        assert!(read.is_within(Duration::from_secs(310), five));
        // Without a PING before it, one timer: once its lag.
        let unpinged = Verdict { frames: vec![], ..v.clone() };
        assert_eq!(unpinged.broker_reading().expect("a reading").lag, Duration::from_secs(9));
        assert!(!unpinged.broker_reading().expect("a reading").is_within(Duration::from_secs(310), five));
        // A client's end in answer to the PING is read at the PING: one timer too.
        let answered = Verdict { ended_by: Some(Party::Client), answered: Some(frame.at), ..v };
        assert_eq!(answered.broker_reading().expect("a reading").lag, Duration::from_secs(9));
    }

    fn ping(at: f64) -> FrameSeen {
        FrameSeen { at: secs(at), direction: Direction::Received, opcode: opcode::PING, payload_len: 0, masked: false }
    }

    fn record(profile: Profile, frames: Vec<FrameSeen>, end: End) -> SessionRecord {
        let mut r = SessionRecord::new(profile, secs(330.0), secs(60.0), "c");
        r.connected = true;
        r.subprotocol = Some("mqtt".into());
        r.frames = frames;
        r.end = end;
        r
    }

    #[test]
    fn paho_giving_up_on_a_ping_is_an_eof_ended_by_the_client_that_names_opcode_0x9() {
        let end = End::ClientGaveUp { at: secs(300.0), trigger: ping(300.0), why: "rejects opcode 0x9 and drops the connection".into() };
        let v = decide(&record(Profile::PahoJava125, vec![ping(300.0)], end));
        assert_eq!(v.outcome, Outcome::Eof);
        assert_eq!(v.ended_by, Some(Party::Client));
        assert_eq!(v.cause, "broker sent WebSocket PING at 300.0 s; paho-java-1.2.5 rejects opcode 0x9 and drops the connection");
    }

    #[test]
    fn a_broker_hang_up_after_an_unanswered_ping_says_so() {
        let end = End::SocketEnded { at: secs(310.1), how: SocketEnd::Eof };
        let v = decide(&record(Profile::NoPong, vec![ping(300.0)], end));
        assert_eq!((v.outcome, v.ended_by), (Outcome::Eof, Some(Party::Broker)));
        assert_eq!(v.cause, "broker ended the connection without a close frame at 310.1 s, 10.1 s after an unanswered PING at 300.0 s");
    }

    #[test]
    fn a_client_that_aborts_itself_reads_as_a_crash_and_one_killed_by_sigkill_as_killed_from_outside() {
        let with_signal = |signal: i32| {
            let mut r = record(Profile::Rfc6455, vec![], End::HoldCompleted { round_trip: RoundTrip::Echoed { rtt: secs(0.019) } });
            r.process = Some(ClientProcess {
                library: Some("paho.mqtt.c 1.3.11".into()),
                exit_code: None,
                ended: format!("killed by signal {signal}"),
                killed: false,
                signal: Some(signal),
                words: None,
                tail: vec!["double free or corruption (fasttop)".into()],
                connections: 1,
            });
            r
        };
        assert_eq!(ended_by_signal(&with_signal(6)).as_deref(), Some("the client crashed (SIGABRT, a signal the harness did not send)"));
        let killed = ended_by_signal(&with_signal(9)).expect("a SIGKILL is the client's loss");
        assert!(killed.starts_with("the client was killed (SIGKILL) from outside the harness"), "{killed}");
        let mut by_the_harness = with_signal(9);
        by_the_harness.process.as_mut().expect("a process").killed = true;
        assert_eq!(ended_by_signal(&by_the_harness), None);
    }

    #[test]
    fn ok_needs_the_round_trip() {
        let lost = decide(&record(Profile::Rfc6455, vec![], End::HoldCompleted { round_trip: RoundTrip::Lost { waited: secs(10.0) } }));
        assert_eq!(lost.outcome, Outcome::Timeout);
        let ok = decide(&record(Profile::Rfc6455, vec![], End::HoldCompleted { round_trip: RoundTrip::Echoed { rtt: secs(0.002) } }));
        assert_eq!(ok.outcome, Outcome::Ok);
        assert!(ok.five_minute_mark_reached);
    }

    #[test]
    fn an_ok_from_a_short_hold_says_the_five_minute_mark_was_not_reached() {
        let mut r = record(Profile::Rfc6455, vec![], End::HoldCompleted { round_trip: RoundTrip::Echoed { rtt: secs(0.002) } });
        r.hold = secs(20.0);
        let v = decide(&r);
        assert_eq!(v.outcome, Outcome::Ok);
        assert!(!v.five_minute_mark_reached);
        assert!(v.cause.contains("before the 5-minute mark"), "{}", v.cause);
    }

    #[test]
    fn a_refused_connack_names_the_return_code() {
        let v = decide(&record(Profile::Rfc6455, vec![], End::ConnAckRefused { code: 5 }));
        assert_eq!(v.outcome, Outcome::Refused);
        assert_eq!(v.cause, "CONNACK refused the session: return code 5 (not authorized)");
    }

    #[test]
    fn an_end_before_connack_says_so_and_what_the_client_sent() {
        let mut r = record(Profile::Rfc6455, vec![], End::SocketEnded { at: Duration::ZERO, how: SocketEnd::Eof });
        r.connected = false;
        r.vantage = Vantage::Proxy;
        r.connect_frames = Some(13);
        let v = decide(&r);
        assert_eq!((v.outcome, v.before_connack, v.at), (Outcome::Eof, true, Some(Duration::ZERO)));
        assert_eq!(v.cause, "broker closed the connection (FIN, no close frame) after a CONNECT sent as 13 WebSocket frames, before any CONNACK");
        r.connect_frames = None;
        assert_eq!(decide(&r).cause, "broker closed the connection (FIN, no close frame) before the client's CONNECT was complete, before any CONNACK");
        r.connected = true;
        assert!(!decide(&r).before_connack);
    }

    #[test]
    fn a_harness_error_is_never_ok() {
        let v = decide(&record(Profile::Rfc6455, vec![], End::HarnessError { detail: "nothing listening".into() }));
        assert_eq!(v.outcome, Outcome::Error);
    }

    #[test]
    fn the_outcome_is_decided_with_its_reason_before_any_words() {
        let end = End::SocketEnded { at: secs(310.1), how: SocketEnd::Eof };
        let r = record(Profile::NoPong, vec![ping(300.0)], end);
        let d = outcome(&r);
        assert_eq!((d.outcome, d.at, d.ended_by, d.before_connack), (Outcome::Eof, Some(secs(310.1)), Some(Party::Broker), false));
        assert_eq!(d.reason, Reason::BrokerDropped { at: secs(310.1), how: &SocketEnd::Eof });
        // The words are the sentence's alone, and decide gives the same.
        assert_eq!(sentence(&d, &r), decide(&r).cause);
        let mut early = r.clone();
        early.connected = false;
        assert!(outcome(&early).before_connack);
        assert!(sentence(&outcome(&early), &early).ends_with(", before any CONNACK"));
    }
}
