//! A command column's cell: the program started under the contract, its connection through
//! the recording proxy, its output kept (bounded), its process group ended with the cell.
//!
//! Whatever the program does — not found, exits at once, hangs, ignores SIGTERM, prints
//! megabytes — the cell ends by the bound and no process of it outlives the run.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::{Child, Command};
use tokio::time::{timeout, Instant};

use crate::client::contract::{self, ClientLine, ContractEnv};
use crate::client::groups::Group;
use crate::client::output::{cut, drain, shown, LineSink, Tail};
use crate::client::proxy::Proxy;
use crate::client::recorder::Watch;
use crate::judge::record::{ClientProcess, End, SessionRecord, Vantage};
use crate::plan::column::SELF_PROGRAM;
use crate::plan::{CommandClient, Profile, Timing};

pub use crate::client::groups::kill_all;
pub use crate::client::output::{MAX_LINE, TAIL_LINES};

/// How long a client (or a column's service) gets between SIGTERM and SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(2);
/// How long the proxy waits for the connection to end once the client has exited.
const PROXY_GRACE: Duration = Duration::from_secs(2);
/// How long the processes a client left behind when it exited may take to die once killed.
const LEFT_BEHIND_WAIT: Duration = Duration::from_secs(2);

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

/// The last lines of a client's output, bounded in count and length whatever it prints, and
/// what it said under the contract.
#[derive(Debug, Default)]
struct CapturedOutput {
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

/// The harness's own CLI, for commands that name [`SELF_PROGRAM`]: `MATRIX_SELF` when set,
/// else this process when it is the CLI, else the CLI built beside a test binary
/// (`target/<profile>/deps/x` → `target/<profile>/mosquitto-matrix`).
pub fn own_cli() -> PathBuf {
    if let Some(p) = std::env::var_os("MATRIX_SELF") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from(SELF_PROGRAM));
    if exe.file_name().is_some_and(|n| n == SELF_PROGRAM) {
        return exe;
    }
    match exe.parent() {
        Some(deps) if deps.file_name().is_some_and(|n| n == "deps") => deps.with_file_name(SELF_PROGRAM),
        Some(dir) => dir.join(SELF_PROGRAM),
        None => PathBuf::from(SELF_PROGRAM),
    }
}

/// The program to start: [`SELF_PROGRAM`] is the harness's own CLI; a relative path with a
/// `/` is taken from `workdir`.
pub(crate) fn program(argv0: &str, workdir: &Path) -> PathBuf {
    let p = Path::new(argv0);
    if argv0 == SELF_PROGRAM {
        own_cli()
    } else if argv0.contains('/') && p.is_relative() {
        workdir.join(p)
    } else {
        p.to_path_buf()
    }
}

/// How a client's process ended, as the operating system reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcessEnd {
    /// It exited with this status.
    Exited(i32),
    /// A signal ended it (its number).
    Killed(i32),
    /// Neither: the status says nothing more.
    Unknown,
}

