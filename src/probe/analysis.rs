//! What the endpoint does, from the sessions' verdicts: whether and when a WebSocket PING
//! comes, whether an unanswered one is followed by a hang-up, whether sessions end when
//! silent or at a fixed age (told apart by keepalives side by side), and how they end. Pure:
//! [`Seen`]s in, [`Findings`] out; no clock, no socket.
//!
//! The idle-versus-lifetime rule: a session's silence at its end is the time since the last
//! traffic on it (its last PINGREQ/PINGRESP, every keepalive since CONNACK, or the broker's
//! last control frame). Sessions that ended at the same *silence* while sessions with more
//! traffic outlived it name an idle limit; sessions that ended at the same *age* although
//! some had traffic just before name a lifetime. When one reading cannot be ruled out, the
//! finding says so rather than guess.

use std::time::Duration;

use crate::judge::record::{End, Party, SocketEnd};
use crate::judge::verdict::Verdict;
use crate::plan::{Column, Outcome, Profile, Transport, FIVE_MINUTE_MARK};
use crate::probe::ask::ProbeSession;
use crate::probe::hops::LimitKind;
use crate::wire::frame::opcode;

/// How far apart two times may be and still be "the same limit": 5 %, at least 1 s.
pub fn same_limit(a: Duration, b: Duration) -> bool {
    let slack = (a.max(b).as_secs_f64() * 0.05).max(1.0);
    (a.as_secs_f64() - b.as_secs_f64()).abs() <= slack
}

/// How long after a PING a hang-up is taken as the answer to it (libwebsockets: 10 s).
const PING_HANG_UP_WINDOW: Duration = Duration::from_secs(20);

/// Whether a column answers the broker's WebSocket PING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pongs {
    /// With a PONG.
    Yes,
    /// Never, and it stays (`no-pong`).
    No,
    /// It ends the session instead (Paho Java 1.2.5, close-on-ping).
    GivesUp,
    /// Not known (a real client: its record says what it did).
    Unknown,
}

impl Pongs {
    /// What a built-in profile does; `None` is a command client.
    pub fn of(profile: Option<Profile>) -> Pongs {
        match profile {
            Some(Profile::NoPong) => Pongs::No,
            Some(Profile::PahoJava125 | Profile::CloseOnPing) => Pongs::GivesUp,
            Some(Profile::Tcp) => Pongs::Yes,
            Some(_) => Pongs::Yes,
            None => Pongs::Unknown,
        }
    }
}

/// How the endpoint ended a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndHow {
    /// A WebSocket close frame.
    CloseFrame {
        /// Its status code.
        code: Option<u16>,
        /// Its reason text.
        reason: String,
    },
    /// An MQTT 5 DISCONNECT with its reason code.
    Disconnect {
        /// The reason code.
        reason: u8,
    },
    /// A bare FIN: no close frame, no DISCONNECT.
    Fin,
    /// A reset.
    Reset,
    /// A socket error other than those.
    SocketError(String),
    /// The endpoint stopped answering PINGREQ.
    NoPingResp,
}

impl EndHow {
    /// In words: "a close frame 1000 \"\"", "a bare FIN".
    pub fn words(&self) -> String {
        match self {
            EndHow::CloseFrame { code: Some(c), reason } if reason.is_empty() => format!("a WebSocket close frame {c}"),
            EndHow::CloseFrame { code: Some(c), reason } => format!("a WebSocket close frame {c} {reason:?}"),
            EndHow::CloseFrame { code: None, .. } => "a WebSocket close frame without a code".to_string(),
            EndHow::Disconnect { reason } => format!("an MQTT DISCONNECT 0x{reason:02X}"),
            EndHow::Fin => "a bare FIN (no close frame, no DISCONNECT)".to_string(),
            EndHow::Reset => "a TCP reset (RST)".to_string(),
            EndHow::SocketError(e) => format!("a socket error ({e})"),
            EndHow::NoPingResp => "no PINGRESP to the client's PINGREQ".to_string(),
        }
    }
}

