//! A run's runtimes (runtime mode, issue 31): one per command column version that has a
//! `runtime = [...]` and cells in the run, started once before any cell, stopped at the end.
//!
//! A runtime is started with the environment its cells would get as processes (the time
//! library on an accelerated run, `MATRIX_RUN_ID`, so the reaper finds it), within the run's
//! set-up bound; one that could not be had makes every cell of its column version ERROR with
//! the same words, said once (`client::runtime`). Process mode, or a column without a
//! runtime, starts none: its cells run as processes.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use crate::client::contract;
use crate::client::runtime::{self, Cells, Runtime};
use crate::plan::{ClientMode, Column, CommandClient, Plan};

/// Per column version (its base name, `paho-python@2.2.0`): its runtime's cells handle, or
/// why it could not be had.
pub(crate) type RuntimeCells = BTreeMap<String, Result<Cells, String>>;

/// The command columns whose cells run inside a runtime: in runtime mode, every base command
/// column with a `runtime` and a cell to run, once each.
pub(crate) fn wanted(plan: &Plan) -> Vec<&CommandClient> {
    if plan.client_mode != ClientMode::Runtime {
        return Vec::new();
    }
    let mut out: Vec<&CommandClient> = Vec::new();
    for cell in &plan.cells {
        if let Column::Command(c) = cell.column.base() {
            if c.runtime.is_some() && !out.iter().any(|k| k.name == c.name) {
                out.push(c);
            }
        }
    }
    out
}

/// Starts every runtime the run needs, at once, each bounded by the run's set-up timeout.
/// `clock` is the environment that puts a client on the brokers' clock (empty at ×1).
pub(crate) async fn start(plan: &Plan, run_id: &str, clock: &[(String, String)]) -> (Vec<Runtime>, RuntimeCells) {
    let starts = wanted(plan).into_iter().map(|client| async move {
        let mut env = if client.real_clock(plan.speed) { Vec::new() } else { clock.to_vec() };
        env.push((contract::RUN_ID_VAR.to_string(), run_id.to_string()));
        (client.name.clone(), runtime::start(client, &plan.workdir, &env, plan.timing.setup_timeout).await)
    });
    let mut running = Vec::new();
    let mut cells = RuntimeCells::new();
    for (name, started) in join_all(starts).await {
        match started {
            Ok(r) => {
                cells.insert(name, Ok(r.cells()));
                running.push(r);
            }
            Err(e) => {
                cells.insert(name, Err(e.to_string()));
            }
        }
    }
    (running, cells)
}

/// Stops every runtime of the run; nothing of them is left when this returns.
pub(crate) async fn stop(running: Vec<Runtime>) {
    join_all(running.into_iter().map(Runtime::stop)).await;
}
