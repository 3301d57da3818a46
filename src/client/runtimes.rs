//! Many runtimes at once (runtime mode, issue 31), for whoever runs command cells in them: a
//! matrix run (`run::runtimes`) and the conformance client grid (`conformance::grid`).
//!
//! In: the columns that will run (a runtime per base command column with a `runtime`, once
//! each), where they run, each one's extra environment and a real-time bound. Out: the
//! runtimes, running, and per column version the handle its cells need or why it could not be
//! had, in words said once for all its cells. Every runtime is started at the same time and
//! bounded on its own; [`stop_all`] ends them all, nothing of them left.
//!
//! Does I/O: starts and stops processes (`client::runtime`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use futures_util::future::join_all;

use crate::client::runtime::{self, Cells, Runtime};
use crate::plan::{Column, CommandClient};

/// Per column version (its base name, `paho-python@2.2.0`): its runtime's cells handle, or
/// why it could not be had.
pub type RuntimeCells = BTreeMap<String, Result<Cells, String>>;

/// Of `clients` (each cell's client, say), those that have a `runtime`, once each by name, in
/// the order first met: one runtime per client version.
pub fn wanted(clients: impl IntoIterator<Item = CommandClient>) -> Vec<CommandClient> {
    let mut out: Vec<CommandClient> = Vec::new();
    for c in clients {
        if c.runtime.is_some() && !out.iter().any(|k| k.name == c.name) {
            out.push(c);
        }
    }
    out
}

/// The command clients of `columns` (their base columns') whose cells run inside a runtime.
pub fn wanted_by(columns: &[Column]) -> Vec<CommandClient> {
    wanted(columns.iter().filter_map(|c| match c.base() {
        Column::Command(k) => Some(k.clone()),
        _ => None,
    }))
}

/// Starts the runtime of every client in `clients` at once, in `workdir`, each with the
/// environment `env` gives it and within `bound` (real time).
pub async fn start_all(
    clients: &[CommandClient],
    workdir: &Path,
    env: impl Fn(&CommandClient) -> Vec<(String, String)>,
    bound: Duration,
) -> (Vec<Runtime>, RuntimeCells) {
    let starts = clients.iter().map(|client| {
        let extra = env(client);
        async move { (client.name.clone(), runtime::start(client, workdir, &extra, bound).await) }
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

/// Stops every runtime at once; nothing of them is left when this returns.
pub async fn stop_all(running: Vec<Runtime>) {
    join_all(running.into_iter().map(Runtime::stop)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Profile;
    use crate::wire::mqtt::Protocol;

    fn client(name: &str, runtime: bool) -> CommandClient {
        let mut c = CommandClient::parse_ad_hoc(&format!("{name}=true")).expect("an ad-hoc client");
        c.runtime = runtime.then(|| vec!["true".to_string()]);
        c
    }

    #[test]
    fn each_command_column_with_a_runtime_is_wanted_once_and_the_others_not_at_all() {
        let java = Column::Command(client("java", true));
        let v5 = java.clone().under(Protocol::V5).expect("java under MQTT 5");
        let columns = [Column::Builtin(Profile::Rfc6455), java, v5, Column::Command(client("c", false))];
        let names: Vec<String> = wanted_by(&columns).into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["java"]);
    }
}
