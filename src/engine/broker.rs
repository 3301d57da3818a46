//! Our Mosquitto image description and one broker container per tag, via testcontainers.
//!
//! Not testcontainers-modules' Mosquitto image: its wait message is tied to a fixed tag and
//! it configures no WebSocket listener. Readiness here waits for no log line at all: once the
//! container runs, every listener the run uses is probed until it answers (see
//! [`crate::engine::readiness`]), while the engine is asked whether the container still runs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use testcontainers::bollard::models::{ContainerStateStatusEnum, PortBinding};
use testcontainers::bollard::query_parameters::LogsOptionsBuilder;
use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, CopyTargetOptions, Image, ImageExt};

use crate::engine::clock::{self, Acceleration, ClockError, Libc, Proof, PRELOAD_PATH};
use crate::engine::labels::Labels;
use crate::engine::link::WSS_CONTAINER_PORT;
use crate::engine::network;
use crate::engine::priority;
use crate::engine::readiness::{self, Listener, Liveness, Probe, ReadinessError};
use crate::engine::tls::RunTls;
use crate::judge::results::ImageFacts;
use crate::plan::column::{TCP_PORT, WS_PORT};
use crate::plan::{BrokerSettings, Transport};

/// Where the config goes inside the container (the eclipse-mosquitto layout).
pub const CONFIG_PATH: &str = "/mosquitto/config/mosquitto.conf";
/// Where the password file goes; the config names this path.
pub const PASSWD_PATH: &str = "/mosquitto/config/passwd";
/// Where a TLS run's CA, certificate and key go; [`tls_listener`] names these paths.
pub const TLS_DIR: &str = "/mosquitto/config/tls";
/// How many log lines are kept for an error message.
pub const LOG_TAIL: usize = 12;
/// The bound on reading those lines from the engine.
const LOG_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The bound on pulling one image.
pub const PULL_TIMEOUT: Duration = Duration::from_secs(600);
/// The bound on one quick question to the engine (ports, inspect).
const ENGINE_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What a broker's start reports while it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartEvent {
    /// The engine lacks the image; it is being pulled.
    Pulling,
    /// Every listener answered: the broker is up (an accelerated clock is proven after this).
    Listening,
}

/// A broker that could not be had.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Our own config or password file could not be read.
    #[error("cannot read {path}: {why}")]
    Files {
        /// The file.
        path: String,
        /// The operating system's words.
        why: String,
    },
    /// The engine could not create, pull or start the container.
    #[error("{image}: {why}{}", tail_text(.log_tail))]
    Start {
        /// `name:tag`.
        image: String,
        /// The engine's (or testcontainers') words.
        why: String,
        /// The last lines the broker logged.
        log_tail: Vec<String>,
    },
    /// The broker's clock could not be accelerated, or did not run at the asked speed.
    #[error("{image}: {why}{}", tail_text(.log_tail))]
    Clock {
        /// `name:tag`.
        image: String,
        /// What failed.
        why: ClockError,
        /// The last lines the broker logged.
        log_tail: Vec<String>,
    },
    /// The container started, but exited or did not answer on its listeners in time.
    #[error("{image}: {why}{}", tail_text(.log_tail))]
    NotReady {
        /// `name:tag`.
        image: String,
        /// What the probes found.
        why: ReadinessError,
        /// The last lines the broker logged.
        log_tail: Vec<String>,
    },
}

impl BrokerError {
    /// What went wrong, without the image name and the log lines.
    pub fn reason(&self) -> String {
        match self {
            BrokerError::Files { .. } => self.to_string(),
            BrokerError::Start { why, .. } => why.clone(),
            BrokerError::NotReady { why, .. } => why.to_string(),
            BrokerError::Clock { why, .. } => why.to_string(),
        }
    }

    /// The last lines the broker logged, oldest first.
    pub fn log_tail(&self) -> &[String] {
        match self {
            BrokerError::Files { .. } => &[],
            BrokerError::Start { log_tail, .. } | BrokerError::NotReady { log_tail, .. } | BrokerError::Clock { log_tail, .. } => {
                log_tail
            }
        }
    }

