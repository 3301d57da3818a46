//! Runs a plan: one broker per row, every cell of every row admitted by the [`Scheduler`],
//! all holding at once.
//!
//! Routes (`plan::route`): a row's broker gets the `wss` listener when a cell of the row takes
//! the `tls` route, and joins the run's network when one takes a proxy route; then one proxy
//! container per (row, proxy), serving its plain listener and, when a `-tls` route asks, its
//! TLS one. A cell connects to the broker's `ws`/`tcp` or `wss` port, or the proxy's `ws` or
//! `wss` port. A proxy that could not be had, or that exited under a session, makes its cells
//! ERRORs that name it and quote its log, never a broker's drop.
//!
//! Wall time is about one hold plus the time the waves of start-ups take, not rows × hold.
//! Every wait is bounded: a broker's start (see `engine::broker::start`), a cell's start
//! (its set-up timeout, in real time), and a whole cell (its hold on its clock, plus set-up
//! and round trip, plus a margin), so a run whose brokers or clients never answer still ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use futures_util::future::join_all;
use tokio::sync::mpsc::UnboundedSender;

use crate::client::command::{self, CommandSpec};
use crate::client::service::{self, Service};
use crate::client::lateness::Lateness;
use crate::client::{self, contract, SessionSpec, Started};
use crate::engine::broker::{self, Broker, ClockAsk, StartEvent};
use crate::engine::network;
use crate::engine::proxy::{self, Proxy, ProxyAsk, ProxyError, ProxyKind, ProxyTls};
use crate::engine::readiness::Liveness;
use crate::engine::tls::RunTls;
use crate::engine::clock::{self, Libc};
use crate::engine::cleanup;
use crate::engine::labels::Labels;
use crate::engine::priority;
use crate::engine::watch::{self, EngineHealth, EngineWatch};
use crate::engine::readiness::{self, Listener, Probe};
use crate::judge::record::{End, SessionRecord};
use crate::judge::results::{self, BrokerFailure, ClockFacts, CellResult, ColumnInfo, ProxyResult, RunResult, Status, TagResult, SCHEMA_VERSION};
use crate::judge::verdict::{self, BrokerState, Verdict};
use crate::plan::{copies, Cell, Column, Cost, Outcome, Plan, ProxyName, Route, Transport};
use crate::run::reaper::Reaper;
use crate::client::runtimes::RuntimeCells;
use crate::run::runtimes;
use crate::run::schedule::{Capacity, Load, Scheduler};

/// Beyond a cell's own bounds, how long the run waits for it before calling it an ERROR.
const CELL_MARGIN: Duration = Duration::from_secs(30);

/// How long a ready broker may take to say its version on `$SYS/broker/version`.
const VERSION_WAIT: Duration = Duration::from_secs(2);

/// What a run reports while it goes, for live progress.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A tag's broker is being started (pulled if needed).
    BrokerStarting {
        /// The tag.
        tag: String,
    },
    /// A tag's image is not on the engine and is being pulled (tens of megabytes per tag).
    Pulling {
        /// The tag.
        tag: String,
        /// `name:tag`.
        image: String,
    },
    /// A tag's broker is ready (every listener answered) and its sessions start now.
    BrokerReady {
        /// The tag.
        tag: String,
        /// Start-up time: from asking for the container, pull included, to ready.
        startup: Duration,
        /// Of which: from the container running to every listener answering.
        probing: Duration,
    },
    /// A cell was admitted and its client is starting.
    CellStarting {
        /// `row/column`.
        id: String,
    },
    /// A cell's session was accepted by its broker and is holding.
    CellHolding {
        /// `row/column`.
        id: String,
    },
    /// How many brokers and cells wait, start and run (every few seconds).
    Load(Load),
    /// A proxy in front of a tag's broker answers (the broker's CONNACK through it).
    ProxyReady {
        /// The tag.
        tag: String,
        /// `nginx 1.22.1-9`.
        proxy: String,
        /// From asking for its container to ready.
        startup: Duration,
    },
    /// A proxy in front of a tag's broker could not be had; its cells are ERROR.
    ProxyFailed {
        /// The tag.
        tag: String,
        /// Why, naming the proxy and quoting its log.
        why: String,
    },
    /// A tag's broker could not be had; its cells are ERROR.
    BrokerFailed {
        /// The tag.
        tag: String,
        /// Why.
        why: String,
    },
    /// A cell finished.
    CellFinished(Box<CellResult>),
}

/// How one session is run: [`client::run`] in every real run.
pub type SessionFn = fn(SessionSpec) -> BoxFuture<'static, SessionRecord>;

fn real_session(spec: SessionSpec) -> BoxFuture<'static, SessionRecord> {
    Box::pin(async move { client::run(&spec).await })
}

/// Runs every cell of the plan and returns the results, in plan order.
pub async fn run(plan: &Plan, run_id: &str, progress: Option<UnboundedSender<Progress>>) -> RunResult {
    run_with(plan, run_id, progress, real_session).await
}

