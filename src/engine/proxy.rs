//! The reverse proxies people put in front of a WebSocket broker — nginx, HAProxy, Caddy,
//! Apache httpd — each in a container of its own from Debian's package
//! (`mosquitto-matrix/proxy:bookworm`, built by `docker/build-proxy-image.sh`), configured as
//! its own documentation shows WebSocket proxying (`docker/proxies/`, compiled in), beside the
//! broker on the run's network ([`crate::engine::network`]).
//!
//! A proxy is started, labelled and cleaned up like a broker: ports on loopback, read back;
//! ready when an MQTT CONNECT sent through it, over WebSocket (and over wss through its TLS
//! listener), gets the broker's CONNACK;
//! every wait bounded; on an accelerated clock it runs under the same time library as the
//! clients, so its own timeouts run ×N like the broker's. A proxy that cannot be had is a
//! [`ProxyError`] naming the proxy and quoting its log, never a broker's failure.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, CopyTargetOptions, Image, ImageExt};

use crate::engine::broker::{self, engine_is_local, ClockAsk};
use crate::engine::clock::{Acceleration, ClockError, Libc, PRELOAD_PATH};
use crate::engine::labels::Labels;
use crate::engine::readiness::{self, Listener, Liveness, Probe, ReadinessError};
use crate::engine::tls::RunTls;
use crate::plan::Transport;

/// The image every proxy runs from (`docker/build-proxy-image.sh`).
pub const IMAGE: &str = "mosquitto-matrix/proxy";
/// Its tag: the Debian suite whose packages it holds.
pub const TAG: &str = "bookworm";
/// The container port of a proxy's plain WebSocket listener.
pub const WS_PORT: u16 = 8080;
/// The container port of a proxy's TLS-terminating listener.
pub const WSS_PORT: u16 = 8443;
/// Where the run's server certificate goes in a proxy container.
pub const CERT_PATH: &str = "/etc/mosquitto-matrix/tls/server.crt";
/// Where its key goes.
pub const KEY_PATH: &str = "/etc/mosquitto-matrix/tls/server.key";
/// Certificate and key in one file, as HAProxy's `crt` takes them.
pub const PEM_PATH: &str = "/etc/mosquitto-matrix/tls/server.pem";
/// The upstream as the stock configurations in `docker/proxies/` write it; replaced by the
/// run's upstream when a proxy starts.
pub const STOCK_UPSTREAM: &str = "broker:9001";
/// The bound on one quick question to the engine.
const ENGINE_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A reverse proxy we run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    /// nginx (Debian's `nginx`).
    Nginx,
    /// HAProxy (Debian's `haproxy`).
    Haproxy,
    /// Caddy (Debian's `caddy`).
    Caddy,
    /// Apache httpd with mod_proxy_wstunnel (Debian's `apache2`).
    Apache,
}

impl ProxyKind {
    /// Every proxy, in the order reports show them.
    pub const ALL: [ProxyKind; 4] = [ProxyKind::Nginx, ProxyKind::Haproxy, ProxyKind::Caddy, ProxyKind::Apache];