    /// The container's exit status, when it exited before it answered.
    pub fn exit_status(&self) -> Option<i64> {
        match self {
            BrokerError::NotReady { why: ReadinessError::Exited { status }, .. } => *status,
            _ => None,
        }
    }
}

fn tail_text(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; last broker log lines: {}", lines.join(" | "))
    }
}

/// A Mosquitto image at one tag, with its two listeners (three with TLS).
#[derive(Debug, Clone)]
pub struct MosquittoImage {
    name: String,
    tag: String,
    ports: Vec<ContainerPort>,
}

const PORTS: [ContainerPort; 2] = [ContainerPort::Tcp(TCP_PORT), ContainerPort::Tcp(WS_PORT)];

impl MosquittoImage {
    /// The image `name:tag`.
    pub fn new(name: impl Into<String>, tag: impl Into<String>) -> Self {
        MosquittoImage { name: name.into(), tag: tag.into(), ports: PORTS.to_vec() }
    }

    /// The same image with the TLS WebSocket listener's port exposed too.
    #[must_use]
    pub fn with_wss(mut self) -> Self {
        self.ports.push(ContainerPort::Tcp(WSS_CONTAINER_PORT));
        self
    }
}

/// The config lines that add the TLS WebSocket listener (container port 9443) to the
/// reference config, naming the files copied under [`TLS_DIR`]. Accepted by 1.6, 2.0 and 2.1
/// alike; the password file and `allow_anonymous false` apply to it as to the others.
pub fn tls_listener() -> String {
    format!(
        "\n# Added by the harness for a TLS route: MQTT over WebSockets over TLS (wss://host:{WSS_CONTAINER_PORT}/mqtt),\n\
         # with the run's own CA and server certificate.\n\
         listener {WSS_CONTAINER_PORT}\nprotocol websockets\n\
         cafile {TLS_DIR}/{ca}\ncertfile {TLS_DIR}/{cert}\nkeyfile {TLS_DIR}/{key}\n",
        ca = crate::engine::tls::CA_FILE,
        cert = crate::engine::tls::CERT_FILE,
        key = crate::engine::tls::KEY_FILE,
    )
}

impl Image for MosquittoImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    /// None: readiness is the listeners answering, probed in [`start`] once the container runs.
    fn ready_conditions(&self) -> Vec<WaitFor> {
        Vec::new()
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &self.ports
    }
}

/// A running broker and where to reach it.
pub struct Broker {
    /// The container; dropping it removes it.
    pub container: ContainerAsync<MosquittoImage>,
    /// Host to connect to.
    pub host: String,
    /// Mapped WebSocket port.
    pub ws_port: u16,
    /// Mapped TCP port.
    pub tcp_port: u16,
    /// Mapped TLS WebSocket port (`wss`, container port 9443), when the run asked for TLS.
    pub wss_port: Option<u16>,
    /// The run's TLS material, when the broker has the `wss` listener.
    pub tls: Option<Arc<RunTls>>,
    /// What the image records.
    pub facts: ImageFacts,
    /// From asking for the container (pull included) to every probed listener answering.
    pub startup: Duration,
    /// How long pulling the image took; `None` when the engine already had it.
    pub pull: Option<Duration>,
    /// From the container running to every probed listener answering.
    pub ready_after: Duration,
    /// When the engine says the container started; a later value means it was restarted.
    pub started_at: Option<String>,
    /// On an accelerated clock: the image's C library and the speed the broker proved.
    pub clock: Option<(Libc, Proof)>,
}

/// What an accelerated run asks of a broker's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockAsk {
    /// Broker seconds per real second.
    pub speed: u32,
    /// Where the project's musl build of the time library is found (`target/faketime/`).
    pub workdir: PathBuf,
}

impl Broker {
    /// The mapped host port for a transport.
    pub fn port(&self, t: Transport) -> u16 {
        match t {
            Transport::Ws => self.ws_port,
            Transport::Tcp => self.tcp_port,
        }
    }
}

/// Whether the engine runs on this machine, so ports can be bound to loopback.
pub fn engine_is_local() -> bool {
    match std::env::var("DOCKER_HOST") {
        Err(_) => true,
        Ok(h) => {
            h.is_empty()
                || h.starts_with("unix://")
                || h.starts_with("npipe://")
                || ["tcp://127.", "tcp://localhost", "tcp://[::1]"].iter().any(|p| h.starts_with(p))
        }
    }
}

