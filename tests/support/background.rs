//! A run in the background, for the tests that act on it while it holds (kill its broker, its
//! proxy, its client, the engine): its id, its progress events, and its result when it ends.
//! Included by path (`#[path = "support/background.rs"] mod background;`), apart from
//! `support/mod.rs`, so a target that needs only this does not build the scripted peer.

use std::future::Future;
use std::time::Duration;

use mosquitto_matrix::engine::labels;
use mosquitto_matrix::judge::results::RunResult;
use mosquitto_matrix::plan::Plan;
use mosquitto_matrix::run::{self, Progress};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

/// A run started by [`start`].
pub struct Running {
    /// The run's id (its containers' `RUN_LABEL`).
    pub run_id: String,
    /// Its progress, as `run::run` sends it; ends when the run does.
    pub events: UnboundedReceiver<Progress>,
    task: JoinHandle<RunResult>,
}

/// Starts `p` in the background under a new run id.
pub fn start(p: &Plan) -> Running {
    let run_id = labels::new_run_id();
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    let task = {
        let (p, run_id) = (p.clone(), run_id.clone());
        tokio::spawn(async move { run::run(&p, &run_id, Some(tx)).await })
    };
    Running { run_id, events, task }
}

impl Running {
    /// The run's result, once it ends by itself within `within`; each cell is printed.
    pub async fn result(self, within: Duration) -> (RunResult, String) {
        let r = tokio::time::timeout(within, self.task).await.expect("the run ends by itself").expect("the run does not panic");
        for c in &r.cells {
            eprintln!("{} {:?} {:?} at {:?} by {:?}: {}", c.id(), c.status, c.verdict.outcome, c.verdict.at, c.verdict.ended_by, c.verdict.cause);
        }
        eprintln!("harness fault: {:?}\nleft behind: {:?}", r.harness_fault, r.left_behind);
        (r, self.run_id)
    }
}

/// Runs `p` and, once every cell holds, does `fault` (given the run id); returns the result,
/// which must come within `within`, and the run id. A cell that ends before the fault fails
/// the test.
pub async fn run_holding_then<F, Fut>(p: &Plan, within: Duration, fault: F) -> (RunResult, String)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut running = start(p);
    let mut holding = 0;
    let mut fault = Some(fault);
    while let Some(event) = running.events.recv().await {
        match event {
            Progress::CellHolding { .. } => holding += 1,
            Progress::CellFinished(c) => panic!("{} ended before the fault: {:?} {}", c.id(), c.verdict.outcome, c.verdict.cause),
            _ => {}
        }
        if holding == p.cells.len() {
            if let Some(f) = fault.take() {
                f(running.run_id.clone()).await;
            }
            break;
        }
    }
    running.result(within).await
}
