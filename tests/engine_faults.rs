//! The harness's own engine failing under a run: killed, restarted and hung mid-hold. Every
//! cell of such a run is an ERROR that names the engine, never a broker's drop; the run's
//! exit status is 2 ("the harness could not run"), never 1; and nothing of the run is left
//! 30 s after the engine's return.
//!
//! These tests kill the Docker engine, so they cannot share a process with tests that need
//! it running: they are a target of their own, run one at a time
//! (`cargo test --test engine_faults -- --test-threads=1`), after `tests/docker.rs`. They touch
//! only the `dockerd` that `docker/engine.sh` started (its pid in
//! `/run/mosquitto-matrix/dockerd.pid`), never an engine that was there before, and bring it
//! back with `docker/engine.sh` whatever happens. Without that engine they fail, never skip.

#[path = "support/background.rs"]
mod background;

use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mosquitto_matrix::engine::cleanup::labelled_containers;
use mosquitto_matrix::engine::labels::RUN_LABEL;
use mosquitto_matrix::engine::network;
use mosquitto_matrix::judge::results::RunResult;
use mosquitto_matrix::plan::{MatrixFile, Outcome, Plan, Selection, Timing};
use mosquitto_matrix::report::compare;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Where `docker/engine.sh` records the engine it started.
const MARKER: &str = "/run/mosquitto-matrix/dockerd.pid";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The project's own engine, restored (continued if stopped, started again if gone) when
/// dropped, whatever the test did or how it ended.
struct OurEngine {
    pid: i32,
}

impl OurEngine {
    fn find() -> OurEngine {
        let read = |p: &str| std::fs::read_to_string(p).ok().and_then(|t| t.trim().parse::<i32>().ok());
        let ours = read(MARKER).unwrap_or_else(|| panic!("{MARKER} is missing: run `bash docker/engine.sh` so that the engine these tests may kill is the project's own"));
        let running = read("/var/run/docker.pid").expect("the engine's pid file /var/run/docker.pid");
        assert_eq!(ours, running, "the running engine (pid {running}) is not the one docker/engine.sh started (pid {ours}); these tests kill only that one");
        assert!(Path::new(&format!("/proc/{ours}")).exists(), "dockerd {ours} is not running");
        OurEngine { pid: ours }
    }

    fn signal(&self, s: Signal) {
        kill(Pid::from_raw(self.pid), s).unwrap_or_else(|e| panic!("{s} to dockerd {}: {e}", self.pid));
    }

    /// Waits (an event: the process's pidfd becomes readable) until dockerd has exited.
    async fn exited(&self, limit: Duration) {
        let fd: OwnedFd = rustix::process::pidfd_open(rustix::process::Pid::from_raw(self.pid).expect("a pid"), rustix::process::PidfdFlags::empty())
            .expect("a pidfd for dockerd");
        let waited = tokio::task::spawn_blocking(move || {
            let mut fds = [rustix::event::PollFd::new(&fd, rustix::event::PollFlags::IN)];
            let limit = rustix::event::Timespec::try_from(limit).expect("a time limit");
            rustix::event::poll(&mut fds, Some(&limit)).expect("poll the pidfd")
        });
        assert_eq!(waited.await.expect("the wait ends"), 1, "dockerd exits within {limit:?}");
    }

    /// Starts the engine again (`docker/engine.sh`), blocking until it answers.
    fn restore(&self) {
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGCONT);
        let status = Command::new("bash").arg(root().join("docker/engine.sh")).status().expect("docker/engine.sh runs");
        assert!(status.success(), "docker/engine.sh could not bring the engine back");
    }
}

impl Drop for OurEngine {
    fn drop(&mut self) {
        self.restore();
    }
}

fn plan(tags: &[&str], profiles: &[&str], hold: Duration) -> Plan {
    let file = MatrixFile::load(&root().join("matrix.toml")).expect("matrix.toml loads");
    let sel = Selection {
        set: Some("debian".into()),
        tags: Some(tags.iter().map(|t| t.to_string()).collect()),
        profiles: Some(profiles.iter().map(|p| p.to_string()).collect()),
        hold: Some(format!("{}s", hold.as_secs())),
        ..Selection::default()
    };
    let mut p = Plan::new(&file, &sel).expect("plan");
    p.timing = Timing {
        hold,
        keepalive: Duration::from_secs(2),
        late_pong: Duration::from_secs(1),
        setup_timeout: Duration::from_secs(10),
        round_trip_timeout: Duration::from_secs(5),
    };
    p
}

/// How long a run may take to end once its engine failed.
const RUN_ENDS_WITHIN: Duration = Duration::from_secs(180);