/// [`run`] with the session function given, so a test can make one cell panic and see
/// that the others and the clean-up are unaffected.
pub async fn run_with(plan: &Plan, run_id: &str, progress: Option<UnboundedSender<Progress>>, session_fn: SessionFn) -> RunResult {
    let started_at = now_rfc3339();
    let clock = Instant::now();
    raise_open_files_limit();
    let harness_raised = priority::raise_harness();
    // Brokers first on a busy CPU; where that cannot be had, they stay in the engine's group.
    let group = priority::prepare(broker::engine_is_local()).await;
    // Containers of ours that outlived their run go first: expired ones, and those of runs
    // whose harness is gone (one killed with its engine, say).
    let _ = tokio::time::timeout(Duration::from_secs(30), cleanup::remove_abandoned()).await;
    // From here on, an engine that stops answering is the harness's fault, never a broker's.
    let engine = EngineWatch::start();
    // Whatever kills this process, the reaper removes the run's containers and clients.
    let reaper = Reaper::start(run_id);
    let scheduler = Scheduler::new(Capacity::of_machine(plan.jobs));
    // One certificate per run when a route speaks TLS, before the services that must trust it.
    let tls = plan.needs_tls().then(|| RunTls::temporary(run_id).map(Arc::new).map_err(|e| format!("the run's TLS certificate could not be made: {e}")));
    // One per run for the columns that have one (the browser), before any cell.
    let ca_file = match &tls {
        Some(Ok(t)) => Some(t.ca_file.clone()),
        _ => None,
    };
    let (services, envs) = start_services(plan, ca_file.as_deref()).await;
    // The runtimes start while the brokers do; each cell waits for them before it starts.
    let (starting_runtimes, runtime_cells) = runtimes::starting(plan, run_id, client_clock(plan), ca_file.as_deref());
    let reporting = report_load(&scheduler, &progress);
    // One network when a route has a proxy.
    let network = match plan.proxies().is_empty() {
        true => None,
        false => Some(network::create(run_id, container_lifetime(plan)).await.map_err(|e| format!("the run's network could not be made: {e}"))),
    };
    let cx = RunContext { plan, run_id, progress: progress.clone(), session_fn, scheduler: &scheduler, services: &envs, runtimes: runtime_cells, tls, network, engine: &engine };
    let tag_runs = plan.tags.iter().map(|row| {
        let cells: Vec<Cell> = plan.cells.iter().filter(|c| &c.tag == row).cloned().collect();
        run_tag(&cx, row.clone(), cells)
    });
    let mut tags = Vec::new();
    let mut cells = Vec::new();
    let (runtimes, tag_results) = tokio::join!(starting_runtimes, join_all(tag_runs));
    for (t, c) in tag_results {
        tags.push(t);
        cells.extend(c);
    }
    reporting.abort();
    join_all(services.into_iter().map(Service::stop)).await;
    runtimes::stop(runtimes).await;
    let network = cx.network.clone();
    let (health, left_behind) = clean_up(run_id, network, engine).await;
    // The reaper waits for an engine that went away, and removes what is left once it is back.
    drop(reaper);
    RunResult {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id: run_id.to_string(),
        set: plan.set.clone(),
        image: plan.image.clone(),
        hold_secs: plan.timing.hold.as_secs_f64(),
        keepalive_secs: plan.timing.keepalive.as_secs_f64(),
        five_minute_mark_reached: plan.reaches_five_minute_mark(),
        profiles: plan.keys(),
        routes: plan.routes.iter().map(|r| r.name()).collect(),
        columns: columns(plan, &cells),
        speed: plan.speed,
        left_out: plan.left_out.clone(),
        contract_version: plan.columns.iter().any(|c| matches!(c, Column::Command(_))).then_some(contract::VERSION),
        shard: None,
        copies: plan.copies,
        client_mode: plan.client_mode,
        tags,
        cells,
        started_at,
        ended_at: now_rfc3339(),
        wall_secs: clock.elapsed().as_secs_f64(),
        known_issues: plan.known_issues.clone(),
        harness_fault: health.cause(),
        scheduling: priority::measures(&group, harness_raised),
        left_behind,
    }
}

/// Sends the scheduler's load every 2 s, until aborted.
fn report_load(scheduler: &Scheduler, progress: &Option<UnboundedSender<Progress>>) -> tokio::task::JoinHandle<()> {
    let (scheduler, progress) = (scheduler.clone(), progress.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            send(&progress, Progress::Load(scheduler.load()));
        }
    })
}

/// After the cells: the run's network, then whatever container of the run is left (one whose
/// start was abandoned at its bound may still have been created); the engine's health over
/// the run, and what could not be removed.
async fn clean_up(run_id: &str, network: Option<Result<String, String>>, engine: EngineWatch) -> (EngineHealth, Option<String>) {
    if let Some(Ok(name)) = &network {
        // Its containers are gone by now; `remove_run` below tries again if this failed.
        let _ = tokio::time::timeout(removal_bound(&engine), network::remove(name)).await;
    }
    let bound = removal_bound(&engine);
    let removal = tokio::time::timeout(bound, cleanup::remove_run(run_id)).await;
    let health = engine.health();
    drop(engine);
    let removal = removal.unwrap_or_else(|_| Err(format!("the engine did not answer within {:.0} s", bound.as_secs_f64())));
    (health, cleanup::left_behind(run_id, removal).await)
}

/// How long a removal may take: 30 s, or one answer's bound while the engine is lost.
fn removal_bound(engine: &EngineWatch) -> Duration {
    let h = engine.health();
    if h.faulted() && h.back_at.is_none() {
        watch::ANSWER_BOUND
    } else {
        Duration::from_secs(30)
    }
}

/// A run of hundreds of cells needs about three descriptors a cell (the client's socket and
/// the proxy's two): the soft limit goes up to the hard one.
fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// How long a whole cell may take in real time: its hold, round trip and a missing
/// PINGRESP's wait on its clock, its set-up in real time, and [`CELL_MARGIN`].
fn cell_bound(plan: &Plan) -> Duration {
    let t = &plan.timing;
    (t.hold + t.keepalive.mul_f64(1.5)).div_f64(f64::from(plan.speed)) + t.round_trip_timeout + t.setup_timeout + command::TERM_GRACE + CELL_MARGIN
}

/// How long a container may live: every broker start's bounds, the run's cells, clean-up.
fn container_lifetime(plan: &Plan) -> Duration {
    broker::PULL_TIMEOUT + plan.broker.startup_timeout * 3 + cell_bound(plan) * 2 + Duration::from_secs(300)
}

