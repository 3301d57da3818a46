//! A command column's runtime (runtime mode, issue 31): one long-lived program per (column,
//! version) per run that runs every cell of that column version inside it, each cell a fresh
//! client on a TCP connection of its own. The book's "The runtime protocol"
//! (`docs/src/command-contract.md`) is its normative text.
//!
//! A runtime starts and ends as a column's service does (`client::service`: its own process
//! group, `TMPDIR` a folder of its own, stdin held open for the run, bounded start, SIGTERM then
//! SIGKILL at the end, nothing left); its ready line is `runtime: 127.0.0.1:PORT`. Each cell
//! connects there, writes the contract's environment as `NAME=VALUE` lines and an empty line,
//! then reads the lines the hold program would have printed and `exit: N` as its exit status.
//! From there on a cell is a process cell's (`client::cell::finish`): same proxy, same record.
//! The harness ends a cell by closing the connection.
//!
//! A cell whose stream ends without `exit:` is an ERROR that names the runtime and quotes its
//! last words, never a broker's drop; the runtime's death ends all its open cells at once.
//!
//! Does I/O: connects on loopback, reads and writes the cells' connections.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{timeout, Instant};

use crate::client::cell::{self, CapturedOutput, CommandSpec, ProcessEnd, Ran};
use crate::client::contract::ContractEnv;
use crate::client::output::{LineSink, Tail, MAX_LINE};
use crate::client::service::{self, describe, Kind, Service, ServiceError};
use crate::engine::priority;
use crate::judge::record::SessionRecord;
use crate::plan::CommandClient;

/// The word a runtime's ready line starts with: `runtime: 127.0.0.1:PORT`.
pub const READY_PREFIX: &str = "runtime: ";
/// What a runtime is to `client::service`: its argv is the column's `runtime`.
pub const RUNTIME: Kind = Kind { what: "runtime", ready: READY_PREFIX, argv: |c| c.runtime.as_ref() };
/// The line a cell's stream ends with: `exit: N`, the hold program's exit status.
pub const EXIT_PREFIX: &str = "exit: ";
/// How many of a runtime's cells may be starting (from admission to the broker's CONNACK) at
/// once. A runtime starts its cells' clients on few threads (four event loops in Node.js, the
/// GIL in Python), so a burst of starts queues inside it: at ×30, 64 MQTT.js cells admitted at
/// once left the last ones silent for more than the broker's 10 s (0.33 s real) handshake
/// window, and their keepalives late (measured, debian set 8 times over).
pub const STARTS_AT_ONCE: usize = 4;
/// How long a cell whose stream ended without `exit:` waits for its runtime's exit status
/// (the runtime's death closes its connections a moment before it can be waited for).
const EXIT_WAIT: Duration = Duration::from_secs(1);

/// What a runtime that does not keep the protocol did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// It could not be had as a per-run program (not found, exited, silent).
    #[error(transparent)]
    Start(#[from] ServiceError),
    /// Its ready line names no loopback address.
    #[error("the runtime of client {column} printed `runtime: {value}`, not `runtime: 127.0.0.1:PORT`, and was stopped")]
    Address {
        /// The column.
        column: String,
        /// What it printed after `runtime: `.
        value: String,
    },
}

/// A runtime, running: the program (stopped with [`Runtime::stop`]) and what its cells need.
#[derive(Debug)]
pub struct Runtime {
    service: Service,
    cells: Cells,
}

/// What a cell needs of its runtime: where it listens, whether it has ended, its last words.
/// Cheap to clone; every clone is the same runtime.
#[derive(Debug, Clone)]
pub struct Cells {
    column: String,
    addr: SocketAddr,
    exit: watch::Receiver<Option<Option<ExitStatus>>>,
    tail: Arc<Mutex<Tail>>,
    starts: Arc<tokio::sync::Semaphore>,
}

