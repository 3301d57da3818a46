//! A cell's wire timeline, for drawing: what each side sent, and when.
//!
//! A command cell has the recording proxy's transcript (`wire`): every upgrade line, frame,
//! MQTT packet and TCP end. Data frames are folded into the packet they carry
//! (`CONNECT in 13 frames`). A built-in cell recorded only its control frames and its end, so
//! its timeline is those, with its time zero (the 101, or CONNACK over TCP) and the end taken
//! from the verdict, and says so.

use serde::Serialize;

use crate::judge::record::{Direction, Party, WireEvent};
use crate::judge::results::CellResult;
use crate::plan::{Outcome, Profile, Transport};
use crate::wire::frame::opcode;

/// What kind of event a timeline row is, for its colour and for tests reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The HTTP upgrade request or its answer.
    Upgrade,
    /// MQTT CONNECT.
    Connect,
    /// MQTT CONNACK.
    Connack,
    /// MQTT PINGREQ.
    Pingreq,
    /// MQTT PINGRESP.
    Pingresp,
    /// Any other MQTT packet (SUBSCRIBE, PUBLISH, DISCONNECT …).
    Packet,
    /// A WebSocket PING frame.
    Ping,
    /// A WebSocket PONG frame.
    Pong,
    /// A WebSocket close frame.
    Close,
    /// A TCP FIN.
    Fin,
    /// A TCP reset.
    Rst,
    /// Anything else worth a row (an undecodable byte, a socket error, a note).
    Other,
}

/// One row of a timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Seconds in broker time after CONNACK (negative before it), never `-0.0`.
    pub at: f64,
    /// `client` or `broker`: who sent it.
    pub from: Party,
    /// What kind of event it is.
    pub kind: Kind,
    /// What it was, in words.
    pub label: String,
}

/// A cell's timeline and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// The rows, in time order.
    pub events: Vec<Event>,
    /// `wire` (the proxy's transcript) or `verdict` (control frames and the end only).
    pub source: &'static str,
}

fn kind_of(what: &str) -> Kind {
    let after = |p: &str| what.strip_prefix(p);
    if what.starts_with("upgrade") || what.starts_with("HTTP/") {
        Kind::Upgrade
    } else if let Some(rest) = after("MQTT ") {
        match rest.split(' ').next().unwrap_or_default() {
            "CONNECT" => Kind::Connect,
            "CONNACK" => Kind::Connack,
            "PINGREQ" => Kind::Pingreq,
            "PINGRESP" => Kind::Pingresp,
            _ => Kind::Packet,
        }
    } else if let Some(rest) = after("frame ") {
        match rest.split(' ').next().unwrap_or_default() {
            "PING" => Kind::Ping,
            "PONG" => Kind::Pong,
            "CLOSE" => Kind::Close,
            _ => Kind::Other,
        }
    } else if what == "FIN" {
        Kind::Fin
    } else if what == "RST" {
        Kind::Rst
    } else {
        Kind::Other
    }
}

fn is_data_frame(what: &str) -> bool {
    what.starts_with("frame BINARY") || what.starts_with("frame CONTINUATION")
}