/// Per command column with a `service`: the environment its cells get, or why it could not
/// be had. Keyed by column name.
type ServiceEnvs = BTreeMap<String, Result<Vec<(String, String)>, String>>;

/// Starts, once for the run, the service of every command column that has one and cells to
/// run (see `client::service`); the services are stopped when the run ends. With `ca_file`
/// (a run with TLS routes) a service is told the run's CA (`MATRIX_CA_FILE`), since it
/// outlives any one cell: the browser trusts it from its launch.
async fn start_services(plan: &Plan, ca_file: Option<&std::path::Path>) -> (Vec<Service>, ServiceEnvs) {
    let mut services = Vec::new();
    let mut envs = ServiceEnvs::new();
    for column in &plan.columns {
        let Column::Command(client) = column else { continue };
        if client.service.is_none() || runtimes::runs_in_runtime(plan, client) || !plan.cells.iter().any(|c| c.column.name() == client.name) {
            continue;
        }
        let mut env = client_clock(plan);
        if let Some(ca) = ca_file {
            env.push((contract::CA_FILE_VAR.to_string(), ca.display().to_string()));
        }
        match service::start(client, &plan.workdir, &env, plan.timing.setup_timeout).await {
            Ok(s) => {
                envs.insert(client.name.clone(), Ok(s.env()));
                services.push(s);
            }
            Err(e) => {
                envs.insert(client.name.clone(), Err(e.to_string()));
            }
        }
    }
    (services, envs)
}

/// The environment that puts a command client on the brokers' clock (nothing at real time).
fn client_clock(plan: &Plan) -> Vec<(String, String)> {
    if plan.speed == 1 {
        return Vec::new();
    }
    let library = clock::library_path(Libc::Glibc, &plan.workdir);
    clock::clock_env(&library.to_string_lossy(), plan.speed)
}

/// The first line of a client's artefact file, when it has one: the set-up's record of what the
/// client runs. A missing file is no error (an ad-hoc client has none); the JSON then omits it.
fn artefact_line(path: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().next().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string)
}

/// Why the clients cannot be put on an accelerated clock, if they cannot.
fn missing_client_clock(plan: &Plan) -> Option<String> {
    let library = clock::library_path(Libc::Glibc, &plan.workdir);
    (plan.speed > 1 && !library.exists()).then(|| {
        clock::ClockError::Missing { libc: Libc::Glibc.name(), path: library.display().to_string() }.to_string()
    })
}

/// What each column is, with the library a command column's cells reported first.
fn columns(plan: &Plan, cells: &[CellResult]) -> Vec<ColumnInfo> {
    plan.columns
        .iter()
        .map(|c| {
            let mut info = ColumnInfo::of(c);
            info.library =
                cells.iter().filter(|r| r.column() == c.name()).find_map(|r| r.process.as_ref().and_then(|p| p.library.clone()));
            if let Column::Command(k) = c.base() {
                info.artefact = k.artefact.as_ref().and_then(|f| artefact_line(&plan.workdir.join(f)));
                info.real_clock = k.real_clock(plan.speed);
            }
            info
        })
        .collect()
}

/// How a cell's column is played: a built-in in process, or a program through the proxy
/// (the built-ins too, on an accelerated clock).
enum Play {
    InProcess(crate::plan::Profile),
    Command(Box<crate::plan::CommandClient>),
}

fn send(progress: &Option<UnboundedSender<Progress>>, p: Progress) {
    if let Some(tx) = progress {
        let _ = tx.send(p);
    }
}

/// What every broker and cell of one run shares.
struct RunContext<'a> {
    plan: &'a Plan,
    run_id: &'a str,
    progress: Option<UnboundedSender<Progress>>,
    session_fn: SessionFn,
    scheduler: &'a Scheduler,
    services: &'a ServiceEnvs,
    /// Per command column version run inside a runtime: its runtime, or why it is not had;
    /// `None` while the runtimes are starting.
    runtimes: runtimes::Ready,
    /// The run's certificate, when a route speaks TLS, or why it could not be made.
    tls: Option<Result<Arc<RunTls>, String>>,
    /// The run's network, when a route has a proxy, or why it could not be made.
    network: Option<Result<String, String>>,
    /// The engine, watched for the whole run.
    engine: &'a EngineWatch,
}

/// Where a cell's client connects, by its route.
struct Endpoint {
    host: String,
    port: u16,
    tls: Option<Arc<RunTls>>,
    /// The proxy in between: its label (`nginx 1.22.1-9`) and container id.
    proxy: Option<(String, String)>,
    /// How late the broker runs, timed by the run's own connection (accelerated runs).
    lateness: Option<Lateness>,
}

/// The proxies of one row, by name: running, or why not (said once for the row).
type RowProxies = BTreeMap<ProxyName, Result<Proxy, String>>;

