//! The probe: a live endpoint's URL and what to ask of it come in; the same
//! [`crate::judge::results::RunResult`] a run makes (route `probe`, the endpoint as the tag)
//! and an answer in words go out.
//!
//! `mosquitto-matrix probe URL` runs the matrix's columns as concurrent sessions against a
//! broker the harness did not start — behind the team's own proxy or load balancer — with the
//! same session core, recording proxy and judge as `run`, and says what the endpoint does:
//! whether it pings, whether it hangs up on an unanswered PING, whether a timer ends sessions
//! when silent or at a fixed age (keepalives side by side tell them apart), how it ends them,
//! and which known hop has that limit ([`hops`], `probe-hops.toml`) with the setting that
//! fixes it.
//!
//! Pure: [`target`] (the URL), [`ask`] (the sessions), [`preflight`] (why a probe cannot run),
//! [`analysis`] (what the sessions show), [`answer`] (the words), [`hops`] (the table). I/O:
//! [`sessions`] only (sockets to the endpoint, loopback proxies, client processes, the clock).

pub mod analysis;
pub mod answer;
pub mod ask;
pub mod hops;
pub mod preflight;
pub mod sessions;
pub mod target;

pub use ask::{ProbeAsk, ProbeSession};
pub use sessions::{installed, password, probe, Probed};
pub use target::{Scheme, Target, TargetError};

/// The route name a probe's cells carry in results and reports.
pub const ROUTE: &str = "probe";

/// Why a probe could not run, or did not finish: printed once, exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The columns asked.
    #[error(transparent)]
    Columns(#[from] ask::ColumnError),
    /// The first session's end: DNS, refused, TLS, an upgrade status, CONNACK, in one line.
    #[error("{0}")]
    CannotRun(String),
    /// The CA file, or the TLS configuration.
    #[error("TLS: {0}")]
    Tls(String),
    /// What was asked cannot be done (a keepalive of zero, an unreadable password file).
    #[error("{0}")]
    Asked(String),
    /// Ctrl-C or SIGTERM: every session ended with a DISCONNECT, every client process with it.
    #[error("{signal}: stopped; {sessions} session(s) said DISCONNECT and ended, no client process left, no result")]
    Stopped {
        /// The signal.
        signal: crate::run::stop::StopSignal,
        /// How many sessions were running.
        sessions: usize,
    },
}
