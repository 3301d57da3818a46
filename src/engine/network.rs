//! The per-run network: a user-defined bridge on which a run's brokers and reverse proxies
//! meet (a broker joins it with the alias [`BROKER_ALIAS`], so a proxy's configuration names
//! its upstream `broker`). Labelled like our containers, so the reaper and the next run's
//! clean-up find it ([`crate::engine::cleanup`]).

use std::collections::HashMap;
use std::time::Duration;

use testcontainers::bollard::models::{EndpointSettings, NetworkConnectRequest, NetworkCreateRequest};
use testcontainers::bollard::query_parameters::ListNetworksOptionsBuilder;

use crate::engine::labels::{owner_is_gone, unix_now, Labels, EXPIRES_LABEL, OWNER_LABEL, RUN_LABEL, TOOL, TOOL_LABEL};

/// The name a broker has on its run's network: what every proxy configuration names.
pub const BROKER_ALIAS: &str = "broker";
/// The prefix of every network of ours: `mosquitto-matrix-<run id>`.
pub const NAME_PREFIX: &str = "mosquitto-matrix-";
/// The bound on one question to the engine.
const ENGINE_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A network that could not be had, joined or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The engine refused or did not answer.
    #[error("network {name}: {why}")]
    Engine {
        /// The network's name.
        name: String,
        /// The engine's words, or the bound that passed.
        why: String,
    },
}

/// The name of a run's network.
pub fn name(run_id: &str) -> String {
    format!("{NAME_PREFIX}{run_id}")
}

async fn engine<T, E: std::fmt::Display>(
    name: &str,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, NetworkError> {
    let fail = |why: String| NetworkError::Engine { name: name.to_string(), why };
    match tokio::time::timeout(ENGINE_CALL_TIMEOUT, call).await {
        Ok(r) => r.map_err(|e| fail(e.to_string())),
        Err(_) => Err(fail(format!("the engine did not answer within {ENGINE_CALL_TIMEOUT:?}"))),
    }
}

/// Creates the run's network, labelled with the run (and an expiry, `lifetime` from now, for
/// the next run's clean-up when nothing else removed it); returns its name.
pub async fn create(run_id: &str, lifetime: Duration) -> Result<String, NetworkError> {
    let name = name(run_id);
    let docker = engine(&name, testcontainers::core::client::docker_client_instance()).await?;
    let labels = Labels { run_id: run_id.to_string(), cell: "network".into(), lifetime };
    let request = NetworkCreateRequest {
        name: name.clone(),
        driver: Some("bridge".into()),
        labels: Some(labels.pairs().into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
        ..NetworkCreateRequest::default()
    };
    engine(&name, docker.create_network(request)).await?;
    Ok(name)
}

/// Joins a running container to `network` under `aliases`.
pub async fn join(network: &str, container_id: &str, aliases: &[&str]) -> Result<(), NetworkError> {
    let docker = engine(network, testcontainers::core::client::docker_client_instance()).await?;
    let aliases = aliases.iter().map(|a| a.to_string()).collect();
    let request = NetworkConnectRequest {
        container: container_id.to_string(),
        endpoint_config: Some(EndpointSettings { aliases: Some(aliases), ..EndpointSettings::default() }),
    };
    engine(network, docker.connect_network(network, request)).await
}

/// A broker's own name on the run's network, beside [`BROKER_ALIAS`], which every broker of
/// the run shares: `broker-` and the first 12 digits of its container id.
pub fn broker_alias(container_id: &str) -> String {
    format!("{BROKER_ALIAS}-{}", &container_id[..container_id.len().min(12)])
}

/// Removes a network (its containers must be gone first).
pub async fn remove(name: &str) -> Result<(), NetworkError> {
    let docker = engine(name, testcontainers::core::client::docker_client_instance()).await?;
    engine(name, docker.remove_network(name)).await
}

/// One network of ours, as its labels describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurNetwork {
    /// Its name.
    pub name: String,
    /// When it has outlived any run that could want it (Unix seconds).
    pub expires: Option<u64>,
    /// The process that made it ([`OWNER_LABEL`]).
    pub owner: Option<String>,
}

/// Our networks, all of them or one run's.
pub async fn labelled(run_id: Option<&str>) -> Result<Vec<OurNetwork>, NetworkError> {
    let docker = engine("(list)", testcontainers::core::client::docker_client_instance()).await?;
    let mut labels = vec![format!("{TOOL_LABEL}={TOOL}")];
    if let Some(id) = run_id {
        labels.push(format!("{RUN_LABEL}={id}"));
    }
    let filters = HashMap::from([("label".to_string(), labels)]);
    let options = ListNetworksOptionsBuilder::default().filters(&filters).build();
    let list = engine("(list)", docker.list_networks(Some(options))).await?;
    Ok(list
        .into_iter()
        .filter_map(|n| {
            let expires = n.labels.as_ref().and_then(|l| l.get(EXPIRES_LABEL)).and_then(|v| v.parse::<u64>().ok());
            let owner = n.labels.as_ref().and_then(|l| l.get(OWNER_LABEL)).cloned();
            n.name.map(|name| OurNetwork { name, expires, owner })
        })
        .collect())
}

/// Removes every network of one run; returns how many were removed.
pub async fn remove_run(run_id: &str) -> Result<usize, NetworkError> {
    let mut removed = 0;
    for n in labelled(Some(run_id)).await? {
        if remove(&n.name).await.is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes every network of ours whose expiry has passed or whose owner is gone (one still
/// in use stays); returns how many were removed.
pub async fn remove_abandoned() -> Result<usize, NetworkError> {
    let now = unix_now();
    let mut removed = 0;
    for n in labelled(None).await? {
        let abandoned = n.expires.is_some_and(|at| at < now) || n.owner.as_deref().is_some_and(owner_is_gone);
        if abandoned && remove(&n.name).await.is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_network_is_named_after_the_run() {
        assert_eq!(name("1796138172-4c63e0"), "mosquitto-matrix-1796138172-4c63e0");
    }
}
