//! Two columns of one result that must behave alike: an emulation against the real client it
//! imitates (`paho-java-1.2.5` against `paho-java@1.2.5`), tag by tag.
//!
//! Pure: a run result comes in; the tags compared and every difference, each with both
//! cells' wire transcripts, go out. The CLI's `agree` prints them and fails on any.

use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::judge::record::{Direction, Party};
use crate::judge::results::{CellResult, RunResult};
use crate::plan::Outcome;

/// WebSocket opcodes the comparison looks for.
const OPCODE_CLOSE: u8 = 0x8;
const OPCODE_PING: u8 = 0x9;

/// What was compared and what differed.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    /// The two columns, as asked.
    pub columns: (String, String),
    /// The bound on time differences (broker time).
    pub within: Duration,
    /// The tags where both columns had a cell, in the result's order.
    pub compared: Vec<String>,
    /// Every tag where they differ.
    pub differences: Vec<Difference>,
}

/// One tag where the two columns did not behave alike.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The tag.
    pub tag: String,
    /// Each way they differ, in words.
    pub what: Vec<String>,
    /// Both cells' transcripts, first column first.
    pub transcripts: (String, String),
}

impl Agreement {
    /// Whether the two columns agree on every tag, and there was at least one to compare.
    pub fn holds(&self) -> bool {
        self.differences.is_empty() && !self.compared.is_empty()
    }
}

/// The broker's first WebSocket PING, seconds after CONNACK.
fn first_ping(c: &CellResult) -> Option<f64> {
    c.verdict
        .frames
        .iter()
        .find(|f| f.direction == Direction::Received && f.opcode == OPCODE_PING)
        .map(|f| f.at.as_secs_f64())
}

/// The client's first close frame as the verdict saw it: its payload length and mask bit.
fn client_close(c: &CellResult) -> Option<String> {
    c.verdict
        .frames
        .iter()
        .find(|f| f.direction == Direction::Sent && f.opcode == OPCODE_CLOSE)
        .map(|f| format!("frame CLOSE (0x8) {} B {}", f.payload_len, if f.masked { "masked" } else { "unmasked" }))
}

/// The client's first close frame as the proxy's transcript words it (code and payload too);
/// `None` for a cell without a transcript (a built-in profile played in process).
fn client_close_words(c: &CellResult) -> Option<Option<String>> {
    if c.wire.is_empty() {
        return None;
    }
    Some(c.wire.iter().find(|w| w.from == Party::Client && w.what.starts_with("frame CLOSE")).map(|w| w.what.clone()))
}

/// The words for an optional time.
fn secs(t: Option<f64>) -> String {
    t.map(|t| format!("{t:.3} s")).unwrap_or_else(|| "none".to_string())
}

/// A time that both or neither cell has, and that differs by at most `within`.
fn times_agree(a: Option<f64>, b: Option<f64>, within: Duration) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= within.as_secs_f64(),
        (None, None) => true,
        _ => false,
    }
}

/// The ways two cells of one tag differ.
fn differ(a: &CellResult, b: &CellResult, within: Duration) -> Vec<String> {
    let mut what = Vec::new();
    for c in [a, b] {
        if c.verdict.outcome == Outcome::Error {
            what.push(format!("{} did not run: {}", c.profile, c.verdict.cause));
        }
    }
    if a.verdict.outcome != b.verdict.outcome {
        what.push(format!("outcome: {} {} but {} {}", a.profile, a.verdict.outcome, b.profile, b.verdict.outcome));
    }
    let (pa, pb) = (first_ping(a), first_ping(b));
    if !times_agree(pa, pb, within) {
        what.push(format!("broker's PING: {} at {}, {} at {}", a.profile, secs(pa), b.profile, secs(pb)));
    }
    let (ea, eb) = (a.verdict.at.map(|d| d.as_secs_f64()), b.verdict.at.map(|d| d.as_secs_f64()));
    if !times_agree(ea, eb, within) {
        what.push(format!("end: {} at {}, {} at {}", a.profile, secs(ea), b.profile, secs(eb)));
    }
    let show = |c: &Option<String>| c.clone().unwrap_or_else(|| "no close frame".to_string());
    let (ca, cb) = (client_close(a), client_close(b));
    if ca != cb {
        what.push(format!("client's close frame: {} sent {}, {} sent {}", a.profile, show(&ca), b.profile, show(&cb)));
    } else if let (Some(wa), Some(wb)) = (client_close_words(a), client_close_words(b)) {
        if wa != wb {
            what.push(format!("client's close frame: {} sent {}, {} sent {}", a.profile, show(&wa), b.profile, show(&wb)));
        }
    }
    what
}

