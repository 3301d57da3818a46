//! What every command cell shares once its client runs, however it was started (a process
//! of its own, `client::command`, or a connection to its column's runtime, `client::runtime`):
//! what the cell is ([`CommandSpec`]), the recording proxy it connects through, the contract environment it is told, and — once
//! lines came in and an exit status came out — the record, with the client's words and tail.
//!
//! Does I/O through the proxy only (it listens on loopback and forwards to the broker).

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::client::contract::{self, ClientLine, ContractEnv};
use crate::client::output::{cut, shown, LineSink, Tail};
use crate::client::proxy::Proxy;
use crate::client::recorder::Watch;
use crate::judge::record::{ClientProcess, End, SessionRecord, Vantage};
use crate::plan::{CommandClient, Timing};

/// How long the proxy waits for the connection to end once the client has ended.
const PROXY_GRACE: Duration = Duration::from_secs(2);

/// One command cell to run.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSpec {
    /// The column.
    pub client: CommandClient,
    /// The broker's host.
    pub host: String,
    /// The broker's mapped port for the column's transport (the `wss` port with `tls`).
    pub port: u16,
    /// MQTT user name.
    pub username: String,
    /// MQTT password.
    pub password: String,
    /// MQTT client id.
    pub client_id: String,
    /// Durations, in broker time.
    pub timing: Timing,
    /// Where the command runs and its relative program path starts (matrix.toml's folder).
    pub workdir: PathBuf,
    /// Broker seconds per real second.
    pub speed: f64,
    /// Extra environment (e.g. the time library's preload).
    pub extra_env: Vec<(String, String)>,
    /// Told once the broker accepted the client's session.
    pub started: crate::client::Started,
    /// TLS with the run's CA: the recording proxy serves TLS to the client and speaks TLS to
    /// `host:port`, and the contract passes `MATRIX_CA_FILE` and a `wss://` URL.
    pub tls: Option<std::sync::Arc<crate::engine::tls::RunTls>>,
    /// How late the broker runs, timed by the run's own connection to it (accelerated runs):
    /// the recording proxy counts it as the broker's lag around the session's end.
    pub lateness: Option<crate::client::lateness::Lateness>,
}

impl CommandSpec {
    /// The round-trip topic of the cell: `MATRIX_TOPIC` of [`CommandSpec::extra_env`] when the
    /// caller chose one (the probe keeps its topics under its prefix), else `test/<client id>`.
    pub fn topic(&self) -> String {
        match self.extra_env.iter().rev().find(|(k, _)| k == contract::TOPIC_VAR) {
            Some((_, topic)) => topic.clone(),
            None => format!("test/{}", self.client_id),
        }
    }

    /// When a client still running is killed, in real time: the hold on the cell's clock,
    /// plus the round trip and the set-up timeout in real time, since starting a program (a
    /// JVM, Node.js) and a message's way through a busy broker take what they take whatever
    /// the clock says.
    pub fn bound(&self) -> Duration {
        self.timing.hold.div_f64(self.speed) + self.timing.round_trip_timeout + self.timing.setup_timeout
    }
}

/// "; is it installed? run …" for a client whose set-up command is known.
pub(crate) fn setup_hint(c: &CommandClient) -> String {
    c.setup.as_deref().map(|s| format!("; is it installed? run `{s}`")).unwrap_or_default()
}

/// The last lines of a client's output, bounded in count and length whatever it prints, and
/// what it said under the contract.
#[derive(Debug, Default)]
pub(crate) struct CapturedOutput {
    tail: Tail,
    library: Option<String>,
    words: Option<String>,
}

impl LineSink for CapturedOutput {
    fn push(&mut self, line: &str) {
        let line = line.trim_end();
        if line.is_empty() {
            return;
        }
        match contract::read_line(line) {
            ClientLine::Client(lib) if self.library.is_none() => self.library = Some(cut(lib)),
            ClientLine::Lost(words) => self.words = Some(cut(words)),
            _ => {}
        }
        self.tail.push(line);
    }
}

/// How a client ended, as the operating system (or its runtime's `exit: N`) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcessEnd {
    /// It exited with this status.
    Exited(i32),
    /// A signal ended it (its number).
    Killed(i32),
    /// Neither: the status says nothing more.
    Unknown,
}

impl ProcessEnd {
    /// How a process's status reads.
    pub(crate) fn of(status: ExitStatus) -> ProcessEnd {
        match (status.code(), status.signal()) {
            (Some(code), _) => ProcessEnd::Exited(code),
            (None, Some(sig)) => ProcessEnd::Killed(sig),
            _ => ProcessEnd::Unknown,
        }
    }

    /// Its exit status, when it exited.
    fn code(self) -> Option<i32> {
        match self {
            ProcessEnd::Exited(code) => Some(code),
            _ => None,
        }
    }

    /// The signal that ended it, when one did.
    fn signal(self) -> Option<i32> {
        match self {
            ProcessEnd::Killed(sig) => Some(sig),
            _ => None,
        }
    }

    /// Whether SIGKILL ended it: the harness's second word after a SIGTERM was ignored.
    fn by_sigkill(self) -> bool {
        self == ProcessEnd::Killed(Signal::SIGKILL as i32)
    }

    /// The words a cause uses: `exited 1`, `was killed by signal 9`.
    fn words(self) -> String {
        match self {
            ProcessEnd::Exited(code) => format!("exited {code}"),
            ProcessEnd::Killed(sig) => format!("was killed by signal {sig}"),
            ProcessEnd::Unknown => "ended".to_string(),
        }
    }
}