/// Where a cell connects on its route, or why it cannot run.
fn endpoint(cx: &RunContext<'_>, broker: &Broker, proxies: &RowProxies, cell: &Cell) -> Result<Endpoint, String> {
    let run_tls = || match &cx.tls {
        Some(Ok(t)) => Ok(Arc::clone(t)),
        Some(Err(why)) => Err(format!("not run: {why}")),
        None => Err("not run: the run made no TLS certificate".to_string()),
    };
    match cell.route {
        Route::Direct => Ok(Endpoint { host: broker.host.clone(), port: broker.port(cell.column.transport()), tls: None, proxy: None, lateness: None }),
        Route::Tls => {
            let tls = run_tls()?;
            let port = broker.wss_port.ok_or("not run: the broker has no wss listener")?;
            Ok(Endpoint { host: broker.host.clone(), port, tls: Some(tls), proxy: None, lateness: None })
        }
        Route::Proxy { proxy: name, tls } => {
            let proxy = match proxies.get(&name) {
                Some(Ok(p)) => p,
                Some(Err(why)) => return Err(format!("not run: {why}")),
                None => return Err(format!("not run: no {name} proxy was started", name = name.name())),
            };
            let id = Some((proxy.label(), proxy.container.id().to_string()));
            if tls {
                let port = proxy.wss_port.ok_or_else(|| format!("not run: proxy {} has no TLS listener", proxy.label()))?;
                Ok(Endpoint { host: proxy.host.clone(), port, tls: Some(run_tls()?), proxy: id, lateness: None })
            } else {
                Ok(Endpoint { host: proxy.host.clone(), port: proxy.ws_port, tls: None, proxy: id, lateness: None })
            }
        }
    }
}

/// Starts the row's proxies, each admitted like a broker, in front of `broker` on the run's
/// network; a failure is reported once per (row, proxy).
async fn start_proxies(cx: &RunContext<'_>, tag: &str, broker: &Broker, cells: &[Cell]) -> (RowProxies, Vec<ProxyResult>, Vec<crate::run::schedule::Ticket>) {
    let RunContext { plan, run_id, progress, scheduler, .. } = cx;
    let names: Vec<ProxyName> = plan.proxies().into_iter().filter(|p| cells.iter().any(|c| c.route.proxy() == Some(*p))).collect();
    if names.is_empty() {
        return (RowProxies::new(), Vec::new(), Vec::new());
    }
    let upstream = match &cx.network {
        // Every broker of the run is `broker` on the network; each its own alias too.
        Some(Ok(net)) => Ok((net.clone(), network::broker_alias(broker.container.id()))),
        Some(Err(why)) => Err(why.clone()),
        None => Err("the run has no network".to_string()),
    };
    let clock = (plan.speed > 1).then(|| ClockAsk { speed: plan.speed, workdir: plan.workdir.clone() });
    let probe = Probe::new(&plan.broker.username, &plan.broker.password);
    let cert = match &cx.tls {
        Some(Ok(t)) => Some(ProxyTls { cert_file: t.cert_file.clone(), key_file: t.key_file.clone() }),
        _ => None,
    };
    let starts = names.iter().map(|&name| {
        let (upstream, clock, probe, cert) = (&upstream, &clock, &probe, &cert);
        async move {
            let Some(kind) = ProxyKind::from_name(name.name()) else {
                return (name, Err(UnavailableProxy::own(name.name(), "the engine knows no such proxy".to_string())), None);
            };
            let (net, host) = match upstream {
                Ok(u) => u,
                Err(why) => return (name, Err(UnavailableProxy::own(kind.name(), why.clone())), None),
            };
            let wants_tls = cells.iter().any(|c| c.route == Route::Proxy { proxy: name, tls: true });
            let mut ticket = scheduler.admit(Cost::PROXY).await;
            let labels = Labels { run_id: run_id.to_string(), cell: format!("{}/{}/{}", plan.set, tag, kind), lifetime: container_lifetime(plan) };
            let ask = ProxyAsk {
                kind,
                network: net,
                upstream_host: host,
                upstream_port: Transport::Ws.container_port(),
                labels: &labels,
                tls: if wants_tls { cert.as_ref() } else { None },
                clock: clock.as_ref(),
                startup_timeout: plan.broker.startup_timeout,
                probe,
            };
            let started = proxy::start(ask).await;
            ticket.started();
            (name, started.map_err(|e| UnavailableProxy::from(&e)), Some(ticket))
        }
    });
    let mut proxies = RowProxies::new();
    let mut facts = Vec::new();
    let mut tickets = Vec::new();
    for (name, started, ticket) in join_all(starts).await {
        tickets.extend(ticket);
        match started {
            Ok(p) => {
                send(progress, Progress::ProxyReady { tag: tag.to_string(), proxy: p.label(), startup: p.startup });
                facts.push(ProxyResult { proxy: name.name().to_string(), label: p.label(), startup_secs: Some(p.startup.as_secs_f64()), failure: None });
                proxies.insert(name, Ok(p));
            }
            Err(e) => {
                send(progress, Progress::ProxyFailed { tag: tag.to_string(), why: e.text.clone() });
                facts.push(ProxyResult { proxy: name.name().to_string(), label: e.label, startup_secs: None, failure: Some(e.failure) });
                proxies.insert(name, Err(e.text));
            }
        }
    }
    (proxies, facts, tickets)
}

/// A proxy that could not be had, from the engine's error or one of the runner's own: the
/// whole text (naming the proxy, quoting its log) and its parts.
struct UnavailableProxy {
    label: String,
    text: String,
    failure: BrokerFailure,
}

impl UnavailableProxy {
    fn own(proxy: &str, why: String) -> UnavailableProxy {
        UnavailableProxy { label: proxy.to_string(), text: format!("proxy {proxy}: {why}"), failure: BrokerFailure { reason: why, ..BrokerFailure::default() } }
    }
}

impl From<&ProxyError> for UnavailableProxy {
    fn from(e: &ProxyError) -> UnavailableProxy {
        let exit_status = match e {
            ProxyError::NotReady { exit_status, .. } => *exit_status,
            _ => None,
        };
        UnavailableProxy {
            label: e.proxy().to_string(),
            text: e.to_string(),
            failure: BrokerFailure { reason: e.reason(), exit_status, log_tail: e.log_tail().to_vec() },
        }
    }
}

