//! Removing our containers (and then the per-run networks they were on) where
//! testcontainers' drop-based clean-up cannot run: a signal, a harness killed outright (its
//! reaper calls [`remove_run`]), or one whose reaper was killed with it (the next run calls
//! [`remove_expired`]).

use std::collections::HashMap;
use std::time::Duration;

use testcontainers::bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};

use crate::engine::labels::{unix_now, EXPIRES_LABEL, RUN_LABEL, TOOL, TOOL_LABEL};
use crate::engine::network;

/// Why the engine could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No engine answered.
    #[error("cannot reach the Docker engine at {address}: {why}")]
    Unreachable {
        /// `DOCKER_HOST` or the default socket.
        address: String,
        /// What failed.
        why: String,
    },
}

/// The engine address in use, as a person would look for it.
pub fn engine_address() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock (DOCKER_HOST is not set)".to_string())
}

/// Checks that an engine answers, within `limit`.
pub async fn check_engine(limit: Duration) -> Result<(), EngineError> {
    let unreachable = |why: String| EngineError::Unreachable { address: engine_address(), why };
    let ping = async {
        let docker = testcontainers::core::client::docker_client_instance().await.map_err(|e| e.to_string())?;
        docker.ping().await.map_err(|e| e.to_string())
    };
    match tokio::time::timeout(limit, ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(why)) => Err(unreachable(why)),
        Err(_) => Err(unreachable(format!("no answer within {limit:?}"))),
    }
}

/// The ids of our containers, all of them or one run's.
pub async fn labelled_containers(run_id: Option<&str>) -> Result<Vec<String>, String> {
    let docker = testcontainers::core::client::docker_client_instance().await.map_err(|e| e.to_string())?;
    let mut labels = vec![format!("{TOOL_LABEL}={TOOL}")];
    if let Some(id) = run_id {
        labels.push(format!("{RUN_LABEL}={id}"));
    }
    let filters = HashMap::from([("label".to_string(), labels)]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let list = docker.list_containers(Some(options)).await.map_err(|e| e.to_string())?;
    Ok(list.into_iter().filter_map(|c| c.id).collect())
}

/// Force-removes every container of one run, then its networks; returns how many containers
/// were removed.
pub async fn remove_run(run_id: &str) -> Result<usize, String> {
    let docker = testcontainers::core::client::docker_client_instance().await.map_err(|e| e.to_string())?;
    let ids = labelled_containers(Some(run_id)).await?;
    let mut removed = 0;
    for id in &ids {
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        if docker.remove_container(id, Some(options)).await.is_ok() {
            removed += 1;
        }
    }
    // A network goes once no container is on it: after them.
    let _ = network::remove_run(run_id).await;
    Ok(removed)
}

/// Force-removes every container of ours, of any run, whose expiry label has passed, then
/// our expired networks; returns how many containers were removed.
pub async fn remove_expired() -> Result<usize, String> {
    let docker = testcontainers::core::client::docker_client_instance().await.map_err(|e| e.to_string())?;
    let filters = HashMap::from([("label".to_string(), vec![format!("{TOOL_LABEL}={TOOL}")])]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let list = docker.list_containers(Some(options)).await.map_err(|e| e.to_string())?;
    let now = unix_now();
    let mut removed = 0;
    for c in list {
        let expired = c.labels.as_ref().and_then(|l| l.get(EXPIRES_LABEL)).and_then(|v| v.parse::<u64>().ok()).is_some_and(|at| at < now);
        if let (true, Some(id)) = (expired, c.id) {
            let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
            if docker.remove_container(&id, Some(options)).await.is_ok() {
                removed += 1;
            }
        }
    }
    let _ = network::remove_expired().await;
    Ok(removed)
}
