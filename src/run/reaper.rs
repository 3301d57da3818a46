//! The run's reaper: a process of its own that outlives the harness, so that nothing of a
//! run outlives it — whatever kills the harness (SIGKILL, an OOM kill, a cancelled job).
//!
//! The harness starts `mosquitto-matrix reap --run ID` in a session of its own and keeps the
//! write end of its standard input. When the harness ends, for any reason, the kernel closes
//! that pipe; the reaper reads its end of file and then (see [`sweep`]) kills every process
//! that carries the run's `MATRIX_RUN_ID` in its environment (the clients and their
//! children), force-removes every container and network labelled with the run, and removes
//! the run's temporary certificate folder. A harness that ends
//! normally has removed them already, and the sweep finds nothing. When the engine does not
//! answer (killed or restarting under the run), the reaper waits for it, up to
//! [`ENGINE_PATIENCE`], and removes the run's containers as soon as it answers again.
//!
//! What a reaper killed with the harness (the whole process tree or cgroup at once) cannot
//! do, the expiry label does: the next run removes our containers whose time has passed
//! (`engine::cleanup::remove_expired`).

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::client::command::own_cli;
use crate::client::contract::RUN_ID_VAR;
use crate::engine::{cleanup, priority, tls, watch};

/// How long a reaper waits for an engine that does not answer before it gives up (the next
/// run's start then removes what is left, since the run's harness is gone).
pub const ENGINE_PATIENCE: Duration = Duration::from_secs(3600);

/// A started reaper; dropping it closes the pipe, as the harness's death would.
pub struct Reaper {
    child: Option<Child>,
    warning: Option<String>,
}

impl Reaper {
    /// Starts the reaper of `run_id`. Never fails the run: a reaper that cannot start leaves
    /// the run as it was without one (the expiry label still bounds its containers), and says
    /// so on stderr ([`Reaper::warning`]).
    pub fn start(run_id: &str) -> Reaper {
        let reaper = Reaper::start_program(&own_cli(), run_id);
        if let Some(w) = &reaper.warning {
            eprintln!("mosquitto-matrix: warning: {w}");
        }
        reaper
    }

    /// [`Reaper::start`] with the program given (`mosquitto-matrix`, whose `reap` it runs), silently.
    pub fn start_program(program: &Path, run_id: &str) -> Reaper {
        let spawned = Command::new(program)
            .args(["reap", "--run", run_id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C or a group kill of the harness does not reach it.
            .process_group(0)
            .spawn();
        match spawned {
            Ok(child) => Reaper { child: Some(child), warning: None },
            Err(e) => Reaper {
                child: None,
                warning: Some(format!(
                    "the run's reaper ({} reap) could not start: {e}; if this process is killed, its containers stay until \
                     their expiry label lets the next run remove them",
                    program.display()
                )),
            },
        }
    }

    /// Why the run has no reaper, if it has none.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            // Reaped in the background: the sweep of a finished run takes a moment.
            std::thread::spawn(move || child.wait());
        }
    }
}

/// The processes whose environment carries `MATRIX_RUN_ID=<run_id>`, from `/proc`.
pub fn run_processes(run_id: &str) -> Vec<i32> {
    let want = format!("{RUN_ID_VAR}={run_id}").into_bytes();
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == want.as_slice()))
        })
        .collect()
}

/// Kills the run's processes (each one's group too) and removes its containers; twice, a
/// second apart, for whatever was being started at that moment. The containers wait for an
/// engine that does not answer, up to [`ENGINE_PATIENCE`].
pub async fn sweep(run_id: &str) -> (usize, usize) {
    let (mut killed, mut removed) = (0, 0);
    for round in 0..2 {
        if round > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for pid in run_processes(run_id) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
        if round == 0 {
            wait_for_engine(ENGINE_PATIENCE).await;
        }
        let removal = tokio::time::timeout(Duration::from_secs(60), cleanup::remove_run(run_id)).await;
        removed += removal.ok().and_then(Result::ok).map_or(0, |r| r.removed);
    }
    // The run's certificate and key (a TLS route), which the harness removes when it ends.
    tls::remove_run_files(run_id);
    // Our control group, once no run's container is left in it.
    priority::remove_group(std::path::Path::new("/sys/fs/cgroup"));
    (killed, removed)
}

/// Waits until the engine answers a ping, at most `limit`: a heartbeat, since an engine that
/// is down has no event to wait for.
async fn wait_for_engine(limit: Duration) {
    let give_up = tokio::time::Instant::now() + limit;
    while watch::ping().await.is_err() && tokio::time::Instant::now() < give_up {
        tokio::time::sleep(watch::HEARTBEAT).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reaper_that_cannot_start_is_a_warning_naming_the_program_not_silence() {
        let r = Reaper::start_program(Path::new("/nonexistent/mosquitto-matrix"), "run-without-reaper");
        let w = r.warning().expect("a reaper that could not start says so");
        assert!(w.starts_with("the run's reaper (/nonexistent/mosquitto-matrix reap) could not start: "), "{w}");
    }
}