    /// `nginx`, `haproxy`, `caddy`, `apache`.
    pub fn name(self) -> &'static str {
        match self {
            ProxyKind::Nginx => "nginx",
            ProxyKind::Haproxy => "haproxy",
            ProxyKind::Caddy => "caddy",
            ProxyKind::Apache => "apache",
        }
    }

    /// The proxy of a [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<ProxyKind> {
        ProxyKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Its Debian package, whose version the image's labels record.
    pub fn package(self) -> &'static str {
        match self {
            ProxyKind::Apache => "apache2",
            other => other.name(),
        }
    }

    /// The files of its stock configuration: (path in the container, contents as written in
    /// `docker/proxies/`), the TLS listener's too when `tls`.
    pub fn config_files(self, tls: bool) -> Vec<(&'static str, String)> {
        self.files(ProxyConfig::Stock, tls)
    }

    /// The files of a configuration: the plain listener's, then the TLS listener's when `tls`.
    pub fn files(self, config: ProxyConfig, tls: bool) -> Vec<(&'static str, String)> {
        let (plain, secure): ((&str, &str), (&str, &str)) = match self {
            ProxyKind::Nginx => (
                ("/etc/nginx/conf.d/mosquitto-matrix.conf", include_str!("../../docker/proxies/nginx.conf")),
                ("/etc/nginx/conf.d/mosquitto-matrix-tls.conf", include_str!("../../docker/proxies/nginx-tls.conf")),
            ),
            ProxyKind::Haproxy => (
                ("/etc/haproxy/mosquitto-matrix.cfg", include_str!("../../docker/proxies/haproxy.cfg")),
                ("/etc/haproxy/mosquitto-matrix-tls.cfg", include_str!("../../docker/proxies/haproxy-tls.cfg")),
            ),
            ProxyKind::Caddy => (
                ("/etc/caddy/Caddyfile", include_str!("../../docker/proxies/Caddyfile")),
                ("/etc/caddy/Caddyfile-tls", include_str!("../../docker/proxies/Caddyfile-tls")),
            ),
            ProxyKind::Apache => (
                ("/etc/apache2/sites-enabled/mosquitto-matrix.conf", include_str!("../../docker/proxies/apache.conf")),
                ("/etc/apache2/sites-enabled/mosquitto-matrix-tls.conf", include_str!("../../docker/proxies/apache-tls.conf")),
            ),
        };
        let plain = match (self, config) {
            (ProxyKind::Nginx, ProxyConfig::LongSession) => (plain.0, include_str!("../../docker/proxies/nginx-long.conf")),
            (ProxyKind::Haproxy, ProxyConfig::LongSession) => (plain.0, include_str!("../../docker/proxies/haproxy-long.cfg")),
            (ProxyKind::Apache, ProxyConfig::LongSession) => (plain.0, include_str!("../../docker/proxies/apache-long.conf")),
            _ => plain,
        };
        let mut files = vec![(plain.0, plain.1.to_string())];
        if tls {
            files.push((secure.0, secure.1.to_string()));
        }
        files
    }

    /// The container's command: the package's own binary in the foreground, its logs on the
    /// container's output (`sh -c`, so the stock files stay as Debian installs them).
    pub fn command(self, tls: bool) -> String {
        match self {
            // As the official nginx image does: the stock log files point at the output.
            ProxyKind::Nginx => "ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log \
                 && exec nginx -g 'daemon off;'"
                .to_string(),
            ProxyKind::Haproxy => {
                let extra = if tls { " -f /etc/haproxy/mosquitto-matrix-tls.cfg" } else { "" };
                format!("mkdir -p /run/haproxy && exec haproxy -W -db -f /etc/haproxy/haproxy.cfg -f /etc/haproxy/mosquitto-matrix.cfg{extra}")
            }
            ProxyKind::Caddy => {
                let append = if tls { "cat /etc/caddy/Caddyfile-tls >> /etc/caddy/Caddyfile && " } else { "" };
                format!("{append}exec caddy run --config /etc/caddy/Caddyfile --adapter caddyfile")
            }
            ProxyKind::Apache => {
                let ssl = if tls { " ssl" } else { "" };
                format!(
                    "ln -sf /dev/stderr /var/log/apache2/error.log && ln -sf /dev/stdout /var/log/apache2/access.log \
                     && a2enmod -q proxy proxy_http proxy_wstunnel{ssl} && exec apache2ctl -D FOREGROUND"
                )
            }
        }
    }
}

/// Which configuration a proxy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyConfig {
    /// As its documentation shows WebSocket proxying, defaults untouched (`docker/proxies/`).
    #[default]
    Stock,
    /// The change that makes a long session hold, on the plain listener: nginx's
    /// `proxy_read_timeout`/`proxy_send_timeout 1h` (`nginx-long.conf`), HAProxy's
    /// `timeout tunnel 1h` (`haproxy-long.cfg`), Apache's `ProxyTimeout 3600`
    /// (`apache-long.conf`, for sessions silent longer than Debian's `Timeout 300`); Caddy
    /// needs none (its stock configuration held, `docker/proxies/README.md`) and runs stock.
    LongSession,
}

impl fmt::Display for ProxyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The run's server certificate for a proxy's TLS listener (PEM files): a
/// [`RunTls`]'s `cert_file` (the server certificate followed by the run's CA, which the
/// readiness probe trusts) and `key_file` ([`ProxyTls::of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyTls {
    /// The server certificate (its chain), PEM.
    pub cert_file: PathBuf,
    /// Its private key, PEM.
    pub key_file: PathBuf,
}