/// Starts one broker with the reference config, labelled, ports on loopback only, and
/// returns once every listener of `transports` answers a CONNECT with a CONNACK.
///
/// With `tls`, the broker gets a third listener, `wss` on container port 9443, with the
/// run's CA, certificate and key copied in; it is probed over TLS like the others (101 and
/// CONNACK inside TLS) and published as [`Broker::wss_port`].
///
/// `on` hears [`StartEvent::Pulling`] before a pull, when the engine lacks the image, and
/// [`StartEvent::Listening`] once the listeners answer. Every wait is bounded: the pull by
/// [`PULL_TIMEOUT`], the container's start by `settings.startup_timeout`, its listeners by as
/// long again, the clock proof by its own bound, each question to the engine by 30 s.
///
/// With `network` (the run's, [`crate::engine::network::create`]), the broker also joins it
/// under the alias [`crate::engine::network::BROKER_ALIAS`] and its own
/// ([`crate::engine::network::broker_alias`]), where reverse proxies reach it.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    image: &str,
    tag: &str,
    settings: &BrokerSettings,
    labels: &Labels,
    transports: &[Transport],
    clock: Option<&ClockAsk>,
    tls: Option<&RunTls>,
    network: Option<&str>,
    mut on: impl FnMut(StartEvent),
) -> Result<Broker, BrokerError> {
    let local = engine_is_local();
    let files = BrokerFiles::read(settings, tls)?;
    let request = container_request(MosquittoImage::new(image, tag), files, settings, labels, local);
    let started = Instant::now();
    let name = format!("{image}:{tag}");
    let (request, pull) = pull_if_absent(request, &name, &mut on).await?;
    let (request, libc) = match clock {
        None => (request, None),
        Some(ask) => with_clock(request, ask, &name, settings, labels).await.map(|(request, libc)| (request, Some(libc)))?,
    };
    let container = match tokio::time::timeout(settings.startup_timeout, request.start()).await {
        Ok(started) => started.map_err(|e| start_error(&name, e.to_string()))?,
        Err(_) => return Err(start_error(&name, format!("the engine did not create and start the container within {:?}", settings.startup_timeout))),
    };
    let id = container.id().to_string();
    if let Some(net) = network {
        // Its own alias too: every broker of a run is `broker` on the network, so a proxy in
        // front of one names it by its own.
        if let Err(e) = network::join(net, &id, &[network::BROKER_ALIAS, &network::broker_alias(&id)]).await {
            return Err(not_had(&id, &name, e.to_string()).await);
        }
    }
    let reached = match mapped_ports(&container, tls.is_some()).await {
        Ok(ports) => reach(&container, local, ports).await,
        Err(why) => Err(why),
    };
    let (host, ports) = match reached {
        Ok(r) => r,
        Err(why) => return Err(not_had(&id, &name, why).await),
    };
    let listeners = listeners(transports, &host, &ports, tls);
    let probe = Probe::new(&settings.username, &settings.password);
    let ready = match readiness::wait(&listeners, &probe, settings.startup_timeout, || liveness(&id)).await {
        Ok(r) => r,
        Err(why) => return Err(BrokerError::NotReady { image: name, why, log_tail: log_tail(&id).await }),
    };
    let startup = started.elapsed();
    on(StartEvent::Listening);
    // Nothing counts on a clock that did not run: the broker proves its speed first.
    let clock = match (clock, libc, listeners.first()) {
        (Some(ask), Some(libc), Some(listener)) => match clock::prove(listener, &probe, ask.speed).await {
            Ok(proof) => Some((libc, proof)),
            Err(why) => return Err(BrokerError::Clock { image: name, why, log_tail: log_tail(&id).await }),
        },
        _ => None,
    };
    let facts = tokio::time::timeout(ENGINE_CALL_TIMEOUT, image_facts(&name)).await.unwrap_or_default();
    let started_at = started_at(&id).await;
    let MappedPorts { ws: ws_port, tcp: tcp_port, wss: wss_port } = ports;
    Ok(Broker { container, host, ws_port, tcp_port, wss_port, tls: tls.map(|t| Arc::new(t.clone())), facts, startup, pull, ready_after: ready.took, started_at, clock })
}

