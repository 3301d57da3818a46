//! What a cell costs the machine: CPU time to start its client, memory while it holds.
//!
//! The run's scheduler admits cells by these figures, so a set of any size starts in waves
//! that fit the machine. Each figure was measured on the project's 2-core machine (user +
//! system CPU time from start to CONNACK, resident memory while holding; the book,
//! "A run that fits the machine"); a `[clients.X]` entry may declare its own (`cost = { start_cpu = "0.4s",
//! memory_mb = 70 }`), and an undeclared program gets [`Cost::UNKNOWN_PROGRAM`]. What a
//! column's cell costs (`Cost::of`) is said beside the columns, in `plan::column`: this module
//! knows the figures, not the columns.

use std::time::Duration;


/// A cell's (or a broker's) demand on the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// CPU time (user + system) from starting to being accepted by the broker.
    pub start_cpu: Duration,
    /// Resident memory while holding, in megabytes.
    pub memory_mb: u32,
}

impl Cost {
    /// A broker container: the engine creating, copying into and starting it, and the
    /// broker's own start (measured: 0.2–0.4 s of CPU across dockerd, containerd and runc).
    pub const BROKER: Cost = Cost { start_cpu: Duration::from_millis(400), memory_mb: 12 };
    /// A reverse-proxy container (nginx, HAProxy, Caddy, Apache from Debian's packages): as a
    /// broker's, the engine's work to create, copy into and start it; the proxy's own CPU over
    /// a whole x10 run was 37-121 ms, its memory 3-4 MB (nginx) and 11-14 MB (HAProxy), and the
    /// 40 MB leave room for Caddy's Go runtime, not measured in a matrix run (docs/src/routes.md).
    pub const PROXY: Cost = Cost { start_cpu: Duration::from_millis(400), memory_mb: 40 };
    /// A built-in profile played in process: a task and two buffers.
    pub const IN_PROCESS: Cost = Cost { start_cpu: Duration::from_millis(2), memory_mb: 1 };
    /// A built-in profile played as a command by the harness's own CLI (accelerated runs).
    pub const SELF_COMMAND: Cost = Cost { start_cpu: Duration::from_millis(10), memory_mb: 16 };
    /// A program whose cost nobody declared: as much as a Node.js client, the dearest
    /// common one, so that an unknown program cannot overload the machine.
    pub const UNKNOWN_PROGRAM: Cost = Cost { start_cpu: Duration::from_millis(400), memory_mb: 80 };
    /// A cell run inside its column's runtime (runtime mode): a client object, its threads and
    /// one connection in a process already started, whatever the column (its runtime's own
    /// start is paid once per run, before the cells).
    pub const RUNTIME_CELL: Cost = Cost { start_cpu: Duration::from_millis(20), memory_mb: 4 };

}

/// Parses a declared cost's memory, e.g. `70` (megabytes).
pub fn memory_mb(value: i64) -> Result<u32, String> {
    u32::try_from(value)
        .ok()
        .filter(|m| (1..=64 * 1024).contains(m))
        .ok_or_else(|| format!("memory_mb = {value} is not a number of megabytes from 1 to 65536"))
}
