//! A run's runtimes (runtime mode, issue 31): one per command column version that has a
//! `runtime = [...]` and cells in the run, started once while the brokers start (each cell
//! waits for them before it is admitted), stopped at the end.
//!
//! A runtime is started with the environment its cells would get as processes (the time
//! library on an accelerated run, `MATRIX_RUN_ID`, so the reaper finds it), within the run's
//! set-up bound; one that could not be had makes every cell of its column version ERROR with
//! the same words, said once (`client::runtime`). Process mode, or a column without a
//! runtime, starts none: its cells run as processes. On an accelerated clock the built-in
//! profiles, which then play as commands, get one runtime each (`client::host`). The starting
//! and stopping themselves are `client::runtimes`', which the conformance grid shares.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;

use crate::client::runtime::Runtime;
use crate::client::runtimes::{self as many, RuntimeCells};
use crate::client::{command, contract};
use crate::plan::{ClientMode, Column, CommandClient, Plan};

/// The command columns whose cells run inside a runtime: in runtime mode, every base command
/// column with a `runtime` and a cell to run, once each, and on an accelerated clock every
/// built-in profile with a cell (the harness's own `client --runtime`, on the brokers' clock).
pub(crate) fn wanted(plan: &Plan) -> Vec<CommandClient> {
    if plan.client_mode != ClientMode::Runtime {
        return Vec::new();
    }
    many::wanted(plan.cells.iter().filter_map(|cell| match cell.column.base() {
        Column::Command(c) => Some(c.clone()),
        Column::Builtin(profile) if plan.speed > 1 => Some(command::builtin_command(*profile, &plan.timing)),
        _ => None,
    }))
}

/// Whether a command column's cells run in its runtime in this run (then its per-run
/// service, which serves per-process cells, is not started).
pub(crate) fn runs_in_runtime(plan: &Plan, client: &CommandClient) -> bool {
    plan.client_mode == ClientMode::Runtime && client.runtime.is_some()
}

/// Starts every runtime the run needs, at once, each bounded by the run's set-up timeout.
/// `clock` is the environment that puts a client on the brokers' clock (empty at ×1);
/// `ca_file` the run's CA on a run with TLS routes, which a runtime that must trust it from
/// its start (the browser's) reads as `MATRIX_CA_FILE`.
pub(crate) async fn start(plan: &Plan, run_id: &str, clock: &[(String, String)], ca_file: Option<&Path>) -> (Vec<Runtime>, RuntimeCells) {
    let env = |client: &CommandClient| {
        let mut env = if client.real_clock(plan.speed) { Vec::new() } else { clock.to_vec() };
        env.push((contract::RUN_ID_VAR.to_string(), run_id.to_string()));
        if let Some(ca) = ca_file {
            env.push((contract::CA_FILE_VAR.to_string(), ca.display().to_string()));
        }
        env
    };
    many::start_all(&wanted(plan), &plan.workdir, env, plan.timing.setup_timeout).await
}

/// What the run's cells wait on: `None` while the runtimes start, then each one's handle.
pub(crate) type Ready = watch::Receiver<Option<Arc<RuntimeCells>>>;

/// [`start`] as a future the run polls beside its brokers' starts, and the signal its cells
/// wait on until the runtimes are had (at once when the run needs none).
pub(crate) fn starting<'a>(plan: &'a Plan, run_id: &'a str, clock: Vec<(String, String)>, ca_file: Option<&'a Path>) -> (impl Future<Output = Vec<Runtime>> + 'a, Ready) {
    let (tx, rx) = watch::channel(None);
    let started = async move {
        let (running, cells) = start(plan, run_id, &clock, ca_file).await;
        let _ = tx.send(Some(Arc::new(cells)));
        running
    };
    (started, rx)
}

/// Stops every runtime of the run; nothing of them is left when this returns.
pub(crate) async fn stop(running: Vec<Runtime>) {
    many::stop_all(running).await;
}
