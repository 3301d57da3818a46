//! A client cell's kind, decided from what the session recorded and what the scripted broker
//! saw: pure, events in and a [`Judged`] out, as Autobahn keeps the behaviour and its
//! evidence together.

use std::time::Duration;

use crate::conformance::case::{Case, Required};
use crate::judge::record::{Party, SessionRecord};
use crate::judge::verdict::Verdict;
use crate::peer::{Observation, What};
use crate::plan::Outcome;
use crate::wire::frame::opcode_name;

/// How a client met a case, Autobahn-style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Answered as RFC 6455 and MQTT §6 require.
    Ok,
    /// Survived, but not as required (a PING left unanswered, an unmasked frame, no close echo).
    NonStrict,
    /// Dropped the session where it had to hold it (or held it where it had to close).
    Dropped,
    /// The case does not apply to the column (a WebSocket case on plain TCP, MQTT 5 only).
    NotApplicable,
    /// The harness could not run the cell.
    Error,
}

impl Kind {
    /// The word a report prints.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Ok => "OK",
            Kind::NonStrict => "NON-STRICT",
            Kind::Dropped => "DROPPED",
            Kind::NotApplicable => "n/a",
            Kind::Error => "ERROR",
        }
    }

    /// Whether the cell counts as a failure in a summary line.
    pub fn fails(self) -> bool {
        matches!(self, Kind::NonStrict | Kind::Dropped | Kind::Error)
    }
}

/// A judged cell: its kind, what the client did in words, and the frames as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// How the client met the case.
    pub kind: Kind,
    /// What it did, in one line.
    pub did: String,
    /// The wire, one line per frame or act, broker time first.
    pub evidence: Vec<String>,
}

/// Seconds with one decimal, as every report writes them.
fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// How the session ended, in words: `EOF at 1.0 s by the client: <cause>`.
fn ended(v: &Verdict) -> String {
    let at = v.at.map(|t| format!(" at {}", secs(t))).unwrap_or_default();
    let by = match v.ended_by {
        Some(Party::Client) => " by the client",
        Some(Party::Broker) => " by the broker",
        _ => "",
    };
    format!("{}{at}{by}: {}", v.outcome, v.cause)
}

/// The scripted broker's view, one line per event.
pub fn evidence(seen: &[Observation]) -> Vec<String> {
    let mut lines = Vec::new();
    for (n, o) in seen.iter().enumerate() {
        if seen.len() > 1 {
            lines.push(format!("connection {}:", n + 1));
        }
        for e in &o.events {
            let at = format!("{:>6.2} s", e.at.as_secs_f64());
            let line = match &e.what {
                What::Frame { opcode: op, fin, masked, payload } => format!(
                    "{at}  client {}{}{}, {} bytes{}",
                    opcode_name(*op),
                    if *fin { "" } else { " FIN=0" },
                    if *masked { "" } else { " UNMASKED" },
                    payload.len(),
                    if *op == crate::wire::frame::opcode::CLOSE { format!(" {:?}", close_words(payload)) } else { String::new() }
                ),
                What::Packet(p) => format!("{at}  client MQTT {}", packet_name(p)),
                What::PingSent(p) => format!("{at}  broker PING, {} bytes", p.len()),
                What::PongSent(p) => format!("{at}  broker PONG, {} bytes", p.len()),
                What::CloseSent(code) => format!("{at}  broker close {code}"),
                What::PingRespWithheld => format!("{at}  broker withholds the PINGRESP"),
                What::FragmentsSent => format!("{at}  broker PUBLISH in BINARY FIN=0 + CONTINUATION"),
                What::PacketsInOneFrameSent => format!("{at}  broker two PUBLISHes in one BINARY frame"),
                What::TextSent => format!("{at}  broker TEXT (0x1), 5 bytes"),
            };
            lines.push(line);
        }
        lines.push(format!("end: {:?}", o.end));
    }
    lines
}

/// A close payload as a person reads it: its status code, or its bytes as text when they are
/// not one (Paho Java 1.2.5 writes the ASCII digits `1000`).
fn close_words(payload: &[u8]) -> String {
    match crate::wire::frame::parse_close(payload) {
        (Some(code), reason) if (1000..5000).contains(&code) => format!("{code} {reason}").trim_end().to_string(),
        _ => format!("bytes {}", String::from_utf8_lossy(payload)),
    }
}