/// One session of a probe, as the analysis needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The session's name in the results (`rfc6455 ka=30s`).
    pub key: String,
    /// The column's own name.
    pub column: String,
    /// The MQTT keepalive it ran with.
    pub keepalive: Duration,
    /// WebSocket or TCP.
    pub transport: Transport,
    /// Whether it answers PINGs.
    pub pongs: Pongs,
    /// The verdict's outcome.
    pub outcome: Outcome,
    /// When it ended (broker time since the upgrade, or CONNACK over TCP).
    pub at: Option<Duration>,
    /// How the endpoint ended it, when the endpoint did.
    pub ended_by_endpoint: Option<EndHow>,
    /// When the broker's WebSocket PINGs came.
    pub pings: Vec<Duration>,
    /// The verdict's one line.
    pub cause: String,
    /// The hold asked for.
    pub hold: Duration,
}

impl Seen {
    /// From a session of the probe, its hold, its verdict and its end (none when it overran).
    pub fn of(session: &ProbeSession, hold: Duration, v: &Verdict, end: Option<&End>) -> Seen {
        let profile = match &session.column {
            Column::Builtin(p) => Some(*p),
            _ => None,
        };
        let pings = v.frames.iter().filter(|f| f.opcode == opcode::PING && f.direction == crate::judge::record::Direction::Received).map(|f| f.at).collect();
        let by_endpoint = match end {
            Some(End::BrokerClosed { code, reason, .. }) => Some(EndHow::CloseFrame { code: *code, reason: reason.clone() }),
            Some(End::BrokerDisconnected { reason, .. }) => Some(EndHow::Disconnect { reason: *reason }),
            Some(End::SocketEnded { how: SocketEnd::Eof, .. }) => Some(EndHow::Fin),
            Some(End::SocketEnded { how: SocketEnd::Reset, .. }) => Some(EndHow::Reset),
            Some(End::SocketEnded { how: SocketEnd::Error(e), .. }) => Some(EndHow::SocketError(e.clone())),
            Some(End::PingRespMissing { .. }) => Some(EndHow::NoPingResp),
            Some(End::LibraryError { detail, by_broker: true, .. }) => Some(EndHow::SocketError(detail.clone())),
            None if v.ended_by == Some(Party::Broker) && v.outcome == Outcome::Closed => {
                Some(EndHow::CloseFrame { code: v.close_code, reason: v.close_reason.clone().unwrap_or_default() })
            }
            None if v.ended_by == Some(Party::Broker) && v.outcome == Outcome::Eof => Some(EndHow::Fin),
            _ => None,
        };
        // A session that never got going was not ended by a limit.
        let by_endpoint = by_endpoint.filter(|_| !v.before_connack && v.at.is_some());
        Seen {
            key: session.key.clone(),
            column: session.column.name().to_string(),
            keepalive: session.keepalive,
            transport: session.column.transport(),
            pongs: Pongs::of(profile),
            outcome: v.outcome,
            at: v.broker_time(),
            ended_by_endpoint: by_endpoint,
            pings,
            cause: v.cause.clone(),
            hold,
        }
    }

    /// How long it lived: its end, or the whole hold when it held.
    pub fn lived(&self) -> Duration {
        match self.outcome {
            Outcome::Ok => self.hold,
            _ => self.at.unwrap_or(Duration::ZERO),
        }
    }

    /// Time since the last traffic at `t`: its PINGREQ every keepalive since the start, or
    /// the broker's last PING before `t`.
    pub fn silence_at(&self, t: Duration) -> Duration {
        let k = self.keepalive.as_secs_f64();
        let last_ping_req = if k > 0.0 { Duration::from_secs_f64((t.as_secs_f64() / k).floor() * k) } else { t };
        let last_frame = self.pings.iter().copied().filter(|p| *p <= t).max().unwrap_or(Duration::ZERO);
        t.saturating_sub(last_ping_req.max(last_frame))
    }

    /// Whether its end followed a PING it did not answer (or may not have).
    fn ended_by_ping(&self) -> bool {
        let (Some(at), Some(first)) = (self.at, self.pings.first()) else { return false };
        self.pongs != Pongs::Yes && at >= *first && at <= *first + PING_HANG_UP_WINDOW
    }
}

/// Whether and when the broker pinged.
#[derive(Debug, Clone, PartialEq)]
pub enum PingFinding {
    /// The first PING came at this time (since the upgrade), on this many sessions.
    At {
        /// The earliest.
        first: Duration,
        /// On how many sessions one came.
        sessions: usize,
    },
    /// No PING on any WebSocket session, the longest of which lived this long.
    None {
        /// The longest WebSocket session.
        longest: Duration,
    },
    /// No WebSocket session lived long enough to tell (or none ran).
    Unknown {
        /// The longest WebSocket session, if any ran.
        longest: Option<Duration>,
    },
}

