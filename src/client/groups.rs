//! The process groups of the programs the harness starts (command cells, column services):
//! registered while they may run, so a signal to the harness can end them all, and killed
//! when their owner lets go of them. They run below the harness and the brokers
//! (`engine::priority::CLIENT_NICENESS`), whose timers and timestamps are the run's times.
//!
//! Reads `/proc` (Linux) to tell whether anything of a group is still alive.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::time::Instant;

use crate::engine::priority;

/// Process groups of the programs running now, so a signal to the harness can end them.
static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Kills every registered process group still running (SIGKILL); for the CLI's signal
/// handler. Returns how many groups it signalled.
pub fn kill_all() -> usize {
    let groups: Vec<i32> = LIVE.lock().map(|g| g.iter().copied().collect()).unwrap_or_default();
    for g in &groups {
        let _ = killpg(Pid::from_raw(*g), Signal::SIGKILL);
    }
    groups.len()
}

/// Keeps a process group registered while it may run; kills what is left of it on drop.
#[derive(Debug)]
pub(crate) struct Group(i32);

impl Group {
    /// Registers the group whose leader is `pid` (a child started with `process_group(0)`)
    /// and lowers it to `engine::priority::CLIENT_NICENESS`; what it starts later inherits that.
    pub(crate) fn new(pid: i32) -> Group {
        if let Ok(mut g) = LIVE.lock() {
            g.insert(pid);
        }
        if let Some(p) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::setpriority_pgrp(Some(p), priority::CLIENT_NICENESS);
        }
        Group(pid)
    }

    /// The group's id (its leader's pid).
    pub(crate) fn id(&self) -> i32 {
        self.0
    }

    /// Sends a signal to every process of the group.
    pub(crate) fn signal(&self, s: Signal) {
        // Group 0 would be the harness's own.
        if self.0 > 0 {
            let _ = killpg(Pid::from_raw(self.0), s);
        }
    }

    /// Waits until no living process is left in the group (zombies, which only their
    /// parent or PID 1 can reap, do not count), at most `bound`. True when none is left.
    pub(crate) async fn wait_empty(&self, bound: Duration) -> bool {
        let until = Instant::now() + bound;
        loop {
            // No process at all in the group (the usual case) is one system call; otherwise
            // /proc says whether what is left is only zombies.
            let none = self.0 <= 0 || killpg(Pid::from_raw(self.0), None) == Err(nix::errno::Errno::ESRCH);
            if none || alive_in_group(self.0).is_empty() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Kills whatever is left of the group (a program's children outlive it when it exits)
    /// and waits, at most `bound`, until nothing of it is alive: a cell's end is the end of
    /// every process of its client.
    pub(crate) async fn end(self, bound: Duration) {
        self.signal(Signal::SIGKILL);
        self.wait_empty(bound).await;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // The program's own children too: nothing of it outlives its owner.
        self.signal(Signal::SIGKILL);
        if let Ok(mut g) = LIVE.lock() {
            g.remove(&self.0);
        }
    }
}

/// The pids of the living (not zombie) processes whose process group is `pgid`, read from
/// `/proc/<pid>/stat`.
pub fn alive_in_group(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut pids = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let mut fields = after.split_whitespace();
        let (state, _ppid, pgrp) = (fields.next(), fields.next(), fields.next());
        if pgrp.and_then(|p| p.parse::<i32>().ok()) == Some(pgid) && state != Some("Z") {
            pids.push(pid);
        }
    }
    pids
}
