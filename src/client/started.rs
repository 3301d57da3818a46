//! The moment a cell's session is up: told by whoever sees its CONNACK (the built-in
//! session, rumqttc's event loop, the recording proxy), awaited by the run's scheduler, which
//! then lets the next cell start, and by a command cell's process, which then stops giving
//! way on the CPU. A signal only: it changes no record and no verdict.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// A one-way "the session is up" signal, cheap to clone; every clone is the same signal, and
/// every waiter sees it, before or after it was told.
#[derive(Clone, Default)]
pub struct Started(Arc<(AtomicBool, Notify)>);

impl Started {
    /// A fresh signal, not yet told.
    pub fn new() -> Started {
        Started::default()
    }

    /// Tells the waiter that the session is up. Telling it again does nothing more.
    pub fn reached(&self) {
        self.0 .0.store(true, Ordering::SeqCst);
        self.0 .1.notify_waiters();
    }

    /// Waits until [`Started::reached`] was called (at once if it already was).
    pub async fn wait(&self) {
        loop {
            // Registered before the flag is read, so a signal between the two is not missed.
            let notified = self.0 .1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.0 .0.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
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
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_signal_told_before_anyone_waits_is_still_seen() {
        let s = Started::new();
        s.clone().reached();
        tokio::time::timeout(Duration::from_secs(1), s.wait()).await.expect("the stored permit ends the wait");
    }

    #[tokio::test]
    async fn every_waiter_sees_the_signal_whether_it_came_before_or_after_it() {
        let s = Started::new();
        let early = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        tokio::task::yield_now().await;
        s.reached();
        let second = Duration::from_secs(1);
        tokio::time::timeout(second, early).await.expect("the early waiter saw it").expect("no panic");
        tokio::time::timeout(second, s.wait()).await.expect("a late waiter sees it");
        tokio::time::timeout(second, s.wait()).await.expect("and another one");
    }

    #[tokio::test]
    async fn a_signal_never_told_keeps_its_waiter_waiting() {
        let s = Started::new();
        assert!(tokio::time::timeout(Duration::from_millis(50), s.wait()).await.is_err());
    }
}