/// What goes into a broker's container as files: the config (with the TLS listener's lines
/// on a TLS route), the password file, and the run's CA, certificate and key.
struct BrokerFiles {
    config: Vec<u8>,
    passwd: Vec<u8>,
    /// (path in the container, bytes) of the TLS files; empty without TLS.
    tls: Vec<(String, Vec<u8>)>,
}

impl BrokerFiles {
    /// Reads the files from disk; a file that cannot be read is named in the error.
    fn read(settings: &BrokerSettings, tls: Option<&RunTls>) -> Result<BrokerFiles, BrokerError> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| BrokerError::Files { path: p.display().to_string(), why: e.to_string() })
        };
        let mut files = BrokerFiles { config: read(&settings.config)?, passwd: read(&settings.password_file)?, tls: Vec::new() };
        if let Some(run) = tls {
            files.config.extend_from_slice(tls_listener().as_bytes());
            for (file, name) in [
                (&run.ca_file, crate::engine::tls::CA_FILE),
                (&run.cert_file, crate::engine::tls::CERT_FILE),
                (&run.key_file, crate::engine::tls::KEY_FILE),
            ] {
                files.tls.push((format!("{TLS_DIR}/{name}"), read(file)?));
            }
        }
        Ok(files)
    }
}

/// The container to ask for: the image (with the `wss` port when there are TLS files), its
/// files copied in, the run's labels, and on a local engine its ports on loopback only.
fn container_request(image: MosquittoImage, files: BrokerFiles, settings: &BrokerSettings, labels: &Labels, local: bool) -> ContainerRequest<MosquittoImage> {
    let image = if files.tls.is_empty() { image } else { image.with_wss() };
    let ports = image.expose_ports().to_vec();
    let mut request = image
        .with_copy_to(CopyTargetOptions::new(CONFIG_PATH).with_mode(0o644), files.config)
        // Readable by the mosquitto user the broker drops to; the credentials are test-only.
        .with_copy_to(CopyTargetOptions::new(PASSWD_PATH).with_mode(0o644), files.passwd)
        .with_startup_timeout(settings.startup_timeout);
    // Readable by the mosquitto user too: the key is the run's own, made for this run only.
    for (path, bytes) in files.tls {
        request = request.with_copy_to(CopyTargetOptions::new(path).with_mode(0o644), bytes);
    }
    for (k, v) in labels.pairs() {
        request = request.with_label(k, v);
    }
    if local {
        // testcontainers publishes on every interface by default, which would expose a broker
        // with known test credentials to the network for the whole hold.
        request = on_loopback(request, ports);
    }
    request
}

/// On a local engine: `ports` published on 127.0.0.1 only, and the container in the run's
/// CPU group (brokers and proxies first on a busy CPU, see [`crate::engine::priority`]).
pub fn on_loopback<I: Image>(request: ContainerRequest<I>, ports: Vec<ContainerPort>) -> ContainerRequest<I> {
    request.with_host_config_modifier(move |hc| {
        hc.publish_all_ports = Some(false);
        let bind = |p: &ContainerPort| {
            (format!("{}/tcp", p.as_u16()), Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) }]))
        };
        hc.port_bindings = Some(ports.iter().map(bind).collect::<HashMap<_, _>>());
        hc.cgroup_parent = priority::parent();
    })
}

/// The error for a container the engine could not pull, create or start.
fn start_error(name: &str, why: String) -> BrokerError {
    BrokerError::Start { image: name.to_string(), why, log_tail: Vec::new() }
}

