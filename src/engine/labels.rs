//! Labels on every container the harness starts, so a person (and the clean-up) can find them.

/// The label every container of ours carries, with the value [`TOOL`].
pub const TOOL_LABEL: &str = "org.mosquitto-matrix.tool";
/// The value of [`TOOL_LABEL`].
pub const TOOL: &str = "mosquitto-matrix";
/// The label carrying the run id.
pub const RUN_LABEL: &str = "org.mosquitto-matrix.run";
/// The label naming the cell group (`set/tag`) the container serves.
pub const CELL_LABEL: &str = "org.mosquitto-matrix.cell";

/// The labels of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    /// The run id, shared by every container of one run.
    pub run_id: String,
    /// `set/tag`.
    pub cell: String,
}

impl Labels {
    /// The label pairs to set.
    pub fn pairs(&self) -> [(&'static str, String); 3] {
        [(TOOL_LABEL, TOOL.to_string()), (RUN_LABEL, self.run_id.clone()), (CELL_LABEL, self.cell.clone())]
    }
}

/// A fresh run id: time-ordered and unique enough for one machine.
pub fn new_run_id() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("{secs}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}