/// What followed an unanswered PING.
#[derive(Debug, Clone, PartialEq)]
pub enum HangUpFinding {
    /// The endpoint ended the session this long after the PING.
    After {
        /// From the PING to the end.
        after: Duration,
        /// The PING's time.
        ping: Duration,
        /// How it ended.
        how: EndHow,
        /// The session.
        key: String,
    },
    /// The session stayed this long after the PING without an answer.
    Stayed {
        /// How long it stayed.
        waited: Duration,
        /// The session.
        key: String,
    },
    /// No session left a PING unanswered.
    Unknown,
}

/// A timer that ended sessions, or why none could be named.
#[derive(Debug, Clone, PartialEq)]
pub enum LimitFinding {
    /// No session was ended by a timer of the endpoint.
    None,
    /// Sessions ended when silent for `limit`; sessions with more traffic outlived it.
    Idle {
        /// The silence.
        limit: Duration,
        /// The sessions that ended.
        ended: Vec<String>,
        /// The sessions with more traffic that lived past it.
        outlived: Vec<String>,
    },
    /// Sessions ended at this age whatever their traffic.
    Lifetime {
        /// The age.
        limit: Duration,
        /// The sessions that ended.
        ended: Vec<String>,
        /// Those of them that had traffic shortly before the end.
        busy: Vec<String>,
    },
    /// Sessions ended silent for `silence` at age `age`, and nothing tells which it was.
    Either {
        /// Their age.
        age: Duration,
        /// Their silence.
        silence: Duration,
        /// The sessions.
        ended: Vec<String>,
    },
    /// Sessions ended at times no single rule explains.
    Mixed {
        /// Each ended session with its age and silence.
        ended: Vec<(String, Duration, Duration)>,
    },
}

impl LimitFinding {
    /// The limit as a kind and a time, when one was named.
    pub fn named(&self) -> Option<(LimitKind, Duration)> {
        match self {
            LimitFinding::Idle { limit, .. } => Some((LimitKind::Idle, *limit)),
            LimitFinding::Lifetime { limit, .. } => Some((LimitKind::Lifetime, *limit)),
            _ => None,
        }
    }
}

/// Everything the analysis found.
#[derive(Debug, Clone, PartialEq)]
pub struct Findings {
    /// The broker's PING.
    pub ping: PingFinding,
    /// What followed an unanswered PING.
    pub hang_up: HangUpFinding,
    /// The timer, if any.
    pub limit: LimitFinding,
    /// Every way the endpoint ended a session, with the sessions.
    pub ends: Vec<(EndHow, Vec<String>)>,
    /// Sessions that held the whole hold.
    pub held: Vec<String>,
    /// Sessions the client ended itself (Paho Java at a PING), with their cause.
    pub client_ended: Vec<(String, String)>,
    /// Sessions that could not run, with why.
    pub errors: Vec<(String, String)>,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or(Duration::ZERO)
}

/// Reads the sessions.
pub fn analyse(seen: &[Seen]) -> Findings {
    let ws: Vec<&Seen> = seen.iter().filter(|s| s.transport == Transport::Ws && s.outcome != Outcome::Error).collect();
    let longest = ws.iter().map(|s| s.lived()).max();
    let pinged: Vec<&&Seen> = ws.iter().filter(|s| !s.pings.is_empty()).collect();
    let ping = match pinged.iter().filter_map(|s| s.pings.first().copied()).min() {
        Some(first) => PingFinding::At { first, sessions: pinged.len() },
        // A PING 300 s after the upgrade needs a session past 300 s and a little.
        None => match longest {
            Some(l) if l > FIVE_MINUTE_MARK + Duration::from_secs(5) => PingFinding::None { longest: l },
            _ => PingFinding::Unknown { longest },
        },
    };
    let hang_up = hang_up(&ws);
    let limit = limit(seen);
    let mut ends: Vec<(EndHow, Vec<String>)> = Vec::new();
    for s in seen {
        if let Some(how) = &s.ended_by_endpoint {
            match ends.iter_mut().find(|(h, _)| h == how) {
                Some((_, keys)) => keys.push(s.key.clone()),
                None => ends.push((how.clone(), vec![s.key.clone()])),
            }
        }
    }
    Findings {
        ping,
        hang_up,
        limit,
        ends,
        held: seen.iter().filter(|s| s.outcome == Outcome::Ok).map(|s| s.key.clone()).collect(),
        client_ended: seen
            .iter()
            .filter(|s| s.outcome != Outcome::Ok && s.outcome != Outcome::Error && s.ended_by_endpoint.is_none())
            .map(|s| (s.key.clone(), s.cause.clone()))
            .collect(),
        errors: seen.iter().filter(|s| s.outcome == Outcome::Error).map(|s| (s.key.clone(), s.cause.clone())).collect(),
    }
}

