//! How a run starts its real clients: one runtime per (column, version) for all its cells, or
//! one process per cell (issue 31). Chosen per run (`--client-mode`, `MATRIX_CLIENT_MODE`).

use serde::{Deserialize, Serialize};

/// How a run's command columns are started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientMode {
    /// One long-lived runtime per (column, version) per run, each cell a connection to it
    /// (`runtime = [...]` in matrix.toml); a column without one runs per process.
    #[default]
    Runtime,
    /// One process per cell, as the command contract starts it.
    Process,
}

impl ClientMode {
    /// The mode as `--client-mode` and the result JSON spell it.
    pub fn name(self) -> &'static str {
        match self {
            ClientMode::Runtime => "runtime",
            ClientMode::Process => "process",
        }
    }

    /// Reads `runtime` or `process`.
    pub fn parse(text: &str) -> Result<ClientMode, String> {
        match text.trim() {
            "runtime" => Ok(ClientMode::Runtime),
            "process" => Ok(ClientMode::Process),
            other => Err(format!("{other:?} is not a client mode; write runtime or process")),
        }
    }

    /// The mode of a result file written before modes were recorded: every cell was a process.
    pub fn before_modes() -> ClientMode {
        ClientMode::Process
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_reads_back_from_its_own_name_and_nothing_else_is_one() {
        for m in [ClientMode::Runtime, ClientMode::Process] {
            assert_eq!(ClientMode::parse(m.name()), Ok(m));
        }
        assert!(ClientMode::parse("threads").expect_err("no such mode").contains("runtime or process"));
    }
}
