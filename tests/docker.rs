//! Real containers: the smoke test of every Debian image, readiness on stand-ins that start
//! the way old or broken images do, faults injected mid-hold, clean-up on every kind of exit,
//! loopback-only ports and the CLI's exit statuses; and the `tls` route by hand (every image's
//! `wss` listener, every real client over `wss` through the two-leg recording proxy, the hold
//! at ×10 — `MATRIX_SPEED=1` for the 330 s measurement at ×1).
//!
//! Needs a Docker engine, the `mosquitto-matrix/debian` images and the
//! `mosquitto-matrix/standin` images (`bash docker/provision.sh` builds both); run by name:
//! `cargo test --test docker`. Without them every test here fails, never skips.

#[path = "support/background.rs"]
mod background;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use mosquitto_matrix::engine::broker;
use mosquitto_matrix::engine::tls::RunTls;
use mosquitto_matrix::engine::cleanup::labelled_containers;
use mosquitto_matrix::engine::labels::{self, Labels, RUN_LABEL};
use mosquitto_matrix::plan::{MatrixFile, Plan, Selection};
use mosquitto_matrix::plan::Profile;
use mosquitto_matrix::judge::record::SessionRecord;
use mosquitto_matrix::judge::results::{RunResult, Status};
use mosquitto_matrix::run::{self, reaper, Progress};
use mosquitto_matrix::client::{self as session, SessionSpec};
use mosquitto_matrix::plan::{Timing, Transport};
use mosquitto_matrix::report;
use mosquitto_matrix::judge::verdict::decide;
use mosquitto_matrix::plan::Outcome;
use mosquitto_matrix::report::compare;
use mosquitto_matrix::report::exit;
use rstest::rstest;

/// Both listeners: every broker started directly here must answer on both before it is used.
const BOTH: [Transport; 2] = [Transport::Ws, Transport::Tcp];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn file() -> MatrixFile {
    MatrixFile::load(&root().join("matrix.toml")).expect("matrix.toml loads")
}

fn quick_timing(hold: Duration) -> Timing {
    Timing {
        hold,
        keepalive: Duration::from_secs(2),
        late_pong: Duration::from_secs(1),
        setup_timeout: Duration::from_secs(10),
        round_trip_timeout: Duration::from_secs(5),
    }
}

fn plan(tags: &[&str], profiles: &[&str], hold: &str) -> Plan {
    let sel = Selection {
        set: Some("debian".into()),
        tags: Some(tags.iter().map(|t| t.to_string()).collect()),
        profiles: Some(profiles.iter().map(|p| p.to_string()).collect()),
        hold: Some(hold.into()),
        ..Selection::default()
    };
    Plan::new(&file(), &sel).expect("plan")
}