/// After a session that did not hold on a proxy route: whether the proxy itself went away,
/// in words that name it and quote its log.
///
/// A killed container can still show as running for a moment after its sockets closed, so a
/// running proxy is asked again for up to 1 s: a live proxy that ended the session itself (its
/// own timeout) costs the cell that second before its verdict is shown, never another verdict.
async fn proxy_gone(label: &str, id: &str) -> Option<String> {
    let mut state = broker::liveness(id).await;
    for _ in 0..10 {
        if !matches!(state, Liveness::Running) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        state = broker::liveness(id).await;
    }
    match state {
        Liveness::Exited { status } => {
            let tail = broker::log_tail(id).await;
            let status = status.map_or("an unknown status".to_string(), |s| format!("status {s}"));
            let log = if tail.is_empty() { String::new() } else { format!("; last proxy log lines: {}", tail.join(" | ")) };
            Some(format!("proxy {label} exited with {status} during the session{log}"))
        }
        Liveness::Running | Liveness::Unknown => None,
    }
}

/// A row whose broker could not be had: the whole story is the tag's, told once; each cell
/// only points at it. An engine that went away is named instead: it, not the broker, is why.
async fn broker_not_had(cx: &RunContext<'_>, mut info: TagResult, e: &broker::BrokerError, image: &str, cells: Vec<Cell>, started_at: String) -> (TagResult, Vec<CellResult>) {
    let RunContext { plan, progress, .. } = cx;
    let why = e.to_string();
    send(progress, Progress::BrokerFailed { tag: info.tag.clone(), why: why.clone() });
    info.error = Some(why);
    info.failure = Some(BrokerFailure { reason: e.reason(), exit_status: e.exit_status(), log_tail: e.log_tail().to_vec() });
    info.image = broker::image_facts(image).await;
    let engine_lost = cx.engine.confirm().await.cause();
    let results = cells
        .into_iter()
        .map(|cell| {
            let v = verdict::error(match &engine_lost {
                Some(cause) => format!("not run: {cause}"),
                None => format!("not run: the broker of {} could not be had", info.tag),
            });
            let result = finish(plan, cell, v, None, started_at.clone(), None);
            send(progress, Progress::CellFinished(Box::new(result.clone())));
            result
        })
        .collect();
    (info, results)
}

/// What the clock proof of an accelerated broker showed, rounded for the report.
fn clock_facts(libc: Libc, proof: &clock::Proof, speed: u32) -> ClockFacts {
    ClockFacts {
        libc: libc.name().to_string(),
        speed,
        ratio: (proof.ratio * 1000.0).round() / 1000.0,
        broker_secs: proof.broker.as_secs_f64(),
        real_secs: (proof.real.as_secs_f64() * 1000.0).round() / 1000.0,
    }
}

async fn run_tag(cx: &RunContext<'_>, tag: String, cells: Vec<Cell>) -> (TagResult, Vec<CellResult>) {
    let RunContext { plan, run_id, progress, scheduler, .. } = cx;
    let image_tag = copies::image_tag(&tag).to_string();
    let mut info = TagResult { tag: tag.clone(), baseline_digest: plan.digests.get(&image_tag).cloned(), ..TagResult::default() };
    // The broker's memory is held for the row's whole life, its start-up CPU until it listens.
    let mut ticket = scheduler.admit(Cost::BROKER).await;
    send(progress, Progress::BrokerStarting { tag: tag.clone() });
    let labels = Labels { run_id: run_id.to_string(), cell: format!("{}/{}", plan.set, tag), lifetime: container_lifetime(plan) };
    let started_at = now_rfc3339();
    let image = format!("{}:{}", plan.image, image_tag);
    let clock = (plan.speed > 1).then(|| ClockAsk { speed: plan.speed, workdir: plan.workdir.clone() });
    let on = |event: StartEvent| match event {
        StartEvent::Pulling => send(progress, Progress::Pulling { tag: tag.clone(), image: image.clone() }),
        StartEvent::Listening => ticket.started(),
    };
    // The wss listener when a cell of the row takes the tls route; the run's network when one
    // takes a proxy route.
    let broker_tls = match &cx.tls {
        Some(Ok(t)) if cells.iter().any(|c| c.route == Route::Tls) => Some(t.as_ref()),
        _ => None,
    };
    let net = match &cx.network {
        Some(Ok(n)) if cells.iter().any(|c| c.route.proxy().is_some()) => Some(n.as_str()),
        _ => None,
    };
    let started = broker::start(&plan.image, &image_tag, &plan.broker, &labels, &plan.transports(), clock.as_ref(), broker_tls, net, on).await;
    ticket.started();
    let broker = match started {
        Ok(b) => b,
        Err(e) => return broker_not_had(cx, info, &e, &image, cells, started_at).await,
    };
    send(progress, Progress::BrokerReady { tag: tag.clone(), startup: broker.startup, probing: broker.ready_after });
    info.startup_secs = Some(broker.startup.as_secs_f64());
    info.pulled = Some(broker.pull.is_some());
    info.pull_secs = broker.pull.map(|d| d.as_secs_f64());
    info.image = broker.facts.clone();
    info.clock = broker.clock.map(|(libc, proof)| clock_facts(libc, &proof, plan.speed));
    // Asked before the sessions start, so the column is filled whichever columns run (command
    // clients do not subscribe to $SYS); a probe's client id and goodbye leave nothing behind.
    let version = match plan.transports().first() {
        Some(&transport) => {
            let listener = Listener::plain(transport, broker.host.clone(), broker.port(transport));
            let probe = Probe::new(&plan.broker.username, &plan.broker.password);
            readiness::broker_version(&listener, &probe, VERSION_WAIT).await
        }
        None => None,
    };
    let (proxies, proxy_facts, proxy_tickets) = start_proxies(cx, &tag, &broker, &cells).await;
    info.proxies = proxy_facts;
    // On an accelerated clock, how late the broker runs, timed on a connection of the run's own
    // while its sessions run (`client::lateness`).
    let lateness = (plan.speed > 1 && plan.transports().contains(&Transport::Ws)).then(|| {
        let listener = Listener::plain(Transport::Ws, broker.host.clone(), broker.port(Transport::Ws));
        let probe = Probe::new(&plan.broker.username, &plan.broker.password);
        Lateness::watch(listener, probe, format!("mm-lateness-{}", cx.run_id), &client::proxy::relays())
    });
    let sessions = cells.into_iter().map(|cell| {
        let at = endpoint(cx, &broker, &proxies, &cell).map(|at| Endpoint { lateness: lateness.clone(), ..at });
        run_cell(cx, &broker, cell, at)
    });
    let results: Vec<(CellResult, Option<String>)> = join_all(sessions).await;
    drop(lateness);
    // The proxies go before the broker they stand in front of; an engine that went away and
    // is not back gets one short try (the reaper and the next run remove the rest).
    let bound = removal_bound(cx.engine);
    let removals = proxies.into_values().flatten().map(|p| async move {
        let _ = cleanup::dispose(p.container, bound).await;
    });
    join_all(removals).await;
    drop(proxy_tickets);
    info.broker_version = version.or_else(|| results.iter().find_map(|(_, v)| v.clone()));
    // A paused container is un-paused first, so its removal cannot stall.
    if inspect(&broker).await.is_ok_and(|s| s.paused) {
        let _ = broker.container.unpause().await;
    }
    let _ = cleanup::dispose(broker.container, bound).await;
    drop(ticket);
    (info, results.into_iter().map(|(r, _)| r).collect())
}

