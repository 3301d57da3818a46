//! The probe's I/O: one short session first (can the probe run at all?), then every session
//! at once against the endpoint — the built-in profiles in process through the session core
//! ([`session::run_until`]), real clients under the command contract through the recording
//! proxy ([`command::run`]) — each judged by [`verdict::decide`] and gathered into the same
//! [`RunResult`] `run` makes, with the route `probe` and the endpoint as the tag.
//!
//! Starts no container. Reads the clock, opens sockets to the endpoint (and loopback for the
//! recording proxies), starts the command clients' processes, and, with TLS and command
//! clients, writes one temporary certificate folder (removed at the end). A stop (Ctrl-C,
//! SIGTERM) ends every built-in session with a DISCONNECT and every client's process group.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::watch;

use crate::client::command::{self, CommandSpec};
use crate::client::session::{self, SessionSpec};
use crate::client::{contract, Started};
use crate::engine::labels;
use crate::engine::tls::{RunTls, TlsError};
use crate::judge::record::{End, SessionRecord};
use crate::judge::results::{CellResult, ColumnInfo, RunResult, Status, TagResult, SCHEMA_VERSION};
use crate::run::runner::now_rfc3339;
use crate::judge::verdict::{self, Verdict};
use crate::plan::route::column_key;
use crate::plan::{Column, Outcome, Profile, Timing, Transport, FIVE_MINUTE_MARK};
use crate::probe::analysis::{self, Findings, Seen};
use crate::probe::answer::{self, Answer};
use crate::probe::ask::{ProbeAsk, ProbeSession};
use crate::probe::{hops, preflight, ProbeError, ROUTE};
use crate::wire::mqtt::Protocol;

/// The first session's bound on connect, TLS, upgrade and CONNACK: a probe that cannot run
/// says so within it.
const PREFLIGHT_SETUP: Duration = Duration::from_secs(8);
/// The first session's hold: long enough for the `$SYS/broker/version` message.
const PREFLIGHT_HOLD: Duration = Duration::from_millis(500);
/// After a stop, how long the sessions get to say goodbye and the clients to die.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Beyond a session's own bounds, how long the probe waits for it before calling it an ERROR.
const SESSION_MARGIN: Duration = Duration::from_secs(30);

/// A finished probe: the result the reports print, the findings and the answer in words.
#[derive(Debug, Clone)]
pub struct Probed {
    /// The sessions as a run's result (route `probe`, the endpoint as the tag).
    pub result: RunResult,
    /// What the analysis found.
    pub findings: Findings,
    /// The answer in words.
    pub answer: Answer,
}

impl Probed {
    /// 0 when every session held, 1 when some dropped, 2 when none could run.
    pub fn exit_status(&self) -> u8 {
        let cells = &self.result.cells;
        if cells.is_empty() || cells.iter().all(|c| c.verdict.outcome == Outcome::Error) {
            2
        } else if cells.iter().all(|c| c.verdict.outcome == Outcome::Ok) {
            0
        } else {
            1
        }
    }
}

/// How long one session may take in all: its hold, a missing PINGRESP's wait, its round trip
/// and set-up, a client's grace to end, and [`SESSION_MARGIN`].
fn session_bound(t: &Timing, keepalive: Duration) -> Duration {
    t.hold + keepalive.mul_f64(1.5) + t.round_trip_timeout + t.setup_timeout + command::TERM_GRACE + SESSION_MARGIN
}

/// The TLS the built-in sessions use: the CA given, else the public roots.
fn client_tls(ask: &ProbeAsk) -> Result<Option<Arc<RunTls>>, TlsError> {
    if !ask.target.scheme.tls() {
        return Ok(None);
    }
    let tls = match &ask.ca {
        Some(ca) => RunTls::trusting(ca)?,
        None => RunTls::public_roots()?,
    };
    Ok(Some(Arc::new(tls)))
}

