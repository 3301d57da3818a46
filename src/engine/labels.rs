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
    pub fn pairs(&self) -> [(&'static str, String); 4] {
        let expires = unix_now().saturating_add(self.lifetime.as_secs());
        [
            (TOOL_LABEL, TOOL.to_string()),
            (RUN_LABEL, self.run_id.clone()),
            (CELL_LABEL, self.cell.clone()),
            (EXPIRES_LABEL, expires.to_string()),
        ]
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A fresh run id: time-ordered and unique enough for one machine.
pub fn new_run_id() -> String {
    format!("{}-{:06x}", unix_now(), rand::random::<u32>() & 0xff_ffff)
}