/// Every cell is an ERROR whose cause names the engine, and the run's status is 2.
fn assert_blames_the_engine(r: &RunResult) {
    assert!(!r.cells.is_empty());
    for c in &r.cells {
        assert_eq!(c.verdict.outcome, Outcome::Error, "{}: {}", c.id(), c.verdict.cause);
        assert!(c.verdict.cause.contains("the Docker engine"), "{}: {}", c.id(), c.verdict.cause);
    }
    let fault = r.harness_fault.as_deref().expect("the run records the engine's fault");
    assert!(fault.starts_with("the Docker engine stopped answering at "), "{fault}");
    assert_eq!(compare::exit_status(r), mosquitto_matrix::report::exit::HARNESS_FAILED, "an engine fault is the harness's: exit 2, never 1");
}

/// Within 30 s of the engine's return, no container or network of the run remains (its reaper
/// removes them); asked every half second, since the removal is another process's work.
async fn nothing_left_within_30_s(run_id: &str, back: Instant) {
    loop {
        let containers = labelled_containers(Some(run_id)).await.map(|c| c.len()).unwrap_or(usize::MAX);
        let networks = network::labelled(Some(run_id)).await.map(|n| n.len()).unwrap_or(usize::MAX);
        if containers == 0 && networks == 0 {
            eprintln!("nothing of run {run_id} left {:.1} s after the engine's return", back.elapsed().as_secs_f64());
            return;
        }
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "30 s after the engine's return, {containers} container(s) and {networks} network(s) of run {run_id} remain (label {RUN_LABEL}={run_id})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_engine_mid_hold_is_an_error_naming_it_on_every_cell_exit_2_and_nothing_of_the_run_remains_30_s_after_its_return() {
    let engine = OurEngine::find();
    let p = plan(&["bookworm", "sid"], &["rfc6455", "paho-java-1.2.5", "tcp"], Duration::from_secs(60));
    let killed_at = Instant::now();
    let (r, run_id) = background::run_holding_then(&p, RUN_ENDS_WITHIN, |_| async {
        engine.signal(Signal::SIGKILL);
        engine.exited(Duration::from_secs(10)).await;
    })
    .await;
    // Every cell ends with the engine, not one by one at its own bound.
    assert!(killed_at.elapsed() < Duration::from_secs(40), "the run took {:?} after the kill", killed_at.elapsed());
    assert_blames_the_engine(&r);
    let left = r.left_behind.as_deref().expect("the run says what it could not remove");
    assert!(left.contains("docker rm -f $(docker ps -aq --filter label="), "{left}");
    engine.restore();
    nothing_left_within_30_s(&run_id, Instant::now()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_engine_mid_hold_is_an_error_naming_it_on_every_cell_exit_2_and_nothing_of_the_run_remains() {
    let engine = OurEngine::find();
    let p = plan(&["bookworm"], &["rfc6455", "tcp"], Duration::from_secs(60));
    let (r, run_id) = background::run_holding_then(&p, RUN_ENDS_WITHIN, |_| async {
        // A restart as a service manager does it: the engine stops (its containers with it),
        // then starts again.
        engine.signal(Signal::SIGTERM);
        engine.exited(Duration::from_secs(60)).await;
        tokio::task::block_in_place(|| engine.restore());
    })
    .await;
    assert_blames_the_engine(&r);
    nothing_left_within_30_s(&run_id, Instant::now()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_engine_when_a_session_ends_is_an_error_naming_it_never_the_brokers_drop() {
    let engine = OurEngine::find();
    let p = plan(&["bookworm"], &["rfc6455", "tcp"], Duration::from_secs(60));
    let engine_ref = &engine;
    let (r, run_id) = background::run_holding_then(&p, RUN_ENDS_WITHIN, |run_id| async move {
        // The broker's own process, from the engine while it still answers; then the engine
        // stops answering (SIGSTOP: its sockets stay open, nothing comes back), and the broker
        // dies under it, so every session ends while the engine cannot say why.
        let filter = format!("label={RUN_LABEL}={run_id}");
        let id = String::from_utf8(Command::new("docker").args(["ps", "-q", "--filter", &filter]).output().expect("docker ps").stdout).expect("utf-8");
        let pid = String::from_utf8(Command::new("docker").args(["inspect", "-f", "{{.State.Pid}}", id.trim()]).output().expect("docker inspect").stdout).expect("utf-8");
        let pid: i32 = pid.trim().parse().expect("the broker's pid");
        engine_ref.signal(Signal::SIGSTOP);
        kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill the broker's process");
    })
    .await;
    assert_blames_the_engine(&r);
    for c in &r.cells {
        assert!(c.verdict.cause.contains("went unanswered"), "{}: {}", c.id(), c.verdict.cause);
    }
    engine.signal(Signal::SIGCONT);
    nothing_left_within_30_s(&run_id, Instant::now()).await;
}