impl ProxyTls {
    /// The files of the run's certificate.
    pub fn of(run: &RunTls) -> ProxyTls {
        ProxyTls { cert_file: run.cert_file.clone(), key_file: run.key_file.clone() }
    }
}

/// What a run asks of one proxy.
#[derive(Debug, Clone, Copy)]
pub struct ProxyAsk<'a> {
    /// Which proxy.
    pub kind: ProxyKind,
    /// The run's network ([`crate::engine::network::create`]); the broker is on it already.
    pub network: &'a str,
    /// The broker's name on that network ([`crate::engine::network::BROKER_ALIAS`]).
    pub upstream_host: &'a str,
    /// The broker's WebSocket port inside its container ([`crate::plan::column::WS_PORT`]).
    pub upstream_port: u16,
    /// The container's labels (run, cell, expiry).
    pub labels: &'a Labels,
    /// With it, the TLS-terminating listener too.
    pub tls: Option<&'a ProxyTls>,
    /// On an accelerated clock: the speed and where the time library is.
    pub clock: Option<&'a ClockAsk>,
    /// The bound on creating and starting the container, and again on its answering.
    pub startup_timeout: Duration,
    /// How readiness logs in to the broker through the proxy.
    pub probe: &'a Probe,
}

/// A running proxy and where to reach it.
pub struct Proxy {
    /// The container; dropping it removes it.
    pub container: ContainerAsync<ProxyImage>,
    /// Which proxy.
    pub kind: ProxyKind,
    /// Host to connect to.
    pub host: String,
    /// Mapped port of the plain WebSocket listener.
    pub ws_port: u16,
    /// Mapped port of the TLS listener, when asked.
    pub wss_port: Option<u16>,
    /// The Debian package's version (`1.22.1-9`), from the image's labels.
    pub version: String,
    /// From asking for the container to the broker's CONNACK through it.
    pub startup: Duration,
}

impl Proxy {
    /// The last `lines` lines the proxy wrote (at most [`broker::LOG_TAIL`]), oldest first.
    pub async fn log_tail(&self, lines: usize) -> Vec<String> {
        let mut tail = broker::log_tail(self.container.id()).await;
        let keep = tail.len().saturating_sub(lines);
        tail.drain(..keep);
        tail
    }

    /// `nginx 1.22.1-9`.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind, self.version)
    }
}

/// A proxy that could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The engine could not create or start the container, or the image is missing.
    #[error("proxy {proxy}: {why}{}", tail_text(.log_tail))]
    Start {
        /// `nginx 1.22.1-9`, or the kind alone when the version is unknown.
        proxy: String,
        /// The engine's (or testcontainers') words.
        why: String,
        /// The last lines the proxy logged.
        log_tail: Vec<String>,
    },
    /// The time library could not be loaded for it.
    #[error("proxy {proxy}: {why}{}", tail_text(.log_tail))]
    Clock {
        /// `nginx 1.22.1-9`.
        proxy: String,
        /// What failed.
        why: ClockError,
        /// The last lines the proxy logged.
        log_tail: Vec<String>,
    },
    /// The container exited, or the broker did not answer through it in time.
    #[error("proxy {proxy}: {why}{}", tail_text(.log_tail))]
    NotReady {
        /// `nginx 1.22.1-9`.
        proxy: String,
        /// What the probes found, in a proxy's words.
        why: String,
        /// Its exit status, when it exited.
        exit_status: Option<i64>,
        /// The last lines the proxy logged.
        log_tail: Vec<String>,
    },
}

impl ProxyError {
    /// What went wrong, without the proxy's name and the log lines.
    pub fn reason(&self) -> String {
        match self {
            ProxyError::Start { why, .. } | ProxyError::NotReady { why, .. } => why.clone(),
            ProxyError::Clock { why, .. } => why.to_string(),
        }
    }

    /// The last lines the proxy logged, oldest first.
    pub fn log_tail(&self) -> &[String] {
        match self {
            ProxyError::Start { log_tail, .. } | ProxyError::Clock { log_tail, .. } | ProxyError::NotReady { log_tail, .. } => log_tail,
        }
    }

