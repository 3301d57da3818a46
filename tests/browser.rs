//! The browser column's per-run service, for real: Debian's Chromium and the pinned
//! playwright-core (`bash clients/setup.sh`), started as matrix.toml says, against the
//! scripted peer. One browser serves every cell, each cell gets a context of its own, a killed
//! cell's context goes with it, and nothing of the service outlives it. In runtime mode the
//! same browser serves whole cells, up to 8 in a page, and a broken page ends only its cells.
//!
//! Needs the browser client installed, so it runs only by name: `cargo test --test browser`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use mosquitto_matrix::client::command::{self, CommandSpec};
use mosquitto_matrix::client::groups::alive_in_group;
use mosquitto_matrix::client::runtime;
use mosquitto_matrix::client::service::{self, Service};
use mosquitto_matrix::judge::record::End;
use mosquitto_matrix::plan::{CommandClient, MatrixFile, Timing, Transport};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::{timeout, Instant};

use mosquitto_matrix::peer::{Behaviour, Peer};

const START: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The browser column exactly as the shipped matrix.toml declares it.
fn browser() -> CommandClient {
    let f = MatrixFile::load(&root().join("matrix.toml")).expect("matrix.toml loads");
    f.clients.into_iter().find(|c| c.name == "browser").expect("matrix.toml has a browser client")
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline")).map(|b| String::from_utf8_lossy(&b).replace('\0', " ")).unwrap_or_default()
}

/// Processes of the group whose command line holds `needle`.
fn in_group(pgid: i32, needle: &str) -> Vec<i32> {
    alive_in_group(pgid).into_iter().filter(|p| cmdline(*p).contains(needle)).collect()
}

/// The browser's folders (profile, artifacts) in the service's `TMPDIR`: named after its pid,
/// the group's id.
fn folders(tmp: &std::path::Path, pgid: i32) -> Vec<PathBuf> {
    let prefix = format!("mm-chromium-{pgid}-");
    std::fs::read_dir(tmp)
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(&prefix)).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Polls `ok` every 20 ms until it holds or `bound` passes; true when it held.
/// Reads a cell's stdout (kept in `said`) until its `client:` line, for at most [`START`].
async fn first_client_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>, said: &mut String) -> bool {
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            said.push_str(&line);
            said.push('\n');
            if line.starts_with("client: ") {
                return true;
            }
        }
        false
    };
    timeout(START, read).await.unwrap_or(false)
}