/// How a cell's client is to be played, once everything it needs is there.
struct Prepared {
    play: Play,
    /// The environment beyond the contract's: the clock, the run id, a service's.
    extra_env: Vec<(String, String)>,
    /// A client that cannot follow the time library, run on real time with its hold ÷ speed.
    real_clock: bool,
    /// The runtime the cell runs inside (runtime mode), else `None`: a process of its own.
    runtime: Option<client::runtime::Cells>,
}

/// What a cell's client needs before it is admitted, or why the cell cannot run: a column
/// nested twice, an accelerated clock that cannot be had, a service that could not start.
fn prepare(cx: &RunContext<'_>, cell: &Cell, runtimes: &RuntimeCells) -> Result<Prepared, String> {
    let RunContext { plan, run_id, services, .. } = cx;
    // On an accelerated clock every client lives on the brokers' clock: the built-in profiles
    // too run as commands, under the same time library as the real clients.
    let play = match cell.column.base() {
        Column::Builtin(profile) if plan.speed > 1 => Play::Command(Box::new(command::builtin_command(*profile, &plan.timing))),
        Column::Builtin(profile) => Play::InProcess(*profile),
        Column::Command(client) => Play::Command(Box::new(client.clone())),
        // `base` unwraps every `Under`; a column built by hand could still nest one.
        Column::Under { name, .. } => return Err(format!("column {name} is nested under two MQTT versions; write <column>+v<version> once")),
    };
    let real_clock = matches!(&play, Play::Command(c) if c.real_clock(plan.speed));
    if let Some(missing) = missing_client_clock(plan).filter(|_| !real_clock) {
        return Err(missing);
    }
    let mut extra_env = if real_clock { Vec::new() } else { client_clock(plan) };
    extra_env.push((contract::RUN_ID_VAR.to_string(), run_id.to_string()));
    match services.get(cell.column.base().name()) {
        Some(Ok(env)) => extra_env.extend(env.iter().cloned()),
        Some(Err(why)) => return Err(format!("not run: {why}")),
        None => {}
    }
    let runtime = match runtimes.get(cell.column.base().name()) {
        Some(Ok(cells)) => Some(cells.clone()),
        Some(Err(why)) => return Err(format!("not run: {why}")),
        None => None,
    };
    Ok(Prepared { play, extra_env, real_clock, runtime })
}

/// Starts the cell's session as a task of its own: a panic inside one cell must not take the
/// others (or the clean-up) with it.
fn spawn_session(cx: &RunContext<'_>, cell: &Cell, at: &Endpoint, prepared: Prepared, client_id: &str, started: &Started) -> tokio::task::JoinHandle<SessionRecord> {
    let plan = cx.plan;
    let protocol = cell.column.protocol();
    match prepared.play {
        Play::InProcess(profile) => {
            let spec = SessionSpec {
                protocol,
                profile,
                host: at.host.clone(),
                port: at.port,
                path: cell.column.path().to_string(),
                username: plan.broker.username.clone(),
                password: plan.broker.password.clone(),
                topic: format!("test/{client_id}"),
                client_id: client_id.to_string(),
                timing: plan.timing,
                started: started.clone(),
                tls: at.tls.clone(),
            };
            tokio::spawn((cx.session_fn)(spec))
        }
        Play::Command(client) => {
            let spec = CommandSpec {
                client: crate::plan::CommandClient { protocol, ..*client },
                host: at.host.clone(),
                port: at.port,
                username: plan.broker.username.clone(),
                password: plan.broker.password.clone(),
                client_id: client_id.to_string(),
                timing: plan.timing,
                workdir: plan.workdir.clone(),
                speed: f64::from(plan.speed),
                extra_env: prepared.extra_env,
                started: started.clone(),
                tls: at.tls.clone(),
                lateness: at.lateness.clone(),
            };
            match prepared.runtime {
                Some(runtime) => tokio::spawn(async move { client::runtime::run(&spec, &runtime).await }),
                None => tokio::spawn(async move { command::run(&spec).await }),
            }
        }
    }
}

