//! The moment a cell's session is up: told by whoever sees its CONNACK (the built-in
//! session, rumqttc's event loop, the recording proxy), awaited by the run's scheduler, which
//! then lets the next cell start. A signal only: it changes no record and no verdict.

use std::sync::Arc;

use tokio::sync::Notify;

/// A one-way "the session is up" signal, cheap to clone; every clone is the same signal.
#[derive(Clone, Default)]
pub struct Started(Arc<Notify>);

impl Started {
    /// A fresh signal, not yet told.
    pub fn new() -> Started {
        Started::default()
    }

    /// Tells the waiter that the session is up. Telling it again does nothing more.
    pub fn reached(&self) {
        // A stored permit: a waiter that comes later still sees it.
        self.0.notify_one();
    }

    /// Waits until [`Started::reached`] was called (at once if it already was).
    pub async fn wait(&self) {
        self.0.notified().await;
    }
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Started")
    }
}

/// Every signal equals every other: a spec's identity is its settings, not its listener.
impl PartialEq for Started {
    fn eq(&self, _: &Started) -> bool {
        true
    }
}

impl Eq for Started {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signal_told_before_anyone_waits_is_still_seen() {
        let s = Started::new();
        s.clone().reached();
        tokio::time::timeout(std::time::Duration::from_secs(1), s.wait()).await.expect("the stored permit ends the wait");
    }

    #[tokio::test]
    async fn a_signal_never_told_keeps_its_waiter_waiting() {
        let s = Started::new();
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), s.wait()).await.is_err());
    }
}