async fn until(bound: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + bound;
    loop {
        if ok() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn start() -> Service {
    service::start(&browser(), &root(), &[], START).await.expect("the browser service starts (bash clients/setup.sh)")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_keeps_its_chromium_in_its_process_group_and_stop_leaves_no_process_and_no_folder() {
    let s = start().await;
    assert!(s.value().starts_with("127.0.0.1:"), "HOST:PORT/TOKEN: {}", s.value());
    let pgid = s.process_group();
    assert!(!in_group(pgid, "/chromium").is_empty(), "Chromium runs in the service's group: {:?}", alive_in_group(pgid));
    let folder = s.folder().to_path_buf();
    assert_eq!(folders(&folder, pgid).len(), 1, "the browser's folder, in the service's TMPDIR");
    s.stop().await;
    assert_eq!(alive_in_group(pgid), Vec::<i32>::new());
    assert!(!folder.exists(), "stop removes the service's folder");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_of_the_services_group_ends_its_chromium_and_dropping_the_service_removes_its_folder() {
    let s = start().await;
    let pgid = s.process_group();
    let folder = s.folder().to_path_buf();
    killpg(Pid::from_raw(pgid), Signal::SIGKILL).expect("the group can be signalled");
    assert!(until(Duration::from_secs(5), || alive_in_group(pgid).is_empty()).await, "left: {:?}", alive_in_group(pgid));
    assert_eq!(folders(&folder, pgid).len(), 1, "SIGKILL leaves the browser's profile");
    // What the CLI's signal handler does: the run's services are dropped.
    drop(s);
    assert!(!folder.exists(), "the harness removes the service's folder, profile included");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_ends_itself_when_its_stdin_ends_as_when_the_harness_is_gone() {
    // Started by hand, as service::start does, to close its stdin without a signal.
    let mut child = Command::new("node")
        .arg("clients/browser/serve.mjs")
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let pgid = child.id().expect("a pid") as i32;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = timeout(START, lines.next_line()).await.expect("in time").expect("readable").expect("a line");
    assert!(first.starts_with("service: 127.0.0.1:"), "{first}");
    drop(child.stdin.take());
    let status = timeout(Duration::from_secs(10), child.wait()).await.expect("it exits by itself").expect("waited");
    assert_eq!(status.code(), Some(0));
    assert!(until(Duration::from_secs(5), || alive_in_group(pgid).is_empty()).await, "left: {:?}", alive_in_group(pgid));
    assert_eq!(folders(&std::env::temp_dir(), pgid), Vec::<PathBuf>::new(), "it removed its folder itself");
}

fn cell_env(port: u16, id: &str, hold_secs: u32, service: &Service) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("MATRIX_TRANSPORT", "ws".to_string()),
        ("MATRIX_HOST", "127.0.0.1".to_string()),
        ("MATRIX_PORT", port.to_string()),
        ("MATRIX_PATH", "/mqtt".to_string()),
        ("MATRIX_USERNAME", "matrix".to_string()),
        ("MATRIX_PASSWORD", "matrix-test-only".to_string()),
        ("MATRIX_CLIENT_ID", id.to_string()),
        ("MATRIX_TOPIC", format!("test/{id}")),
        ("MATRIX_KEEPALIVE_SECS", "60".to_string()),
        ("MATRIX_HOLD_SECS", hold_secs.to_string()),
        ("MATRIX_ROUND_TRIP_SECS", "10".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    env.extend(service.env());
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_a_cell_closes_its_context_and_page_in_the_shared_browser_and_the_other_cell_goes_on() {
    let peer = Peer::start(Transport::Ws, Behaviour::NoPings, Duration::from_millis(1)).await.expect("the peer listens");
    let s = start().await;
    let pgid = s.process_group();
    let renderers = || in_group(pgid, "--type=renderer").len();
    assert_eq!(renderers(), 0, "no page before a cell");
    let cell = |id: &str, hold: u32| {
        Command::new("node")
            .arg("clients/browser/hold.mjs")
            .current_dir(root())
            .envs(cell_env(peer.port(), id, hold, &s))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("node starts")
    };
    let mut doomed = cell("doomed", 120);
    let mut survivor = cell("survivor", 12);
    // Both pages are up when each cell has printed its `client:` line (awaited, not counted:
    // under load Chromium may also have a spare renderer starting).
    let mut doomed_lines = BufReader::new(doomed.stdout.take().expect("piped")).lines();
    let mut survivor_lines = BufReader::new(survivor.stdout.take().expect("piped")).lines();
    let mut survivor_said = String::new();
    assert!(first_client_line(&mut doomed_lines, &mut String::new()).await, "the doomed cell's page started");
    assert!(first_client_line(&mut survivor_lines, &mut survivor_said).await, "the survivor's page started: {survivor_said}");
    // Each cell's page is a renderer of the shared browser; neither cell starts a browser.
    assert!(until(Duration::from_secs(30), || renderers() == 2).await, "renderers: {}", renderers());
    for c in [&doomed, &survivor] {
        let g = c.id().expect("running") as i32;
        assert!(in_group(g, "chromium").is_empty(), "a cell with MATRIX_SERVICE starts no Chromium of its own");
    }
    let killed = Instant::now();
    kill(Pid::from_raw(doomed.id().expect("running") as i32), Signal::SIGKILL).expect("SIGKILL");
    let _ = doomed.wait().await;
    assert!(until(Duration::from_secs(5), || renderers() == 1).await, "renderers after the kill: {}", renderers());
    let gone_in = killed.elapsed();
    let rest = async {
        while let Ok(Some(line)) = survivor_lines.next_line().await {
            survivor_said.push_str(&line);
            survivor_said.push('\n');
        }
        survivor.wait_with_output().await
    };
    let out = timeout(Duration::from_secs(60), rest).await.expect("the survivor ends").expect("waited");
    let stdout = survivor_said;
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("client: Chromium ") && stdout.contains("done: round trip"), "{stdout}");
    assert!(until(Duration::from_secs(5), || renderers() == 0).await, "the survivor closed its context too");
    eprintln!("the killed cell's page was gone {:.0} ms after its SIGKILL", gone_in.as_secs_f64() * 1000.0);
    s.stop().await;
    let _ = peer.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cells_run_through_the_proxy_with_matrix_service_each_ok_in_one_browser() {
    let peer = Peer::start(Transport::Ws, Behaviour::NoPings, Duration::from_millis(1)).await.expect("the peer listens");
    let s = start().await;
    let timing = Timing {
        hold: Duration::from_secs(3),
        keepalive: Duration::from_secs(60),
        late_pong: Duration::from_secs(15),
        setup_timeout: Duration::from_secs(60),
        round_trip_timeout: Duration::from_secs(10),
    };
    let cells = (0..3).map(|i| CommandSpec {
        client: browser(),
        host: "127.0.0.1".into(),
        port: peer.port(),
        username: "matrix".into(),
        password: "matrix-test-only".into(),
        client_id: format!("shared-{i}"),
        timing,
        workdir: root(),
        speed: 1.0,
        extra_env: s.env(),
        started: Default::default(),
        tls: None,
        lateness: None,
    });
    let runs: Vec<_> = cells.map(|spec| tokio::spawn(async move { command::run(&spec).await })).collect();
    for r in runs {
        let record = r.await.expect("the cell task");
        let p = record.process.clone().expect("a command cell keeps its process");
        assert!(!matches!(record.end, End::HarnessError { .. }), "{:?}", record.end);
        assert_eq!(p.exit_code, Some(0), "{p:?}");
        assert!(p.library.as_deref().is_some_and(|l| l.starts_with("Chromium ")), "{p:?}");
    }
    let pgid = s.process_group();
    s.stop().await;
    assert_eq!(alive_in_group(pgid), Vec::<i32>::new());
    let _ = peer.finish().await;
}

/// The browser's exact version, as Chromium itself says it (`chromium --version`:
/// "Chromium 156.0.8078.129 built on Debian ...").
fn chromium_version() -> String {
    let bin = std::env::var("MATRIX_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    let out = std::process::Command::new(&bin).arg("--version").output().expect("chromium --version runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace().nth(1).expect("chromium --version names a version").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_browser_client_reports_chromiums_exact_version_which_the_result_records_as_its_library() {
    let want = chromium_version();
    assert_eq!(want.split('.').count(), 4, "a full four-part version: {want}");
    let out = Command::new("node")
        .arg(root().join("clients/browser/hold.mjs"))
        .arg("--version")
        .env_remove("MATRIX_SERVICE")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("node clients/browser/hold.mjs --version runs");
    let first = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_string();
    assert!(first.starts_with(&format!("client: Chromium {want} + mqtt.js ")), "the client line names Chromium {want} exactly: {first:?}");
}

/// A browser-runtime cell of `hold` seconds against `port`, as the harness gives it.
fn runtime_cell(port: u16, id: &str, hold: Duration) -> CommandSpec {
    CommandSpec {
        client: browser(),
        host: "127.0.0.1".into(),
        port,
        username: "matrix".into(),
        password: "matrix-test-only".into(),
        client_id: id.to_string(),
        timing: Timing { hold, keepalive: Duration::from_secs(60), late_pong: Duration::from_secs(15), setup_timeout: Duration::from_secs(60), round_trip_timeout: Duration::from_secs(10) },
        workdir: root(),
        speed: 1.0,
        extra_env: Vec::new(),
        started: Default::default(),
        tls: None,
        lateness: None,
    }
}

/// Runtime mode: the run's one Chromium serves whole cells (`serve.mjs --runtime`), up to 8 in
/// a page; eleven cells take two pages (two renderers), each cell its own session to `done:`,
/// and stopping the runtime leaves no process.
#[tokio::test(flavor = "multi_thread")]
async fn the_browser_runtime_holds_up_to_eight_cells_in_a_page_each_its_own_session() {
    let peer = Peer::start(Transport::Ws, Behaviour::NoPings, Duration::from_millis(1)).await.expect("the peer listens");
    let rt = runtime::start(&browser(), &root(), &[], START).await.expect("the browser runtime starts (bash clients/setup.sh)");
    let pgid = rt.process_group();
    let cells = rt.cells();
    let runs: Vec<_> = (0..11)
        .map(|i| {
            let (spec, cells) = (runtime_cell(peer.port(), &format!("paged-{i}"), Duration::from_secs(4)), cells.clone());
            tokio::spawn(async move { runtime::run(&spec, &cells).await })
        })
        .collect();
    assert!(until(Duration::from_secs(60), || in_group(pgid, "--type=renderer").len() == 2).await, "renderers: {:?}", in_group(pgid, "--type=renderer"));
    for r in runs {
        let record = r.await.expect("the cell task");
        let p = record.process.clone().expect("a runtime cell keeps its words");
        assert_eq!(p.exit_code, Some(0), "{:?}: {p:?}", record.end);
        assert!(p.library.as_deref().is_some_and(|l| l.starts_with("Chromium ")), "{p:?}");
    }
    assert_eq!(in_group(pgid, "--type=renderer").len(), 2, "eleven cells, two pages");
    rt.stop().await;
    assert_eq!(alive_in_group(pgid), Vec::<i32>::new());
    let _ = peer.finish().await;
}

/// A page that breaks (here its renderer is SIGKILLed) ends the cells it holds as ERROR in the
/// page's words, never as a broker's drop; a cell in another page goes on to `done:`.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_renderer_ends_its_pages_cells_as_error_and_the_other_pages_cell_holds() {
    let peer = Peer::start(Transport::Ws, Behaviour::NoPings, Duration::from_millis(1)).await.expect("the peer listens");
    let rt = runtime::start(&browser(), &root(), &[], START).await.expect("the browser runtime starts (bash clients/setup.sh)");
    let pgid = rt.process_group();
    let renderers = || in_group(pgid, "--type=renderer");
    let cells = rt.cells();
    let spawn = |id: String, hold: u64| {
        let (spec, cells) = (runtime_cell(peer.port(), &id, Duration::from_secs(hold)), cells.clone());
        tokio::spawn(async move { runtime::run(&spec, &cells).await })
    };
    // Eight fill the first page; the ninth opens the second.
    let doomed: Vec<_> = (0..8).map(|i| spawn(format!("doomed-{i}"), 60)).collect();
    assert!(until(Duration::from_secs(60), || renderers().len() == 1).await, "the first page: {:?}", renderers());
    let first = renderers()[0];
    let survivor = spawn("survivor".into(), 8);
    assert!(until(Duration::from_secs(60), || renderers().len() == 2).await, "the second page: {:?}", renderers());
    kill(Pid::from_raw(first), Signal::SIGKILL).expect("SIGKILL the first page's renderer");
    for d in doomed {
        let record = timeout(Duration::from_secs(30), d).await.expect("ends at once").expect("the cell task");
        let v = mosquitto_matrix::judge::verdict::decide(&record);
        assert_eq!(v.outcome, mosquitto_matrix::plan::Outcome::Error, "{}", v.cause);
        // The renderer dies while the page holds its sessions ("the page crashed") or, on a
        // busy machine, while the page still opens ("newPage: Target crashed"): either way
        // the page broke, and its cells are ERROR in its words.
        assert!(v.cause.contains("crashed"), "{}", v.cause);
    }
    let record = survivor.await.expect("the cell task");
    assert_eq!(record.process.as_ref().and_then(|p| p.exit_code), Some(0), "{:?}", record.end);
    rt.stop().await;
    assert_eq!(alive_in_group(pgid), Vec::<i32>::new());
    let _ = peer.finish().await;
}