/// What came of a client, whoever ran it: lines in, an end out.
#[derive(Debug)]
pub(crate) struct Ran {
    /// What it printed.
    pub(crate) output: CapturedOutput,
    /// How it ended; `None` when that is unknown.
    pub(crate) end: Option<ProcessEnd>,
    /// Whether the harness ended it at its bound.
    pub(crate) killed: bool,
    /// How long it ran, in real time.
    pub(crate) real_end: Duration,
    /// How the harness ended it, when it did: `was killed (SIGTERM)`, `was killed (SIGTERM,
    /// then SIGKILL)`, `was ended (its connection closed)`.
    pub(crate) how_ended: &'static str,
    /// Why the cell cannot be judged although the client ran: its runtime broke under it.
    pub(crate) broke: Option<String>,
}

impl Ran {
    /// `how_ended` for a process the harness ended: by SIGTERM, or SIGKILL after it.
    pub(crate) fn signals(end: Option<ProcessEnd>) -> &'static str {
        if end.is_some_and(ProcessEnd::by_sigkill) {
            "was killed (SIGTERM, then SIGKILL)"
        } else {
            "was killed (SIGTERM)"
        }
    }
}

/// A record of the cell that could not run, saying why.
pub(crate) fn error_record(spec: &CommandSpec, detail: String) -> SessionRecord {
    let c = &spec.client;
    let mut r = SessionRecord::of(&c.name, Vantage::Proxy, c.transport, spec.timing.hold, spec.timing.keepalive, &spec.client_id);
    r.end = End::HarnessError { detail };
    r
}

/// The cell's recording proxy, listening on loopback, forwarding to the broker.
pub(crate) async fn start_proxy(spec: &CommandSpec) -> Result<Proxy, String> {
    let c = &spec.client;
    let watch = Watch {
        column: c.name.clone(),
        transport: c.transport,
        hold: spec.timing.hold,
        keepalive: spec.timing.keepalive,
        client_id: spec.client_id.clone(),
        topic: spec.topic(),
        speed: spec.speed,
        protocol: c.protocol,
        lateness: spec.lateness.clone(),
    };
    Proxy::start(format!("{}:{}", spec.host, spec.port), watch, spec.started.clone(), spec.tls.clone(), spec.timing.setup_timeout)
        .await
        .map_err(|e| e.to_string())
}

/// What the cell's client is told under the contract, to reach the broker through the proxy
/// listening on `port`.
pub(crate) fn contract_env(spec: &CommandSpec, port: u16) -> ContractEnv {
    let c = &spec.client;
    // A client whose clock cannot follow the time library lives on real time: it is given the
    // hold already divided by the speed, and its bounds as they are in real time. Its keepalive
    // is off: the broker reads a CONNECT's keepalive K on its own ×N clock (PINGREQ due within
    // 1.5·K/N real seconds), and the client pings every K real seconds, so no K satisfies both
    // (measured: K = 6 at ×10, dropped after 0.9 s real). The verdict does not rest on it: the
    // broker's WebSocket PING comes at 300 s of its clock whatever the MQTT traffic.
    let real_clock = c.real_clock(spec.speed.round() as u32);
    let (hold, keepalive, clock) = if real_clock {
        (spec.timing.hold.div_f64(spec.speed), Duration::ZERO, 1.0)
    } else {
        (spec.timing.hold, spec.timing.keepalive, spec.speed)
    };
    ContractEnv {
        host: "127.0.0.1".to_string(),
        port,
        path: c.path.clone(),
        transport: c.transport,
        username: spec.username.clone(),
        password: spec.password.clone(),
        client_id: spec.client_id.clone(),
        keepalive,
        hold,
        topic: spec.topic(),
        // On the client's clock, like the set-up bound: the same in real time at any speed.
        round_trip: spec.timing.round_trip_timeout.mul_f64(clock),
        // On the client's clock: an accelerated client's deadline stays the same in real time.
        setup: spec.timing.setup_timeout.mul_f64(clock),
        protocol: c.protocol,
        // The proxy shows the client the run's server certificate, from the run's CA.
        ca_file: spec.tls.as_ref().map(|t| t.ca_file.clone()),
    }
}

/// The cell's record once its client ended: what the proxy saw, with how the client ended
/// and what it said. A client that never connected, or whose runtime broke, is an ERROR.
pub(crate) async fn finish(spec: &CommandSpec, proxy: Proxy, ran: Ran) -> SessionRecord {
    let seen = proxy.finish(PROXY_GRACE).await;
    let Ran { output, end, killed, real_end, how_ended, broke } = ran;
    let (exit_code, mut ended) = end.map_or((None, "ended in an unknown way".to_string()), |e| (e.code(), e.words()));
    if killed {
        ended = format!(
            "was still running {:.1} s (real) after it started, past the bound of hold + round trip + set-up, and {how_ended}",
            real_end.as_secs_f64()
        );
    }
    let tail: Vec<String> = output.tail.lines();
    let mut process = ClientProcess {
        library: output.library,
        exit_code: if killed { None } else { exit_code },
        ended: ended.clone(),
        killed,
        signal: end.and_then(ProcessEnd::signal),
        words: output.words,
        tail: tail.clone(),
        connections: 0,
    };
    let shown_tail = shown(&tail);
    let mut record = match seen {
        Err(e) => error_record(spec, e.to_string()),
        Ok(seen) => {
            process.connections = seen.connections;
            match seen.record {
                Some(r) => r,
                None => error_record(spec, format!("the client {ended} without connecting; {shown_tail}{}", setup_hint(&spec.client))),
            }
        }
    };
    if let Some(why) = broke {
        // What the proxy saw was the runtime's end, not the broker's: the cell is the harness's loss.
        record.end = End::HarnessError { detail: why };
    }
    if let End::HarnessError { detail } = &mut record.end {
        if !detail.contains(&shown_tail) {
            detail.push_str(&format!("; the client {ended}; {shown_tail}"));
        }
    }
    record.process = Some(process);
    record
}
