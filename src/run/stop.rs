//! The signals that stop a run: SIGINT (a terminal's Ctrl-C) or SIGTERM (a job runner)
//! comes in; which one it was goes out, with the exit status a shell gives a process it ended.

use std::fmt;

/// A signal asking the run to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT.
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl StopSignal {
    /// Waits for SIGINT or SIGTERM; never returns when neither can be listened for.
    pub async fn wait() -> StopSignal {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => StopSignal::Interrupt,
            _ = term.recv() => StopSignal::Terminate,
        }
    }

    /// The signal's name: `SIGINT`, `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }

    /// The exit status after it, as a shell reports a process the signal ended: 128 + its
    /// number (130 for SIGINT, 143 for SIGTERM).
    pub fn exit_status(self) -> u8 {
        let number = match self {
            StopSignal::Interrupt => nix::sys::signal::Signal::SIGINT,
            StopSignal::Terminate => nix::sys::signal::Signal::SIGTERM,
        } as i32;
        128 + number as u8
    }
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_signal_exits_as_a_shell_reports_it() {
        assert_eq!((StopSignal::Interrupt.exit_status(), StopSignal::Interrupt.to_string()), (130, "SIGINT".to_string()));
        assert_eq!((StopSignal::Terminate.exit_status(), StopSignal::Terminate.to_string()), (143, "SIGTERM".to_string()));
    }
}
