//! The engine: an image name and tag come in; a running, reachable broker goes out. All of it
//! talks to the Docker engine, a registry or a broker (I/O), and the probes read the clock.
//!
//! Our Mosquitto image type and start-up ([`broker`], whose [`broker::on_loopback`] publishes
//! the reverse proxies' ports too), readiness as every listener answering
//! a CONNECT ([`readiness`]), the labels every container carries ([`labels`]), the CPU
//! weight of the control group they go in ([`priority`]), clean-up when a signal skips
//! testcontainers' own ([`cleanup`]), whether the engine has an image ([`image`]), which
//! release tags a registry has ([`discover`]), and which versions each client's own registry
//! serves ([`releases`]), and the client versions a run installs on demand before it starts
//! ([`ondemand`]: the registry asked, `clients/setup.sh --client` run). The harness's own MQTT connection to a broker for the probes and
//! the clock proof ([`link`]), and an accelerated broker's time library and the proof that it
//! runs ×N ([`clock`]). The engine itself, watched for a run's length ([`watch`]): the moment
//! it stops answering, and when it is back.
//! For a TLS route: the run's CA and certificate ([`tls`], files and rustls configurations)
//! and the byte stream that is plain or TLS alike ([`stream`]), which the probes, the sessions
//! and the recording proxy share. In front of a broker: the run's network ([`network`]) and
//! the reverse proxies on it ([`proxy`]).

pub mod broker;
pub mod clock;
pub mod cleanup;
pub mod discover;
pub mod image;
pub mod labels;
pub mod link;
pub mod network;
pub mod ondemand;
pub mod priority;
pub mod proxy;
pub mod readiness;
pub mod releases;
pub mod stream;
pub mod tls;
pub mod watch;
