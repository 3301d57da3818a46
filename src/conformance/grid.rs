//! The client grid's I/O: one scripted broker ([`crate::peer`]) per cell on a loopback port,
//! the column's session against it — a built-in profile in process, a real client under the
//! command contract through the recording proxy — judged by [`crate::judge::verdict::decide`]
//! and [`judge`].
//!
//! A real client runs as a matrix run runs it ([`ClientMode`]): in runtime mode (the default)
//! every command column version with a `runtime` gets one long-lived runtime, all started at
//! once before the cells ([`crate::client::runtimes`], bounded by the set-up timeout) and all
//! stopped at the end, and its cells run inside it ([`crate::client::runtime::run`]); a
//! runtime that could not be had makes its column's cells ERROR with its words. In process
//! mode, and for a column without a runtime, each cell is a process of its own
//! ([`crate::client::command::run`]). Built-in cells all run at once; command cells `jobs` at
//! a time ([`default_jobs`]).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};

use crate::client::command::{self, CommandSpec};
use crate::client::runtimes::{self, RuntimeCells};
use crate::client::{self, SessionSpec, Started};
use crate::conformance::case::{Case, UNIT};
use crate::conformance::judge::{judge, Judged, Kind};
use crate::judge::verdict;
use crate::peer::Peer;
use crate::plan::{ClientMode, Column, Profile, Timing, Transport};
use crate::wire::mqtt::Protocol;

/// The durations every column is given, in broker time compressed to seconds: the contract's
/// hold (each case's own, [`Case::hold_secs`]) and keepalive are these, so a real client keeps
/// the same clock as the broker's script. The keepalive is 2 s, not 1: paho.mqtt.golang 1.1.1
/// checks it every `keepalive / 2` whole seconds and panics on a zero interval.
pub const TIMING: Timing = Timing {
    hold: Duration::from_secs(crate::conformance::case::HOLD_SECS),
    keepalive: Duration::from_secs(2),
    late_pong: Duration::from_millis(1500),
    setup_timeout: Duration::from_secs(15),
    round_trip_timeout: Duration::from_secs(2),
};

/// How many command cells run at once by default in process mode: each is a process (a JVM,
/// Node.js, Python) and most wait on a socket; 16 brought the default grid (30 columns here)
/// under a minute on 2 cores (54 s measured).
pub const DEFAULT_JOBS: usize = 16;

/// How many command cells run at once by default in runtime mode, where a cell of a column with
/// a runtime is a connection and a thread, not a process. The default grid (540 cells, 378 of
/// them real-client) measured here with `--jobs` 16: 41.5 s, 32: 25.3 s, 64: 14.0–17.9 s, 128:
/// 10.4 s, all at once: 9.6 s, every cell as conformance.toml each time. 64 keeps it near 14 s
/// with half as many sessions at once as 128 (fewer to starve on a busy machine).
pub const DEFAULT_RUNTIME_JOBS: usize = 64;

/// How many command cells run at once by default in `mode`.
pub fn default_jobs(mode: ClientMode) -> usize {
    match mode {
        ClientMode::Runtime => DEFAULT_RUNTIME_JOBS,
        ClientMode::Process => DEFAULT_JOBS,
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct GridAsk {
    /// The columns, in report order.
    pub columns: Vec<Column>,
    /// The cases, in report order.
    pub cases: Vec<&'static Case>,
    /// Where command clients run (matrix.toml's folder).
    pub workdir: PathBuf,
    /// How many command cells run at once.
    pub jobs: usize,
    /// How the real clients start: one runtime per column version, or a process per cell.
    pub mode: ClientMode,
}

/// One cell of the grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridCell {
    /// The column's name.
    pub column: String,
    /// The case's id.
    pub case: &'static str,
    /// What the client did.
    pub judged: Judged,
    /// How long the cell took, in real time.
    pub took: Duration,
}

/// A finished grid.
#[derive(Debug, Clone)]
pub struct Grid {
    /// The cases, in order.
    pub cases: Vec<&'static Case>,
    /// The column names, in order.
    pub columns: Vec<String>,
    /// Every cell, column by column, case by case.
    pub cells: Vec<GridCell>,
    /// The whole grid's wall time.
    pub wall: Duration,
}

impl Grid {
    /// The cell of a column and a case.
    pub fn cell(&self, column: &str, case: &str) -> Option<&GridCell> {
        self.cells.iter().find(|c| c.column == column && c.case == case)
    }

    /// One line per column: `paho-java@1.2.5 fails 3 of 18 cases: PING, PING with payload, unsolicited PONG`.
    pub fn summary(&self, column: &str) -> String {
        let mine: Vec<&GridCell> = self.cells.iter().filter(|c| c.column == column).collect();
        let run = mine.iter().filter(|c| c.judged.kind != Kind::NotApplicable).count();
        let failed: Vec<&str> = mine
            .iter()
            .filter(|c| c.judged.kind.fails())
            .filter_map(|c| self.cases.iter().find(|k| k.id == c.case).map(|k| k.short))
            .collect();
        if failed.is_empty() {
            format!("{column} passes all {run} cases")
        } else {
            format!("{column} fails {} of {run} cases: {}", failed.len(), failed.join(", "))
        }
    }
}

/// The column a case runs as, or why it does not apply.
pub fn cell_column(column: &Column, case: &Case) -> Result<Column, String> {
    if case.applies_to_websocket_only() && column.transport() == Transport::Tcp {
        return Err("a WebSocket case; the column speaks MQTT over TCP".into());
    }
    match case.protocol {
        Some(p) => column.clone().under(p),
        None => Ok(column.clone()),
    }
}

/// Runs the grid: the runtimes first (runtime mode), then every cell, then the runtimes stopped.
pub async fn run(ask: &GridAsk) -> Grid {
    let clock = Instant::now();
    let wanted = match ask.mode {
        ClientMode::Runtime => runtimes::wanted_by(&ask.columns),
        ClientMode::Process => Vec::new(),
    };
    let (running, handles) = runtimes::start_all(&wanted, &ask.workdir, |_| Vec::new(), TIMING.setup_timeout).await;
    let mut jobs = Vec::new();
    for (i, column) in ask.columns.iter().enumerate() {
        for (j, case) in ask.cases.iter().enumerate() {
            jobs.push((i * ask.cases.len() + j, column, *case));
        }
    }
    let (builtin, commands): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|(_, c, _)| !matches!(c.base(), Column::Command(_)));
    let (workdir, handles) = (&ask.workdir, &handles);
    let in_process = futures_util::future::join_all(builtin.into_iter().map(|(n, col, case)| async move { (n, run_cell(col, case, workdir, n, handles).await) }));
    let processes = stream::iter(commands)
        .map(|(n, col, case)| async move { (n, run_cell(col, case, workdir, n, handles).await) })
        .buffer_unordered(ask.jobs.max(1))
        .collect::<Vec<_>>();
    let (mut a, b) = tokio::join!(in_process, processes);
    runtimes::stop_all(running).await;
    a.extend(b);
    a.sort_by_key(|(n, _)| *n);
    Grid {
        cases: ask.cases.clone(),
        columns: ask.columns.iter().map(|c| c.name().to_string()).collect(),
        cells: a.into_iter().map(|(_, c)| c).collect(),
        wall: clock.elapsed(),
    }
}