/// The verdict on how waiting for a session ended, and its record when it has one.
async fn verdict_of(cx: &RunContext<'_>, broker: &Broker, at: &Endpoint, waited: Waited, session: &tokio::task::JoinHandle<SessionRecord>, cell_started: Duration) -> (Verdict, Option<SessionRecord>) {
    match waited {
        Waited::Ended(Ok(record)) => {
            let mut v = verdict::decide(&record);
            if v.outcome != Outcome::Ok {
                v = blame(cx, broker, at, &record, v, cell_started).await;
            }
            (v, Some(record))
        }
        Waited::Ended(Err(e)) => (verdict::error(format!("the session panicked: {e}")), None),
        Waited::Bound => {
            session.abort();
            (verdict::error(format!("the cell did not end within its bound of {:.0} s (real time); the harness stopped it", cell_bound(cx.plan).as_secs_f64())), None)
        }
        Waited::EngineGone(cause) => {
            session.abort();
            (verdict::error(format!("{cause}; the broker could no longer be reached, so the harness ended the session")), None)
        }
    }
}

async fn run_cell(cx: &RunContext<'_>, broker: &Broker, cell: Cell, at: Result<Endpoint, String>) -> (CellResult, Option<String>) {
    let RunContext { plan, progress, scheduler, .. } = cx;
    let client_id = format!("mm-{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    let runtimes = {
        let mut ready = cx.runtimes.clone();
        let started = ready.wait_for(Option::is_some).await.ok().and_then(|r| r.clone());
        started.unwrap_or_default()
    };
    let ready = at.and_then(|at| prepare(cx, &cell, &runtimes).map(|p| (at, p)));
    let (at, prepared) = match ready {
        Ok(ready) => ready,
        Err(why) => {
            let result = finish(plan, cell, verdict::error(why), Some(client_id), now_rfc3339(), None);
            send(progress, Progress::CellFinished(Box::new(result.clone())));
            return (result, None);
        }
    };
    let real_clock = prepared.real_clock;
    let cost = if prepared.runtime.is_some() { Cost::in_runtime(&cell.column) } else { Cost::of(&cell.column, plan.speed > 1) };
    // A runtime starts few cells at once, whatever the machine's budget (client::runtime).
    let start_slot = match &prepared.runtime {
        Some(cells) => cells.start_slot().await,
        None => None,
    };
    let mut ticket = scheduler.admit(cost).await;
    let began = std::time::Instant::now();
    // When the cell starts on the engine watch's clock: a loss after it is this cell's concern.
    let cell_started = cx.engine.started().elapsed();
    let id = cell.id();
    send(progress, Progress::CellStarting { id: id.clone() });
    let started_at = now_rfc3339();
    let started = Started::new();
    let mut session = spawn_session(cx, &cell, &at, prepared, &client_id, &started);
    // The start-up CPU goes back once the broker accepted the session, the session ended, or
    // its set-up bound passed (real time), whichever comes first.
    let joined = tokio::select! {
        joined = &mut session => Some(joined),
        _ = started.wait() => None,
        _ = tokio::time::sleep(plan.timing.setup_timeout) => None,
    };
    ticket.started();
    drop(start_slot);
    send(progress, Progress::CellHolding { id });
    let waited = match joined {
        Some(j) => Waited::Ended(j),
        None => wait_session(cx.engine, &mut session, &at, cell_bound(plan)).await,
    };
    let (v, record) = verdict_of(cx, broker, &at, waited, &session, cell_started).await;
    drop(ticket);
    let v = if real_clock {
        Verdict { cause: format!("{}; {}", v.cause, command::real_clock_note(plan.timing.hold, plan.speed)), ..v }
    } else {
        v
    };
    let v = unmeasured_time(plan, &cell, at.lateness.as_ref(), began, v).await;
    let version = record.as_ref().and_then(|r| r.broker_version.clone());
    let result = finish(plan, cell, v, Some(client_id), started_at, record);
    send(progress, Progress::CellFinished(Box::new(result.clone())));
    (result, version)
}

/// On an accelerated clock, a verdict that misses its expectation by its time alone, by no
/// more than the broker ran late at some time since the cell `began` (as the run's own PINGs
/// timed it), is ERROR (`results::time_unmeasured`); any other verdict stays as it is. Asks the
/// broker's timing only for a verdict that misses.
async fn unmeasured_time(plan: &Plan, cell: &Cell, lateness: Option<&Lateness>, began: std::time::Instant, v: Verdict) -> Verdict {
    let tolerance = plan.tolerance_for(&cell.column);
    match (lateness, &cell.expect) {
        (Some(lateness), Some(e)) if plan.speed > 1 && !results::meets(e, &v, tolerance) => {
            let late = lateness.within(began, std::time::Instant::now()).await.mul_f64(f64::from(plan.speed));
            results::time_unmeasured(e, &v, tolerance, late).unwrap_or(v)
        }
        _ => v,
    }
}

fn finish(plan: &Plan, cell: Cell, v: Verdict, client_id: Option<String>, started_at: String, record: Option<SessionRecord>) -> CellResult {
    let status = Status::of(cell.expect.as_ref(), &v, plan.timing.hold, plan.tolerance_for(&cell.column));
    CellResult {
        profile: cell.key(),
        route: cell.route.name(),
        tag: cell.tag,
        expected: cell.expect.map(|e| e.to_string()),
        status,
        verdict: v,
        client_id,
        started_at,
        ended_at: now_rfc3339(),
        process: record.as_ref().and_then(|r| r.process.clone()),
        wire: record.map(|r| r.wire).unwrap_or_default(),
    }
}