/// How long a run that a test faults may take to end by itself.
const RUN_ENDS_WITHIN: Duration = Duration::from_secs(300);

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("the docker client runs");
    assert!(out.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `p` under a new run id and shows its result: the result, the run id and how long the
/// run took.
async fn timed_run(p: &Plan) -> (RunResult, String, Duration) {
    let run_id = labels::new_run_id();
    let start = Instant::now();
    let r = run::run(p, &run_id, None).await;
    let took = start.elapsed();
    show(&r);
    (r, run_id, took)
}

async fn left_behind(run_id: &str) -> usize {
    labelled_containers(Some(run_id)).await.expect("the engine lists containers").len()
}

async fn session(b: &broker::Broker, profile: Profile, password: &str) -> SessionRecord {
    let f = file();
    session::run(&SessionSpec {
        protocol: mosquitto_matrix::wire::mqtt::Protocol::V311,
        profile,
        host: b.host.clone(),
        port: b.port(profile.transport()),
        path: "/mqtt".into(),
        username: f.broker.username.clone(),
        password: password.into(),
        client_id: format!("smoke-{}", profile.name()),
        topic: format!("test/smoke-{}", profile.name()),
        timing: quick_timing(Duration::from_millis(500)),
        started: Default::default(),
        tls: None,
    })
    .await
}

#[rstest]
#[case::bullseye("bullseye")]
#[case::bookworm("bookworm")]
#[case::trixie("trixie")]
#[case::sid("sid")]
#[tokio::test(flavor = "multi_thread")]
async fn every_debian_image_accepts_the_test_user_over_websocket_and_tcp_and_refuses_a_wrong_password(#[case] suite: &str) {
    let f = file();
    let run_id = labels::new_run_id();
    let labels = Labels { run_id: run_id.clone(), cell: format!("smoke/{suite}"), lifetime: Duration::from_secs(600) };
    let b = broker::start("mosquitto-matrix/debian", suite, &f.broker, &labels, &BOTH, None, None, None, |_| {}).await.unwrap_or_else(|e| panic!("{e}"));
    let ws = session(&b, Profile::Rfc6455, &f.broker.password).await;
    let tcp = session(&b, Profile::Tcp, &f.broker.password).await;
    let wrong = session(&b, Profile::Rfc6455, "not-the-password").await;
    let wrong_tcp = session(&b, Profile::Tcp, "not-the-password").await;
    eprintln!("{suite}: ws {:?}\ntcp {:?}\nwrong {:?}", decide(&ws), decide(&tcp), decide(&wrong));
    assert!(ws.connected && decide(&ws).outcome == Outcome::Ok, "{suite}: WebSocket CONNECT on 9001 is accepted");
    assert_eq!(ws.subprotocol.as_deref(), Some("mqtt"));
    assert!(tcp.connected && decide(&tcp).outcome == Outcome::Ok, "{suite}: TCP CONNECT on 1883 is accepted");
    for (what, r) in [("WebSocket", &wrong), ("TCP", &wrong_tcp)] {
        let v = decide(r);
        assert_eq!(v.outcome, Outcome::Refused, "{suite}: a wrong password over {what} is refused: {}", v.cause);
        assert!(matches!(v.connack_code, Some(4) | Some(5)), "{suite}: {}", v.cause);
    }
    assert!(ws.broker_version.as_deref().is_some_and(|v| v.starts_with("mosquitto version ")), "{:?}", ws.broker_version);
    b.container.rm().await.expect("removed");
    assert_eq!(left_behind(&run_id).await, 0);
}

/// A built-in session on the broker's `wss` listener, trusting `tls`'s CA.
async fn wss_session(b: &broker::Broker, profile: Profile, tls: &std::sync::Arc<RunTls>) -> SessionRecord {
    let f = file();
    session::run(&SessionSpec {
        protocol: mosquitto_matrix::wire::mqtt::Protocol::V311,
        profile,
        host: b.host.clone(),
        port: b.wss_port.expect("the broker has a wss listener"),
        path: "/mqtt".into(),
        username: f.broker.username.clone(),
        password: f.broker.password.clone(),
        client_id: format!("smoke-tls-{}", profile.name()),
        topic: format!("test/smoke-tls-{}", profile.name()),
        timing: quick_timing(Duration::from_millis(500)),
        started: Default::default(),
        tls: Some(std::sync::Arc::clone(tls)),
    })
    .await
}

#[rstest]
#[case::bullseye("mosquitto-matrix/debian", "bullseye")]
#[case::bookworm("mosquitto-matrix/debian", "bookworm")]
#[case::trixie("mosquitto-matrix/debian", "trixie")]
#[case::sid("mosquitto-matrix/debian", "sid")]
#[case::musl("mosquitto-matrix/musl", "2.0.11")]
#[tokio::test(flavor = "multi_thread")]
async fn every_image_serves_the_runs_certificate_on_its_wss_listener_and_a_foreign_ca_is_refused(#[case] image: &str, #[case] tag: &str) {
    let f = file();
    let run_id = labels::new_run_id();
    let labels = Labels { run_id: run_id.clone(), cell: format!("tls/{tag}"), lifetime: Duration::from_secs(600) };
    let tls = std::sync::Arc::new(RunTls::temporary(&run_id).expect("the run's TLS material"));
    let b = broker::start(image, tag, &f.broker, &labels, &BOTH, None, Some(&tls), None, |_| {}).await.unwrap_or_else(|e| panic!("{e}"));
    let port = b.wss_port.expect("a wss port is published");
    let ports = docker(&["inspect", "--format", "{{json .NetworkSettings.Ports}}", b.container.id()]);
    assert!(ports.contains("9443/tcp") && ports.contains(&format!("\"HostPort\":\"{port}\"")), "{ports}");
    for profile in [Profile::Rfc6455, Profile::Rumqttc] {
        let r = wss_session(&b, profile, &tls).await;
        let v = decide(&r);
        assert_eq!(v.outcome, Outcome::Ok, "{image}:{tag}: {profile} over wss: {}", v.cause);
        assert!(r.connected, "{image}:{tag}: {profile}");
    }
    let foreign = std::sync::Arc::new(RunTls::temporary("foreign").expect("another CA"));
    let refused = wss_session(&b, Profile::Rfc6455, &foreign).await;
    let v = decide(&refused);
    assert_eq!(v.outcome, Outcome::Error, "{image}:{tag}: a foreign CA is the harness's error: {}", v.cause);
    assert!(v.cause.contains("not trusted"), "{}", v.cause);
    b.container.rm().await.expect("removed");
    assert_eq!(left_behind(&run_id).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_publishes_its_ports_on_loopback_only() {
    let f = file();
    let run_id = labels::new_run_id();
    let labels = Labels { run_id: run_id.clone(), cell: "binding/sid".into(), lifetime: Duration::from_secs(600) };
    let b = broker::start("mosquitto-matrix/debian", "sid", &f.broker, &labels, &BOTH, None, None, None, |_| {}).await.unwrap_or_else(|e| panic!("{e}"));
    let ports = docker(&["inspect", "--format", "{{json .NetworkSettings.Ports}}", b.container.id()]);
    let map: serde_json::Value = serde_json::from_str(&ports).expect("JSON");
    for p in ["1883/tcp", "9001/tcp"] {
        let bindings = map[p].as_array().unwrap_or_else(|| panic!("{p} is published: {ports}"));
        assert!(!bindings.is_empty());
        for binding in bindings {
            assert_eq!(binding["HostIp"], "127.0.0.1", "{p} is bound to loopback only: {ports}");
        }
    }
    b.container.rm().await.expect("removed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_normal_run_reports_ok_and_leaves_no_labelled_container() {
    let p = plan(&["bookworm", "sid"], &["rfc6455", "rumqttc", "tcp"], "3s");
    let run_id = labels::new_run_id();
    let r = run::run(&p, &run_id, None).await;
    for c in &r.cells {
        assert_eq!(c.verdict.outcome, Outcome::Ok, "{}: {}", c.id(), c.verdict.cause);
        assert!(!c.verdict.five_minute_mark_reached);
    }
    assert!(r.tags.iter().all(|t| t.broker_version.is_some() && t.image.lws_version.is_some()));
    assert_eq!(left_behind(&run_id).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sys_version_is_filled_when_only_a_command_column_runs() {
    // Paho C subscribes only to its own topic: the version comes from the engine's own probe.
    let p = plan(&["bookworm", "sid"], &["paho-c"], "3s");
    let r = run::run(&p, &labels::new_run_id(), None).await;
    let versions: Vec<(&str, Option<&str>)> = r.tags.iter().map(|t| (t.tag.as_str(), t.broker_version.as_deref())).collect();
    assert_eq!(versions, [("bookworm", Some("mosquitto version 2.0.11")), ("sid", Some("mosquitto version 2.1.2"))]);
    for c in &r.cells {
        assert_eq!(c.verdict.outcome, Outcome::Ok, "{}: {}", c.id(), c.verdict.cause);
    }
}

fn panics_on_tcp(spec: SessionSpec) -> BoxFuture<'static, SessionRecord> {
    Box::pin(async move {
        assert!(spec.profile != Profile::Tcp, "a deliberate panic inside the tcp cell");
        session::run(&spec).await
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_inside_one_cell_is_an_error_for_that_cell_only_and_leaves_no_container() {
    let p = plan(&["sid"], &["rfc6455", "tcp"], "2s");
    let run_id = labels::new_run_id();
    let r = run::run_with(&p, &run_id, None, panics_on_tcp).await;
    let tcp = r.cell("sid", Profile::Tcp.name()).expect("tcp cell");
    assert_eq!(tcp.status, Status::Error);
    assert!(tcp.verdict.cause.contains("panicked"), "{}", tcp.verdict.cause);
    assert_eq!(r.cell("sid", Profile::Rfc6455.name()).expect("ws cell").verdict.outcome, Outcome::Ok);
    assert_eq!(compare::exit_status(&r), exit::CELLS_ERRORED);
    assert_eq!(left_behind(&run_id).await, 0);
}

/// Runs bookworm with rfc6455 and tcp, keepalive 2 s, and does `fault` to its container
/// 2 s into the hold.
async fn run_with_fault(fault: &[&str]) -> (RunResult, String) {
    let mut p = plan(&["bookworm"], &["rfc6455", "tcp"], "20s");
    p.timing = quick_timing(Duration::from_secs(20));
    let mut running = background::start(&p);
    while let Some(event) = running.events.recv().await {
        if let Progress::BrokerReady { .. } = event {
            // The fault's moment is part of the script, not a wait for an event.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let id = docker(&["ps", "-q", "--filter", &format!("label={RUN_LABEL}={}", running.run_id)]);
            let mut args: Vec<&str> = fault.to_vec();
            args.push(&id);
            docker(&args);
        }
    }
    eprintln!("after {fault:?}:");
    let (r, run_id) = running.result(RUN_ENDS_WITHIN).await;
    assert_eq!(left_behind(&run_id).await, 0, "no container left after {fault:?}");
    (r, run_id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_broker_is_reported_as_dead_with_its_exit_status() {
    let (r, _) = run_with_fault(&["kill"]).await;
    for c in &r.cells {
        assert_eq!(c.verdict.outcome, Outcome::Eof, "{}", c.verdict.cause);
        assert!(c.verdict.cause.starts_with("the broker container exited with status 137"), "{}", c.verdict.cause);
        assert_eq!(c.status, Status::Changed);
    }
    assert_eq!(compare::exit_status(&r), exit::CHANGED);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_broker_is_a_timeout_once_the_keepalive_allows() {
    // The harness un-pauses the container itself before removing it.
    let (r, _) = run_with_fault(&["pause"]).await;
    for c in &r.cells {
        assert_eq!(c.verdict.outcome, Outcome::Timeout, "{}", c.verdict.cause);
        // One keepalive (2 s) after the unanswered PINGREQ: client::core::State::pingresp_deadline.
        assert!(c.verdict.cause.contains("no PINGRESP to the PINGREQ at ") && c.verdict.cause.contains(", 2.0 s later"), "{}", c.verdict.cause);
        assert!(c.verdict.cause.contains("paused"), "{}", c.verdict.cause);
        let at = c.verdict.at.expect("a time");
        assert!(at > Duration::from_secs(3) && at < Duration::from_secs(10), "{at:?}");
    }
    assert_eq!(compare::exit_status(&r), exit::CHANGED);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_broker_ends_the_session_with_the_restart_noted() {
    let (r, _) = run_with_fault(&["restart", "-t", "0"]).await;
    for c in &r.cells {
        assert_ne!(c.verdict.outcome, Outcome::Ok, "{}", c.verdict.cause);
        assert!(c.verdict.cause.contains("restarted"), "{}", c.verdict.cause);
    }
    assert_eq!(compare::exit_status(&r), exit::CHANGED);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_cut_off_its_network_is_a_timeout_or_eof_attributed_to_the_network() {
    let (r, _) = run_with_fault(&["network", "disconnect", "bridge"]).await;
    for c in &r.cells {
        assert!(matches!(c.verdict.outcome, Outcome::Timeout | Outcome::Eof), "{:?}: {}", c.verdict.outcome, c.verdict.cause);
        assert!(c.verdict.cause.contains("cut off its network"), "{}", c.verdict.cause);
    }
    assert_eq!(compare::exit_status(&r), exit::CHANGED);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_that_cannot_be_had_is_error_within_60_s_and_the_rest_still_runs() {
    let p = plan(&["sid", "no-such-suite"], &["rfc6455"], "2s");
    let (r, run_id, took) = timed_run(&p).await;
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let missing = r.cell("no-such-suite", Profile::Rfc6455.name()).expect("cell");
    assert_eq!(missing.verdict.outcome, Outcome::Error);
    assert_eq!(missing.verdict.cause, "not run: the broker of no-such-suite could not be had");
    let why = tag(&r, "no-such-suite").error.clone().unwrap_or_default();
    assert!(why.contains("mosquitto-matrix/debian:no-such-suite"), "{why}");
    eprintln!("missing image: {why}");
    assert_eq!(r.cell("sid", Profile::Rfc6455.name()).expect("cell").verdict.outcome, Outcome::Ok);
    assert_eq!(left_behind(&run_id).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_refuses_its_config_is_error_at_once_with_its_exit_status_and_the_last_lines_of_its_log() {
    let dir = tempdir("never-ready");
    let conf = dir.join("mosquitto.conf");
    std::fs::write(&conf, "log_dest stderr\nlistener 1883\nno_such_option true\n").expect("write");
    let mut p = plan(&["sid"], &["rfc6455"], "2s");
    p.broker.config = conf;
    p.broker.startup_timeout = Duration::from_secs(20);
    let (r, run_id, took) = timed_run(&p).await;
    assert!(took < Duration::from_secs(10), "an exit ends the wait at once: {took:?}");
    let c = r.cell("sid", Profile::Rfc6455.name()).expect("cell");
    assert_eq!(c.verdict.outcome, Outcome::Error);
    let why = tag(&r, "sid").error.clone().unwrap_or_default();
    assert!(why.contains("the broker container exited with status"), "{why}");
    assert!(why.contains("last broker log lines"), "{why}");
    assert!(why.contains("no_such_option"), "{why}");
    assert_eq!(left_behind(&run_id).await, 0);
}

fn tag<'a>(r: &'a RunResult, name: &str) -> &'a mosquitto_matrix::judge::results::TagResult {
    r.tags.iter().find(|t| t.tag == name).unwrap_or_else(|| panic!("a TagResult for {name}"))
}

/// The stand-ins: bookworm's real broker behind entrypoints that start it the way old or
/// broken images do (docker/build-standin-images.sh, run by docker/provision.sh).
const STANDIN: &str = "mosquitto-matrix/standin";

/// The stand-in's image, or a failure that says how to build it.
async fn standin(name: &str) -> testcontainers::bollard::models::ImageInspect {
    let docker = testcontainers::core::client::docker_client_instance().await.expect("a Docker engine (bash docker/engine.sh)");
    docker.inspect_image(&format!("{STANDIN}:{name}")).await.unwrap_or_else(|e| {
        panic!("{STANDIN}:{name} is not built here ({e}); bash docker/provision.sh builds it (docker/build-standin-images.sh)")
    })
}

/// A plan over stand-in tags: no expectations (they are not in matrix.toml), so cells are "new".
fn standin_plan(tags: &[&str], profiles: &[&str], hold: &str) -> Plan {
    let mut p = plan(tags, profiles, hold);
    p.image = STANDIN.into();
    p
}

fn show(r: &RunResult) {
    eprintln!("{}", report::table(r));
    for t in &r.tags {
        eprintln!("{}: startup {:?} s, error {:?}", t.tag, t.startup_secs, t.error);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_never_logs_running_is_ready_by_its_answers_and_its_sessions_are_ok() {
    standin("quiet").await;
    let f = file();
    // Started directly first, to see what it logged by the time it was ready.
    let run_id = labels::new_run_id();
    let labels = Labels { run_id: run_id.clone(), cell: "standin/quiet".into(), lifetime: Duration::from_secs(600) };
    let b = broker::start(STANDIN, "quiet", &f.broker, &labels, &BOTH, None, None, None, |_| {}).await.unwrap_or_else(|e| panic!("{e}"));
    let log = broker::log_tail(b.container.id()).await;
    eprintln!("quiet: ready in {:.2} s ({:.2} s after the container ran); log: {log:?}", b.startup.as_secs_f64(), b.ready_after.as_secs_f64());
    assert!(log.iter().any(|l| l.contains("Opening websockets listen socket on port 9001")), "{log:?}");
    assert!(!log.iter().any(|l| l.contains("running")), "the stand-in hides every line with \"running\": {log:?}");
    b.container.rm().await.expect("removed");

    let p = standin_plan(&["quiet"], &["rfc6455", "paho-java-1.2.5", "tcp"], "2s");
    let r = run::run(&p, &run_id, None).await;
    show(&r);
    let t = tag(&r, "quiet");
    assert!(t.error.is_none(), "{:?}", t.error);
    assert!(t.startup_secs.is_some_and(|s| s < 30.0), "{:?}", t.startup_secs);
    for c in &r.cells {
        assert_eq!(c.verdict.outcome, Outcome::Ok, "{}: {}", c.id(), c.verdict.cause);
    }
    assert_eq!(left_behind(&run_id).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_listens_seconds_after_its_start_up_lines_is_ready_only_then_and_no_session_ends_at_0_s() {
    let image = standin("late").await;
    let env = image.config.and_then(|c| c.env).unwrap_or_default();
    let delay: f64 = env
        .iter()
        .find_map(|e| e.strip_prefix("STANDIN_DELAY="))
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("{STANDIN}:late sets STANDIN_DELAY: {env:?}"));
    let p = standin_plan(&["late"], &["rfc6455", "paho-java-1.2.5", "no-pong", "rumqttc", "tcp"], "2s");
    let run_id = labels::new_run_id();
    let r = run::run(&p, &run_id, None).await;
    show(&r);
    let t = tag(&r, "late");
    assert!(t.error.is_none(), "{:?}", t.error);
    let startup = t.startup_secs.expect("a start-up time");
    assert!(startup >= delay, "ready after {startup:.2} s, but the broker only listens {delay} s after its start-up lines");
    assert!(startup < delay + 30.0, "{startup:.2} s");
    for c in &r.cells {
        let early_eof = c.verdict.outcome == Outcome::Eof && c.verdict.at.is_some_and(|a| a < Duration::from_millis(100));
        assert!(!early_eof, "{}: EOF at 0.0 s — a session started before the broker listened: {}", c.id(), c.verdict.cause);
        assert_eq!(c.verdict.outcome, Outcome::Ok, "{}: {}", c.id(), c.verdict.cause);
    }
    assert_eq!(left_behind(&run_id).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_whose_listeners_never_answer_is_error_within_the_startup_timeout_said_once_with_its_log() {
    standin("deaf").await;
    let mut p = standin_plan(&["deaf"], &["rfc6455", "tcp"], "2s");
    p.broker.startup_timeout = Duration::from_secs(5);
    let (r, run_id, took) = timed_run(&p).await;
    eprintln!("deaf: ERROR after {:.2} s", took.as_secs_f64());
    assert!(took >= Duration::from_secs(5) && took < Duration::from_secs(15), "{took:?}");
    let why = tag(&r, "deaf").error.clone().unwrap_or_default();
    assert!(why.contains("broker not ready within 5 s"), "{why}");
    // It said it was running; it never answered. The log is quoted, not trusted.
    assert!(why.contains("mosquitto version 2.0.11 running"), "{why}");
    for c in &r.cells {
        assert_eq!(c.status, Status::Error, "{}", c.id());
        assert_eq!(c.verdict.cause, "not run: the broker of deaf could not be had");
    }
    let failures = report::failures(&r);
    assert_eq!(failures.len(), 1, "said once for the tag: {failures:?}");
    assert!(failures[0].starts_with("deaf: broker not ready within 5 s ("), "{failures:?}");
    assert!(failures[0].contains(" — 2 cells not run; last log lines: "), "{failures:?}");
    assert_eq!(report::table(&r).matches("broker not ready").count(), 1);
    assert_eq!(compare::exit_status(&r), exit::CELLS_ERRORED);
    assert_eq!(left_behind(&run_id).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_exits_at_start_is_error_at_once_naming_its_exit_status_and_its_last_words() {
    standin("exits").await;
    let p = standin_plan(&["exits"], &["rfc6455", "tcp"], "2s");
    assert_eq!(p.broker.startup_timeout, Duration::from_secs(60), "matrix.toml's own limit");
    let (r, run_id, took) = timed_run(&p).await;
    eprintln!("exits: ERROR after {:.2} s", took.as_secs_f64());
    assert!(took < Duration::from_secs(10), "well before the 60 s limit: {took:?}");
    let t = tag(&r, "exits");
    let why = t.error.clone().unwrap_or_default();
    assert!(why.contains("the broker container exited with status 1"), "{why}");
    assert!(why.contains("Unable to start any listening sockets"), "{why}");
    assert_eq!(t.failure.as_ref().and_then(|f| f.exit_status), Some(1));
    let failures = report::failures(&r);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].starts_with("exits: the broker container exited with status 1"), "{failures:?}");
    assert_eq!(left_behind(&run_id).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_whose_clock_does_not_run_is_error_acceleration_not_in_effect_said_once() {
    standin("realtime").await;
    let mut p = standin_plan(&["realtime"], &["rfc6455", "no-pong", "tcp"], "20s");
    p.speed = 10;
    let (r, run_id, took) = timed_run(&p).await;
    let t = tag(&r, "realtime");
    let why = t.error.clone().unwrap_or_default();
    assert!(why.contains("acceleration not in effect"), "{why}");
    assert!(t.clock.is_none(), "no proof for a clock that did not run");
    for c in &r.cells {
        assert_eq!(c.verdict.outcome, Outcome::Error, "{}: nothing is OK on a clock that did not run", c.id());
    }
    let failures = report::failures(&r);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(took < Duration::from_secs(30), "the proof gives up within its bound: {took:?}");
    assert_eq!(left_behind(&run_id).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_accelerated_broker_proves_its_speed_and_the_musl_image_gets_the_musl_library() {
    let mut p = plan(&["bookworm"], &["rfc6455", "tcp"], "20s");
    p.speed = 10;
    let mut m = plan(&["2.0.11"], &["rfc6455", "tcp"], "20s");
    m.image = "mosquitto-matrix/musl".into();
    m.speed = 10;
    let run_id = labels::new_run_id();
    let (r, rm) = tokio::join!(run::run(&p, &run_id, None), run::run(&m, &run_id, None));
    show(&r);
    show(&rm);
    for (result, tag_name, libc) in [(&r, "bookworm", "glibc"), (&rm, "2.0.11", "musl")] {
        let t = tag(result, tag_name);
        let c = t.clock.as_ref().unwrap_or_else(|| panic!("{tag_name}: no clock proof: {:?}", t.error));
        assert_eq!((c.libc.as_str(), c.speed), (libc, 10));
        assert!((c.ratio - 10.0).abs() <= 0.5, "{tag_name}: ×{}", c.ratio);
        for cell in &result.cells {
            assert_eq!(cell.verdict.outcome, Outcome::Ok, "{}: {}", cell.id(), cell.verdict.cause);
        }
    }
    assert_eq!(left_behind(&run_id).await, 0);
}

/// A folder under the system temp dir that is removed when dropped, also when a test fails.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("mosquitto-matrix-{name}-{}", labels::new_run_id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    TempDir(d)
}

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mosquitto-matrix"));
    c.current_dir(root()).stdin(Stdio::null());
    c
}

#[test]
fn a_wrong_engine_address_exits_2_with_one_clear_line_within_10_s() {
    for host in ["unix:///nonexistent/docker.sock", "tcp://127.0.0.1:9"] {
        let start = Instant::now();
        let out = cli().args(["run", "--set", "debian"]).env("DOCKER_HOST", host).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(start.elapsed() < Duration::from_secs(10), "{host}: took {:?}", start.elapsed());
        assert_eq!(out.status.code(), Some(2), "{host}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{host}: {err}");
        assert!(err.contains(host), "{host}: {err}");
    }
}

/// A copy of matrix.toml with absolute broker paths, so it works from another folder.
fn matrix_copy(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(root().join("matrix.toml")).expect("read");
    let text = text.replace("\"docker/", &format!("\"{}/docker/", root().display()));
    let path = dir.join("matrix.toml");
    std::fs::write(&path, edit(text)).expect("write");
    path
}

#[test]
fn a_changed_expectation_exits_1_and_names_the_cell() {
    let dir = tempdir("changed");
    let config = matrix_copy(&dir, |t| {
        t.lines()
            .map(|l| if l.starts_with("\"sid\"") { l.replacen("rfc6455 = \"OK\"", "rfc6455 = \"EOF@1\"", 1) } else { l.to_string() })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let junit = dir.join("junit.xml");
    let out = cli()
        .args(["run", "--set", "debian", "--tags", "sid", "--profiles", "rfc6455,tcp", "--hold", "3s", "--format", "markdown"])
        .arg("--config")
        .arg(&config)
        .arg("--junit")
        .arg(&junit)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("≠ expected EOF@1"), "{stdout}");
    assert!(stdout.contains("sid/rfc6455: alive"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    assert!(xml.contains("name=\"sid/rfc6455\""), "{xml}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run_id = stderr
        .lines()
        .find_map(|l| l.strip_prefix("run id "))
        .and_then(|l| l.split(':').next())
        .expect("the CLI names its run id");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    assert_eq!(runtime.block_on(left_behind(run_id)), 0, "a failing run leaves no container");
}

fn outcomes(json: &[u8]) -> Vec<(String, String, String)> {
    let r: RunResult = serde_json::from_slice(json).expect("a JSON result");
    let mut v: Vec<_> = r.cells.iter().map(|c| (c.tag.clone(), c.profile.to_string(), c.verdict.outcome.to_string())).collect();
    v.sort();
    v
}

#[test]
fn two_shards_merged_give_the_same_cells_and_outcomes_as_one_unsharded_run() {
    let dir = tempdir("shards");
    let args = ["run", "--set", "debian", "--profiles", "rfc6455,no-pong,tcp", "--hold", "3s", "--format", "json"];
    let said = |o: &std::process::Output| format!("{}\n{}", String::from_utf8_lossy(&o.stderr), String::from_utf8_lossy(&o.stdout));
    let whole = cli().args(args).output().expect("runs");
    assert_eq!(whole.status.code(), Some(0), "{}", said(&whole));
    let mut shard_files = Vec::new();
    for s in ["1/2", "2/2"] {
        let out = cli().args(args).args(["--shard", s]).output().expect("runs");
        assert_eq!(out.status.code(), Some(0), "{}", said(&out));
        let f = dir.join(format!("shard-{}.json", &s[..1]));
        std::fs::write(&f, &out.stdout).expect("write");
        assert!(!outcomes(&out.stdout).is_empty());
        shard_files.push(f);
    }
    let merged = cli().arg("merge").args(&shard_files).args(["--format", "json"]).output().expect("runs");
    assert_eq!(merged.status.code(), Some(0), "{}", said(&merged));
    assert_eq!(outcomes(&merged.stdout), outcomes(&whole.stdout));
    assert_eq!(outcomes(&whole.stdout).len(), 12);
}

#[rstest]
#[case::sigint("INT", 130)]
#[case::sigterm("TERM", 143)]
#[tokio::test(flavor = "multi_thread")]
async fn a_signal_mid_hold_removes_every_container_of_the_run(#[case] signal: &str, #[case] code: i32) {
    use std::io::BufRead;
    // A command column whose client ignores SIGTERM and leaves a child: the CLI must end
    // both with the run, as it removes the brokers.
    let marker = format!("1000.{}", if signal == "INT" { 5151 } else { 5252 });
    let (mut child, mut lines) = run_with_stubborn_client(&["--set", "debian", "--profiles", "rfc6455,paho-python", "--hold", "120s"], &marker);
    let mut run_id = String::new();
    let mut line = String::new();
    let mut ready = 0;
    while lines.read_line(&mut line).expect("reads") > 0 {
        if let Some(rest) = line.strip_prefix("run id ") {
            run_id = rest.split(':').next().unwrap_or_default().to_string();
        }
        if line.contains("broker ready") {
            ready += 1;
            if ready == 4 {
                break;
            }
        }
        line.clear();
    }
    assert!(!run_id.is_empty() && ready == 4, "the run started its brokers");
    assert_eq!(left_behind(&run_id).await, 4);
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-s", signal, &pid]).status().expect("kill runs").success());
    let status = child.wait().expect("exits");
    assert_eq!(status.code(), Some(code));
    assert_eq!(left_behind(&run_id).await, 0, "SIG{signal} left containers of run {run_id}");
    let strays = processes_with(&marker);
    assert!(strays.is_empty(), "SIG{signal} left client processes: {strays:?}");
    // Paho Python's runtimes (runtime mode) were killed with the cells' groups: give the
    // kernel a moment to take what it was told to kill.
    let until = Instant::now() + Duration::from_secs(5);
    while !reaper::run_processes(&run_id).is_empty() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reaper::run_processes(&run_id), Vec::<i32>::new(), "SIG{signal} left processes of run {run_id}");
}

/// `mosquitto-matrix run ARGS` with one more command column, `stubborn`, whose client ignores
/// SIGTERM and SIGINT and leaves a child (both `sleep MARKER`); the CLI and its stderr, to read.
fn run_with_stubborn_client(args: &[&str], marker: &str) -> (std::process::Child, std::io::BufReader<std::process::ChildStderr>) {
    let stubborn = format!("stubborn=sh -c 'trap \"\" TERM INT; sleep {marker} & sleep {marker}'");
    let mut child = cli().arg("run").args(args).args(["--client", &stubborn]).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().expect("spawns");
    let stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    (child, stderr)
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc lists").flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) && cmd.contains("sleep") {
                found.push(cmd);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_brokers_and_clients_never_answer_ends_by_itself_with_every_row_ready_or_failed() {
    standin("deaf").await;
    standin("quiet").await;
    // Four copies each of a broker that never answers and one that does; a built-in column
    // and a client that never connects. Nothing may wait past its bound.
    let sel = Selection {
        set: Some("debian".into()),
        tags: Some(vec!["deaf".into(), "quiet".into()]),
        profiles: Some(vec!["rfc6455".into()]),
        clients: vec![mosquitto_matrix::plan::CommandClient::parse_ad_hoc("mute=sleep 1000").expect("a client")],
        hold: Some("10s".into()),
        copies: Some("4".into()),
        ..Selection::default()
    };
    let mut p = Plan::new(&file(), &sel).expect("plan");
    p.image = STANDIN.into();
    p.broker.startup_timeout = Duration::from_secs(5);
    p.timing.setup_timeout = Duration::from_secs(5);
    p.timing.round_trip_timeout = Duration::from_secs(5);
    let (r, run_id, took) = timed_run(&p).await;
    eprintln!("8 brokers, 16 cells that never answer or never connect: ended in {:.1} s", took.as_secs_f64());
    // hold + round trip + set-up for the mute clients, whose brokers answer; a broker's bounds.
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert_eq!(r.tags.len(), 8);
    for t in &r.tags {
        assert!(t.error.is_some() != t.startup_secs.is_some(), "{}: neither ready nor failed", t.tag);
        assert_eq!(t.error.is_some(), t.tag.starts_with("deaf#"), "{}: {:?}", t.tag, t.error);
    }
    for c in r.cells.iter().filter(|c| c.profile == "mute") {
        assert_eq!(c.verdict.outcome, Outcome::Error, "{}: {}", c.id(), c.verdict.cause);
    }
    for c in r.cells.iter().filter(|c| c.tag.starts_with("quiet#") && c.profile == "rfc6455") {
        assert_eq!(c.verdict.outcome, Outcome::Ok, "{}: {}", c.id(), c.verdict.cause);
    }
    assert_eq!(left_behind(&run_id).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_of_the_cli_mid_hold_leaves_no_container_or_client_of_its_run_within_30_s() {
    use std::io::BufRead;
    // The harness gets no chance to clean up: its reaper must.
    let marker = "1000.5353";
    let (mut child, mut lines) =
        run_with_stubborn_client(&["--set", "debian", "--tags", "bookworm,sid", "--profiles", "rfc6455,paho-python", "--hold", "60s"], marker);
    let mut run_id = String::new();
    let mut line = String::new();
    while lines.read_line(&mut line).expect("reads") > 0 {
        if let Some(rest) = line.strip_prefix("run id ") {
            run_id = rest.split(':').next().unwrap_or_default().to_string();
            break;
        }
        line.clear();
    }
    assert!(!run_id.is_empty(), "the run said its id");
    // Mid-hold: both brokers up and the stubborn clients started.
    let up = Instant::now();
    while (left_behind(&run_id).await < 2 || processes_with(marker).len() < 4) && up.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(left_behind(&run_id).await, 2, "the run started its brokers");
    assert!(processes_with(marker).len() >= 4, "the stubborn clients started");
    // Runtime mode (the default): Paho Python's cells run inside its runtimes, which must go too.
    let runtimes = || runtime_leaders(&reaper::run_processes(&run_id)).len();
    while runtimes() < 2 && up.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(runtimes(), 2, "one Paho Python runtime per default version runs");
    let killed = Instant::now();
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    while (left_behind(&run_id).await > 0 || !processes_with(marker).is_empty() || !reaper::run_processes(&run_id).is_empty())
        && killed.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("after SIGKILL: the run's containers and clients were gone {:.1} s later", killed.elapsed().as_secs_f64());
    assert_eq!(left_behind(&run_id).await, 0, "SIGKILL left containers of run {run_id}");
    assert!(processes_with(marker).is_empty(), "SIGKILL left client processes: {:?}", processes_with(marker));
    assert!(reaper::run_processes(&run_id).is_empty(), "SIGKILL left processes of run {run_id}");
}

// ---- reverse proxies (engine::proxy, engine::network) ----

use mosquitto_matrix::engine::{network, proxy};
use mosquitto_matrix::engine::proxy::{ProxyAsk, ProxyKind, ProxyTls};
use mosquitto_matrix::engine::readiness::Probe;

async fn networks_left(run_id: &str) -> usize {
    network::labelled(Some(run_id)).await.expect("the engine lists networks").len()
}

/// A proxy's ask with the run's credentials and bounds.
fn proxy_ask<'a>(kind: ProxyKind, net: &'a str, upstream: &'a str, labels: &'a Labels, tls: Option<&'a ProxyTls>, probe: &'a Probe) -> ProxyAsk<'a> {
    ProxyAsk {
        kind,
        network: net,
        upstream_host: upstream,
        upstream_port: 9001,
        labels,
        tls,
        clock: None,
        startup_timeout: Duration::from_secs(30),
        probe,
    }
}

#[rstest]
#[case::nginx(ProxyKind::Nginx)]
#[case::haproxy(ProxyKind::Haproxy)]
#[case::caddy(ProxyKind::Caddy)]
#[case::apache(ProxyKind::Apache)]
#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_passes_a_websocket_session_through_to_the_broker_and_leaves_no_container_or_network(#[case] kind: ProxyKind) {
    let f = file();
    let run_id = labels::new_run_id();
    let run_tls = std::sync::Arc::new(RunTls::temporary(&run_id).expect("the run's TLS material"));
    let tls = ProxyTls::of(&run_tls);
    let net = network::create(&run_id, Duration::from_secs(600)).await.expect("network");
    let labels = Labels { run_id: run_id.clone(), cell: format!("proxy/bookworm/{kind}"), lifetime: Duration::from_secs(600) };
    let b = broker::start("mosquitto-matrix/debian", "bookworm", &f.broker, &labels, &BOTH, None, None, Some(&net), |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let probe = Probe::new(&f.broker.username, &f.broker.password);
    let p = proxy::start(proxy_ask(kind, &net, network::BROKER_ALIAS, &labels, Some(&tls), &probe)).await.unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{}: ready in {:.2} s, ws {} wss {:?}", p.label(), p.startup.as_secs_f64(), p.ws_port, p.wss_port);
    assert!(p.wss_port.is_some(), "{kind}: the TLS listener is mapped");
    assert!(!p.version.contains("unknown"), "{kind}: the image records the package version");
    let through = |port: u16, tls: Option<std::sync::Arc<RunTls>>| SessionSpec {
        protocol: mosquitto_matrix::wire::mqtt::Protocol::V311,
        profile: Profile::Rfc6455,
        host: p.host.clone(),
        port,
        path: "/mqtt".into(),
        username: f.broker.username.clone(),
        password: f.broker.password.clone(),
        client_id: format!("through-{kind}-{}", if tls.is_some() { "wss" } else { "ws" }),
        topic: format!("test/through-{kind}"),
        timing: quick_timing(Duration::from_millis(500)),
        started: Default::default(),
        tls,
    };
    let record = session::run(&through(p.ws_port, None)).await;
    // The TLS listener terminates TLS with the run's certificate, which the client checks.
    let secure = session::run(&through(p.wss_port.expect("mapped"), Some(run_tls.clone()))).await;
    let v = decide(&secure);
    assert_eq!(v.outcome, Outcome::Ok, "{kind} over wss: {}", v.cause);
    let v = decide(&record);
    assert_eq!(v.outcome, Outcome::Ok, "{kind}: {}", v.cause);
    assert_eq!(record.subprotocol.as_deref(), Some("mqtt"), "{kind} passes the subprotocol");
    let ports = docker(&["inspect", "--format", "{{json .NetworkSettings.Ports}}", p.container.id()]);
    assert!(!ports.contains("0.0.0.0"), "{kind}: ports on loopback only: {ports}");
    assert_eq!(left_behind(&run_id).await, 2);
    p.container.rm().await.expect("proxy removed");
    b.container.rm().await.expect("broker removed");
    network::remove(&net).await.expect("network removed");
    assert_eq!(left_behind(&run_id).await, 0);
    assert_eq!(networks_left(&run_id).await, 0);
}

#[rstest]
#[case::nginx(ProxyKind::Nginx)]
#[case::haproxy(ProxyKind::Haproxy)]
#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_that_refuses_its_configuration_is_a_proxy_error_naming_it_with_its_log_and_the_run_cleans_it_up(#[case] kind: ProxyKind) {
    let f = file();
    let run_id = labels::new_run_id();
    let net = network::create(&run_id, Duration::from_secs(600)).await.expect("network");
    let labels = Labels { run_id: run_id.clone(), cell: format!("proxy/bookworm/{kind}"), lifetime: Duration::from_secs(600) };
    let probe = Probe::new(&f.broker.username, &f.broker.password);
    // An upstream no name server knows: both refuse such a configuration at start.
    let started = Instant::now();
    let e = match proxy::start(proxy_ask(kind, &net, "no-such-broker", &labels, None, &probe)).await {
        Ok(p) => panic!("{} started on an upstream that does not resolve", p.label()),
        Err(e) => e,
    };
    eprintln!("{kind}: {e} (after {:.1} s)", started.elapsed().as_secs_f64());
    assert!(e.proxy().starts_with(kind.name()), "{e}");
    assert!(e.to_string().starts_with(&format!("proxy {kind} ")), "{e}");
    assert!(e.reason().contains("exited"), "{e}");
    assert!(e.log_tail().iter().any(|l| l.contains("no-such-broker")), "{kind}: its log names the upstream: {e}");
    assert!(started.elapsed() < Duration::from_secs(30), "said at once, not at the bound");
    // As a run's end does: its containers, then its network.
    mosquitto_matrix::engine::cleanup::remove_run(&run_id).await.expect("clean-up");
    assert_eq!(left_behind(&run_id).await, 0);
    assert_eq!(networks_left(&run_id).await, 0);
}

/// The environment variable that makes [`a_harness_holding_a_proxy_child_process`] act.
const PROXY_CHILD: &str = "MATRIX_TEST_PROXY_CHILD";

/// The child of the SIGKILL test below: a harness that starts its reaper, a network, a
/// broker and a proxy, says so, and holds them until it is killed (at most 120 s).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "started by a_sigkill_of_a_harness_holding_a_proxy_leaves_no_container_or_network_of_its_run, with its run id"]
async fn a_harness_holding_a_proxy_child_process() {
    let run_id = std::env::var(PROXY_CHILD).expect("started by the SIGKILL test, with MATRIX_TEST_PROXY_CHILD=<run id>");
    let f = file();
    let _reaper = reaper::Reaper::start(&run_id);
    let net = network::create(&run_id, Duration::from_secs(600)).await.expect("network");
    let labels = Labels { run_id: run_id.clone(), cell: "sigkill/bookworm/haproxy".into(), lifetime: Duration::from_secs(600) };
    let b = broker::start("mosquitto-matrix/debian", "bookworm", &f.broker, &labels, &BOTH, None, None, Some(&net), |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let probe = Probe::new(&f.broker.username, &f.broker.password);
    let p = proxy::start(proxy_ask(ProxyKind::Haproxy, &net, network::BROKER_ALIAS, &labels, None, &probe)).await.unwrap_or_else(|e| panic!("{e}"));
    println!("holding {} {}", b.container.id(), p.container.id());
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_of_a_harness_holding_a_proxy_leaves_no_container_or_network_of_its_run() {
    use std::io::{BufRead, BufReader};
    let run_id = labels::new_run_id();
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "a_harness_holding_a_proxy_child_process", "--ignored", "--nocapture"])
        .env(PROXY_CHILD, &run_id)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while lines.read_line(&mut line).expect("reads") > 0 && !line.starts_with("holding ") {
        line.clear();
    }
    assert!(line.starts_with("holding "), "the child started its broker and proxy");
    assert_eq!(left_behind(&run_id).await, 2);
    assert_eq!(networks_left(&run_id).await, 1);
    let killed = Instant::now();
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    while (left_behind(&run_id).await > 0 || networks_left(&run_id).await > 0) && killed.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("after SIGKILL: the broker, the proxy and the network were gone {:.1} s later", killed.elapsed().as_secs_f64());
    assert_eq!(left_behind(&run_id).await, 0, "SIGKILL left containers of run {run_id}");
    assert_eq!(networks_left(&run_id).await, 0, "SIGKILL left the network of run {run_id}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_run_network_is_removed_by_the_next_runs_clean_up() {
    let run_id = labels::new_run_id();
    // Expired from the moment it exists: as the network of a run killed with its reaper.
    network::create(&run_id, Duration::ZERO).await.expect("network");
    assert_eq!(networks_left(&run_id).await, 1);
    let past = labels::unix_now() + 1;
    while labels::unix_now() <= past {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    mosquitto_matrix::engine::cleanup::remove_abandoned().await.expect("clean-up");
    assert_eq!(networks_left(&run_id).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_on_an_accelerated_clock_ends_an_idle_session_at_its_own_timeout_in_broker_time() {
    use mosquitto_matrix::client::command::{self, CommandSpec};
    use mosquitto_matrix::engine::broker::ClockAsk;
    use mosquitto_matrix::engine::clock::{self, Libc};
    // HAProxy with Debian's defaults ends a tunnel idle for 50 s (timeout client/server). At
    // x10 that is 5 s of real time if its clock follows the time library, 50 s if not: the
    // session, held 90 s of broker time (9 s real) with keepalive 120 s, must end near 50 s.
    let speed = 10;
    let f = file();
    let run_id = labels::new_run_id();
    let net = network::create(&run_id, Duration::from_secs(600)).await.expect("network");
    let labels = Labels { run_id: run_id.clone(), cell: "proxy-clock/bookworm/haproxy".into(), lifetime: Duration::from_secs(600) };
    let ask = ClockAsk { speed, workdir: root().to_path_buf() };
    let b = broker::start("mosquitto-matrix/debian", "bookworm", &f.broker, &labels, &[Transport::Ws], Some(&ask), None, Some(&net), |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let probe = Probe::new(&f.broker.username, &f.broker.password);
    let p = proxy::start(ProxyAsk { clock: Some(&ask), ..proxy_ask(ProxyKind::Haproxy, &net, network::BROKER_ALIAS, &labels, None, &probe) })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let timing = Timing { keepalive: Duration::from_secs(120), setup_timeout: Duration::from_secs(20), ..quick_timing(Duration::from_secs(90)) };
    let mut extra_env = clock::clock_env(&clock::library_path(Libc::Glibc, root()).to_string_lossy(), speed);
    extra_env.push((mosquitto_matrix::client::contract::RUN_ID_VAR.to_string(), run_id.clone()));
    let record = command::run(&CommandSpec {
        client: command::builtin_command(Profile::Rfc6455, &timing),
        host: p.host.clone(),
        port: p.ws_port,
        username: f.broker.username.clone(),
        password: f.broker.password.clone(),
        client_id: "mm-proxy-clock".into(),
        timing,
        workdir: root().to_path_buf(),
        speed: f64::from(speed),
        extra_env,
        started: Default::default(),
        tls: None,
        lateness: None,
    })
    .await;
    let v = decide(&record);
    eprintln!("{} at x{speed}: {:?} at {:?}: {}", p.label(), v.outcome, v.at, v.cause);
    assert_eq!(v.outcome, Outcome::Eof, "{}", v.cause);
    let at = v.at.expect("an end time").as_secs_f64();
    assert!((45.0..58.0).contains(&at), "HAProxy's 50 s ran x{speed}: ended at {at:.1} s of broker time");
    drop(p);
    drop(b);
    mosquitto_matrix::engine::cleanup::remove_run(&run_id).await.expect("clean-up");
    assert_eq!(left_behind(&run_id).await, 0);
    assert_eq!(networks_left(&run_id).await, 0);
}

/// One TLS cell's end, for a test to check and a person to read.
struct TlsCell {
    column: String,
    record: SessionRecord,
    verdict: mosquitto_matrix::judge::verdict::Verdict,
}

impl TlsCell {
    fn line(&self) -> String {
        let ping = self.record.frames.iter().find(|f| f.opcode == 0x9).map(|f| format!(", broker PING at {:.1} s", f.at.as_secs_f64()));
        let words = self.record.process.as_ref().and_then(|p| p.words.clone()).map(|w| format!("; the client said {w:?}")).unwrap_or_default();
        format!(
            "{}: {:?} at {}{}: {}{words}",
            self.column,
            self.verdict.outcome,
            self.verdict.at.map_or("-".into(), |d| format!("{:.1} s", d.as_secs_f64())),
            ping.unwrap_or_default(),
            self.verdict.cause
        )
    }
}

/// The `tls` route by hand, until the route axis runs it: one broker of the debian set with
/// its `wss` listener (the run's CA and certificate), every column's session over TLS, at
/// `speed` (built-ins as commands and the clients under the time library above ×1, as the
/// runner plays them). Command columns go through the recording proxy's two TLS legs.
async fn tls_cells(tag: &str, columns: &[&str], hold: &str, speed: u32) -> Vec<TlsCell> {
    use mosquitto_matrix::client::command::{self, CommandSpec};
    use mosquitto_matrix::engine::clock::{self, Libc};
    use mosquitto_matrix::plan::column::Column;
    let sel = Selection {
        set: Some("debian".into()),
        tags: Some(vec![tag.to_string()]),
        profiles: Some(columns.iter().map(|c| c.to_string()).collect()),
        hold: Some(hold.into()),
        speed: Some(speed.to_string()),
        ..Selection::default()
    };
    let plan = Plan::new(&file(), &sel).expect("plan");
    let run_id = labels::new_run_id();
    let labels = Labels { run_id: run_id.clone(), cell: format!("tls/{tag}"), lifetime: Duration::from_secs(1200) };
    let tls = std::sync::Arc::new(RunTls::temporary(&run_id).expect("the run's TLS material"));
    let ask = (speed > 1).then(|| broker::ClockAsk { speed, workdir: plan.workdir.clone() });
    let b = broker::start(&plan.image, tag, &plan.broker, &labels, &BOTH, ask.as_ref(), Some(&tls), None, |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = b.wss_port.expect("the broker has a wss listener");
    let client_env = if speed > 1 {
        clock::clock_env(&clock::library_path(Libc::Glibc, &plan.workdir).to_string_lossy(), speed)
    } else {
        Vec::new()
    };
    // A column with a per-run service (the browser) gets it as the runner starts it, told the
    // run's CA: the service's Chromium must trust the run's certificates from its launch.
    let mut services = Vec::new();
    let mut service_env = std::collections::BTreeMap::new();
    for column in &plan.columns {
        let Column::Command(c) = column else { continue };
        if c.service.is_none() {
            continue;
        }
        let mut env = client_env.clone();
        env.push(("MATRIX_CA_FILE".into(), tls.ca_file.display().to_string()));
        let s = mosquitto_matrix::client::service::start(c, &plan.workdir, &env, plan.timing.setup_timeout)
            .await
            .unwrap_or_else(|e| panic!("{}'s service: {e}", c.name));
        service_env.insert(c.name.clone(), s.env());
        services.push(s);
    }
    let sessions = plan.columns.iter().map(|column| {
        let name = column.name().to_string();
        let client_id = format!("tls-{name}-{}", rand::random::<u32>()).replace(['@', '.'], "-");
        let command_of = |c: mosquitto_matrix::plan::CommandClient| CommandSpec {
            extra_env: [
                if c.accelerates { client_env.clone() } else { Vec::new() },
                service_env.get(&c.name).cloned().unwrap_or_default(),
            ]
            .concat(),
            client: c,
            host: b.host.clone(),
            port,
            username: plan.broker.username.clone(),
            password: plan.broker.password.clone(),
            client_id: client_id.clone(),
            timing: plan.timing,
            workdir: plan.workdir.clone(),
            speed: f64::from(speed),
            started: Default::default(),
            tls: Some(std::sync::Arc::clone(&tls)),
            lateness: None,
        };
        let spec = match column {
            Column::Builtin(p) if speed > 1 => Err(command_of(command::builtin_command(*p, &plan.timing))),
            Column::Builtin(p) => Ok(SessionSpec {
                protocol: mosquitto_matrix::wire::mqtt::Protocol::V311,
                profile: *p,
                host: b.host.clone(),
                port,
                path: "/mqtt".into(),
                username: plan.broker.username.clone(),
                password: plan.broker.password.clone(),
                topic: format!("test/{client_id}"),
                client_id: client_id.clone(),
                timing: plan.timing,
                started: Default::default(),
                tls: Some(std::sync::Arc::clone(&tls)),
            }),
            Column::Command(c) => Err(command_of(c.clone())),
            other => panic!("{other:?}: not a column this test runs"),
        };
        async move {
            let record = match spec {
                Ok(s) => session::run(&s).await,
                Err(c) => command::run(&c).await,
            };
            let verdict = decide(&record);
            TlsCell { column: name, record, verdict }
        }
    });
    let cells = futures_util::future::join_all(sessions).await;
    for s in services {
        s.stop().await;
    }
    b.container.rm().await.expect("removed");
    assert_eq!(left_behind(&run_id).await, 0);
    for c in &cells {
        eprintln!("tls {tag} x{speed}: {}", c.line());
    }
    cells
}

/// The speed of the `tls` route's hold test: ×10 (33 s) unless `MATRIX_SPEED` asks for
/// another, e.g. `MATRIX_SPEED=1` for the measurement at ×1 (330 s).
fn tls_speed() -> u32 {
    std::env::var("MATRIX_SPEED").ok().and_then(|s| s.parse().ok()).unwrap_or(10)
}

#[tokio::test(flavor = "multi_thread")]
async fn over_wss_on_bookworm_paho_java_drops_at_the_brokers_ping_and_the_other_clients_hold() {
    let speed = tls_speed();
    let cells = tls_cells(
        "bookworm",
        &["paho-java-1.2.5", "rfc6455", "no-pong", "rumqttc", "paho-java@1.2.5", "paho-python@2.1.0", "mqttjs@5.16.0", "paho-c"],
        "330s",
        speed,
    )
    .await;
    let table: Vec<String> = cells.iter().map(TlsCell::line).collect();
    let table = table.join("\n");
    let at = |c: &TlsCell| c.verdict.at.map(|d| d.as_secs_f64());
    for c in &cells {
        let near = |secs: f64, slack: f64| at(c).is_some_and(|t| (t - secs).abs() <= slack);
        match c.column.as_str() {
            // Over TLS as over ws: the PING at 300 s (a JVM's CONNACK comes late, up to ~2 s
            // of broker time at ×10), the drop right after it, the hang-up 10 s later.
            "paho-java-1.2.5" | "paho-java@1.2.5" => {
                assert!(c.verdict.outcome == Outcome::Eof && near(299.0, 2.5), "{}: {}\n{table}", c.column, c.line())
            }
            "no-pong" => assert!(c.verdict.outcome == Outcome::Eof && near(310.0, 2.5), "{}\n{table}", c.line()),
            _ => {
                assert_eq!(c.verdict.outcome, Outcome::Ok, "{}\n{table}", c.line());
                if c.column != "rumqttc" {
                    assert!(c.record.frames.iter().any(|f| f.opcode == 0x9), "{}: the broker's PING came through TLS\n{table}", c.column);
                }
            }
        }
    }
}

#[rstest]
#[case::bookworm("bookworm")]
#[case::sid("sid")]
#[tokio::test(flavor = "multi_thread")]
async fn every_real_client_completes_a_short_hold_over_wss_through_the_two_leg_proxy(#[case] tag: &str) {
    let cells = tls_cells(
        tag,
        &["paho-java@1.2.5", "paho-python@2.1.0", "paho-python@1.6.1", "mqttjs@5.16.0", "paho-c", "paho-go@1.1.1", "paho-go@1.5.1", "browser"],
        "5s",
        1,
    )
    .await;
    let table: Vec<String> = cells.iter().map(TlsCell::line).collect();
    for c in &cells {
        assert_eq!(c.verdict.outcome, Outcome::Ok, "{}\n{}", c.line(), table.join("\n"));
        let p = c.record.process.as_ref().expect("a command column");
        assert_eq!(p.connections, 1, "{}: one connection", c.column);
    }
}

// ---- the route axis (plan::route, run::runner) ----

#[tokio::test(flavor = "multi_thread")]
async fn a_run_with_routes_reaches_the_broker_directly_over_its_wss_listener_and_through_each_proxy_and_leaves_nothing() {
    let sel = Selection {
        set: Some("debian".into()),
        tags: Some(vec!["bookworm".into()]),
        profiles: Some(vec!["rfc6455".into(), "tcp".into()]),
        routes: Some(vec!["direct".into(), "tls".into(), "nginx-tls".into(), "haproxy".into()]),
        hold: Some("5s".into()),
        ..Selection::default()
    };
    let p = Plan::new(&file(), &sel).expect("plan");
    let run_id = labels::new_run_id();
    let r = run::run(&p, &run_id, None).await;
    let ids: Vec<String> = r.cells.iter().map(|c| c.id()).collect();
    assert_eq!(ids, ["bookworm/rfc6455", "bookworm/tcp", "bookworm/tls/rfc6455", "bookworm/nginx-tls/rfc6455", "bookworm/haproxy/rfc6455"]);
    for c in &r.cells {
        assert_eq!(c.verdict.outcome, Outcome::Ok, "{}: {}", c.id(), c.verdict.cause);
    }
    let routes: Vec<&str> = r.cells.iter().map(|c| c.route.as_str()).collect();
    assert_eq!(routes, ["direct", "direct", "tls", "nginx-tls", "haproxy"]);
    let proxies: Vec<(&str, bool)> = r.tags[0].proxies.iter().map(|p| (p.proxy.as_str(), p.failure.is_none())).collect();
    assert_eq!(proxies, [("nginx", true), ("haproxy", true)], "one proxy per (tag, proxy), each ready");
    assert!(r.tags[0].proxies.iter().all(|p| p.label.starts_with(&p.proxy) && p.startup_secs.is_some()));
    assert_eq!(left_behind(&run_id).await, 0, "no broker or proxy container left");
    assert_eq!(networks_left(&run_id).await, 0, "the run's network is gone");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_killed_under_a_session_makes_its_cell_an_error_naming_the_proxy_not_a_broker_drop() {
    let sel = Selection {
        set: Some("debian".into()),
        tags: Some(vec!["bookworm".into()]),
        profiles: Some(vec!["rfc6455".into()]),
        routes: Some(vec!["direct".into(), "nginx".into()]),
        hold: Some("20s".into()),
        ..Selection::default()
    };
    let mut p = Plan::new(&file(), &sel).expect("plan");
    p.timing = quick_timing(Duration::from_secs(20));
    let mut running = background::start(&p);
    while let Some(event) = running.events.recv().await {
        if let Progress::CellHolding { id } = event {
            if id == "bookworm/nginx/rfc6455" {
                let filter = format!("label={RUN_LABEL}={}", running.run_id);
                let proxy = docker(&["ps", "-q", "--filter", &filter, "--filter", "label=org.mosquitto-matrix.cell=debian/bookworm/nginx"]);
                docker(&["kill", &proxy]);
            }
        }
    }
    let (r, run_id) = running.result(RUN_ENDS_WITHIN).await;
    let direct = r.cell("bookworm", "rfc6455").expect("the direct cell");
    assert_eq!(direct.verdict.outcome, Outcome::Ok, "the broker was never touched: {}", direct.verdict.cause);
    let behind = r.cell("bookworm", "nginx/rfc6455").expect("the nginx cell");
    assert_eq!(behind.verdict.outcome, Outcome::Error, "{}", behind.verdict.cause);
    assert!(behind.verdict.cause.starts_with("proxy nginx 1.22"), "names the proxy: {}", behind.verdict.cause);
    assert!(behind.verdict.cause.contains("exited with status 137 during the session"), "{}", behind.verdict.cause);
    assert_eq!(left_behind(&run_id).await, 0);
    assert_eq!(networks_left(&run_id).await, 0);
}

/// The pids of the `docker-proxy` processes relaying host port `port`.
fn relays_of(port: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let is_relay = args.first().is_some_and(|a| a.ends_with("docker-proxy"));
        if is_relay && args.windows(2).any(|w| w[0] == "-host-port" && w[1] == port) {
            found.push(pid);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_port_relay_is_an_error_naming_the_docker_proxy_never_the_brokers_drop() {
    let mut p = plan(&["bookworm"], &["rfc6455", "tcp"], "30s");
    p.timing = quick_timing(Duration::from_secs(30));
    let (r, run_id) = background::run_holding_then(&p, RUN_ENDS_WITHIN, |run_id| async move {
        let id = docker(&["ps", "-q", "--filter", &format!("label={RUN_LABEL}={run_id}")]);
        let mut killed = 0;
        for mapping in docker(&["port", &id]).lines() {
            // `1883/tcp -> 127.0.0.1:32768`
            let port = mapping.rsplit(':').next().expect("a host port").trim();
            for pid in relays_of(port) {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).expect("kill docker-proxy");
                killed += 1;
            }
        }
        assert!(killed >= 2, "the broker's ports are relayed by docker-proxy (found {killed})");
    })
    .await;
    assert_eq!(left_behind(&run_id).await, 0, "no container left");
    for c in &r.cells {
        assert_eq!(c.verdict.outcome, Outcome::Error, "{}: {}", c.id(), c.verdict.cause);
        assert!(c.verdict.cause.starts_with("the port relay (docker-proxy) of 127.0.0.1:"), "{}", c.verdict.cause);
        assert_eq!(c.status, Status::Error);
    }
    // Cells that could not run, in a run the harness finished: 3, not a harness fault.
    assert_eq!(compare::exit_status(&r), exit::CELLS_ERRORED);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_killed_by_sigkill_from_outside_is_an_error_naming_the_kill_never_the_brokers_drop() {
    let timing = quick_timing(Duration::from_secs(30));
    // A process of its own, killed from outside (a runtime's kill is the next test's), so the
    // column declares no runtime.
    let as_command = mosquitto_matrix::plan::CommandClient {
        name: "rfc6455-as-command".into(),
        runtime: None,
        ..mosquitto_matrix::client::command::builtin_command(Profile::Rfc6455, &timing)
    };
    let sel = Selection {
        set: Some("debian".into()),
        tags: Some(vec!["bookworm".into()]),
        profiles: Some(vec!["tcp".into()]),
        clients: vec![as_command],
        hold: Some("30s".into()),
        ..Selection::default()
    };
    let mut p = Plan::new(&file(), &sel).expect("plan");
    p.timing = timing;
    let (r, run_id) = background::run_holding_then(&p, RUN_ENDS_WITHIN, |run_id| async move {
        let clients = reaper::run_processes(&run_id);
        assert!(!clients.is_empty(), "the command client runs with MATRIX_RUN_ID={run_id}");
        for pid in clients {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).expect("SIGKILL the client");
        }
    })
    .await;
    assert_eq!(left_behind(&run_id).await, 0, "no container left");
    let killed = r.cell("bookworm", "rfc6455-as-command").expect("the command cell");
    assert_eq!(killed.verdict.outcome, Outcome::Error, "{}", killed.verdict.cause);
    assert!(killed.verdict.cause.starts_with("the client was killed (SIGKILL) from outside the harness"), "{}", killed.verdict.cause);
    let untouched = r.cell("bookworm", "tcp").expect("the tcp cell");
    assert_eq!(untouched.verdict.outcome, Outcome::Ok, "{}", untouched.verdict.cause);
}

/// The cmdline of a process, its arguments joined by spaces.
/// Of `pids`, the Paho Python runtimes' first processes: those running `runtime.py` whose
/// parent does not (their worker processes' parent does).
fn runtime_leaders(pids: &[i32]) -> Vec<i32> {
    let parent = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|stat| mosquitto_matrix::engine::priority::parent_pid(&stat)).unwrap_or(0);
    pids.iter().copied().filter(|pid| cmdline(*pid).contains("runtime.py") && !cmdline(parent(*pid)).contains("runtime.py")).collect()
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline")).map(|c| String::from_utf8_lossy(&c).replace('\0', " ")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_killed_mid_hold_makes_its_cells_error_naming_it_while_the_other_columns_cells_hold_and_nothing_is_left() {
    // Runtime mode (the default): one Paho Python per version for the run, each cell inside it.
    let mut p = plan(&["bookworm", "sid"], &["paho-python@2.2.0", "paho-python@1.6.1"], "30s");
    p.timing = quick_timing(Duration::from_secs(30));
    assert_eq!(p.client_mode, mosquitto_matrix::plan::ClientMode::Runtime);
    let (r, run_id) = background::run_holding_then(&p, RUN_ENDS_WITHIN, |run_id| async move {
        let ours = reaper::run_processes(&run_id);
        // Each runtime's first process, not its worker processes.
        let runtimes = runtime_leaders(&ours);
        assert_eq!(runtimes.len(), 2, "one runtime per version, not one per cell: {:?}", ours.iter().map(|p| cmdline(*p)).collect::<Vec<_>>());
        let victim = runtimes.iter().copied().find(|pid| cmdline(*pid).contains("paho-python/2.2.0/")).expect("the 2.2.0 runtime");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim), nix::sys::signal::Signal::SIGKILL).expect("SIGKILL the runtime");
    })
    .await;
    for tag in ["bookworm", "sid"] {
        let killed = r.cell(tag, "paho-python@2.2.0").expect("the killed runtime's cell");
        assert_eq!(killed.verdict.outcome, Outcome::Error, "{}", killed.verdict.cause);
        assert!(killed.verdict.cause.starts_with("the paho-python@2.2.0 runtime ended: was killed by signal 9"), "{}", killed.verdict.cause);
        let held = r.cell(tag, "paho-python@1.6.1").expect("the other runtime's cell");
        assert_eq!(held.verdict.outcome, Outcome::Ok, "{}", held.verdict.cause);
    }
    assert_eq!(r.client_mode, mosquitto_matrix::plan::ClientMode::Runtime);
    assert_eq!(reaper::run_processes(&run_id), Vec::<i32>::new(), "no process of the run is left");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_that_cannot_start_makes_every_cell_of_its_column_version_error_with_its_words_and_the_rest_runs() {
    let mut p = plan(&["bookworm", "sid"], &["rfc6455", "paho-python@2.2.0"], "5s");
    p.timing = quick_timing(Duration::from_secs(5));
    for column in &mut p.columns {
        if let mosquitto_matrix::plan::Column::Command(c) = column {
            c.runtime = Some(vec!["target/clients/no-such-runtime/python".into()]);
        }
    }
    for cell in &mut p.cells {
        cell.column = p.columns.iter().find(|c| c.name() == cell.column.name()).expect("the column").clone();
    }
    let run_id = labels::new_run_id();
    let r = run::run(&p, &run_id, None).await;
    for tag in ["bookworm", "sid"] {
        let c = r.cell(tag, "paho-python@2.2.0").expect("the runtime column's cell");
        assert_eq!(c.verdict.outcome, Outcome::Error, "{}", c.verdict.cause);
        assert!(
            c.verdict.cause.starts_with("not run: cannot start the runtime of client paho-python@2.2.0: \"target/clients/no-such-runtime/python\""),
            "{}",
            c.verdict.cause
        );
        assert!(c.process.is_none(), "no cell of it was started");
        let other = r.cell(tag, "rfc6455").expect("the built-in cell");
        assert_eq!(other.verdict.outcome, Outcome::Ok, "{}", other.verdict.cause);
    }
    assert_eq!(left_behind(&run_id).await, 0, "no container left");
}

/// A folder of `size` bytes on a tmpfs of its own, mounted `options`; unmounted when dropped.
struct SmallDisk {
    dir: TempDir,
}

impl SmallDisk {
    fn mount(name: &str, size: usize) -> SmallDisk {
        let dir = tempdir(name);
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&*dir).output().expect("mount runs");
        assert!(out.status.success(), "mount a tmpfs at {} (needs root): {}", dir.display(), String::from_utf8_lossy(&out.stderr));
        SmallDisk { dir }
    }

    fn read_only(&self) {
        let out = Command::new("mount").args(["-o", "remount,ro"]).arg(&*self.dir).output().expect("mount runs");
        assert!(out.status.success(), "remount read-only: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Unmounted first; the folder itself goes with the TempDir.
        let _ = Command::new("umount").arg(&*self.dir).status();
    }
}

/// `merge` of the committed debian result into `dir`: the same writing of results as `run`.
fn write_results_into(dir: &Path) -> std::process::Output {
    cli().args(["merge", "tests/data/debian.json", "--format", "json", "--out"]).arg(dir).output().expect("runs")
}

#[test]
fn a_full_disk_when_results_are_written_is_one_clear_error_exit_2_and_the_previous_result_stays_whole() {
    let previous = std::fs::read(root().join("tests/data/debian.json")).expect("the committed result");
    // Room for the previous result and a little more, not for a second copy beside it.
    let disk = SmallDisk::mount("full", previous.len() + 64 * 1024);
    std::fs::write(disk.dir.join("debian.json"), &previous).expect("the previous result fits");
    let out = write_results_into(&disk.dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let said: Vec<&str> = err.lines().filter(|l| l.starts_with("mosquitto-matrix: ")).collect();
    assert_eq!(said.len(), 1, "one error line: {err}");
    assert!(said[0].contains("cannot write ") && said[0].contains("No space left on device"), "{err}");
    assert_eq!(std::fs::read(disk.dir.join("debian.json")).expect("still there"), previous, "the previous result is whole");
    let stray: Vec<_> = std::fs::read_dir(&*disk.dir).expect("list").flatten().map(|e| e.file_name()).filter(|n| n.to_string_lossy().ends_with(".tmp")).collect();
    assert!(stray.is_empty(), "no temporary file is left: {stray:?}");
}

#[test]
fn a_results_folder_that_cannot_be_written_is_one_clear_error_naming_it_and_exit_2() {
    let disk = SmallDisk::mount("read-only", 1024 * 1024);
    std::fs::write(disk.dir.join("debian.json"), b"{}").expect("a previous file");
    disk.read_only();
    let out = write_results_into(&disk.dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let said: Vec<&str> = err.lines().filter(|l| l.starts_with("mosquitto-matrix: ")).collect();
    assert_eq!(said.len(), 1, "one error line: {err}");
    assert!(said[0].contains(&disk.dir.display().to_string()) && said[0].contains("Read-only file system"), "{err}");
    assert_eq!(std::fs::read(disk.dir.join("debian.json")).expect("still there"), b"{}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_whose_harness_is_gone_is_removed_by_the_next_runs_start_whatever_its_expiry() {
    // A harness that died with its engine: its pid names a process that has ended.
    let mut child = Command::new("true").spawn().expect("a short-lived process");
    let pid = child.id();
    child.wait().expect("it ends");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let run_id = labels::new_run_id();
    let far = labels::unix_now() + 24 * 3600;
    let id = docker(&[
        "create",
        "--label", &format!("{}={}", labels::TOOL_LABEL, labels::TOOL),
        "--label", &format!("{RUN_LABEL}={run_id}"),
        "--label", &format!("{}={far}", labels::EXPIRES_LABEL),
        "--label", &format!("{}={}:{pid}:1", labels::OWNER_LABEL, host.trim()),
        "mosquitto-matrix/debian:bookworm",
    ]);
    assert_eq!(left_behind(&run_id).await, 1, "container {id} of the dead harness exists");
    mosquitto_matrix::engine::cleanup::remove_abandoned().await.expect("clean-up");
    assert_eq!(left_behind(&run_id).await, 0, "a container whose harness is gone is removed, though it expires in a day");
}
