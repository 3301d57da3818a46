//! Our Mosquitto image description and one broker container per tag, via testcontainers.
//!
//! Not testcontainers-modules' Mosquitto image: its wait message is tied to a fixed tag and
//! it configures no WebSocket listener. Readiness here is the broker's own log line, which
//! our config sends to stderr.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testcontainers::bollard::models::PortBinding;
use testcontainers::core::logs::LogFrame;
use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, CopyTargetOptions, Image, ImageExt};

use crate::engine::labels::Labels;
use crate::judge::results::ImageFacts;
use crate::plan::{BrokerSettings, Transport};

/// Where the config goes inside the container (the eclipse-mosquitto layout).
pub const CONFIG_PATH: &str = "/mosquitto/config/mosquitto.conf";
/// Where the password file goes; the config names this path.
pub const PASSWD_PATH: &str = "/mosquitto/config/passwd";
/// Mosquitto 1.6, 2.0 and 2.1 all end their start-up with the line "mosquitto version X
/// running", once listening. The line end is part of the match: 2.1 first prints "Info:
/// running mosquitto as user: mosquitto.", and matching that let sessions connect before the
/// listeners were open (seen as resets at 0.0 s on sid under load).
const READY_LINE: &str = " running\n";
/// How many log lines are kept for an error message.
const LOG_TAIL: usize = 15;

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
    /// The engine could not create, pull or start the container, or it never became ready.
    #[error("{image}: {why}{}", tail_text(.log_tail))]
    Start {
        /// `name:tag`.
        image: String,
        /// The engine's (or testcontainers') words.
        why: String,
        /// The last lines the broker logged.
        log_tail: Vec<String>,
    },
}

fn tail_text(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; last broker log lines: {}", lines.join(" | "))
    }
}

/// A Mosquitto image at one tag, with its two listeners.
#[derive(Debug, Clone)]
pub struct MosquittoImage {
    name: String,
    tag: String,
}

const PORTS: [ContainerPort; 2] = [ContainerPort::Tcp(1883), ContainerPort::Tcp(9001)];

impl MosquittoImage {
    /// The image `name:tag`.
    pub fn new(name: impl Into<String>, tag: impl Into<String>) -> Self {
        MosquittoImage { name: name.into(), tag: tag.into() }
    }
}

impl Image for MosquittoImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::message_on_stderr(READY_LINE)]
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &PORTS
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
    /// What the image records.
    pub facts: ImageFacts,
    /// How long start-up took, pull included.
    pub startup: Duration,
    /// How long pulling the image took; `None` when the engine already had it.
    pub pull: Option<Duration>,
    /// When the engine says the container started; a later value means it was restarted.
    pub started_at: Option<String>,
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

/// Starts one broker with the reference config, labelled, ports on loopback only.
///
/// `on_pull` is called once, before the pull, when the engine lacks the image.
pub async fn start(
    image: &str,
    tag: &str,
    settings: &BrokerSettings,
    labels: &Labels,
    on_pull: impl FnOnce(),
) -> Result<Broker, BrokerError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| BrokerError::Files { path: p.display().to_string(), why: e.to_string() })
    };
    let config = read(&settings.config)?;
    let passwd = read(&settings.password_file)?;
    let tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
    let sink = Arc::clone(&tail);
    let local = engine_is_local();
    let mut request = MosquittoImage::new(image, tag)
        .with_copy_to(CopyTargetOptions::new(CONFIG_PATH).with_mode(0o644), config)
        // Readable by the mosquitto user the broker drops to; the credentials are test-only.
        .with_copy_to(CopyTargetOptions::new(PASSWD_PATH).with_mode(0o644), passwd)
        .with_startup_timeout(settings.startup_timeout)
        .with_log_consumer(move |frame: &LogFrame| {
            let bytes = match frame {
                LogFrame::StdOut(b) | LogFrame::StdErr(b) => b,
            };
            if let Ok(mut t) = sink.lock() {
                for line in String::from_utf8_lossy(bytes).lines().filter(|l| !l.trim().is_empty()) {
                    if t.len() == LOG_TAIL {
                        t.pop_front();
                    }
                    t.push_back(line.to_string());
                }
            }
        });
    for (k, v) in labels.pairs() {
        request = request.with_label(k, v);
    }
    if local {
        // testcontainers publishes on every interface by default, which would expose a broker
        // with known test credentials to the network for the whole hold.
        request = request.with_host_config_modifier(|hc| {
            hc.publish_all_ports = Some(false);
            let bind = |p: u16| {
                (format!("{p}/tcp"), Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) }]))
            };
            hc.port_bindings = Some(HashMap::from([bind(1883), bind(9001)]));
        });
    }
    let started = std::time::Instant::now();
    let name = format!("{image}:{tag}");
    let fail = |why: String, tail: &Arc<Mutex<VecDeque<String>>>| BrokerError::Start {
        image: name.clone(),
        why,
        log_tail: tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default(),
    };
    // Pulled here rather than inside start() so the pull is timed on its own and the report
    // can say whether the image came from the registry. Only when absent: a local-only image
    // (the Debian builds) is in no registry, and asking one would fail.
    let (request, pull) = if crate::engine::discover::image_is_local(&name).await {
        (request, None)
    } else {
        on_pull();
        let pulling = std::time::Instant::now();
        let request = request.pull_image().await.map_err(|e| fail(e.to_string(), &tail))?;
        (request, Some(pulling.elapsed()))
    };
    let container = request.start().await.map_err(|e| fail(e.to_string(), &tail))?;
    let startup = started.elapsed();
    let ws_port = container.get_host_port_ipv4(9001).await.map_err(|e| fail(e.to_string(), &tail))?;
    let tcp_port = container.get_host_port_ipv4(1883).await.map_err(|e| fail(e.to_string(), &tail))?;
    let host = if local {
        "127.0.0.1".to_string()
    } else {
        container.get_host().await.map_err(|e| fail(e.to_string(), &tail))?.to_string()
    };
    let facts = image_facts(&name).await;
    let started_at = match testcontainers::core::client::docker_client_instance().await {
        Ok(docker) => docker.inspect_container(container.id(), None).await.ok().and_then(|c| c.state).and_then(|s| s.started_at),
        Err(_) => None,
    };
    Ok(Broker { container, host, ws_port, tcp_port, facts, startup, pull, started_at })
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

#[cfg(test)]
mod tests {
    use super::READY_LINE;

    fn matches(line: &str) -> bool {
        line.contains(READY_LINE)
    }

    #[test]
    fn readiness_is_the_version_line_not_the_user_line_mosquitto_2_1_prints_first() {
        assert!(!matches("1795777288: Info: running mosquitto as user: mosquitto.\n"));
        assert!(matches("1795777288: mosquitto version 2.1.2 running\n"));
        assert!(matches("1662725110: mosquitto version 1.6.9 running\n"));
    }
}