/// Starts the runtime of `client` (its `runtime` argv) and waits, at most `bound` (real time),
/// for its `runtime: 127.0.0.1:PORT` line; as `service::start` starts a service.
pub async fn start(client: &CommandClient, workdir: &Path, extra_env: &[(String, String)], bound: Duration) -> Result<Runtime, RuntimeError> {
    let service = service::launch(RUNTIME, client, workdir, extra_env, bound).await?;
    let value = service.value().to_string();
    let addr = match value.parse::<SocketAddr>() {
        Ok(a) if a.ip() == Ipv4Addr::LOCALHOST && a.port() != 0 => a,
        _ => {
            service.stop().await;
            return Err(RuntimeError::Address { column: client.name.clone(), value });
        }
    };
    // Its start-up is behind it: its cells' answers to the brokers' PINGs must not wait.
    priority::raise_client(service.process_group());
    let (exit, tail) = service.watchers();
    let cells = Cells { column: client.name.clone(), addr, exit, tail, starts: Arc::new(tokio::sync::Semaphore::new(STARTS_AT_ONCE)) };
    Ok(Runtime { service, cells })
}

impl Runtime {
    /// What each cell of the column version gets.
    pub fn cells(&self) -> Cells {
        self.cells.clone()
    }

    /// The id of the runtime's process group (its leader's pid).
    pub fn process_group(&self) -> i32 {
        self.service.process_group()
    }

    /// Ends the runtime as [`Service::stop`] ends a service: stdin closed, SIGTERM, SIGKILL,
    /// nothing of its group left, its folder removed.
    pub async fn stop(self) {
        self.service.stop().await;
    }
}

impl Cells {
    /// Waits for one of the runtime's [`STARTS_AT_ONCE`] start slots; the cell holds it until
    /// its broker accepted the session (or its set-up ended), then drops it.
    pub async fn start_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.starts).acquire_owned().await.ok()
    }

    /// The address the runtime listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Why a cell's stream ended without `exit:`: the runtime ended (how, and its last
    /// words), or it broke the cell's connection while still running.
    async fn broken(&self) -> String {
        let mut exit = self.exit.clone();
        let status = match timeout(EXIT_WAIT, exit.wait_for(Option::is_some)).await {
            Ok(Ok(s)) => *s,
            _ => None,
        };
        let said = self.tail.lock().map(|t| t.shown()).unwrap_or_else(|_| "its output is lost".to_string());
        match status {
            Some(status) => format!("the {} runtime ended: {}; {said}", self.column, describe(status)),
            None => format!("the {} runtime ended the cell's connection without `exit:` while it still runs; {said}", self.column),
        }
    }
}

/// The header a cell's connection starts with: the contract's variables and every other
/// `MATRIX_*` the cell gets, one `NAME=VALUE` line each, then an empty line. A value never
/// holds a newline (one that would is cut there).
pub fn header(env: &ContractEnv, extra_env: &[(String, String)]) -> String {
    let contract = env.vars().into_iter().map(|(k, v)| (k.to_string(), v));
    let extra = extra_env.iter().filter(|(k, _)| k.starts_with("MATRIX_")).cloned();
    let mut text = String::new();
    for (k, v) in contract.chain(extra) {
        let v = v.split(['\n', '\r']).next().unwrap_or_default();
        text.push_str(&format!("{k}={v}\n"));
    }
    text.push('\n');
    text
}

/// Runs one command cell inside its column's runtime and returns its record. Never fails: a
/// cell that could not run, or whose runtime broke, is a record with an ERROR's end.
pub async fn run(spec: &CommandSpec, runtime: &Cells) -> SessionRecord {
    let proxy = match cell::start_proxy(spec).await {
        Ok(p) => p,
        Err(e) => return cell::error_record(spec, e),
    };
    let env = cell::contract_env(spec, proxy.port());
    let ran = play(spec, runtime, &env).await;
    cell::finish(spec, proxy, ran).await
}

