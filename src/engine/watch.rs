//! The Docker engine, watched for the length of a run: the moment it stops answering (killed,
//! restarting, hung) and the moment it answers again.
//!
//! A session that ends while the engine is gone cannot be judged: the engine is what says
//! whether the broker exited, was paused or lost its network, and a killed engine takes the
//! brokers' port relays (`docker-proxy`) with it, so every session drops at once. Such an end
//! is the harness's fault, never the broker's drop (see `run::runner`).
//!
//! Three signals, whichever comes first: the engine's event stream, held open for the whole
//! run (a killed or stopping engine closes it at once); a heartbeat ping every [`HEARTBEAT`],
//! each bounded by [`ANSWER_BOUND`] (an engine that hangs keeps its sockets open and says
//! nothing); and, for a local engine, its pid file, whose change is a restart however quick.
//! A cell that finds the engine gone first ([`EngineWatch::confirm`]) records the loss for
//! the whole run. Once lost, the engine is pinged every [`HEARTBEAT`] until it answers again.
//!
//! I/O: the engine's API, its pid file, and the clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use testcontainers::bollard::query_parameters::EventsOptionsBuilder;
use tokio::sync::watch;

use crate::engine::labels::{TOOL, TOOL_LABEL};

/// How often the engine is asked whether it answers.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// How long one question to the engine may take before the engine counts as not answering.
pub const ANSWER_BOUND: Duration = Duration::from_secs(5);

/// What became of the engine during a run, as times since the watch started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineHealth {
    /// The first time it stopped answering, and how that showed.
    pub lost: Option<EngineLoss>,
    /// When it answered again after that, if it did.
    pub back_at: Option<Duration>,
}

/// The engine's first loss during a run.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineLoss {
    /// When, since the watch started.
    pub at: Duration,
    /// How it showed: the event stream ended, a ping failed or went unanswered.
    pub how: String,
}

impl EngineHealth {
    /// Whether the engine has stopped answering at any time of the run.
    pub fn faulted(&self) -> bool {
        self.lost.is_some()
    }

    /// The cause a cell ended by the loss is given: "the Docker engine stopped answering at
    /// 19.0 s (its event stream ended), and answered again at 24.2 s". `since` is the watch's
    /// start on the cell's own clock (the cell's times are since its own start).
    pub fn cause(&self) -> Option<String> {
        let lost = self.lost.as_ref()?;
        let back = match self.back_at {
            Some(t) => format!(", and answered again at {:.1} s into the run", t.as_secs_f64()),
            None => String::new(),
        };
        Some(format!(
            "the Docker engine stopped answering at {:.1} s into the run ({}){back}; what became of the broker cannot be known, so the session's end is not the broker's",
            lost.at.as_secs_f64(),
            lost.how
        ))
    }
}

/// A running watch; dropping it stops the watching.
pub struct EngineWatch {
    health: watch::Receiver<EngineHealth>,
    record: Arc<watch::Sender<EngineHealth>>,
    task: tokio::task::JoinHandle<()>,
    started: Instant,
}

impl EngineWatch {
    /// Starts watching the engine now.
    pub fn start() -> EngineWatch {
        let (tx, rx) = watch::channel(EngineHealth::default());
        let record = Arc::new(tx);
        let started = Instant::now();
        let task = tokio::spawn(watch_engine(Arc::clone(&record), started, local_engine_pid()));
        EngineWatch { health: rx, record, task, started }
    }

    /// What is known of the engine now.
    pub fn health(&self) -> EngineHealth {
        self.health.borrow().clone()
    }

    /// A receiver that sees every change, for a cell that must end when the engine goes.
    pub fn subscribe(&self) -> watch::Receiver<EngineHealth> {
        self.health.clone()
    }

    /// When the watch started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Asks the engine now (bounded by [`ANSWER_BOUND`]); a failure is recorded as the run's
    /// loss, so that a cell that saw its session end before the watch did still learns of it.
    pub async fn confirm(&self) -> EngineHealth {
        if let Err(how) = ping().await {
            record_loss(&self.record, self.started, how);
        }
        self.health()
    }
}

