//! Removing our containers (and then the per-run networks they were on) where
//! testcontainers' drop-based clean-up cannot run: a signal, a harness killed outright (its
//! reaper calls [`remove_run`]), or one whose reaper was killed with it, or whose engine went
//! away before they could be removed (the next run calls [`remove_abandoned`]).

use std::collections::HashMap;
use std::time::Duration;

use testcontainers::bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};

use crate::engine::labels::{owner_is_gone, unix_now, EXPIRES_LABEL, OWNER_LABEL, RUN_LABEL, TOOL, TOOL_LABEL};
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

/// What a removal did: how many containers went, and how many the engine refused to remove.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removal {
    /// Containers removed.
    pub removed: usize,
    /// Containers the engine would not remove.
    pub failed: usize,
}

/// Force-removes every container of one run, then its networks; says how many containers
/// were removed and how many could not be.
pub async fn remove_run(run_id: &str) -> Result<Removal, String> {
    let docker = testcontainers::core::client::docker_client_instance().await.map_err(|e| e.to_string())?;
    let ids = labelled_containers(Some(run_id)).await?;
    let mut done = Removal::default();
    for id in &ids {
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match docker.remove_container(id, Some(options)).await {
            Ok(()) => done.removed += 1,
            Err(_) => done.failed += 1,
        }
    }
    // A network goes once no container is on it: after them.
    let _ = network::remove_run(run_id).await;
    Ok(done)
}

/// Removes one container of ours, within `bound`, by id. testcontainers' own removal runs
/// again in its `Drop` when a bounded removal is abandoned, and that one blocks its thread
/// for as long as an engine that hangs does not answer; so the handle is forgotten (a few
/// bytes) and the container removed here, or else by the reaper and the next run's start.
pub async fn dispose<I: testcontainers::Image>(container: testcontainers::ContainerAsync<I>, bound: Duration) -> Result<(), String> {
    let id = container.id().to_string();
    std::mem::forget(container);
    let removal = async {
        let docker = testcontainers::core::client::docker_client_instance().await.map_err(|e| e.to_string())?;
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        docker.remove_container(&id, Some(options)).await.map_err(|e| e.to_string())
    };
    match tokio::time::timeout(bound, removal).await {
        Ok(r) => r,
        Err(_) => Err(format!("container {id}: the engine did not answer within {bound:?}")),
    }
}

/// The command that removes whatever of a run is left, by its labels.
pub fn removal_command(run_id: &str) -> String {
    let filter = format!("label={RUN_LABEL}={run_id}");
    format!("docker rm -f $(docker ps -aq --filter {filter}); docker network rm $(docker network ls -q --filter {filter})")
}

/// After a run's own removal (`removal`, or why it could not be done): `None` when nothing of
/// the run is left, else what is left, who will remove it, and the command that does.
pub async fn left_behind(run_id: &str, removal: Result<Removal, String>) -> Option<String> {
    let later = "its reaper removes them as soon as the engine answers again, and the next run's start does too";
    let by_hand = removal_command(run_id);
    let counted = async {
        let containers = labelled_containers(Some(run_id)).await?.len();
        let networks = network::labelled(Some(run_id)).await.map_err(|e| e.to_string())?.len();
        Ok::<_, String>((containers, networks))
    };
    let left = tokio::time::timeout(crate::engine::watch::ANSWER_BOUND, counted).await;
    match (removal, left) {
        (_, Ok(Ok((0, 0)))) => None,
        (_, Ok(Ok((containers, networks)))) => Some(format!(
            "{containers} container(s) and {networks} network(s) of run {run_id} could not be removed; {later}; by hand: {by_hand}"
        )),
        (Err(why), _) | (_, Ok(Err(why))) => Some(format!(
            "the containers and networks of run {run_id} could not be removed, since the Docker engine does not answer ({why}); {later}; by hand: {by_hand}"
        )),
        (Ok(_), Err(_)) => Some(format!(
            "the containers and networks of run {run_id} could not be counted, since the Docker engine does not answer; {later}; by hand: {by_hand}"
        )),
    }
}

/// Force-removes every container of ours, of any run, whose expiry label has passed or whose
/// owner (the process that started it, [`OWNER_LABEL`]) is gone, then such networks; returns
/// how many containers were removed.
pub async fn remove_abandoned() -> Result<usize, String> {
    let docker = testcontainers::core::client::docker_client_instance().await.map_err(|e| e.to_string())?;
    let filters = HashMap::from([("label".to_string(), vec![format!("{TOOL_LABEL}={TOOL}")])]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let list = docker.list_containers(Some(options)).await.map_err(|e| e.to_string())?;
    let now = unix_now();
    let mut removed = 0;
    for c in list {
        let label = |name: &str| c.labels.as_ref().and_then(|l| l.get(name));
        let expired = label(EXPIRES_LABEL).and_then(|v| v.parse::<u64>().ok()).is_some_and(|at| at < now);
        let orphaned = label(OWNER_LABEL).is_some_and(|o| owner_is_gone(o));
        if let (true, Some(id)) = (expired || orphaned, c.id) {
            let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
            if docker.remove_container(&id, Some(options)).await.is_ok() {
                removed += 1;
            }
        }
    }
    let _ = network::remove_abandoned().await;
    Ok(removed)
}