/// Whether a close payload is empty or starts with a status code an endpoint may send
/// (RFC 6455 §7.4.1-7.4.2: 1000-1003, 1007-1014, 3000-4999).
fn valid_close(payload: &[u8]) -> bool {
    match crate::wire::frame::parse_close(payload) {
        (None, _) => payload.is_empty(),
        (Some(code), _) => matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999),
    }
}

fn packet_name(p: &crate::wire::mqtt::Packet) -> &'static str {
    use crate::wire::mqtt::Packet::*;
    match p {
        Connect { .. } => "CONNECT",
        ConnAck { .. } => "CONNACK",
        Publish { .. } => "PUBLISH",
        Subscribe { .. } => "SUBSCRIBE",
        SubAck { .. } => "SUBACK",
        PingReq => "PINGREQ",
        PingResp => "PINGRESP",
        Disconnect { .. } => "DISCONNECT",
        Auth { .. } => "AUTH",
        Other { .. } => "another packet",
    }
}

/// Decides a cell from the verdict, the session's record and the broker's view.
pub fn judge(case: &Case, v: &Verdict, record: &SessionRecord, seen: &[Observation]) -> Judged {
    let first = seen.first();
    let words = record.process.as_ref().and_then(|p| p.words.clone());
    let said = words.map(|w| format!(" (the client said: {w})")).unwrap_or_default();
    let unmasked: Vec<String> = first
        .map(|o| o.unmasked().iter().map(|(at, op)| format!("{} at {}", opcode_name(*op), secs(*at))).collect())
        .unwrap_or_default();
    let unmasked_note = (!unmasked.is_empty()).then(|| format!("sent unmasked frames: {}", unmasked.join(", ")));
    let held = v.outcome == Outcome::Ok;
    if let (Some(want), Some(asked)) = (case.protocol, first.and_then(connect_protocol)) {
        if want != asked {
            let did = format!("its CONNECT asked for MQTT {asked}: the client does not speak MQTT {want}");
            return Judged { kind: Kind::NotApplicable, did, evidence: evidence(seen) };
        }
    }
    if let Some(j) = not_reached(v, seen, &said) {
        return j;
    }
    let (kind, did) = match case.required {
        Required::Hold => hold(v, held, &unmasked_note, &said),
        Required::EchoPing => echo_ping(v, held, first, &said),
        Required::Close => {
            let closes = first.map(|o| o.client_closes()).unwrap_or_default();
            match (held, closes.first()) {
                (true, _) => (Kind::NonStrict, "held on after the text frame, which MQTT §6 says it must close on".into()),
                // A close frame from the client is its answer, whoever then closed the socket first.
                (false, Some(p)) if !valid_close(p) => {
                    (Kind::NonStrict, format!("closed, but its close frame carries no valid status code ({}; RFC 6455 §7.4){said}", close_words(p)))
                }
                (false, Some(p)) => (Kind::Ok, format!("closed with a close frame ({}){said}", close_words(p))),
                (false, _) if v.ended_by == Some(Party::Client) => (Kind::Ok, format!("closed the connection without a close frame{said}")),
                (false, _) => (Kind::Dropped, format!("{}{said}", ended(v))),
            }
        }
        Required::EchoClose => {
            let closes = first.map(|o| o.client_closes()).unwrap_or_default();
            match closes.first() {
                Some(p) if !valid_close(p) => (
                    Kind::NonStrict,
                    format!("answered with a close frame that carries no valid status code ({}; RFC 6455 §7.4); {}", close_words(p), ended(v)),
                ),
                Some(p) if unmasked_note.is_none() => (Kind::Ok, format!("echoed the close ({}); {}", close_words(p), ended(v))),
                Some(_) => (Kind::NonStrict, format!("echoed the close, but {}", unmasked_note.clone().unwrap_or_default())),
                None => (Kind::NonStrict, format!("sent no close frame back; {}{said}", ended(v))),
            }
        }
        Required::SeeTheEnd => match v.outcome {
            Outcome::Eof | Outcome::Closed => (Kind::Ok, format!("{}{said}", ended(v))),
            Outcome::Ok => (Kind::NonStrict, "reported a whole session over a connection that had ended".into()),
            _ => (Kind::Dropped, format!("{}{said}", ended(v))),
        },
        Required::TimeOut => {
            // Giving up is the answer: a TIMEOUT, or the client itself ending the connection
            // after a PINGRESP was withheld (a real client's own words then say why).
            let withheld = first.is_some_and(|o| o.events.iter().any(|e| e.what == What::PingRespWithheld));
            match v.outcome {
                Outcome::Timeout => (Kind::Ok, format!("{}{said}", ended(v))),
                Outcome::Eof | Outcome::Closed if withheld && v.ended_by == Some(Party::Client) => {
                    (Kind::Ok, format!("gave up after the withheld PINGRESP: {}{said}", ended(v)))
                }
                Outcome::Ok => (Kind::NonStrict, "held the whole session without a PINGRESP and never gave up".into()),
                _ => (Kind::Dropped, format!("{}{said}", ended(v))),
            }
        }
        Required::HoldOrRefuse => match v.outcome {
            Outcome::Ok => (Kind::Ok, "carried on without the subprotocol".into()),
            Outcome::Refused => (Kind::Ok, format!("refused the upgrade: {}{said}", v.cause)),
            _ => (Kind::Dropped, format!("{}{said}", ended(v))),
        },
        Required::Refused => refused(v, seen, &said),
    };
    let mut evidence = evidence(seen);
    evidence.push(format!("verdict: {}", ended(v)));
    Judged { kind, did, evidence }
}