impl Drop for EngineWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One bounded ping of the engine.
pub async fn ping() -> Result<(), String> {
    let asked = async {
        let docker = testcontainers::core::client::docker_client_instance().await.map_err(|e| e.to_string())?;
        docker.ping().await.map(|_| ()).map_err(|e| format!("a ping failed: {e}"))
    };
    match tokio::time::timeout(ANSWER_BOUND, asked).await {
        Ok(r) => r,
        Err(_) => Err(format!("a ping went unanswered for {:.0} s", ANSWER_BOUND.as_secs_f64())),
    }
}

/// Records the run's first loss of the engine; a later one changes nothing.
fn record_loss(tx: &watch::Sender<EngineHealth>, started: Instant, how: String) {
    tx.send_if_modified(|h| {
        if h.lost.is_some() {
            return false;
        }
        h.lost = Some(EngineLoss { at: started.elapsed(), how });
        true
    });
}

/// The pid of a local engine, from its pid file: `None` for a remote engine or none found.
fn local_engine_pid() -> Option<String> {
    if !crate::engine::broker::engine_is_local() {
        return None;
    }
    ["/var/run/docker.pid", "/run/docker.pid"].iter().find_map(|p| std::fs::read_to_string(p).ok()).map(|s| s.trim().to_string())
}

/// Whether a local engine's pid changed since `first`: a restart, however quick.
fn restarted(first: &Option<String>) -> Option<String> {
    let first = first.as_ref()?;
    match local_engine_pid() {
        Some(now) if &now != first => Some(format!("it restarted: dockerd pid {first}, now {now}")),
        _ => None,
    }
}

async fn watch_engine(tx: Arc<watch::Sender<EngineHealth>>, started: Instant, first_pid: Option<String>) {
    let lost = |how: String| record_loss(&tx, started, how);
    // Answering: the event stream and the heartbeat, until one fails.
    loop {
        let docker = match testcontainers::core::client::docker_client_instance().await {
            Ok(d) => d,
            Err(e) => {
                lost(format!("no client for it: {e}"));
                break;
            }
        };
        let filters = HashMap::from([("label".to_string(), vec![format!("{TOOL_LABEL}={TOOL}")])]);
        let mut events = docker.events(Some(EventsOptionsBuilder::default().filters(&filters).build()));
        let mut beat = tokio::time::interval(HEARTBEAT);
        let failed = loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break format!("its event stream failed: {e}"),
                    None => break "its event stream ended".to_string(),
                },
                _ = beat.tick() => {
                    if let Err(how) = ping().await {
                        break how;
                    }
                    if let Some(how) = restarted(&first_pid) {
                        break how;
                    }
                }
            }
        };
        // A stream can end for reasons of its own (a proxy between us and the engine): only
        // a ping that fails too, or a restart, makes it a loss.
        let answers = ping().await.is_ok();
        if answers && failed.starts_with("its event stream") {
            match restarted(&first_pid) {
                None => continue,
                Some(how) => {
                    lost(format!("{failed}; {how}"));
                    tx.send_modify(|h| h.back_at = Some(started.elapsed()));
                    return;
                }
            }
        }
        lost(failed);
        if answers {
            tx.send_modify(|h| h.back_at = Some(started.elapsed()));
            return;
        }
        break;
    }
    // Lost: asked every heartbeat until it answers again.
    let mut beat = tokio::time::interval(HEARTBEAT);
    loop {
        beat.tick().await;
        if ping().await.is_ok() {
            tx.send_modify(|h| h.back_at = Some(started.elapsed()));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_engine_gives_no_cause() {
        assert_eq!(EngineHealth::default().cause(), None);
        assert!(!EngineHealth::default().faulted());
    }

    #[test]
    fn a_lost_engine_is_named_with_its_time_and_how_it_showed() {
        let h = EngineHealth { lost: Some(EngineLoss { at: Duration::from_millis(19_040), how: "its event stream ended".into() }), back_at: None };
        let cause = h.cause().expect("a cause");
        assert!(cause.starts_with("the Docker engine stopped answering at 19.0 s into the run (its event stream ended)"), "{cause}");
        assert!(!cause.contains("answered again"), "{cause}");
    }

    #[test]
    fn an_engine_that_came_back_says_when() {
        let h = EngineHealth {
            lost: Some(EngineLoss { at: Duration::from_secs(19), how: "a ping failed".into() }),
            back_at: Some(Duration::from_millis(24_250)),
        };
        assert!(h.cause().expect("a cause").contains("and answered again at 24.2 s into the run"));
    }
}