/// Pulls the image when the engine lacks it, telling `on` first, and says how long it took.
///
/// Pulled here rather than inside testcontainers' start so the pull is timed on its own and
/// the report can say whether the image came from the registry. Only when absent: a
/// local-only image (the Debian builds) is in no registry, and asking one would fail.
async fn pull_if_absent(
    request: ContainerRequest<MosquittoImage>,
    name: &str,
    on: &mut impl FnMut(StartEvent),
) -> Result<(ContainerRequest<MosquittoImage>, Option<Duration>), BrokerError> {
    let local_image = tokio::time::timeout(ENGINE_CALL_TIMEOUT, crate::engine::image::is_local(name))
        .await
        .map_err(|_| start_error(name, format!("the engine did not say within {ENGINE_CALL_TIMEOUT:?} whether it has the image")))?;
    if local_image {
        return Ok((request, None));
    }
    on(StartEvent::Pulling);
    let pulling = Instant::now();
    let request = match tokio::time::timeout(PULL_TIMEOUT, request.pull_image()).await {
        Ok(r) => r.map_err(|e| start_error(name, e.to_string()))?,
        Err(_) => return Err(start_error(name, format!("the pull did not finish within {PULL_TIMEOUT:?}"))),
    };
    Ok((request, Some(pulling.elapsed())))
}

/// On an accelerated clock: the time library for the image's C library goes in as a file,
/// preloaded into every process of the container. Returns the C library found.
async fn with_clock(
    request: ContainerRequest<MosquittoImage>,
    ask: &ClockAsk,
    name: &str,
    settings: &BrokerSettings,
    labels: &Labels,
) -> Result<(ContainerRequest<MosquittoImage>, Libc), BrokerError> {
    let clock_fail = |why: ClockError| BrokerError::Clock { image: name.to_string(), why, log_tail: Vec::new() };
    let libc = match tokio::time::timeout(settings.startup_timeout, clock::image_libc_once(name, labels)).await {
        Ok(found) => found.map_err(clock_fail)?,
        Err(_) => {
            let why = format!("the engine did not create a container to read the C library within {:?}", settings.startup_timeout);
            return Err(clock_fail(ClockError::Libc { image: name.to_string(), why }));
        }
    };
    let accel = Acceleration::load(ask.speed, libc, &ask.workdir).map_err(clock_fail)?;
    let mut request = request.with_copy_to(CopyTargetOptions::new(PRELOAD_PATH).with_mode(0o644), accel.library.clone());
    for (k, v) in accel.env() {
        request = request.with_env_var(k, v);
    }
    Ok((request, libc))
}

/// The host ports the engine mapped the broker's listeners to.
struct MappedPorts {
    ws: u16,
    tcp: u16,
    wss: Option<u16>,
}

/// Asks the engine for the mapped ports, within [`ENGINE_CALL_TIMEOUT`]; the engine's words
/// when it cannot say (a container that exited at once has no published ports any more).
async fn mapped_ports(container: &ContainerAsync<MosquittoImage>, wss: bool) -> Result<MappedPorts, String> {
    let ports = async {
        let ws = container.get_host_port_ipv4(Transport::Ws.container_port()).await?;
        let tcp = container.get_host_port_ipv4(Transport::Tcp.container_port()).await?;
        let wss = if wss { Some(container.get_host_port_ipv4(WSS_CONTAINER_PORT).await?) } else { None };
        Ok::<_, testcontainers::TestcontainersError>(MappedPorts { ws, tcp, wss })
    };
    match tokio::time::timeout(ENGINE_CALL_TIMEOUT, ports).await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("the engine did not say the mapped ports within {ENGINE_CALL_TIMEOUT:?}")),
    }
}

/// The host the harness reaches the broker on, with its ports: loopback on a local engine
/// (whose port relays are raised first on the CPU), else the host the engine names.
async fn reach(container: &ContainerAsync<MosquittoImage>, local: bool, ports: MappedPorts) -> Result<(String, MappedPorts), String> {
    if local {
        // The relays carry every byte of every cell: they go first, like the harness.
        let mut relayed = vec![ports.ws, ports.tcp];
        relayed.extend(ports.wss);
        let _ = tokio::task::spawn_blocking(move || priority::raise_port_relays(&relayed)).await;
        return Ok(("127.0.0.1".to_string(), ports));
    }
    let host = container.get_host().await.map_err(|e| e.to_string())?;
    Ok((host.to_string(), ports))
}