/// Whether a command client's program is there to start: its program (a path, or a name on
/// `PATH`) and every relative file it names.
pub fn installed(client: &crate::plan::CommandClient, workdir: &Path) -> bool {
    let Some(argv0) = client.command.first() else { return false };
    let program = command::program(argv0, workdir);
    let found = if program.components().count() > 1 {
        program.is_file()
    } else {
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(&program).is_file()))
    };
    // A Node.js package folder counts once its modules are installed (clients/setup.sh).
    let there = |p: &Path| p.exists() && (!p.join("package.json").is_file() || p.join("node_modules").is_dir());
    let files_there = client.command[1..]
        .iter()
        .filter(|a| a.contains('/') && !a.starts_with('-') && !a.contains("://"))
        .all(|a| there(&workdir.join(a)) || there(Path::new(a)));
    found && files_there
}

/// The MQTT password: `MATRIX_PROBE_PASSWORD` (its value given as `env`), else the first line
/// of `file`, else none. Never from the command line, so never in the process list.
pub fn password(env: Option<String>, file: Option<&Path>) -> Result<String, ProbeError> {
    match (env, file) {
        (Some(_), Some(f)) => Err(ProbeError::Asked(format!("--password-file {}: MATRIX_PROBE_PASSWORD is set as well; give the password one way", f.display()))),
        (Some(p), None) => Ok(p),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f).map_err(|e| ProbeError::Asked(format!("--password-file {}: cannot read: {e}", f.display())))?;
            Ok(text.lines().next().unwrap_or("").to_string())
        }
        (None, None) => Ok(String::new()),
    }
}

