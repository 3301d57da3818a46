//! The engine: an image name and tag come in; a running, reachable broker goes out.
//!
//! Our Mosquitto image type and start-up ([`broker`]), readiness as every listener answering
//! a CONNECT ([`readiness`]), the labels every container carries ([`labels`]), the CPU
//! weight of the control group they go in ([`priority`]), clean-up when a signal skips
//! testcontainers' own ([`cleanup`]), and which release tags a registry has ([`discover`]).
//! For a TLS route: the run's CA and certificate ([`tls`], files and rustls configurations)
//! and the byte stream that is plain or TLS alike ([`stream`]), which the probes, the sessions
//! and the recording proxy share. In front of a broker: the run's network ([`network`]) and
//! the reverse proxies on it ([`proxy`]).

pub mod broker;
pub mod clock;
pub mod cleanup;
pub mod discover;
pub mod labels;
pub mod link;
pub mod network;
pub mod priority;
pub mod proxy;
pub mod readiness;
pub mod stream;
pub mod tls;
pub mod watch;