/// One cell's transcript: the verdict, the client's words, and every wire event.
pub fn transcript(c: &CellResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}/{}: {} — {}", c.tag, c.profile, c.verdict.outcome, c.verdict.cause);
    if let Some(p) = &c.process {
        let _ = writeln!(s, "  process: {} ({})", p.words.as_deref().unwrap_or("no words"), p.ended);
    }
    if c.wire.is_empty() {
        for f in &c.verdict.frames {
            let _ = writeln!(s, "  {:>9.3} s  {:?} opcode 0x{:x} {} B masked={}", f.at.as_secs_f64(), f.direction, f.opcode, f.payload_len, f.masked);
        }
    }
    for w in &c.wire {
        let from = match w.from {
            Party::Broker => "broker",
            Party::Client => "client",
        };
        let _ = writeln!(s, "  {:>9.3} s  {from:<6} {}", w.at, w.what);
    }
    s
}

/// Compares columns `a` and `b` of `result` on every tag where both have a cell.
pub fn agree(result: &RunResult, a: &str, b: &str, within: Duration) -> Agreement {
    let cell = |tag: &str, column: &str| result.cells.iter().find(|c| c.tag == tag && c.profile == column);
    let mut compared = Vec::new();
    let mut differences = Vec::new();
    for tag in result.tags.iter().map(|t| t.tag.as_str()) {
        let (ca, cb) = (cell(tag, a), cell(tag, b));
        let (ca, cb) = match (ca, cb) {
            (Some(x), Some(y)) => (x, y),
            (None, None) => continue,
            (x, y) => {
                let (has, lacks) = if x.is_some() { (a, b) } else { (b, a) };
                let present = x.or(y).map(transcript).unwrap_or_default();
                differences.push(Difference {
                    tag: tag.to_string(),
                    what: vec![format!("{has} has a cell and {lacks} has none")],
                    transcripts: if x.is_some() { (present, String::new()) } else { (String::new(), present) },
                });
                continue;
            }
        };
        compared.push(tag.to_string());
        let what = differ(ca, cb, within);
        if !what.is_empty() {
            differences.push(Difference { tag: tag.to_string(), what, transcripts: (transcript(ca), transcript(cb)) });
        }
    }
    Agreement { columns: (a.to_string(), b.to_string()), within, compared, differences }
}

impl fmt::Display for Agreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = &self.columns;
        if self.compared.is_empty() && self.differences.is_empty() {
            return writeln!(f, "{a} and {b}: no tag has a cell of both; nothing was compared");
        }
        for d in &self.differences {
            writeln!(f, "{}: {a} and {b} differ:", d.tag)?;
            for w in &d.what {
                writeln!(f, "  - {w}")?;
            }
            write!(f, "{}{}", d.transcripts.0, d.transcripts.1)?;
        }
        let ok: Vec<&String> = self.compared.iter().filter(|t| !self.differences.iter().any(|d| &d.tag == *t)).collect();
        writeln!(
            f,
            "{a} and {b}: {} of {} tags agree (same outcome, PING and end within {} s, same close frame){}",
            ok.len(),
            self.compared.len(),
            self.within.as_secs_f64(),
            if ok.is_empty() { String::new() } else { format!(": {}", ok.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")) }
        )
    }
}
