//! The clients: a broker's address and a column come in; a session record goes out.
//!
//! The session core that holds every rule of a session without I/O ([`core`]), the built-in
//! profiles' behaviour ([`behaviour`]), the socket session that plays them through the core
//! ([`session`]), the real rumqttc client ([`rumqttc`]), and any program as a column:
//! started under the [`contract`] ([`command`]), its connection forwarded by a transparent
//! [`proxy`] whose [`recorder`] turns the wire into the same record. [`run`] runs a built-in
//! column in process; [`command::run`] runs a command column. Each tells its [`Started`]
//! signal once the broker accepted the session, so the run can admit the next cell. A
//! command column may have a per-run [`service`] (one browser for all its cells), and in
//! runtime mode a per-run [`runtime`] that runs all its cells inside one process, each cell a
//! connection ([`runtimes`] starts and stops many at once, for a run or a conformance grid);
//! [`cell`] is what a process cell and a runtime cell share. A built-in profile
//! can itself be a command column ([`serve`], `mosquitto-matrix client`), and every cell of one
//! profile can run in one such process ([`host`], `client --runtime`); [`groups`]
//! keeps track of every process group the harness started, [`output`] of what those
//! programs print, [`meter`] of how long a client or a proxy waited to run (a broker's end
//! while a starved client owed it an answer is ERROR, not a broker drop), [`lateness`] of how
//! late a broker on an accelerated clock ran (a connection of the run's own times its PINGs). On a TLS route every connection runs inside TLS with the run's CA
//! (`SessionSpec::tls`, `CommandSpec::tls`); the proxy then terminates and re-opens TLS.

pub mod behaviour;
pub mod cell;
pub mod command;
pub mod contract;
pub mod core;
pub mod groups;
pub mod host;
pub mod lateness;
pub mod meter;
pub mod output;
pub mod proxy;
pub mod recorder;
pub mod rumqttc;
pub mod runtime;
pub mod runtimes;
pub mod serve;
pub mod service;
pub mod session;
pub mod started;

use crate::judge::record::SessionRecord;
use crate::plan::Profile;

pub use self::core::VERSION_TOPIC;
pub use session::SessionSpec;
pub use started::Started;

/// Runs one session of any column to its end and returns what it observed. Never fails: a
/// session that could not run is a record with [`crate::judge::record::End::HarnessError`].
pub async fn run(spec: &SessionSpec) -> SessionRecord {
    match spec.profile {
        Profile::Rumqttc => rumqttc::run(spec).await,
        _ => session::run(spec).await,
    }
}