/// The listeners readiness probes: one per transport the run uses, and the `wss` one over
/// the run's TLS when the broker has it.
fn listeners(transports: &[Transport], host: &str, ports: &MappedPorts, tls: Option<&RunTls>) -> Vec<Listener> {
    let mut listeners: Vec<Listener> = transports
        .iter()
        .map(|&transport| Listener::plain(transport, host.to_string(), if transport == Transport::Ws { ports.ws } else { ports.tcp }))
        .collect();
    if let (Some(port), Some(run)) = (ports.wss, tls) {
        listeners.push(Listener { transport: Transport::Ws, host: host.to_string(), port, tls: Some(Arc::new(run.clone())) });
    }
    listeners
}

/// When the engine says the container started, asked within [`ENGINE_CALL_TIMEOUT`].
async fn started_at(id: &str) -> Option<String> {
    tokio::time::timeout(ENGINE_CALL_TIMEOUT, async {
        let docker = testcontainers::core::client::docker_client_instance().await.ok()?;
        docker.inspect_container(id, None).await.ok().and_then(|c| c.state).and_then(|s| s.started_at)
    })
    .await
    .unwrap_or(None)
}

/// The error for a started container whose ports or host could not be read: an exit when it
/// exited, else the engine's words.
async fn not_had(id: &str, image: &str, why: String) -> BrokerError {
    let log_tail = log_tail(id).await;
    match liveness(id).await {
        Liveness::Exited { status } => BrokerError::NotReady { image: image.to_string(), why: ReadinessError::Exited { status }, log_tail },
        _ => BrokerError::Start { image: image.to_string(), why, log_tail },
    }
}

/// Whether a container still runs, as the engine says.
pub async fn liveness(id: &str) -> Liveness {
    let Ok(docker) = testcontainers::core::client::docker_client_instance().await else { return Liveness::Unknown };
    let Ok(Ok(c)) = tokio::time::timeout(ENGINE_CALL_TIMEOUT, docker.inspect_container(id, None)).await else { return Liveness::Unknown };
    let state = c.state.unwrap_or_default();
    match state.status {
        Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD) => Liveness::Exited { status: state.exit_code },
        Some(_) => Liveness::Running,
        None => Liveness::Unknown,
    }
}

/// The last [`LOG_TAIL`] lines the container wrote (stdout and stderr, in order), read from
/// the engine when they are needed rather than followed for the whole hold.
pub async fn log_tail(id: &str) -> Vec<String> {
    let Ok(docker) = testcontainers::core::client::docker_client_instance().await else { return Vec::new() };
    let options = LogsOptionsBuilder::new().stdout(true).stderr(true).tail(&LOG_TAIL.to_string()).build();
    let mut text = String::new();
    let read = async {
        let mut logs = docker.logs(id, Some(options));
        while let Some(Ok(chunk)) = logs.next().await {
            text.push_str(&chunk.to_string());
        }
    };
    let _ = tokio::time::timeout(LOG_READ_TIMEOUT, read).await;
    let lines: Vec<String> = text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).map(String::from).collect();
    lines[lines.len().saturating_sub(LOG_TAIL)..].to_vec()
}

/// Reads `LWS_VERSION`, `VERSION` and the digest of an image through the Docker API.
pub async fn image_facts(name: &str) -> ImageFacts {
    let Ok(docker) = testcontainers::core::client::docker_client_instance().await else {
        return ImageFacts::default();
    };
    let Ok(inspect) = docker.inspect_image(name).await else {
        return ImageFacts::default();
    };
    let env = inspect.config.and_then(|c| c.env).unwrap_or_default();
    let var = |k: &str| env.iter().find_map(|e| e.strip_prefix(&format!("{k}=")).map(String::from));
    ImageFacts {
        lws_version: var("LWS_VERSION"),
        version: var("VERSION"),
        digest: own_digest(name, inspect.repo_digests.unwrap_or_default()).or(inspect.id),
    }
}

/// The digest under the image's own repository: an image pushed to or pulled from several
/// registries lists one digest per repository, and the first need not be the one run.
fn own_digest(name: &str, digests: Vec<String>) -> Option<String> {
    let repository = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    };
    let prefix = format!("{repository}@");
    digests.iter().find(|d| d.starts_with(&prefix)).cloned().or_else(|| digests.into_iter().next())
}
