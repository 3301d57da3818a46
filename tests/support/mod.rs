//! Shared test support: the scripted peer, one session run the way the real matrix runs it,
//! and what a test expects of the verdict.

pub use mosquitto_matrix::peer;

use std::fmt::Write as _;
use std::time::Duration;

use mosquitto_matrix::plan::Profile;
use mosquitto_matrix::judge::record::{Party, SessionRecord};
use mosquitto_matrix::client::{self as session, SessionSpec};
use mosquitto_matrix::plan::Timing;
use mosquitto_matrix::judge::verdict::{self, Verdict};
use mosquitto_matrix::plan::Outcome;

use peer::{Behaviour, Observation, Peer};

/// One unit of time: the peer's script and the session's timing are whole numbers of it.
pub const UNIT: Duration = Duration::from_millis(20);

/// The hold, in units: long enough for two libwebsockets PINGs (at 15 and 30).
pub const HOLD: u32 = 40;

/// The rumqttc hold, in units. rumqttc will not take a keepalive under 1 s (50 units), and a
/// hung broker shows only at its second keepalive tick (2 s), so its hold must pass 100 units.
pub const RUMQTTC_HOLD: u32 = 150;

/// The durations a profile runs by against the scripted peer, in [`UNIT`]s.
pub fn timing(profile: Profile) -> Timing {
    timing_in(profile, UNIT)
}

/// The same durations in units of `unit`.
pub fn timing_in(profile: Profile, unit: Duration) -> Timing {
    let hold = if profile == Profile::Rumqttc { RUMQTTC_HOLD } else { HOLD };
    Timing {
        hold: unit * hold,
        keepalive: unit * 6,
        late_pong: unit * 15,
        setup_timeout: Duration::from_secs(2),
        round_trip_timeout: unit * 5,
    }
}

/// One (profile × behaviour) session run against the scripted peer.
#[derive(Debug)]
pub struct Cell {
    /// The client profile.
    pub profile: Profile,
    /// The peer's behaviour.
    pub behaviour: Behaviour,
    /// The unit of time the behaviour's numbers are in.
    pub unit: Duration,
    /// What the session recorded.
    pub record: SessionRecord,
    /// The verdict decided from it.
    pub verdict: Verdict,
    /// What the peer saw, one entry per client connection.
    pub peer: Vec<Observation>,
}

/// Runs one session of `profile` against a fresh peer playing `behaviour`, through the same
/// `session::run` + `verdict::decide` path as the real matrix.
pub async fn run_cell(profile: Profile, behaviour: Behaviour, unit: Duration, timing: Timing) -> Result<Cell, String> {
    run_cell_with(profile, behaviour, unit, timing, None).await
}

/// [`run_cell`] over TLS when `tls` is given: the peer serves the run's certificate, the
/// session trusts the run's CA.
pub async fn run_cell_with(
    profile: Profile,
    behaviour: Behaviour,
    unit: Duration,
    timing: Timing,
    tls: Option<std::sync::Arc<mosquitto_matrix::engine::tls::RunTls>>,
) -> Result<Cell, String> {
    let peer = match &tls {
        None => Peer::start(profile.transport(), behaviour, unit).await,
        Some(t) => Peer::start_with(profile.transport(), behaviour, unit, Some(t.server_config().map_err(|e| e.to_string())?)).await,
    };
    let peer = peer
        .map_err(|e| format!("could not start the scripted peer: {e}"))?;
    let mut spec = spec(profile, peer.port(), timing);
    spec.tls = tls;
    let record = session::run(&spec).await;
    let verdict = verdict::decide(&record);
    let peer = peer.finish().await;
    Ok(Cell { profile, behaviour, unit, record, verdict, peer })
}

/// A command cell's spec against a local peer on `port`, the test credentials, real time, plain.
#[allow(dead_code)] // for the command-path tests (commands, tls) only
pub fn command_spec(client: mosquitto_matrix::plan::CommandClient, port: u16, timing: Timing) -> mosquitto_matrix::client::command::CommandSpec {
    mosquitto_matrix::client::command::CommandSpec {
        client,
        host: "127.0.0.1".into(),
        port,
        username: "matrix".into(),
        password: "secret".into(),
        client_id: "matrix-command".into(),
        timing,
        workdir: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        speed: 1.0,
        extra_env: Vec::new(),
        started: Default::default(),
        tls: None,
        lateness: None,
    }
}

/// The session of `profile` the cells run, against a peer on `port`, plain.
pub fn spec(profile: Profile, port: u16, timing: Timing) -> SessionSpec {
    SessionSpec {
        protocol: mosquitto_matrix::wire::mqtt::Protocol::V311,
        profile,
        host: "127.0.0.1".into(),
        port,
        path: "/mqtt".into(),
        username: "matrix".into(),
        password: "secret".into(),
        client_id: format!("matrix-{}", profile.name()),
        topic: format!("test/matrix-{}", profile.name()),
        timing,
        started: Default::default(),
        tls: None,
    }
}

