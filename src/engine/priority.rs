//! Who goes first on a busy CPU: whatever stands in the path of a cell's times.
//!
//! A cell's times are the broker's timers, read by the harness through the engine's port
//! relay; a client's start-up is not among them. So, where this process may:
//! - every container of a run goes into a control group of ours ([`PARENT`]) weighted
//!   [`WEIGHT_FACTOR`] times a default process. Under the engine's own group (`/docker`) all
//!   the run's brokers together weighed as much as one ordinary process: with eight copies of
//!   the debian set at ×10 an early broker's PING left up to 0.35 s late (3.5 s of broker
//!   time) while later copies' clients started. A broker needs little CPU once it listens, so
//!   the weight takes almost nothing from the clients. Only for an engine on this machine with
//!   the `cgroupfs` driver (the group is made here under `/sys/fs/cgroup`);
//! - the harness ([`raise_harness`]) and the engine's port relays of our containers
//!   (`docker-proxy`, [`raise_port_relays`]) run at niceness [`FIRST`];
//! - the programs the harness starts run at niceness [`CLIENT_NICENESS`]: a client's start-up
//!   never delays a broker's PING or the harness's reading of it. (Tried at 0: under other
//!   heavy load a client's own answer then came later, not sooner.) A client runtime once up,
//!   and a client program once its broker accepted its session, go to [`ANSWERING_NICENESS`]
//!   ([`raise_client`]): from then on they mostly answer.
//!
//! Where a step is not allowed (no root, a remote engine, the systemd driver) things stay
//! where they are and [`prepare`] says why.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The control group (relative to each hierarchy's root) every container of ours goes in.
pub const PARENT: &str = "/mosquitto-matrix";
/// How many default processes the group weighs.
pub const WEIGHT_FACTOR: u64 = 10;

/// The niceness of the harness and of the port relays: above the machine's other load.
pub const FIRST: i32 = -5;
/// The niceness of every program the harness starts.
pub const CLIENT_NICENESS: i32 = 10;
/// The niceness of a client runtime once it is up, and of a client program once its broker
/// accepted its session ([`raise_client`]).
pub const ANSWERING_NICENESS: i32 = 0;

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

/// Every thread of this process to [`FIRST`], where allowed (root or CAP_SYS_NICE); threads
/// made later inherit it. Returns whether it was allowed.
pub fn raise_harness() -> bool {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return false };
    let mut raised = false;
    for tid in tasks.flatten().filter_map(|t| t.file_name().to_str().and_then(|s| s.parse::<i32>().ok())) {
        raised |= set_niceness(tid, FIRST);
    }
    raised
}

/// The calling thread to [`CLIENT_NICENESS`] (always allowed: it only gives way), so that
/// it waits for a CPU as a client does. Returns whether it took effect.
pub fn lower_this_thread() -> bool {
    set_niceness(rustix::thread::gettid().as_raw_nonzero().get(), CLIENT_NICENESS)
}

/// A client's process group to [`ANSWERING_NICENESS`] (where allowed), once the start that
/// should give way is behind it: a runtime's own start-up (a JVM's, a browser's) once it
/// listens, a client program's once its broker accepted its session. From then on it mostly
/// answers brokers' PINGs (and a runtime starts cells, each a little work), which at ×30 must
/// come within 0.33 s of real time. A busy process at niceness 10 waits for a CPU far longer
/// than an idle one. (For a client program this is the runtime's reasoning carried over: at ×30
/// with 8 copies, three alternating pairs with and without it were inside the machine's noise.)
/// Returns whether it took effect.
pub fn raise_client(process_group: i32) -> bool {
    rustix::process::Pid::from_raw(process_group).is_some_and(|g| rustix::process::setpriority_pgrp(Some(g), ANSWERING_NICENESS).is_ok())
}

/// Which scheduling measures a run had, for its result: the containers' group (or why they
/// stayed in the engine's), the harness's niceness (or why it kept its own), the clients'.
pub fn measures(group: &Result<String, String>, harness_raised: bool) -> Vec<String> {
    let group = match group {
        Ok(g) => format!("containers in control group {g}, weighted {WEIGHT_FACTOR} default processes"),
        Err(why) => format!("containers in the engine's own control group: {why}"),
    };
    let harness = if harness_raised {
        format!("harness and the engine's port relays of its containers at niceness {FIRST}")
    } else {
        "harness and port relays at their own niceness: raising it needs root or CAP_SYS_NICE".to_string()
    };
    vec![group, harness, format!("client programs at niceness {CLIENT_NICENESS}, at {ANSWERING_NICENESS} once up (a runtime listening, a session accepted)")]
}

/// The engine's userland relays for these host ports (`docker-proxy -host-port N`) to
/// [`FIRST`]: every byte between the harness and a broker passes through them. Reads `/proc`.
///
/// Only the engine's own relays of our ports ([`is_our_relay`]): a process that merely calls
/// itself `docker-proxy`, or a relay that another program started, keeps its niceness.
pub fn raise_port_relays(host_ports: &[u16]) {
    let Ok(dir) = std::fs::read_dir("/proc") else { return };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if relay_port(&cmdline).is_none_or(|p| !host_ports.contains(&p)) {
            continue;
        }
        let parent = std::fs::read_to_string(entry.path().join("stat")).ok().and_then(|stat| parent_pid(&stat));
        let parent_program = parent.and_then(|ppid| std::fs::read_to_string(format!("/proc/{ppid}/comm")).ok());
        if is_our_relay(&cmdline, parent_program.as_deref(), host_ports) {
            set_niceness(pid, FIRST);
        }
    }
}