/// Runs one cell: a fresh scripted broker, the column's session against it, the judgement. A
/// command column with an entry in `runtimes` runs inside that runtime, or is ERROR with the
/// words of why it could not be had; one without runs as a process.
pub async fn run_cell(column: &Column, case: &Case, workdir: &std::path::Path, n: usize, runtimes: &RuntimeCells) -> GridCell {
    let clock = Instant::now();
    let cell = |judged: Judged| GridCell { column: column.name().to_string(), case: case.id, judged, took: clock.elapsed() };
    let quiet = |kind: Kind, did: String| Judged { kind, did, evidence: Vec::new() };
    let playing = match cell_column(column, case) {
        Ok(c) => c,
        Err(why) => return cell(quiet(Kind::NotApplicable, why)),
    };
    let runtime = match runtimes.get(playing.base().name()) {
        Some(Ok(cells)) => Some(cells),
        Some(Err(why)) => return cell(quiet(Kind::Error, format!("not run: {why}"))),
        None => None,
    };
    let peer = match Peer::start(playing.transport(), case.behaviour, UNIT).await {
        Ok(p) => p,
        Err(e) => return cell(quiet(Kind::Error, format!("could not start the scripted broker: {e}"))),
    };
    let client_id = format!("conformance-{}-{n}", std::process::id());
    let (base, protocol) = match &playing {
        Column::Under { column, protocol, .. } => (column.as_ref(), *protocol),
        other => (other, other.protocol()),
    };
    let timing = Timing { hold: Duration::from_secs(case.hold_secs), ..TIMING };
    let record = match base {
        Column::Builtin(profile) => client::run(&session_spec(*profile, protocol, peer.port(), &client_id, timing)).await,
        Column::Command(c) => {
            let spec = command_spec(c, protocol, peer.port(), &client_id, timing, workdir);
            match runtime {
                Some(cells) => client::runtime::run(&spec, cells).await,
                None => command::run(&spec).await,
            }
        }
        Column::Under { .. } => return cell(quiet(Kind::Error, "a column under a column".into())),
    };
    let verdict = verdict::decide(&record);
    let seen = peer.finish().await;
    cell(judge(case, &verdict, &record, &seen))
}

/// A command cell against the scripted broker on `port`, under the contract.
fn command_spec(c: &crate::plan::CommandClient, protocol: Protocol, port: u16, client_id: &str, timing: Timing, workdir: &std::path::Path) -> CommandSpec {
    CommandSpec {
        client: crate::plan::CommandClient { protocol, ..c.clone() },
        host: "127.0.0.1".into(),
        port,
        username: "matrix".into(),
        password: "secret".into(),
        client_id: client_id.into(),
        timing,
        workdir: workdir.to_path_buf(),
        speed: 1.0,
        extra_env: Vec::new(),
        started: Started::new(),
        tls: None,
        lateness: None,
    }
}

/// A built-in session against the scripted broker on `port`.
fn session_spec(profile: Profile, protocol: Protocol, port: u16, client_id: &str, timing: Timing) -> SessionSpec {
    SessionSpec {
        protocol,
        profile,
        host: "127.0.0.1".into(),
        port,
        path: crate::plan::column::DEFAULT_PATH.into(),
        username: "matrix".into(),
        password: "secret".into(),
        client_id: client_id.into(),
        topic: format!("test/{client_id}"),
        timing,
        started: Started::new(),
        tls: None,
    }
}