/// The cell's connection to the runtime, from the header to `exit:`, its end or the bound.
async fn play(spec: &CommandSpec, runtime: &Cells, env: &ContractEnv) -> Ran {
    let started = Instant::now();
    let mut out = CapturedOutput::default();
    let ran = |end, killed, broke| Ran { output: CapturedOutput::default(), end, killed, real_end: started.elapsed(), how_ended: "was ended (its connection closed)", broke };
    let connected = timeout(spec.timing.setup_timeout, TcpStream::connect(runtime.addr)).await;
    let Ok(Ok(stream)) = connected else {
        return ran(Some(ProcessEnd::Unknown), false, Some(runtime.broken().await));
    };
    let (mut read, mut write) = stream.into_split();
    if write.write_all(header(env, &spec.extra_env).as_bytes()).await.is_err() {
        return ran(Some(ProcessEnd::Unknown), false, Some(runtime.broken().await));
    }
    let mut exit = runtime.exit.clone();
    let (code, killed) = tokio::select! {
        // The cell's own lines first: an `exit:` already sent counts, whatever came after it.
        biased;
        code = read_lines(&mut read, &mut out) => (code, false),
        _ = tokio::time::sleep(spec.bound()) => (None, true),
        // The runtime's death ends every open cell at once, whoever holds its sockets.
        _ = exit.wait_for(Option::is_some) => (None, false),
    };
    // Closing the connection ends the cell in the runtime.
    drop((read, write));
    let broke = match (code, killed) {
        (None, false) => Some(runtime.broken().await),
        _ => None,
    };
    let end = code.map(ProcessEnd::Exited).or(broke.as_ref().map(|_| ProcessEnd::Unknown));
    Ran { output: out, ..ran(end, killed, broke) }
}

/// Reads a cell's lines into `out` until `exit: N` (its status) or the stream's end (`None`),
/// holding at most one line of `4 × MAX_LINE` bytes whatever the runtime sends.
async fn read_lines(stream: &mut (impl AsyncRead + Unpin), out: &mut CapturedOutput) -> Option<i32> {
    let mut buf = vec![0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b != b'\n' {
                if line.len() < MAX_LINE * 4 {
                    line.push(b);
                }
                continue;
            }
            let text = String::from_utf8_lossy(&line).into_owned();
            line.clear();
            if let Some(code) = text.trim_end().strip_prefix(EXIT_PREFIX) {
                // A status that is no number is a broken stream, as one without `exit:` is.
                return code.trim().parse().ok();
            }
            out.push(&text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_lines_before_exit_are_kept_and_exit_gives_the_status() {
        let mut out = CapturedOutput::default();
        let mut stream: &[u8] = b"client: paho-mqtt 2.2.0\nlost: gone\nexit: 1\nafter\n";
        assert_eq!(read_lines(&mut stream, &mut out).await, Some(1));
        let shown = format!("{out:?}");
        assert!(shown.contains("paho-mqtt 2.2.0") && shown.contains("gone") && !shown.contains("after"), "{shown}");
    }

    #[tokio::test]
    async fn a_stream_that_ends_without_exit_has_no_status() {
        let mut out = CapturedOutput::default();
        let mut stream: &[u8] = b"client: x 1\nexit: one\n";
        assert_eq!(read_lines(&mut stream, &mut out).await, None);
        let mut stream: &[u8] = b"client: x 1\n";
        assert_eq!(read_lines(&mut stream, &mut out).await, None);
    }

    #[test]
    fn a_header_is_one_line_a_variable_and_an_empty_line_with_no_newline_inside_a_value() {
        let env = ContractEnv {
            host: "127.0.0.1".into(),
            port: 1,
            path: "/mqtt".into(),
            transport: crate::plan::Transport::Ws,
            username: "u".into(),
            password: "p\nq".into(),
            client_id: "c".into(),
            keepalive: Duration::from_secs(60),
            hold: Duration::from_secs(330),
            topic: "t".into(),
            round_trip: Duration::from_secs(5),
            setup: Duration::from_secs(10),
            protocol: crate::wire::mqtt::Protocol::V311,
            ca_file: None,
        };
        let extra = [("MATRIX_RUN_ID".to_string(), "r".to_string()), ("LD_PRELOAD".to_string(), "x".to_string())];
        let h = header(&env, &extra);
        assert!(h.starts_with("MATRIX_URL=ws://127.0.0.1:1/mqtt\n") && h.ends_with("MATRIX_RUN_ID=r\n\n"), "{h}");
        assert!(h.contains("MATRIX_PASSWORD=p\n") && !h.contains("LD_PRELOAD"), "{h}");
        assert_eq!(h.matches("\n\n").count(), 1);
    }
}