/// The program that starts the engine's port relays: a relay whose parent is another program
/// is not the engine's, and so not ours to renice.
pub const ENGINE_PROGRAM: &str = "dockerd";

/// Whether a process (its command line, its parent's program name from `/proc/PPID/comm`) is
/// the engine's relay of one of our host ports.
pub fn is_our_relay(cmdline: &[u8], parent_program: Option<&str>, host_ports: &[u16]) -> bool {
    relay_port(cmdline).is_some_and(|p| host_ports.contains(&p)) && parent_program.map(str::trim) == Some(ENGINE_PROGRAM)
}

/// The parent's pid from `/proc/PID/stat` (`pid (comm) state ppid …`; the name may hold spaces
/// and parentheses, so the fields are read after its last `)`).
pub fn parent_pid(stat: &str) -> Option<i32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The host port a `docker-proxy` command line relays, from its NUL-separated arguments.
pub fn relay_port(cmdline: &[u8]) -> Option<u16> {
    let mut args = cmdline.split(|b| *b == 0).map(|a| std::str::from_utf8(a).unwrap_or(""));
    let program = args.next()?;
    if program.rsplit('/').next() != Some("docker-proxy") {
        return None;
    }
    let args: Vec<&str> = args.collect();
    args.windows(2).find(|w| w[0] == "-host-port").and_then(|w| w[1].parse().ok())
}

fn set_niceness(pid: i32, niceness: i32) -> bool {
    rustix::process::Pid::from_raw(pid).is_some_and(|pid| rustix::process::setpriority_process(Some(pid), niceness).is_ok())
}

/// Removes our control group ([`PARENT`]) from every hierarchy under `root` where it is empty,
/// so that it does not outlive the run; a group still holding another run's containers stays
/// (the kernel refuses to remove it). Returns the folders removed.
pub fn remove_group(root: &Path) -> Vec<PathBuf> {
    let name = PARENT.trim_start_matches('/');
    let mut candidates = vec![root.join(name)];
    if let Ok(dir) = std::fs::read_dir(root) {
        candidates.extend(dir.flatten().map(|e| e.path().join(name)));
    }
    candidates.into_iter().filter(|c| c.is_dir() && std::fs::remove_dir(c).is_ok()).collect()
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
    fn a_docker_proxy_command_line_gives_its_host_port_and_any_other_program_none() {
        let relay = b"/usr/sbin/docker-proxy\x00-proto\x00tcp\x00-host-ip\x00127.0.0.1\x00-host-port\x0033151\x00-container-ip\x00172.17.0.2\x00-container-port\x009001\x00";
        assert_eq!(relay_port(relay), Some(33151));
        assert_eq!(relay_port(b"/usr/bin/socat\x00-host-port\x0033151\x00"), None);
        assert_eq!(relay_port(b"docker-proxy\x00-host-port\x00"), None);
        assert_eq!(relay_port(b""), None);
    }

    #[test]
    fn a_result_says_which_scheduling_measures_were_in_effect_and_why_not() {
        let had = measures(&Ok(PARENT.to_string()), true);
        assert_eq!(had[0], "containers in control group /mosquitto-matrix, weighted 10 default processes");
        assert_eq!(had[1], "harness and the engine's port relays of its containers at niceness -5");
        let refused = measures(&Err("the engine runs on another machine".to_string()), false);
        assert_eq!(refused[0], "containers in the engine's own control group: the engine runs on another machine");
        assert!(refused[1].contains("needs root or CAP_SYS_NICE"), "{}", refused[1]);
    }

    #[test]
    fn our_group_is_removed_from_every_hierarchy_where_it_is_empty() {
        let root = std::env::temp_dir().join(format!("matrix-cgroup-{}", std::process::id()));
        let name = PARENT.trim_start_matches('/');
        for dir in [root.join(name), root.join("cpu").join(name), root.join("memory").join(name).join("busy")] {
            std::fs::create_dir_all(&dir).expect("a temporary folder");
        }
        let mut removed = remove_group(&root);
        removed.sort();
        assert_eq!(removed, [root.join("cpu").join(name), root.join(name)]);
        assert!(root.join("memory").join(name).is_dir(), "a group that is not empty stays");
        std::fs::remove_dir_all(&root).expect("clean up");
    }

    #[test]
    fn only_the_engines_relay_of_our_port_is_ours() {
        let relay = b"/usr/bin/docker-proxy\x00-proto\x00tcp\x00-host-port\x0033151\x00";
        assert!(is_our_relay(relay, Some("dockerd\n"), &[33151]));
        assert!(!is_our_relay(relay, Some("bash\n"), &[33151]), "a relay another program started");
        assert!(!is_our_relay(relay, None, &[33151]), "a parent that cannot be read");
        assert!(!is_our_relay(relay, Some("dockerd"), &[40000]), "another port");
        assert_eq!(parent_pid("4242 (docker proxy) S 3170 4242 4242 0"), Some(3170));
        assert_eq!(parent_pid("4242 (a) b) S 17 1"), Some(17));
        assert_eq!(parent_pid("garbage"), None);
    }

    #[test]
    fn a_remote_engine_or_the_systemd_driver_keeps_the_engines_own_group_and_says_why() {
        let root = Path::new("/sys/fs/cgroup");
        assert_eq!(weight_file(root, "cgroupfs", Hierarchy::V1, false), Err("the engine runs on another machine".to_string()));
        let why = weight_file(root, "systemd", Hierarchy::V2, true).unwrap_err();
        assert!(why.contains("\"systemd\""), "{why}");
    }
}