/// A cell whose client never reached the scripted broker (a JVM that did not start within its
/// set-up time on a loaded machine, a program that is missing) says nothing of the client's
/// conformance: the harness could not run it, ERROR. An ERROR after a connection (a client that
/// exits 1 with `lost:`) is the client's own answer, judged by the case.
fn not_reached(v: &Verdict, seen: &[Observation], said: &str) -> Option<Judged> {
    (v.outcome == Outcome::Error && seen.is_empty()).then(|| Judged {
        kind: Kind::Error,
        did: format!("the cell could not be run: {}{said}", ended(v)),
        evidence: vec![format!("verdict: {}", ended(v))],
    })
}

/// The MQTT version the client's CONNECT asked for.
fn connect_protocol(o: &Observation) -> Option<crate::wire::mqtt::Protocol> {
    o.events.iter().find_map(|e| match &e.what {
        What::Packet(crate::wire::mqtt::Packet::Connect { protocol, .. }) => Some(*protocol),
        _ => None,
    })
}

fn hold(v: &Verdict, held: bool, unmasked_note: &Option<String>, said: &str) -> (Kind, String) {
    match (held, unmasked_note) {
        (true, None) => (Kind::Ok, "held the session and its round trip".into()),
        (true, Some(note)) => (Kind::NonStrict, format!("held, but {note}")),
        (false, _) => (Kind::Dropped, format!("{}{said}", ended(v))),
    }
}

fn echo_ping(v: &Verdict, held: bool, first: Option<&Observation>, said: &str) -> (Kind, String) {
    // The PONG must echo what the broker's PING carried (RFC 6455 §5.5.3).
    let want: &[u8] = first
        .and_then(|o| o.events.iter().find_map(|e| match &e.what {
            What::PingSent(p) => Some(&p[..]),
            _ => None,
        }))
        .unwrap_or(b"");
    let pongs = first.map(|o| o.pongs()).unwrap_or_default();
    let answered = pongs.iter().find(|(_, _, p)| *p == want);
    match (held, answered) {
        (true, Some((at, true, _))) => (Kind::Ok, format!("answered with a masked PONG echoing {} bytes at {}", want.len(), secs(*at))),
        (true, Some((at, false, _))) => (Kind::NonStrict, format!("held, but its PONG at {} was unmasked (RFC 6455 §5.1)", secs(*at))),
        (true, None) if pongs.is_empty() => (Kind::NonStrict, "held, but left the PING unanswered".into()),
        (true, None) => (Kind::NonStrict, format!("held, but its PONG did not echo the {} payload bytes", want.len())),
        (false, _) => {
            let late = if pongs.is_empty() { "no PONG; ".to_string() } else { format!("{} PONG(s); ", pongs.len()) };
            (Kind::Dropped, format!("{late}{}{said}", ended(v)))
        }
    }
}

fn refused(v: &Verdict, seen: &[Observation], said: &str) -> (Kind, String) {
    let tries = if seen.len() > 1 { format!("; it tried {} times", seen.len()) } else { String::new() };
    match v.outcome {
        Outcome::Refused => (Kind::Ok, format!("reported the refusal: {}{tries}{said}", v.cause)),
        _ => (Kind::Dropped, format!("{}{tries}{said}", ended(v))),
    }
}
