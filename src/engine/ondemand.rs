//! Client versions on demand, installed before a run starts: for each version the run asks for
//! that matrix.toml does not list (`plan::ondemand`), the client's own registry is asked whether
//! it serves that version (the discovery's code, [`releases`]), and
//! `bash clients/setup.sh --client X@VERSION` installs it under `target/clients/X/VERSION`, locked
//! on first use under `target/clients/locks/X/VERSION` (nothing outside `target/` changes).
//!
//! I/O: HTTP to the registry, a child process. A version already locked here is not asked about
//! again: its lock is the record that the registry served it, and the set-up checks against it.

use std::path::Path;
use std::time::Duration;

use crate::engine::releases;
use crate::plan::ondemand::{is_served, not_released, OnDemand};

/// How long one version's set-up may take (a JVM client's first install fetches and compiles;
/// a Go client's first one builds the standard library into an empty cache).
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(900);

/// The set-up program, relative to matrix.toml's folder.
pub const SETUP_SCRIPT: &str = "clients/setup.sh";

/// A version that could not be installed on demand.
#[derive(Debug, thiserror::Error)]
pub enum OnDemandError {
    /// Not served by its registry, the registry not read, or the set-up failed: `why` says which.
    #[error("cannot install {name} on demand: {why}")]
    Install {
        /// `X@VERSION`.
        name: String,
        /// What went wrong, with what the registry serves when it does not serve the version.
        why: String,
    },
}

/// Installs every version of `wanted`, in order, from `workdir` (matrix.toml's folder); `say`
/// gets one line before each install (what, from where, into where) and the set-up's own lines.
pub async fn install(wanted: &[OnDemand], workdir: &Path, say: &mut dyn FnMut(String)) -> Result<(), OnDemandError> {
    for od in wanted {
        let fail = |why: String| OnDemandError::Install { name: od.name(), why };
        let locked = workdir.join(od.lock_file()).is_file();
        if !locked {
            let served = served(od).await.map_err(fail)?;
            if !is_served(&served, &od.version) {
                return Err(fail(not_released(od, &served)));
            }
        }
        let r = &od.releases;
        say(format!(
            "installing {} on demand ({} {}{}) into target/clients/{}/{}, its lock in {}",
            od.name(),
            r.registry.title(),
            r.package,
            if locked { ", locked before" } else { "" },
            od.client,
            od.version,
            od.lock_dir()
        ));
        setup(od, workdir, say).await.map_err(fail)?;
    }
    Ok(())
}

/// The versions the registry serves for `od`'s client.
async fn served(od: &OnDemand) -> Result<Vec<String>, String> {
    let title = od.releases.registry.title();
    let ask = |e: String| format!("cannot ask {title} whether it serves {}: {e}", od.version);
    let base = releases::base(od.releases.registry).await.map_err(ask)?;
    let http = releases::http_client().map_err(ask)?;
    releases::list_versions(&http, &od.releases, &base).await.map_err(ask)
}

/// Runs `bash clients/setup.sh --client X@VERSION` and passes its lines on.
async fn setup(od: &OnDemand, workdir: &Path, say: &mut dyn FnMut(String)) -> Result<(), String> {
    let child = tokio::process::Command::new("bash")
        .arg(SETUP_SCRIPT)
        .arg("--client")
        .arg(od.name())
        .current_dir(workdir)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(SETUP_TIMEOUT, child).await {
        Err(_) => return Err(format!("bash {SETUP_SCRIPT} --client {} took over {} s", od.name(), SETUP_TIMEOUT.as_secs())),
        Ok(Err(e)) => return Err(format!("bash {SETUP_SCRIPT}: {e}")),
        Ok(Ok(out)) => out,
    };
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        say(format!("  {line}"));
    }
    if out.status.success() {
        return Ok(());
    }
    let failed = text.lines().find(|l| l.contains("FAILED:")).map(|l| l.split_once("FAILED:").map_or(l, |(_, why)| why).trim().to_string());
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "bash {SETUP_SCRIPT} --client {} failed: {}",
        od.name(),
        failed.unwrap_or_else(|| stderr.lines().last().unwrap_or("no reason given").to_string())
    ))
}