/// A check on what the peer saw on the wire, or on the session record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// The client's first close frame carried exactly these bytes.
    ClientClose(&'static [u8]),
    /// The client's first close frame carried this status code.
    ClientCloseCode(u16),
    /// The client sent no close frame.
    NoClientClose,
    /// At least one PONG came, every one with this mask bit and this payload.
    Pongs {
        /// The mask bit every PONG must have.
        masked: bool,
        /// The payload every PONG must echo.
        payload: &'static [u8],
    },
    /// The first PONG came this many units (±tolerance) after the first PING.
    FirstPongAfter(u32),
    /// No PONG came at all.
    NoPongs,
    /// The peer sent exactly this many PINGs.
    PingsSent(usize),
    /// The session recorded this subprotocol from the upgrade.
    Subprotocol(Option<&'static str>),
    /// The session read the retained version message.
    BrokerVersion,
}

/// What a cell must come to.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    outcome: Outcome,
    at: Option<u32>,
    /// `None` when the client cannot tell who ended the session.
    ended_by: Option<Option<Party>>,
    close_code: Option<u16>,
    connack_code: Option<u8>,
    cause: Vec<&'static str>,
    cause_lacks: Vec<&'static str>,
    wire: Vec<Wire>,
}

/// How far (in units) a time may run early or late: timers fire a little late, and the
/// peer's clock starts when it sends CONNACK while the session's starts when it reads it.
const EARLY: u32 = 4;
const LATE: u32 = 4;

fn expect(outcome: Outcome, at: Option<u32>, ended_by: Option<Party>) -> Expect {
    Expect {
        outcome,
        at,
        ended_by: Some(ended_by),
        close_code: None,
        connack_code: None,
        cause: Vec::new(),
        cause_lacks: Vec::new(),
        wire: Vec::new(),
    }
}

/// OK: the hold completed and the round trip came back.
pub fn ok() -> Expect {
    expect(Outcome::Ok, None, None).wire(Wire::BrokerVersion)
}

/// EOF at `at` units, ended by `by`.
pub fn eof(at: u32, by: Party) -> Expect {
    expect(Outcome::Eof, Some(at), Some(by))
}

/// CLOSED at `at` units with close code `code`.
pub fn closed(at: u32, code: u16) -> Expect {
    let mut e = expect(Outcome::Closed, Some(at), Some(Party::Broker));
    e.close_code = Some(code);
    e
}

/// TIMEOUT at `at` units (no PINGRESP, or the round trip lost).
pub fn timeout(at: u32) -> Expect {
    expect(Outcome::Timeout, Some(at), Some(Party::Broker))
}

/// REFUSED by the upgrade or by CONNACK, before the session started.
pub fn refused() -> Expect {
    expect(Outcome::Refused, None, Some(Party::Broker))
}

impl Expect {
    /// The cause line must contain this text.
    #[must_use]
    pub fn cause(mut self, part: &'static str) -> Self {
        self.cause.push(part);
        self
    }

    /// The cause line must not contain this text (a claim the session cannot make).
    #[must_use]
    pub fn cause_lacks(mut self, part: &'static str) -> Self {
        self.cause_lacks.push(part);
        self
    }

    /// Who ended the session is not checked: the client cannot know.
    #[must_use]
    pub fn by_either(mut self) -> Self {
        self.ended_by = None;
        self
    }

    /// The CONNACK return code (REFUSED by CONNACK).
    #[must_use]
    pub fn connack(mut self, code: u8) -> Self {
        self.connack_code = Some(code);
        self
    }

    /// Something the peer must have seen on the wire.
    #[must_use]
    pub fn wire(mut self, check: Wire) -> Self {
        self.wire.push(check);
        self
    }

    /// Checks a cell; returns every mismatch, each on its own line.
    pub fn mismatches(&self, cell: &Cell) -> Vec<String> {
        let v = &cell.verdict;
        let units = |d: Duration| d.as_secs_f64() / cell.unit.as_secs_f64();
        let mut bad = Vec::new();
        if v.outcome != self.outcome {
            bad.push(format!("outcome {} (expected {})", v.outcome, self.outcome));
        }
        if let Some(want) = self.at {
            match v.at {
                Some(at)
                    if units(at) >= f64::from(want.saturating_sub(EARLY)) && units(at) <= f64::from(want + LATE) => {}
                Some(at) => bad.push(format!("ended at {:.1} units (expected {want}, -{EARLY}/+{LATE})", units(at))),
                None => bad.push(format!("no end time (expected {want} units)")),
            }
        }
        if self.outcome == Outcome::Ok && v.at != Some(cell.record.hold) {
            bad.push(format!("an OK at {:?}, not at the hold {:?}", v.at, cell.record.hold));
        }
        match self.ended_by {
            Some(by) if v.ended_by != by => bad.push(format!("ended by {:?} (expected {by:?})", v.ended_by)),
            _ => {}
        }
        if self.close_code.is_some() && v.close_code != self.close_code {
            bad.push(format!("close code {:?} (expected {:?})", v.close_code, self.close_code));
        }
        if self.connack_code.is_some() && v.connack_code != self.connack_code {
            bad.push(format!("CONNACK code {:?} (expected {:?})", v.connack_code, self.connack_code));
        }
        // The times in a cause are checked with a tolerance above; here only the words count,
        // so "at 0.3 s" matches "at 0.4 s" on a loaded machine.
        for part in &self.cause {
            if !without_times(&v.cause).contains(&without_times(part)) {
                bad.push(format!("cause lacks {part:?}"));
            }
        }
        for part in &self.cause_lacks {
            if v.cause.contains(part) {
                bad.push(format!("cause claims {part:?}"));
            }
        }
        let first = cell.peer.first();
        for check in &self.wire {
            if let Some(problem) = wire_mismatch(check, cell, first, units) {
                bad.push(problem);
            }
        }
        bad
    }
}