fn secs(at: f64) -> f64 {
    let r = (at * 1000.0).round() / 1000.0;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// The proxy's transcript as rows: data frames folded into the packets they carry.
fn from_wire(wire: &[WireEvent]) -> Vec<Event> {
    let mut out = Vec::new();
    let mut frames = [0usize; 2];
    let slot = |p: Party| usize::from(p == Party::Broker);
    for w in wire {
        if is_data_frame(&w.what) {
            frames[slot(w.from)] += 1;
            continue;
        }
        let kind = kind_of(&w.what);
        let mut label = w.what.strip_prefix("MQTT ").unwrap_or(&w.what).to_string();
        if w.what.starts_with("MQTT ") {
            let n = std::mem::take(&mut frames[slot(w.from)]);
            if n > 1 {
                label = format!("{label} — in {n} WebSocket frames");
            }
        }
        out.push(Event { at: secs(w.at), from: w.from, kind, label });
    }
    out
}

/// What a built-in cell recorded: its control frames, with CONNACK and the end from the verdict.
fn from_verdict(c: &CellResult, hold: f64) -> Vec<Event> {
    let v = &c.verdict;
    let mut out = Vec::new();
    let connected = !v.before_connack && !matches!(v.outcome, Outcome::Refused | Outcome::Error);
    // Times count from the broker's 101 on WebSocket and from CONNACK over TCP (`TimeZero`).
    let ws = Profile::from_name(c.column()).is_none_or(|p| p.transport() == Transport::Ws);
    if ws && v.outcome != Outcome::Error {
        out.push(Event { at: 0.0, from: Party::Broker, kind: Kind::Upgrade, label: "101 Switching Protocols: time zero".to_string() });
    } else if connected {
        out.push(Event { at: 0.0, from: Party::Broker, kind: Kind::Connack, label: "CONNACK 0 (accepted): time zero".to_string() });
    }
    for f in &v.frames {
        let from = if f.direction == Direction::Received { Party::Broker } else { Party::Client };
        let (kind, word) = match f.opcode {
            opcode::PING => (Kind::Ping, "PING"),
            opcode::PONG => (Kind::Pong, "PONG"),
            opcode::CLOSE => (Kind::Close, "CLOSE"),
            _ => (Kind::Other, "frame"),
        };
        let mask = if f.masked { "masked" } else { "unmasked" };
        let label = format!("{word} {} B {mask}", f.payload_len);
        out.push(Event { at: secs(f.at.as_secs_f64()), from, kind, label });
    }
    let at = v.at.map_or(0.0, |a| secs(a.as_secs_f64()));
    let by = v.ended_by.unwrap_or(Party::Broker);
    match v.outcome {
        Outcome::Ok => out.push(Event { at: secs(hold), from: Party::Client, kind: Kind::Packet, label: "PUBLISH after the hold, and back: round trip".to_string() }),
        Outcome::Eof if by == Party::Broker => {
            let how = if v.cause.contains("reset") { (Kind::Rst, "RST") } else { (Kind::Fin, "FIN (no close frame)") };
            out.push(Event { at, from: Party::Broker, kind: how.0, label: how.1.to_string() });
        }
        Outcome::Eof => out.push(Event { at, from: Party::Client, kind: Kind::Fin, label: "the client ends the connection".to_string() }),
        Outcome::Closed if !v.frames.iter().any(|f| f.opcode == opcode::CLOSE && f.direction == Direction::Received) => {
            let code = v.close_code.map_or("no code".to_string(), |c| c.to_string());
            out.push(Event { at, from: Party::Broker, kind: Kind::Close, label: format!("CLOSE {code}") });
        }
        Outcome::Timeout => out.push(Event { at, from: by, kind: Kind::Other, label: "no answer in time".to_string() }),
        _ => {}
    }
    out.sort_by(|a, b| a.at.total_cmp(&b.at));
    out
}

/// The timeline of a cell held for `hold` seconds.
pub fn timeline(c: &CellResult, hold: f64) -> Timeline {
    if c.wire.is_empty() {
        Timeline { events: from_verdict(c, hold), source: "verdict" }
    } else {
        Timeline { events: from_wire(&c.wire), source: "wire" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(at: f64, from: Party, what: &str) -> WireEvent {
        WireEvent { at, from, what: what.to_string() }
    }

    #[test]
    fn data_frames_fold_into_the_packet_they_carry_and_no_time_reads_minus_zero() {
        let mut wire = vec![w(-0.0, Party::Client, "upgrade request: GET /mqtt HTTP/1.1"), w(-0.0, Party::Broker, "HTTP/1.1 101 Switching Protocols, subprotocol mqtt")];
        wire.extend((0..13).map(|_| w(-0.0, Party::Client, "frame BINARY 1 B masked")));
        wire.push(w(-0.0, Party::Client, "MQTT CONNECT client id \"x\", keepalive 60 s"));
        wire.push(w(-0.0, Party::Broker, "FIN"));
        let events = from_wire(&wire);
        let kinds: Vec<Kind> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [Kind::Upgrade, Kind::Upgrade, Kind::Connect, Kind::Fin]);
        assert!(events[2].label.ends_with("in 13 WebSocket frames"), "{}", events[2].label);
        assert!(events.iter().all(|e| e.at.is_sign_positive()), "{events:?}");
    }
}