    /// `nginx 1.22.1-9`: which proxy failed.
    pub fn proxy(&self) -> &str {
        match self {
            ProxyError::Start { proxy, .. } | ProxyError::Clock { proxy, .. } | ProxyError::NotReady { proxy, .. } => proxy,
        }
    }
}

fn tail_text(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; last proxy log lines: {}", lines.join(" | "))
    }
}

/// A readiness failure in a proxy's words: the probe went through the proxy to the broker.
fn not_ready_text(why: &ReadinessError) -> (String, Option<i64>) {
    match why {
        ReadinessError::Exited { status } => {
            let status_text = status.map_or("an unknown status".to_string(), |s| format!("status {s}"));
            (format!("the proxy container exited with {status_text} before the broker answered through it"), *status)
        }
        ReadinessError::NotReady { limit, last } => {
            (format!("no CONNACK from the broker through the proxy within {:.1} s ({})", limit.as_secs_f64(), last.join("; ")), None)
        }
    }
}

/// The proxy image, with the listeners a run asks for.
#[derive(Debug, Clone)]
pub struct ProxyImage {
    ports: Vec<ContainerPort>,
}

impl Image for ProxyImage {
    fn name(&self) -> &str {
        IMAGE
    }

    fn tag(&self) -> &str {
        TAG
    }

    /// None: readiness is the broker answering through the proxy, probed in [`start`].
    fn ready_conditions(&self) -> Vec<WaitFor> {
        Vec::new()
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &self.ports
    }
}

/// The Debian version of `kind`'s package, from the image's labels.
pub async fn package_version(kind: ProxyKind) -> Option<String> {
    let docker = testcontainers::core::client::docker_client_instance().await.ok()?;
    let inspect = tokio::time::timeout(ENGINE_CALL_TIMEOUT, docker.inspect_image(&format!("{IMAGE}:{TAG}"))).await.ok()?.ok()?;
    inspect.config?.labels?.get(&format!("org.mosquitto-matrix.{}-package", kind.package())).cloned()
}

