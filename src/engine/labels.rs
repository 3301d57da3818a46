//! Labels on every container the harness starts, so a person (and the clean-up) can find them.

/// The label every container of ours carries, with the value [`TOOL`].
pub const TOOL_LABEL: &str = "org.mosquitto-matrix.tool";
/// The value of [`TOOL_LABEL`].
pub const TOOL: &str = "mosquitto-matrix";
/// The label carrying the run id.
pub const RUN_LABEL: &str = "org.mosquitto-matrix.run";
/// The label naming the cell group (`set/tag`) the container serves.
pub const CELL_LABEL: &str = "org.mosquitto-matrix.cell";
/// The label saying when (Unix seconds) the container has outlived any run that could
/// want it: the next run removes such a container of ours, whatever killed its own.
pub const EXPIRES_LABEL: &str = "org.mosquitto-matrix.expires";
/// The label naming the process that started the container, `host:pid:start` (its start time
/// in clock ticks since boot, from `/proc`): once that process is gone, so is any reason to
/// keep the container, whatever its expiry (see [`owner_is_gone`]).
pub const OWNER_LABEL: &str = "org.mosquitto-matrix.owner";

/// The labels of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    /// The run id, shared by every container of one run.
    pub run_id: String,
    /// `set/tag`.
    pub cell: String,
    /// How long the container may live at most: its run's hold, set-up and clean-up.
    pub lifetime: std::time::Duration,
}

impl Labels {
    /// The label pairs to set; the expiry counts from now.
    pub fn pairs(&self) -> [(&'static str, String); 5] {
        let expires = unix_now().saturating_add(self.lifetime.as_secs());
        [
            (TOOL_LABEL, TOOL.to_string()),
            (RUN_LABEL, self.run_id.clone()),
            (CELL_LABEL, self.cell.clone()),
            (EXPIRES_LABEL, expires.to_string()),
            (OWNER_LABEL, this_process()),
        ]
    }
}

/// This process as an [`OWNER_LABEL`] value.
pub fn this_process() -> String {
    let pid = std::process::id();
    format!("{}:{pid}:{}", hostname(), start_ticks(pid).unwrap_or(0))
}

/// Whether the process an [`OWNER_LABEL`] value names is gone: it names this host, and no
/// process of that pid and start time runs. `false` for another host's process or a value
/// that cannot be read, whose containers then wait for their expiry.
pub fn owner_is_gone(owner: &str) -> bool {
    let Some((host, pid, start)) = parse_owner(owner) else { return false };
    host == hostname() && start_ticks(pid) != Some(start)
}

/// `host:pid:start` in its parts.
fn parse_owner(owner: &str) -> Option<(&str, u32, u64)> {
    let mut parts = owner.rsplitn(3, ':');
    let start = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    let host = parts.next()?;
    Some((host, pid, start))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// A process's start time (clock ticks since boot, field 22 of `/proc/<pid>/stat`).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A fresh run id: time-ordered and unique enough for one machine.
pub fn new_run_id() -> String {
    format!("{}-{:06x}", unix_now(), rand::random::<u32>() & 0xff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_not_gone_and_a_dead_pid_is() {
        assert!(!owner_is_gone(&this_process()));
        let start = start_ticks(std::process::id()).expect("our own start time");
        // The same pid with another start time is another process: ours is gone.
        assert!(owner_is_gone(&format!("{}:{}:{}", hostname(), std::process::id(), start + 1)));
    }

    #[test]
    fn another_hosts_process_or_an_unreadable_owner_is_never_taken_for_gone() {
        assert!(!owner_is_gone("some-other-host:1:1"));
        assert!(!owner_is_gone("garbage"));
        assert!(!owner_is_gone(""));
    }

    #[test]
    fn an_owner_value_splits_from_the_right_so_a_host_may_hold_colons() {
        assert_eq!(parse_owner("fe80::1:42:7"), Some(("fe80::1", 42, 7)));
    }
}