fn wire_mismatch(
    check: &Wire,
    cell: &Cell,
    seen: Option<&Observation>,
    units: impl Fn(Duration) -> f64,
) -> Option<String> {
    let Some(seen) = seen else { return Some(format!("{check:?}: the peer saw no connection")) };
    let closes = seen.client_closes();
    let pongs = seen.pongs();
    match check {
        Wire::ClientClose(want) => match closes.first() {
            Some(got) if got == want => None,
            Some(got) => Some(format!("client close payload {:?} (expected {:?})", bytes(got), bytes(want))),
            None => Some(format!("no close frame from the client (expected {:?})", bytes(want))),
        },
        Wire::ClientCloseCode(want) => match closes.first() {
            Some([a, b, ..]) if u16::from_be_bytes([*a, *b]) == *want => None,
            Some(got) => Some(format!("client close payload {:?} (expected code {want})", bytes(got))),
            None => Some(format!("no close frame from the client (expected code {want})")),
        },
        Wire::NoClientClose => closes.first().map(|got| format!("unexpected client close {:?}", bytes(got))),
        Wire::Pongs { masked, payload } => {
            if pongs.is_empty() {
                return Some("no PONG reached the peer".into());
            }
            pongs.iter().find(|(_, m, p)| m != masked || p != payload).map(|(at, m, p)| {
                format!(
                    "PONG at {at:?} masked={m} payload {:?} (expected masked={masked}, {:?})",
                    bytes(p),
                    bytes(payload)
                )
            })
        }
        Wire::FirstPongAfter(want) => {
            let ping = seen.pings_sent().first().copied();
            match (ping, pongs.first()) {
                (Some(ping), Some((pong, ..))) => {
                    let gap = units(pong.saturating_sub(ping));
                    (gap < f64::from(want.saturating_sub(EARLY)) || gap > f64::from(want + LATE))
                        .then(|| format!("first PONG {gap:.1} units after the first PING (expected {want})"))
                }
                _ => Some(format!("no PING/PONG pair (expected a PONG {want} units after the PING)")),
            }
        }
        Wire::NoPongs => pongs.first().map(|(at, ..)| format!("unexpected PONG at {at:?}")),
        Wire::PingsSent(n) => {
            let sent = seen.pings_sent().len();
            (sent != *n).then(|| format!("peer sent {sent} PING(s) (expected {n})"))
        }
        Wire::Subprotocol(want) => {
            let got = cell.record.subprotocol.as_deref();
            (got != *want).then(|| format!("subprotocol {got:?} (expected {want:?})"))
        }
        Wire::BrokerVersion => {
            let got = cell.record.broker_version.as_deref();
            (got != Some(peer::BROKER_VERSION))
                .then(|| format!("broker version {got:?} (expected {:?})", peer::BROKER_VERSION))
        }
    }
}

fn bytes(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Everything about a cell a person needs when it does not come out as expected.
pub fn describe(cell: &Cell) -> String {
    let v = &cell.verdict;
    let mut out = String::new();
    let _ =
        writeln!(out, "{} × {}: {} at {:?} by {:?}", cell.profile, cell.behaviour.name(), v.outcome, v.at, v.ended_by);
    let _ = writeln!(out, "  cause: {}", v.cause);
    let _ = writeln!(out, "  session end: {:?}", cell.record.end);
    for f in &cell.record.frames {
        let _ = writeln!(out, "  client frame: {f:?}");
    }
    for (i, seen) in cell.peer.iter().enumerate() {
        let _ = writeln!(out, "  peer connection {i}: end {:?}, upgrade {:?}", seen.end, seen.upgrade);
        for e in &seen.events {
            let _ = writeln!(out, "    {:>7.1} ms {:?}", e.at.as_secs_f64() * 1000.0, e.what);
        }
    }
    out
}

/// The text with every "N.N s" replaced by "# s".
fn without_times(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut num = String::from(c);
            while let Some(&d) = chars.peek() {
                if d.is_ascii_digit() || d == '.' {
                    num.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            let rest: String = chars.clone().take(2).collect();
            if num.contains('.') && rest == " s" {
                out.push('#');
            } else {
                out.push_str(&num);
            }
        } else {
            out.push(c);
        }
    }
    out
}