/// Files to copy into a container: (path inside it, bytes).
type Copies = Vec<(&'static str, Vec<u8>)>;

/// The files a TLS listener needs — the certificate, the key, and both in one PEM for
/// HAProxy — and the trust the probe checks the listener with.
fn tls_files(files: &ProxyTls) -> Result<(Copies, RunTls), String> {
    let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let (cert, key) = (read(&files.cert_file)?, read(&files.key_file)?);
    // The probe trusts what the file holds: the run's CA, which follows the server
    // certificate in a RunTls's cert_file, so a CONNECT over wss is checked as a client's.
    let client = RunTls::trusting(&files.cert_file).map_err(|e| format!("cannot trust {}: {e}", files.cert_file.display()))?;
    let mut pem = cert.clone();
    if !pem.ends_with(b"\n") {
        pem.push(b'\n');
    }
    pem.extend_from_slice(&key);
    // Readable by the unprivileged workers; the key is a test key made for this run.
    Ok((vec![(CERT_PATH, cert), (KEY_PATH, key), (PEM_PATH, pem)], client))
}

/// The container to start for a proxy: its image and command on the run's network, its
/// configuration pointed at the broker, the TLS files (and the trust its probe checks them
/// with), the run's labels, and on an accelerated clock the time library.
fn container_request(
    ask: &ProxyAsk<'_>,
    config: ProxyConfig,
    proxy: &str,
    ports: &[ContainerPort],
) -> Result<(ContainerRequest<ProxyImage>, Option<Arc<RunTls>>), ProxyError> {
    let tls = ask.tls.is_some();
    let upstream = format!("{}:{}", ask.upstream_host, ask.upstream_port);
    let mut request = ProxyImage { ports: ports.to_vec() }
        .with_network(ask.network)
        .with_cmd(["/bin/sh", "-c", &ask.kind.command(tls)])
        .with_startup_timeout(ask.startup_timeout);
    for (path, text) in ask.kind.files(config, tls) {
        request = request.with_copy_to(CopyTargetOptions::new(path).with_mode(0o644), text.replace(STOCK_UPSTREAM, &upstream).into_bytes());
    }
    let mut trust = None;
    if let Some(files) = ask.tls {
        let (copies, client) = tls_files(files).map_err(|why| ProxyError::Start { proxy: proxy.to_string(), why, log_tail: Vec::new() })?;
        trust = Some(Arc::new(client));
        for (path, bytes) in copies {
            request = request.with_copy_to(CopyTargetOptions::new(path).with_mode(0o644), bytes);
        }
    }
    for (k, v) in ask.labels.pairs() {
        request = request.with_label(k, v);
    }
    if let Some(clock) = ask.clock {
        // The packages are Debian's, linked against glibc: the same build as the clients'.
        let accel = Acceleration::load(clock.speed, Libc::Glibc, &clock.workdir)
            .map_err(|why| ProxyError::Clock { proxy: proxy.to_string(), why, log_tail: Vec::new() })?;
        request = request.with_copy_to(CopyTargetOptions::new(PRELOAD_PATH).with_mode(0o644), accel.library.clone());
        for (k, v) in accel.env() {
            request = request.with_env_var(k, v);
        }
    }
    Ok((request, trust))
}

/// Starts one proxy on the run's network in front of the broker, labelled, its ports on
/// loopback, and returns once a CONNECT sent through its plain listener gets the broker's
/// CONNACK (and, with TLS, a CONNECT over wss through its TLS listener, trusting the run's
/// CA, gets one too). Every wait is bounded:
/// the container's start by `startup_timeout`, its answering by as long again, each
/// question to the engine by 30 s.
pub async fn start(ask: ProxyAsk<'_>) -> Result<Proxy, ProxyError> {
    start_with(ask, ProxyConfig::Stock).await
}

/// [`start`] with another configuration than the stock one.
pub async fn start_with(ask: ProxyAsk<'_>, config: ProxyConfig) -> Result<Proxy, ProxyError> {
    let started = Instant::now();
    let kind = ask.kind;
    let image = format!("{IMAGE}:{TAG}");
    let fail = |proxy: &str, why: String| ProxyError::Start { proxy: proxy.to_string(), why, log_tail: Vec::new() };
    if !tokio::time::timeout(ENGINE_CALL_TIMEOUT, crate::engine::image::is_local(&image)).await.unwrap_or(false) {
        return Err(fail(kind.name(), format!("the image {image} is not on this engine: run `bash docker/provision.sh`")));
    }
    let version = package_version(kind).await.unwrap_or_else(|| "unknown version".to_string());
    let proxy = format!("{kind} {version}");
    let tls = ask.tls.is_some();
    let mut ports = vec![ContainerPort::Tcp(WS_PORT)];
    if tls {
        ports.push(ContainerPort::Tcp(WSS_PORT));
    }
    let (mut request, trust) = container_request(&ask, config, &proxy, &ports)?;
    let local = engine_is_local();
    if local {
        // A proxy's timers are on the session's path: first on a busy CPU, as brokers.
        request = broker::on_loopback(request, ports.clone());
    }
    let container = match tokio::time::timeout(ask.startup_timeout, request.start()).await {
        Ok(started) => started.map_err(|e| fail(&proxy, e.to_string()))?,
        Err(_) => return Err(fail(&proxy, format!("the engine did not create and start the container within {:?}", ask.startup_timeout))),
    };
    let id = container.id().to_string();
    let not_had = |why: String| async {
        let log_tail = broker::log_tail(&id).await;
        match broker::liveness(&id).await {
            Liveness::Exited { status } => {
                let (why, exit_status) = not_ready_text(&ReadinessError::Exited { status });
                ProxyError::NotReady { proxy: proxy.clone(), why, exit_status, log_tail }
            }
            _ => ProxyError::Start { proxy: proxy.clone(), why, log_tail },
        }
    };
    let mapped = async {
        let ws = container.get_host_port_ipv4(WS_PORT).await?;
        let wss = if tls { Some(container.get_host_port_ipv4(WSS_PORT).await?) } else { None };
        Ok::<_, testcontainers::TestcontainersError>((ws, wss))
    };
    let (ws_port, wss_port) = match tokio::time::timeout(ENGINE_CALL_TIMEOUT, mapped).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return Err(not_had(e.to_string()).await),
        Err(_) => return Err(not_had(format!("the engine did not say the mapped ports within {ENGINE_CALL_TIMEOUT:?}")).await),
    };
    let host = if local {
        "127.0.0.1".to_string()
    } else {
        match container.get_host().await {
            Ok(h) => h.to_string(),
            Err(e) => return Err(not_had(e.to_string()).await),
        }
    };
    let mut listeners = vec![Listener::plain(Transport::Ws, host.clone(), ws_port)];
    if let (Some(port), Some(trust)) = (wss_port, trust) {
        listeners.push(Listener { transport: Transport::Ws, host: host.clone(), port, tls: Some(trust) });
    }
    if let Err(why) = readiness::wait(&listeners, ask.probe, ask.startup_timeout, || broker::liveness(&id)).await {
        let (why, exit_status) = not_ready_text(&why);
        return Err(ProxyError::NotReady { proxy, why, exit_status, log_tail: broker::log_tail(&id).await });
    }
    Ok(Proxy { container, kind, host, ws_port, wss_port, version, startup: started.elapsed() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_proxy_is_found_by_its_name() {
        for kind in ProxyKind::ALL {
            assert_eq!(ProxyKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ProxyKind::from_name("lighttpd"), None);
        assert_eq!(ProxyKind::Apache.package(), "apache2");
    }

    #[test]
    fn every_stock_configuration_names_the_upstream_the_harness_replaces() {
        for kind in ProxyKind::ALL {
            for (path, text) in kind.config_files(true) {
                assert!(text.contains(STOCK_UPSTREAM) || path.ends_with("-tls.cfg"), "{kind}: {path} names {STOCK_UPSTREAM}");
            }
            assert_eq!(kind.config_files(false).len(), 1);
            assert_eq!(kind.config_files(true).len(), 2);
        }
    }

    #[test]
    fn the_stock_upstream_is_the_brokers_network_alias_and_its_websocket_port() {
        assert_eq!(STOCK_UPSTREAM, format!("{}:{}", crate::engine::network::BROKER_ALIAS, crate::plan::column::WS_PORT));
    }

    #[test]
    fn the_long_session_configurations_raise_only_the_idle_timeouts() {
        let long = |k: ProxyKind| k.files(ProxyConfig::LongSession, false).remove(0).1;
        assert!(long(ProxyKind::Nginx).contains("proxy_read_timeout 1h;"));
        assert!(!ProxyKind::Nginx.config_files(false)[0].1.contains("proxy_read_timeout 1h"));
        assert!(long(ProxyKind::Haproxy).contains("timeout tunnel 1h"));
        assert!(!ProxyKind::Haproxy.config_files(false)[0].1.lines().any(|l| l.trim_start().starts_with("timeout")));
        assert!(long(ProxyKind::Apache).contains("ProxyTimeout 3600"));
        assert_eq!(long(ProxyKind::Caddy), ProxyKind::Caddy.config_files(false)[0].1);
        for kind in ProxyKind::ALL {
            assert!(long(kind).contains(STOCK_UPSTREAM), "{kind}");
        }
    }

    #[test]
    fn the_tls_listener_is_configured_only_when_asked() {
        for kind in ProxyKind::ALL {
            let plain: String = kind.config_files(false).into_iter().map(|(_, t)| t).collect();
            assert!(!plain.contains("8443"), "{kind}");
            let secure: String = kind.config_files(true).into_iter().map(|(_, t)| t).collect::<String>() + &kind.command(true);
            assert!(secure.contains("8443") || kind.command(true).contains("tls"), "{kind}");
        }
    }

    #[test]
    fn a_proxy_error_names_the_proxy_and_quotes_its_log() {
        let e = ProxyError::NotReady {
            proxy: "nginx 1.22.1-9".into(),
            why: "the proxy container exited with status 1 before the broker answered through it".into(),
            exit_status: Some(1),
            log_tail: vec!["nginx: [emerg] unknown directive \"bogus\"".into()],
        };
        assert_eq!(
            e.to_string(),
            "proxy nginx 1.22.1-9: the proxy container exited with status 1 before the broker answered through it; last proxy log lines: nginx: [emerg] unknown directive \"bogus\""
        );
        assert_eq!(e.proxy(), "nginx 1.22.1-9");
        assert_eq!(e.log_tail().len(), 1);
    }
}