fn hang_up(ws: &[&Seen]) -> HangUpFinding {
    let silent: Vec<&&Seen> = ws.iter().filter(|s| s.pongs == Pongs::No && !s.pings.is_empty()).collect();
    for s in &silent {
        let ping = s.pings[0];
        if let (Some(at), Some(how)) = (s.at, &s.ended_by_endpoint) {
            if at >= ping {
                return HangUpFinding::After { after: at - ping, ping, how: how.clone(), key: s.key.clone() };
            }
        }
    }
    match silent.iter().map(|s| (s.lived().saturating_sub(s.pings[0]), s.key.clone())).max() {
        Some((waited, key)) => HangUpFinding::Stayed { waited, key },
        None => HangUpFinding::Unknown,
    }
}

fn limit(seen: &[Seen]) -> LimitFinding {
    // The sessions a timer may have ended: by the endpoint, not in answer to a PING.
    let limited: Vec<(&Seen, Duration, Duration)> = seen
        .iter()
        .filter(|s| s.ended_by_endpoint.is_some() && !s.ended_by_ping())
        .filter_map(|s| s.at.map(|at| (s, at, s.silence_at(at))))
        .collect();
    if limited.is_empty() {
        return LimitFinding::None;
    }
    let keys = |v: &[(&Seen, Duration, Duration)]| v.iter().map(|(s, _, _)| s.key.clone()).collect::<Vec<_>>();
    let age = median(limited.iter().map(|l| l.1).collect());
    let silence = median(limited.iter().map(|l| l.2).collect());
    let same_silence = limited.iter().all(|l| same_limit(l.2, silence));
    let same_age = limited.iter().all(|l| same_limit(l.1, age));
    // Sessions still running past a time, not ended by the timer.
    let outlived = |t: Duration| -> Vec<&Seen> {
        seen.iter()
            .filter(|s| !limited.iter().any(|l| l.0.key == s.key))
            .filter(|s| s.outcome != Outcome::Error && s.lived() > t + Duration::from_secs(2))
            .collect()
    };
    // Idle: every ended session had been silent about as long; any that outlived the
    // silence had traffic more often than it.
    let past_silence: Vec<&Seen> = outlived(silence);
    let idle = same_silence && past_silence.iter().all(|s| s.keepalive < silence);
    // Lifetime: every ended session was about as old, and nothing outlived that age.
    let lifetime = same_age && outlived(age).is_empty();
    let busy: Vec<String> = limited.iter().filter(|l| l.2 + Duration::from_secs(1) < l.1.mul_f64(0.75)).map(|l| l.0.key.clone()).collect();
    match (idle, lifetime) {
        (true, true) if !busy.is_empty() => LimitFinding::Lifetime { limit: age, ended: keys(&limited), busy },
        (true, true) if !past_silence.is_empty() => {
            LimitFinding::Idle { limit: silence, ended: keys(&limited), outlived: past_silence.iter().map(|s| s.key.clone()).collect() }
        }
        (true, true) => LimitFinding::Either { age, silence, ended: keys(&limited) },
        (true, false) => {
            LimitFinding::Idle { limit: silence, ended: keys(&limited), outlived: past_silence.iter().map(|s| s.key.clone()).collect() }
        }
        (false, true) => LimitFinding::Lifetime { limit: age, ended: keys(&limited), busy },
        (false, false) => LimitFinding::Mixed { ended: limited.iter().map(|l| (l.0.key.clone(), l.1, l.2)).collect() },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// A WebSocket session of `column` at keepalive `ka`, ended at `at` by `how` (or held).
    pub(crate) fn seen(column: &str, ka: u64, hold: u64, end: Option<(f64, EndHow)>, pings: &[u64]) -> Seen {
        let profile = Profile::from_name(column);
        let (outcome, at, how) = match end {
            None => (Outcome::Ok, Some(s(hold)), None),
            Some((t, how)) => {
                let outcome = match how {
                    EndHow::CloseFrame { .. } => Outcome::Closed,
                    EndHow::NoPingResp => Outcome::Timeout,
                    _ => Outcome::Eof,
                };
                (outcome, Some(Duration::from_secs_f64(t)), Some(how))
            }
        };
        Seen {
            key: format!("{column} ka={ka}s"),
            column: column.to_string(),
            keepalive: s(ka),
            transport: profile.map_or(Transport::Ws, |p| p.transport()),
            pongs: Pongs::of(profile),
            outcome,
            at,
            ended_by_endpoint: how,
            pings: pings.iter().map(|p| s(*p)).collect(),
            cause: String::new(),
            hold: s(hold),
        }
    }

    #[test]
    fn behind_nginx_the_long_keepalive_ends_at_60_s_silent_and_the_short_one_holds_so_it_is_idle() {
        let f = analyse(&[seen("rfc6455", 30, 100, None, &[]), seen("rfc6455", 90, 100, Some((60.05, EndHow::Fin)), &[])]);
        match f.limit {
            LimitFinding::Idle { limit, ended, outlived } => {
                assert!(same_limit(limit, s(60)), "{limit:?}");
                assert_eq!(ended, ["rfc6455 ka=90s"]);
                assert_eq!(outlived, ["rfc6455 ka=30s"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(f.ends, vec![(EndHow::Fin, vec!["rfc6455 ka=90s".to_string()])]);
    }

    #[test]
    fn a_hop_that_ends_every_session_at_40_s_whatever_the_keepalive_is_a_lifetime() {
        let f = analyse(&[seen("rfc6455", 10, 100, Some((40.1, EndHow::Fin)), &[]), seen("rfc6455", 90, 100, Some((40.0, EndHow::Fin)), &[])]);
        match f.limit {
            LimitFinding::Lifetime { limit, busy, .. } => {
                assert!(same_limit(limit, s(40)));
                assert_eq!(busy, ["rfc6455 ka=10s"], "the busy session is the evidence");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_keepalive_that_ends_silent_at_its_age_cannot_tell_idle_from_lifetime() {
        let f = analyse(&[seen("rfc6455", 90, 100, Some((60.0, EndHow::Fin)), &[])]);
        assert!(matches!(f.limit, LimitFinding::Either { .. }), "{:?}", f.limit);
    }

    #[test]
    fn libwebsockets_pings_at_300_s_and_hangs_up_10_s_later_on_the_silent_client() {
        let f = analyse(&[
            seen("rfc6455", 60, 330, None, &[300]),
            seen("no-pong", 60, 330, Some((310.0, EndHow::Fin)), &[300]),
            seen("paho-java-1.2.5", 60, 330, None, &[300]),
        ]);
        assert_eq!(f.ping, PingFinding::At { first: s(300), sessions: 3 });
        assert_eq!(f.hang_up, HangUpFinding::After { after: s(10), ping: s(300), how: EndHow::Fin, key: "no-pong ka=60s".into() });
        assert_eq!(f.limit, LimitFinding::None, "a hang-up after a PING is no timer");
    }

    #[test]
    fn without_a_session_past_300_s_the_ping_is_unknown_not_absent() {
        let f = analyse(&[seen("rfc6455", 30, 100, None, &[])]);
        assert_eq!(f.ping, PingFinding::Unknown { longest: Some(s(100)) });
        assert_eq!(f.hang_up, HangUpFinding::Unknown);
        let f = analyse(&[seen("rfc6455", 30, 330, None, &[])]);
        assert_eq!(f.ping, PingFinding::None { longest: s(330) });
    }

    #[test]
    fn silence_counts_from_the_last_pingreq_or_the_brokers_last_ping() {
        let x = seen("rfc6455", 30, 400, None, &[300]);
        assert_eq!(x.silence_at(s(95)), s(5));
        assert_eq!(x.silence_at(s(305)), s(5));
        assert_eq!(seen("rfc6455", 90, 100, None, &[]).silence_at(s(60)), s(60));
    }
}
