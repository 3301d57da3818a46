//! A command column's per-run service, run for real: small shell services that get ready,
//! fail at once, never get ready, or ignore SIGTERM and fork — and nothing of any of them
//! is left once it is stopped, failed or dropped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mosquitto_matrix::client::groups::alive_in_group;
use mosquitto_matrix::client::service::{self, ServiceError};
use mosquitto_matrix::plan::{CommandClient, Transport};
use tokio::time::Instant;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn column(service: &[&str]) -> CommandClient {
    CommandClient {
        name: "browserish".to_string(),
        command: vec!["true".to_string()],
        transport: Transport::Ws,
        path: "/mqtt".to_string(),
        description: None,
        seen_in: None,
        setup: Some("bash clients/setup.sh".to_string()),
        accelerates: true,
        service: Some(service.iter().map(|s| s.to_string()).collect()),
        runtime: None,
        protocol: Default::default(),
        artefact: None,
        cost: None,
        runtime_cost: None,
    }
}

const BOUND: Duration = Duration::from_secs(10);

/// Waits (bounded) until nothing of the group is alive; SIGKILL is delivered asynchronously.
async fn gone(pgid: i32) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if alive_in_group(pgid).is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_prints_its_line_gives_every_cell_matrix_service_and_is_gone_after_stop() {
    let s = service::start(&column(&["tests/services/ready.sh"]), &root(), &[], BOUND).await.expect("the service starts");
    assert_eq!(s.env(), [("MATRIX_SERVICE".to_string(), "ws://127.0.0.1:9/x".to_string())]);
    assert_eq!(s.value(), "ws://127.0.0.1:9/x");
    let pgid = s.process_group();
    assert!(!alive_in_group(pgid).is_empty(), "the service runs until stopped");
    let folder = s.folder().to_path_buf();
    assert!(folder.join("scratch").exists(), "the service's TMPDIR is its own folder");
    s.stop().await;
    assert_eq!(alive_in_group(pgid), Vec::<i32>::new(), "stop waits until nothing of the group is alive");
    assert!(!folder.exists(), "stop removes the service's folder");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_folder_left_by_a_harness_that_is_gone_is_removed_by_the_next_start() {
    // A pid no process has: above the kernel's largest.
    let max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max").expect("pid_max").trim().parse().expect("a number");
    let stale = std::env::temp_dir().join(format!("mm-svc-{}-01234567", max + 1));
    std::fs::create_dir_all(stale.join("left")).expect("a stale folder");
    let s = service::start(&column(&["tests/services/ready.sh"]), &root(), &[], BOUND).await.expect("the service starts");
    assert!(!stale.exists(), "the stale folder is removed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_keeps_running_after_its_line_and_its_later_output_is_kept() {
    let mut s = service::start(&column(&["tests/services/ready.sh"]), &root(), &[], BOUND).await.expect("the service starts");
    let until = Instant::now() + Duration::from_secs(5);
    while !s.tail().iter().any(|l| l == "serving") && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(s.tail().iter().any(|l| l == "serving"), "{:?}", s.tail());
    assert!(s.tail().iter().any(|l| l == "warming up"), "{:?}", s.tail());
    assert_eq!(s.ended(), None, "still running");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_exits_at_once_is_an_error_naming_the_column_and_quoting_its_output() {
    let err = service::start(&column(&["tests/services/exits.sh"]), &root(), &[], BOUND).await.expect_err("no service");
    let text = err.to_string();
    assert!(matches!(&err, ServiceError::Exited { ended, .. } if ended == "exited 3"), "{err:?}");
    assert!(text.contains("the service of client browserish exited 3 before it printed `service: …`"), "{text}");
    assert!(text.contains("cannot listen: address already in use"), "{text}");
    assert!(text.contains("run `bash clients/setup.sh`"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_never_prints_its_line_is_stopped_at_the_bound_and_leaves_nothing() {
    let dir = std::env::temp_dir().join(format!("mm-service-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let pgid_file = dir.join("pgid");
    let env = [("SERVICE_PGID_FILE".to_string(), pgid_file.display().to_string())];
    let started = Instant::now();
    let err = service::start(&column(&["tests/services/silent.sh"]), &root(), &env, Duration::from_millis(700)).await.expect_err("no service");
    let took = started.elapsed();
    assert!(matches!(err, ServiceError::Silent { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("printed no `service: …` line within 0.7 s (real time)"), "{text}");
    assert!(text.contains("its last output: warming up"), "{text}");
    // sleep dies on SIGTERM: the bound plus moments, not the grace.
    assert!(took < Duration::from_millis(700) + Duration::from_secs(2), "took {took:?}");
    let pgid: i32 = std::fs::read_to_string(&pgid_file).expect("the service wrote its pid").trim().parse().expect("a pid");
    assert!(gone(pgid).await, "left alive: {:?}", alive_in_group(pgid));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_ignores_sigterm_and_forks_a_child_is_killed_whole_by_stop() {
    let s = service::start(&column(&["tests/services/stubborn.sh"]), &root(), &[], BOUND).await.expect("the service starts");
    let pgid = s.process_group();
    // The forked loop and its sleeps are in the group, not only the leader.
    let until = Instant::now() + Duration::from_secs(5);
    while alive_in_group(pgid).len() < 3 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(alive_in_group(pgid).len() >= 3, "{:?}", alive_in_group(pgid));
    let started = Instant::now();
    s.stop().await;
    let took = started.elapsed();
    assert_eq!(alive_in_group(pgid), Vec::<i32>::new());
    // SIGTERM ignored: the grace, then SIGKILL.
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_a_service_kills_its_process_group() {
    let s = service::start(&column(&["tests/services/stubborn.sh"]), &root(), &[], BOUND).await.expect("the service starts");
    let pgid = s.process_group();
    let folder = s.folder().to_path_buf();
    drop(s);
    assert!(gone(pgid).await, "left alive: {:?}", alive_in_group(pgid));
    assert!(!folder.exists(), "dropping removes the service's folder");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_cannot_be_found_names_the_program_and_the_folder() {
    let err = service::start(&column(&["no-such-service-4242", "--x"]), Path::new("/"), &[], BOUND).await.expect_err("no service");
    let text = err.to_string();
    assert!(matches!(err, ServiceError::Spawn { .. }), "{err:?}");
    assert!(text.contains("cannot start the service of client browserish: \"no-such-service-4242\""), "{text}");
    assert!(text.contains("working directory /"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_line_without_a_value_is_an_error() {
    let err = service::start(&column(&["tests/services/empty.sh"]), &root(), &[], BOUND).await.expect_err("no service");
    assert!(matches!(err, ServiceError::Empty { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_column_without_a_service_is_refused() {
    let mut c = column(&["x"]);
    c.service = None;
    let err = service::start(&c, &root(), &[], BOUND).await.expect_err("no service");
    assert_eq!(err, ServiceError::NotDeclared { what: "service", column: "browserish".into() });
}