impl ProcessEnd {
    fn of(status: ExitStatus) -> ProcessEnd {
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

/// A built-in profile as a command column: the harness's own CLI playing it under the
/// contract (`mosquitto-matrix client --profile P`), with the durations the contract does not
/// carry. An accelerated run plays every built-in profile this way, on the brokers' clock.
/// Its set-up bound comes from the contract's `MATRIX_SETUP_SECS`.
pub fn builtin_command(profile: Profile, timing: &Timing) -> CommandClient {
    let ms = |d: Duration| format!("{}ms", d.as_millis());
    let argv = [SELF_PROGRAM, "client", "--profile", profile.name(), "--keepalive"];
    let mut command: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    command.extend([ms(timing.keepalive), "--late-pong".into(), ms(timing.late_pong)]);
    CommandClient {
        name: profile.name().to_string(),
        command,
        transport: profile.transport(),
        path: crate::plan::column::DEFAULT_PATH.to_string(),
        description: Some(format!("built-in profile {profile}, played by the harness's CLI as a command")),
        seen_in: None,
        setup: None,
        accelerates: true,
        cost: Some(crate::plan::Cost::SELF_COMMAND),
        protocol: crate::wire::mqtt::Protocol::V311,
        service: None,
        artefact: None,
    }
}

/// "; is it installed? run …" for a client whose set-up command is known.
pub(crate) fn setup_hint(c: &CommandClient) -> String {
    c.setup.as_deref().map(|s| format!("; is it installed? run `{s}`")).unwrap_or_default()
}

/// Runs one command cell to its end and returns its record. Never fails: a cell that could
/// not run is a record with [`End::HarnessError`] that says why.
pub async fn run(spec: &CommandSpec) -> SessionRecord {
    let c = &spec.client;
    let error = |detail: String| {
        let mut r = SessionRecord::of(&c.name, Vantage::Proxy, c.transport, spec.timing.hold, spec.timing.keepalive, &spec.client_id);
        r.end = End::HarnessError { detail };
        r
    };
    let watch = Watch {
        column: c.name.clone(),
        transport: c.transport,
        hold: spec.timing.hold,
        keepalive: spec.timing.keepalive,
        client_id: spec.client_id.clone(),
        topic: spec.topic(),
        speed: spec.speed,
        protocol: c.protocol,
    };
    let proxy = match Proxy::start(format!("{}:{}", spec.host, spec.port), watch, spec.started.clone(), spec.tls.clone(), spec.timing.setup_timeout).await {
        Ok(p) => p,
        Err(e) => return error(e.to_string()),
    };
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
    let env = ContractEnv {
        host: "127.0.0.1".to_string(),
        port: proxy.port(),
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
    };
    let Some(argv0) = c.command.first() else { return error(format!("client {}: its command is empty", c.name)) };
    let mut cmd = Command::new(program(argv0, &spec.workdir));
    cmd.args(&c.command[1..])
        .current_dir(&spec.workdir)
        .envs(env.vars())
        .envs(spec.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child: Child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let path = std::env::var("PATH").unwrap_or_default();
            return error(format!(
                "cannot start client {}: {argv0:?} ({e}); working directory {}, PATH={path}{}",
                c.name,
                spec.workdir.display(),
                setup_hint(c)
            ));
        }
    };
    let started = Instant::now();
    let group = child.id().map(|id| Group::new(id as i32));
    let out = Mutex::new(CapturedOutput::default());
    let (status, killed) = {
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let reading = async {
            let a = async {
                if let Some(p) = stdout {
                    drain(p, &out).await;
                }
            };
            let b = async {
                if let Some(p) = stderr {
                    drain(p, &out).await;
                }
            };
            tokio::join!(a, b);
        };
        let bound = spec.bound();
        let waiting = async {
            match timeout(bound, child.wait()).await {
                Ok(status) => (status.ok(), false),
                Err(_) => {
                    if let Some(g) = &group {
                        g.signal(Signal::SIGTERM);
                    }
                    match timeout(TERM_GRACE, child.wait()).await {
                        Ok(status) => (status.ok(), true),
                        Err(_) => {
                            if let Some(g) = &group {
                                g.signal(Signal::SIGKILL);
                            }
                            (child.wait().await.ok(), true)
                        }
                    }
                }
            }
        };
        // The output is read until the pipes close, but never past the exit plus a moment: a
        // grandchild may hold them open.
        tokio::pin!(reading);
        tokio::pin!(waiting);
        let mut read_all = false;
        let (status, killed) = tokio::select! {
            s = &mut waiting => s,
            _ = &mut reading => {
                read_all = true;
                waiting.await
            }
        };
        if !read_all {
            let _ = timeout(Duration::from_millis(500), &mut reading).await;
        }
        (status, killed)
    };
    let real_end = started.elapsed();
    if let Some(g) = group {
        g.end(LEFT_BEHIND_WAIT).await;
    }
    let seen = proxy.finish(PROXY_GRACE).await;
    let output = out.into_inner().unwrap_or_else(|p| p.into_inner());
    let end = status.map(ProcessEnd::of);
    let (exit_code, mut ended) = end.map_or((None, "ended in an unknown way".to_string()), |e| (e.code(), e.words()));
    if killed {
        let how = if end.is_some_and(ProcessEnd::by_sigkill) { "SIGTERM, then SIGKILL" } else { "SIGTERM" };
        ended = format!(
            "was still running {:.1} s (real) after it started, past the bound of hold + round trip + set-up, and was killed ({how})",
            real_end.as_secs_f64()
        );
    }
    let tail: Vec<String> = output.tail.lines();
    let mut process = ClientProcess {
        library: output.library,
        exit_code: if killed { None } else { exit_code },
        ended: ended.clone(),
        killed,
        signal: status.and_then(|s| s.signal()),
        words: output.words,
        tail: tail.clone(),
        connections: 0,
    };
    let shown_tail = shown(&tail);
    let mut record = match seen {
        Err(e) => error(e.to_string()),
        Ok(seen) => {
            process.connections = seen.connections;
            match seen.record {
                Some(r) => r,
                None => error(format!("the client {ended} without connecting; {shown_tail}{}", setup_hint(c))),
            }
        }
    };
    if let End::HarnessError { detail } = &mut record.end {
        if !detail.contains(&shown_tail) {
            detail.push_str(&format!("; the client {ended}; {shown_tail}"));
        }
    }
    record.process = Some(process);
    record
}

/// What the cause of a cell of a real-clock client (one that cannot follow the time library, see
/// `CommandClient::real_clock`) adds at `speed`: the hold it was given, in real seconds, and its
/// keepalive off, as the contract passed them.
pub fn real_clock_note(hold: Duration, speed: u32) -> String {
    let f = f64::from(speed.max(1));
    format!(
        "its clock cannot follow ×{speed} (accelerates = false): it ran on real time, given hold {:.1} s (÷{speed}) and keepalive 0 (off)",
        hold.as_secs_f64() / f,
    )
}