/// Waits until a stop is sent, and says why.
async fn stopped(mut rx: watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(why) = rx.borrow().clone() {
            return why;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Runs the probe. `stop` resolves with a signal (SIGINT, SIGTERM) to end it early; then every
/// session says goodbye and the probe returns [`ProbeError::Stopped`].
pub async fn probe(ask: &ProbeAsk, workdir: &Path, stop: impl Future<Output = crate::run::stop::StopSignal>) -> Result<Probed, ProbeError> {
    tokio::pin!(stop);
    let started_at = now_rfc3339();
    let clock = Instant::now();
    let run_id = labels::new_run_id();
    let tls = client_tls(ask).map_err(|e| ProbeError::Tls(e.to_string()))?;
    let target = &ask.target;
    let random = rand::random::<u64>();

    // One short session first: a probe that cannot run says so once, before anything holds.
    let first = check_spec(ask, random, tls.clone());
    let (stop_tx, stop_rx) = watch::channel(None::<String>);
    let said = |signal: crate::run::stop::StopSignal| format!("stopped by {signal}: the probe said DISCONNECT and ended");
    let check = session::run_until(&first, stopped(stop_rx.clone()));
    tokio::pin!(check);
    let checked = tokio::select! {
        r = &mut check => r,
        signal = &mut stop => {
            let _ = stop_tx.send(Some(said(signal)));
            let _ = tokio::time::timeout(STOP_GRACE, &mut check).await;
            return Err(ProbeError::Stopped { signal, sessions: 0 });
        }
    };
    if let Some(line) = preflight::refusal(target, &checked) {
        return Err(ProbeError::CannotRun(line));
    }
    let version = checked.broker_version.clone();

    let sessions = ask.sessions(random);
    let command_tls = command_tls(tls.as_ref(), &sessions, &run_id)?;
    let ctx = Ctx { ask, workdir, run_id: &run_id, tls: tls.clone(), command_tls, stop: stop_rx };
    let runs = join_all(sessions.iter().map(|s| ctx.run(s)));
    tokio::pin!(runs);
    let ended = tokio::select! {
        done = &mut runs => done,
        signal = &mut stop => {
            let _ = stop_tx.send(Some(said(signal)));
            command::kill_all();
            let _ = tokio::time::timeout(STOP_GRACE, &mut runs).await;
            command::kill_all();
            return Err(ProbeError::Stopped { signal, sessions: sessions.len() });
        }
    };

    let gathered = gather(ask, &sessions, ended);
    let findings = analysis::analyse(&gathered.seen);
    let answer = answer::answer(target, version.clone(), &findings, &hops::known());
    let result = run_result(ask, &run_id, &sessions, gathered, version, started_at, clock);
    Ok(Probed { result, findings, answer })
}

/// The first, short session: the plain built-in profile of the endpoint's transport, held
/// just long enough for the broker's version, set up within [`PREFLIGHT_SETUP`] at the most.
fn check_spec(ask: &ProbeAsk, random: u64, tls: Option<Arc<RunTls>>) -> SessionSpec {
    let target = &ask.target;
    let check_id = format!("{}{:08x}-check", ask.client_id_prefix, random & 0xffff_ffff);
    SessionSpec {
        profile: if target.scheme.transport() == Transport::Ws { Profile::Rfc6455 } else { Profile::Tcp },
        protocol: Protocol::V311,
        host: target.host.clone(),
        port: target.port,
        path: target.path.clone(),
        username: ask.username.clone(),
        password: ask.password.clone(),
        topic: format!("{}/{check_id}", ask.topic_prefix.trim_end_matches('/')),
        client_id: check_id,
        timing: Timing { hold: PREFLIGHT_HOLD, setup_timeout: PREFLIGHT_SETUP.min(ask.timing.setup_timeout), ..ask.timing },
        started: Started::new(),
        tls,
    }
}

/// The TLS the recording proxy serves command clients: a certificate of ours, trusting towards
/// the endpoint what the built-ins trust. None without TLS or without command clients.
fn command_tls(tls: Option<&Arc<RunTls>>, sessions: &[ProbeSession], run_id: &str) -> Result<Option<Arc<RunTls>>, ProbeError> {
    match tls {
        Some(up) if sessions.iter().any(|s| matches!(s.column, Column::Command(_))) => {
            let ours = RunTls::temporary(run_id).map_err(|e| ProbeError::Tls(e.to_string()))?;
            Ok(Some(Arc::new(ours.trusting_upstream(up))))
        }
        _ => Ok(None),
    }
}

/// The ended sessions as a run's cells and columns, and as what the analysis reads.
struct Gathered {
    cells: Vec<CellResult>,
    columns: Vec<ColumnInfo>,
    seen: Vec<Seen>,
}

/// Each session with its end: a cell, its column, and what the analysis reads of it.
fn gather(ask: &ProbeAsk, sessions: &[ProbeSession], ended: Vec<(String, (Option<SessionRecord>, Verdict))>) -> Gathered {
    let target = &ask.target;
    let hold = ask.timing.hold;
    let mut g = Gathered { cells: Vec::new(), columns: Vec::new(), seen: Vec::new() };
    for (s, (started, (record, v))) in sessions.iter().zip(ended) {
        g.seen.push(Seen::of(s, hold, &v, record.as_ref().map(|r| &r.end)));
        let mut info = ColumnInfo::of(&s.column);
        info.name = s.key.clone();
        info.library = record.as_ref().and_then(|r| r.process.as_ref().and_then(|p| p.library.clone()));
        g.columns.push(info);
        g.cells.push(CellResult {
            tag: target.to_string(),
            profile: column_key(ROUTE, &s.key),
            route: ROUTE.to_string(),
            expected: None,
            status: Status::of(None, &v, hold, Duration::ZERO),
            verdict: v,
            client_id: Some(s.client_id.clone()),
            started_at: started,
            ended_at: now_rfc3339(),
            process: record.as_ref().and_then(|r| r.process.clone()),
            wire: record.map(|r| r.wire).unwrap_or_default(),
        });
    }
    g
}

/// The probe as a run's result: route `probe`, the endpoint as the tag and the image.
fn run_result(
    ask: &ProbeAsk,
    run_id: &str,
    sessions: &[ProbeSession],
    gathered: Gathered,
    version: Option<String>,
    started_at: String,
    clock: Instant,
) -> RunResult {
    let target = &ask.target;
    let hold = ask.timing.hold;
    RunResult {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id: run_id.to_string(),
        set: ROUTE.to_string(),
        image: target.to_string(),
        hold_secs: hold.as_secs_f64(),
        keepalive_secs: ask.keepalives.first().copied().unwrap_or(ask.timing.keepalive).as_secs_f64(),
        five_minute_mark_reached: hold > FIVE_MINUTE_MARK,
        profiles: sessions.iter().map(|s| column_key(ROUTE, &s.key)).collect(),
        routes: vec![ROUTE.to_string()],
        columns: gathered.columns,
        contract_version: sessions.iter().any(|s| matches!(s.column, Column::Command(_))).then_some(contract::VERSION),
        speed: 1,
        left_out: Vec::new(),
        shard: None,
        copies: 1,
        tags: vec![TagResult { tag: target.to_string(), broker_version: version, ..TagResult::default() }],
        cells: gathered.cells,
        started_at,
        ended_at: now_rfc3339(),
        wall_secs: clock.elapsed().as_secs_f64(),
        known_issues: Vec::new(),
        // No container, no engine, no scheduling measure: a probe has none of these to tell.
        harness_fault: None,
        scheduling: Vec::new(),
        left_behind: None,
        client_mode: crate::plan::ClientMode::Process,
    }
}

/// What every session of one probe shares.
struct Ctx<'a> {
    ask: &'a ProbeAsk,
    workdir: &'a Path,
    run_id: &'a str,
    tls: Option<Arc<RunTls>>,
    command_tls: Option<Arc<RunTls>>,
    stop: watch::Receiver<Option<String>>,
}

impl Ctx<'_> {
    /// One session to its end: its start time, its record (none when it overran its bound)
    /// and its verdict.
    async fn run(&self, s: &ProbeSession) -> (String, (Option<SessionRecord>, Verdict)) {
        let ask = self.ask;
        let t = &ask.target;
        let timing = Timing { keepalive: s.keepalive, ..ask.timing };
        let started_at = now_rfc3339();
        let started = Started::new();
        let session = async {
            match &s.column {
                Column::Builtin(profile) => {
                    let spec = SessionSpec {
                        profile: *profile,
                        protocol: s.column.protocol(),
                        host: t.host.clone(),
                        port: t.port,
                        path: t.path.clone(),
                        username: ask.username.clone(),
                        password: ask.password.clone(),
                        client_id: s.client_id.clone(),
                        topic: s.topic.clone(),
                        timing,
                        started: started.clone(),
                        tls: self.tls.clone(),
                    };
                    session::run_until(&spec, stopped(self.stop.clone())).await
                }
                Column::Command(client) => {
                    let spec = CommandSpec {
                        client: client.clone(),
                        host: t.host.clone(),
                        port: t.port,
                        username: ask.username.clone(),
                        password: ask.password.clone(),
                        client_id: s.client_id.clone(),
                        timing,
                        workdir: self.workdir.to_path_buf(),
                        speed: 1.0,
                        extra_env: vec![
                            (contract::TOPIC_VAR.to_string(), s.topic.clone()),
                            (contract::RUN_ID_VAR.to_string(), self.run_id.to_string()),
                        ],
                        started: started.clone(),
                        tls: self.command_tls.clone(),
                        lateness: None,
                    };
                    command::run(&spec).await
                }
                Column::Under { name, .. } => {
                    let mut r = SessionRecord::of(name, crate::judge::record::Vantage::Client, s.column.transport(), timing.hold, timing.keepalive, &s.client_id);
                    r.end = End::HarnessError { detail: format!("{name}: the probe runs columns under their own MQTT version only") };
                    r
                }
            }
        };
        let bound = session_bound(&ask.timing, s.keepalive);
        match tokio::time::timeout(bound, session).await {
            Ok(record) => {
                let v = verdict::decide(&record);
                (started_at, (Some(record), v))
            }
            Err(_) => (started_at, (None, verdict::error(format!("the session did not end within its bound of {:.0} s; the probe stopped it", bound.as_secs_f64())))),
        }
    }
}
