//! The brokers' share of a busy CPU: every container of a run goes into a control group of
//! ours whose CPU weight is ten times a default process's.
//!
//! Under the engine's own group (`/docker`), all the run's brokers together weigh as much as
//! one ordinary process. Eight copies of the debian set put 32 brokers there, while hundreds
//! of clients start beside them: at ×10 an early broker's PING then left up to 0.35 s late
//! (3.5 s of broker time). In [`PARENT`], weighted [`WEIGHT_FACTOR`] times a default process,
//! a broker's timer runs when it is due; a broker needs little CPU once it listens, so the
//! weight takes almost nothing from the clients.
//!
//! Only where this process can do it: an engine on this machine with the `cgroupfs` driver
//! (the group is made here under `/sys/fs/cgroup`). Elsewhere containers stay where the
//! engine puts them, and [`prepare`] says why.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The control group (relative to each hierarchy's root) every container of ours goes in.
pub const PARENT: &str = "/mosquitto-matrix";
/// How many default processes the group weighs.
pub const WEIGHT_FACTOR: u64 = 10;

/// The group the engine was told to use, once [`prepare`] made it.
static PREPARED: OnceLock<Result<String, String>> = OnceLock::new();

/// The engine's control-group layout, as `docker info` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v1: `cpu.shares`, a default process weighs 1024.
    V1,
    /// cgroup v2: `cpu.weight`, a default process weighs 100.
    V2,
}

/// The file to write and what to write in it, so the group weighs [`WEIGHT_FACTOR`] default
/// processes; `Err` says why the group cannot be had.
pub fn weight_file(root: &Path, driver: &str, hierarchy: Hierarchy, engine_is_local: bool) -> Result<(PathBuf, String), String> {
    if !engine_is_local {
        return Err("the engine runs on another machine".to_string());
    }
    if driver != "cgroupfs" {
        return Err(format!("the engine's cgroup driver is {driver:?}, not cgroupfs"));
    }
    let group = root.join(PARENT.trim_start_matches('/'));
    Ok(match hierarchy {
        Hierarchy::V1 => (root.join("cpu").join(PARENT.trim_start_matches('/')).join("cpu.shares"), (1024 * WEIGHT_FACTOR).to_string()),
        Hierarchy::V2 => (group.join("cpu.weight"), (100 * WEIGHT_FACTOR).to_string()),
    })
}

/// Makes the group and weighs it, once per process; returns its name for the engine, or why
/// containers stay in the engine's own group.
pub async fn prepare(engine_is_local: bool) -> Result<String, String> {
    if let Some(done) = PREPARED.get() {
        return done.clone();
    }
    let done = make(engine_is_local).await;
    PREPARED.get_or_init(|| done).clone()
}

/// The group [`prepare`] made, if it made one.
pub fn parent() -> Option<String> {
    PREPARED.get().and_then(|p| p.as_ref().ok().cloned())
}

async fn make(engine_is_local: bool) -> Result<String, String> {
    let docker = testcontainers::core::client::docker_client_instance().await.map_err(|e| e.to_string())?;
    let info = tokio::time::timeout(std::time::Duration::from_secs(30), docker.info())
        .await
        .map_err(|_| "the engine did not describe itself within 30 s".to_string())?
        .map_err(|e| e.to_string())?;
    let driver = info.cgroup_driver.map(|d| d.to_string()).unwrap_or_default();
    let hierarchy = match info.cgroup_version.map(|v| v.to_string()).as_deref() {
        Some("2") => Hierarchy::V2,
        _ => Hierarchy::V1,
    };
    let (file, value) = weight_file(Path::new("/sys/fs/cgroup"), &driver, hierarchy, engine_is_local)?;
    let dir = file.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    std::fs::write(&file, &value).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(PARENT.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_weighs_ten_default_processes_in_either_hierarchy() {
        let root = Path::new("/sys/fs/cgroup");
        assert_eq!(
            weight_file(root, "cgroupfs", Hierarchy::V1, true),
            Ok((PathBuf::from("/sys/fs/cgroup/cpu/mosquitto-matrix/cpu.shares"), "10240".to_string()))
        );
        assert_eq!(
            weight_file(root, "cgroupfs", Hierarchy::V2, true),
            Ok((PathBuf::from("/sys/fs/cgroup/mosquitto-matrix/cpu.weight"), "1000".to_string()))
        );
    }

    #[test]
    fn a_remote_engine_or_the_systemd_driver_keeps_the_engines_own_group_and_says_why() {
        let root = Path::new("/sys/fs/cgroup");
        assert_eq!(weight_file(root, "cgroupfs", Hierarchy::V1, false), Err("the engine runs on another machine".to_string()));
        let why = weight_file(root, "systemd", Hierarchy::V2, true).unwrap_err();
        assert!(why.contains("\"systemd\""), "{why}");
    }
}