/// How waiting for a holding session ended.
// One per cell, moved once: boxing the record would cost more than its size.
#[allow(clippy::large_enum_variant)]
enum Waited {
    /// The session ended (or panicked).
    Ended(Result<SessionRecord, tokio::task::JoinError>),
    /// Its bound passed first.
    Bound,
    /// The engine went away and the session's endpoint no longer answers: the cause.
    EngineGone(String),
}

/// Waits for a holding session, at most `bound`. When the engine goes away meanwhile, a
/// session whose endpoint no longer accepts connections is ended at once, like every other
/// such cell of the run, rather than one by one at their own bounds.
async fn wait_session(engine: &EngineWatch, session: &mut tokio::task::JoinHandle<SessionRecord>, at: &Endpoint, bound: Duration) -> Waited {
    let mut health = engine.subscribe();
    let mut watching = true;
    let deadline = tokio::time::sleep(bound);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            joined = &mut *session => return Waited::Ended(joined),
            _ = &mut deadline => return Waited::Bound,
            changed = health.changed(), if watching => {
                if changed.is_err() {
                    watching = false;
                    continue;
                }
                let lost = health.borrow_and_update().cause();
                if let Some(cause) = lost {
                    if !answers(at).await {
                        return Waited::EngineGone(cause);
                    }
                }
            }
        }
    }
}

/// Whether the endpoint still accepts a TCP connection (within 2 s).
async fn answers(at: &Endpoint) -> bool {
    let connect = tokio::net::TcpStream::connect((at.host.as_str(), at.port));
    matches!(tokio::time::timeout(Duration::from_secs(2), connect).await, Ok(Ok(_)))
}

/// Who ended a session that did not hold, when it was not the broker: a client killed from
/// outside the harness or crashed, the engine gone, a proxy gone, the port relay gone; else the broker's
/// container state joins the verdict. Each of these is the harness's loss, never a drop.
async fn blame(cx: &RunContext<'_>, broker: &Broker, at: &Endpoint, record: &SessionRecord, v: Verdict, cell_started: Duration) -> Verdict {
    if let Some(why) = verdict::ended_by_signal(record) {
        return verdict::error(format!("{why}; the session saw: {}", v.cause));
    }
    if let Some(cause) = engine_blame(&cx.engine.confirm().await, cell_started) {
        return verdict::error(format!("{cause}; the session saw: {}", v.cause));
    }
    if let Some((label, id)) = &at.proxy {
        if let Some(why) = proxy_gone(label, id).await {
            return verdict::error(why);
        }
    }
    let state = match broker_state(broker, &record.end).await {
        Ok(state) => state,
        Err(why) => {
            return verdict::error(format!("the Docker engine did not answer when asked what became of the broker ({why}); the session saw: {}", v.cause));
        }
    };
    let untouched = state.running && !state.restarted && !state.paused && state.networked;
    if untouched && matches!(record.end, End::SocketEnded { .. }) && !answers(at).await {
        return verdict::error(format!(
            "the port relay (docker-proxy) of {}:{} stopped during the session: the {} container still runs, but its published port no longer accepts connections; the session saw: {}",
            at.host,
            at.port,
            if at.proxy.is_some() { "proxy" } else { "broker" },
            v.cause
        ));
    }
    verdict::with_broker_state(v, &state)
}

/// The engine's loss, when it concerns a cell that started at `cell_started` (on the watch's
/// clock): lost after the cell started, or lost and not back.
fn engine_blame(health: &EngineHealth, cell_started: Duration) -> Option<String> {
    let lost = health.lost.as_ref()?;
    let concerns = lost.at >= cell_started || health.back_at.is_none_or(|back| back >= cell_started);
    if concerns {
        health.cause()
    } else {
        None
    }
}

/// Asks the engine what became of the broker container after a session ended badly; an
/// engine that does not answer is an error, never a healthy broker.
async fn broker_state(broker: &Broker, end: &End) -> Result<BrokerState, String> {
    let socket_gone = matches!(end, End::SocketEnded { .. } | End::BrokerClosed { .. } | End::LibraryError { .. });
    let mut state = inspect(broker).await?;
    // A killed container may still show as running for a moment after its socket closed
    // (asked again for up to 0.5 s), and a stopped one may be coming back, since
    // `docker restart` is a stop and a start (up to 2 s). A live, untouched broker costs
    // the cell 0.5 s before its verdict is shown, never a different verdict time.
    for step in 0..20 {
        let settled = if state.running {
            !socket_gone || state.restarted || !state.networked || step >= 5
        } else {
            false
        };
        if settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        state = inspect(broker).await?;
    }
    Ok(state)
}

/// The broker container's state, or why the engine could not say (no answer within
/// [`watch::ANSWER_BOUND`], an error): never a guess.
async fn inspect(broker: &Broker) -> Result<BrokerState, String> {
    let asked = async {
        let docker = testcontainers::core::client::docker_client_instance().await.map_err(|e| e.to_string())?;
        docker.inspect_container(broker.container.id(), None).await.map_err(|e| e.to_string())
    };
    let c = match tokio::time::timeout(watch::ANSWER_BOUND, asked).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(format!("no answer within {:.0} s", watch::ANSWER_BOUND.as_secs_f64())),
    };
    let state = c.state.unwrap_or_default();
    let Some(running) = state.running else {
        return Err("the engine did not say whether the container runs".to_string());
    };
    Ok(BrokerState {
        running,
        exit_code: if running { None } else { state.exit_code },
        restarted: c.restart_count.unwrap_or(0) > 0 || (broker.started_at.is_some() && state.started_at != broker.started_at),
        paused: state.paused.unwrap_or(false),
        networked: c.network_settings.and_then(|n| n.networks).is_none_or(|n| !n.is_empty()),
    })
}

/// Now, as RFC 3339 UTC: when a run or a cell started and ended (the judge reads no clock).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
