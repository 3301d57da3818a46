//! `mosquitto-matrix probe` against the project's own brokers and proxies, on loopback only:
//! the answers it gives behind nginx (60 s idle), HAProxy (50 s idle) and a relay of this
//! test's own that ends every session at a fixed age whatever the traffic (Google Cloud's
//! load balancer, played); the one clear line and exit 2 of each error; Ctrl-C; and, at the
//! full hold, agreement with `run` on bookworm and sid.
//!
//! Needs a Docker engine, the `mosquitto-matrix/debian` images and the proxies image
//! (`bash docker/provision.sh`); run by name: `cargo test --test probe`. Without them every
//! test fails, never skips. The full-hold test alone (330 s, shares the hold with `run`):
//! `cargo test --test probe probe_agrees_with_run_at_the_full_hold`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mosquitto_matrix::engine::broker::{self, Broker};
use mosquitto_matrix::engine::labels::{self, Labels};
use mosquitto_matrix::engine::proxy::{self, Proxy, ProxyAsk, ProxyKind};
use mosquitto_matrix::engine::readiness::Probe;
use mosquitto_matrix::engine::tls::RunTls;
use mosquitto_matrix::engine::{cleanup, network};
use mosquitto_matrix::judge::results::{CellResult, RunResult};
use mosquitto_matrix::plan::{MatrixFile, Outcome, Plan, Selection, Transport};
use mosquitto_matrix::probe::analysis::LimitFinding;
use mosquitto_matrix::probe::ask::{self, Asked};
use mosquitto_matrix::probe::{self, Probed, ProbeAsk};
use mosquitto_matrix::run;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const BOTH: [Transport; 2] = [Transport::Ws, Transport::Tcp];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn file() -> MatrixFile {
    MatrixFile::load(&root().join("matrix.toml")).expect("matrix.toml loads")
}

fn cli() -> &'static str {
    env!("CARGO_BIN_EXE_mosquitto-matrix")
}

fn labels_for(run_id: &str, what: &str) -> Labels {
    Labels { run_id: run_id.to_string(), cell: format!("probe-test/{what}"), lifetime: Duration::from_secs(900) }
}

/// One of the project's brokers, on loopback (and on `net` when a proxy stands in front).
async fn start_broker(run_id: &str, tag: &str, tls: Option<&RunTls>, net: Option<&str>) -> Broker {
    let f = file();
    broker::start("mosquitto-matrix/debian", tag, &f.broker, &labels_for(run_id, tag), &BOTH, None, tls, net, |_| {})
        .await
        .unwrap_or_else(|e| panic!("the {tag} broker: {e}"))
}

/// One of the project's proxies in front of the broker on `net`, its stock configuration.
async fn start_proxy(run_id: &str, kind: ProxyKind, net: &str) -> Proxy {
    let f = file();
    let labels = labels_for(run_id, kind.name());
    let probe = Probe::new(&f.broker.username, &f.broker.password);
    let ask = ProxyAsk {
        kind,
        network: net,
        upstream_host: network::BROKER_ALIAS,
        upstream_port: 9001,
        labels: &labels,
        tls: None,
        clock: None,
        startup_timeout: Duration::from_secs(60),
        probe: &probe,
    };
    proxy::start(ask).await.unwrap_or_else(|e| panic!("{kind}: {e}"))
}

/// What to ask of the library's probe: the project's credentials, these columns and keepalives.
fn ask_for(url: &str, columns: &[&str], keepalives: &[&str], hold: &str) -> ProbeAsk {
    let f = file();
    let asked = Asked {
        url: url.to_string(),
        columns: Some(columns.iter().map(|c| c.to_string()).collect()),
        hold: Some(hold.to_string()),
        keepalives: Some(keepalives.iter().map(|k| k.to_string()).collect()),
        username: f.broker.username.clone(),
        password: f.broker.password.clone(),
        ca: None,
        client_id_prefix: format!("probe-test-{:06x}-", rand::random::<u32>() & 0xff_ffff),
        topic_prefix: None,
    };
    ask::build(asked, f.timing, &ask::command_clients(&f), |c| probe::installed(c, root())).expect("a valid ask")
}

async fn run_probe(ask: &ProbeAsk) -> Probed {
    probe::probe(ask, root(), std::future::pending()).await.unwrap_or_else(|e| panic!("{}: {e}", ask.target))
}

/// A relay of our own: forwards every connection to `upstream` and ends it `age` after it
/// was accepted, whatever goes through it (a load balancer's session lifetime).
async fn fixed_age_relay(upstream: String, age: Duration) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("the relay listens on loopback");
    let port = listener.local_addr().expect("its address").port();
    let task = tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
                let _ = tokio::time::timeout(age, tokio::io::copy_bidirectional(&mut client, &mut server)).await;
                let _ = client.shutdown().await;
                let _ = server.shutdown().await;
            });
        }
    });
    (port, task)
}

fn limit_of(p: &Probed) -> &LimitFinding {
    &p.findings.limit
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_nginx_haproxy_and_a_fixed_age_relay_the_probe_names_each_limit_and_its_kind() {
    let run_id = labels::new_run_id();
    let net = network::create(&run_id, Duration::from_secs(900)).await.expect("a network");
    let b = start_broker(&run_id, "bookworm", None, Some(&net)).await;
    let (nginx, haproxy) = tokio::join!(start_proxy(&run_id, ProxyKind::Nginx, &net), start_proxy(&run_id, ProxyKind::Haproxy, &net));
    let (relay_port, relay) = fixed_age_relay(format!("{}:{}", b.host, b.ws_port), Duration::from_secs(30)).await;
    let started = Instant::now();
    // Two keepalives side by side: 20 s keeps a session through a 50 s or 60 s idle limit,
    // 90 s does not; against a 30 s lifetime (Google Cloud's default) neither helps.
    let at_nginx = ask_for(&format!("ws://{}:{}/mqtt", nginx.host, nginx.ws_port), &["rfc6455"], &["20s", "90s"], "75s");
    let at_haproxy = ask_for(&format!("ws://{}:{}/mqtt", haproxy.host, haproxy.ws_port), &["rfc6455"], &["20s", "90s"], "75s");
    let at_relay = ask_for(&format!("ws://127.0.0.1:{relay_port}/mqtt"), &["rfc6455"], &["5s", "90s"], "45s");
    let (n, h, r) = tokio::join!(run_probe(&at_nginx), run_probe(&at_haproxy), run_probe(&at_relay));
    eprintln!("three probes in {:.1} s\n{}\n{}\n{}", started.elapsed().as_secs_f64(), n.answer, h.answer, r.answer);
    for (p, proxy_limit, name) in [(&n, 60.0, "nginx"), (&h, 50.0, "haproxy")] {
        match limit_of(p) {
            LimitFinding::Idle { limit, ended, outlived } => {
                assert!((secs(*limit) - proxy_limit).abs() < 2.0, "{name}: the limit is {limit:?}");
                assert_eq!(ended, &["rfc6455 ka=90s"], "{name}");
                assert_eq!(outlived, &["rfc6455 ka=20s"], "{name}");
            }
            other => panic!("{name}: {other:?}\n{}", p.answer),
        }
        let text = p.answer.to_string();
        assert!(text.contains(&format!("ends a session silent for {proxy_limit:.0} s")), "{name}:\n{text}");
        assert_eq!(p.exit_status(), 1, "{name}: a session dropped");
    }
    assert!(n.answer.to_string().contains("nginx — proxy_read_timeout 60 s"), "{}", n.answer);
    assert!(h.answer.to_string().contains("HAProxy without `timeout tunnel`"), "{}", h.answer);
    match limit_of(&r) {
        LimitFinding::Lifetime { limit, ended, busy } => {
            assert!((secs(*limit) - 30.0).abs() < 2.0, "the relay's age: {limit:?}");
            assert_eq!(ended.len(), 2, "both keepalives ended");
            assert_eq!(busy, &["rfc6455 ka=5s"]);
        }
        other => panic!("the relay: {other:?}\n{}", r.answer),
    }
    assert!(r.answer.to_string().contains("ends every session 30 s old whatever its traffic"), "{}", r.answer);
    assert!(r.answer.to_string().contains("Google Cloud external HTTP(S) load balancer"), "{}", r.answer);
    assert!(started.elapsed() < Duration::from_secs(150), "the three probes ran side by side");
    relay.abort();
    drop((nginx, haproxy));
    let _ = b.container.rm().await;
    let _ = cleanup::remove_run(&run_id).await;
    let _ = network::remove(&net).await;
}

/// Runs the CLI's probe; returns its exit status, stderr, stdout and how long it took.
fn cli_probe(args: &[&str], password: &str) -> (Option<i32>, String, String, Duration) {
    let started = Instant::now();
    let out = Command::new(cli())
        .arg("--config")
        .arg(root().join("matrix.toml"))
        .arg("probe")
        .args(args)
        .env("MATRIX_PROBE_PASSWORD", password)
        .stdin(Stdio::null())
        .output()
        .expect("the CLI runs");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), String::from_utf8_lossy(&out.stdout).into_owned(), started.elapsed())
}

/// The lines of stderr that are not the announcement.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| !l.starts_with("probe ") && !l.trim().is_empty()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_a_404_a_plain_client_on_tls_and_an_unknown_ca_each_give_one_line_and_exit_2_within_10_s() {
    let run_id = labels::new_run_id();
    let tls = Arc::new(RunTls::temporary(&run_id).expect("TLS material"));
    let net = network::create(&run_id, Duration::from_secs(600)).await.expect("a network");
    let b = start_broker(&run_id, "bookworm", Some(&tls), Some(&net)).await;
    let nginx = start_proxy(&run_id, ProxyKind::Nginx, &net).await;
    let f = file();
    let wss = b.wss_port.expect("the wss listener");
    let cases: [(&str, String, &str, &str); 4] = [
        ("wrong password", format!("ws://{}:{}/mqtt", b.host, b.ws_port), "not-the-password", "CONNACK 5 (not authorized)"),
        ("404", format!("ws://{}:{}/nope", nginx.host, nginx.ws_port), f.broker.password.as_str(), "404"),
        ("plain client on a TLS port", format!("ws://{}:{wss}/mqtt", b.host), f.broker.password.as_str(), "try wss://"),
        ("unknown CA", format!("wss://localhost:{wss}/mqtt"), f.broker.password.as_str(), "--ca FILE"),
    ];
    for (what, url, password, expected) in &cases {
        let (status, stderr, stdout, took) = cli_probe(&[url.as_str(), "--username", &f.broker.username, "--hold", "5s"], password);
        let lines = error_lines(&stderr);
        eprintln!("{what}: {took:?}: {lines:?}");
        assert_eq!(status, Some(2), "{what}: exit 2\n{stderr}");
        assert_eq!(lines.len(), 1, "{what}: one line\n{stderr}");
        assert!(lines[0].contains(expected), "{what}: {:?} should say {expected:?}", lines[0]);
        assert!(!stderr.contains(password) || password.is_empty(), "{what}: the password is never shown");
        assert!(stdout.is_empty(), "{what}: no report for a probe that could not run: {stdout}");
        assert!(took < Duration::from_secs(10), "{what}: took {took:?}");
    }
    // The same TLS listener with its CA given: the probe runs, every session holds, exit 0.
    let ca = tls.ca_file.display().to_string();
    let url = format!("wss://localhost:{wss}/mqtt");
    let (status, stderr, stdout, _) = cli_probe(&[&url, "--username", &f.broker.username, "--ca", &ca, "--columns", "rfc6455", "--keepalive", "2s", "--hold", "3s"], &f.broker.password);
    eprintln!("{stderr}{stdout}");
    assert_eq!(status, Some(0), "wss with its CA holds\n{stderr}{stdout}");
    assert!(stdout.contains("wss://localhost"), "{stdout}");
    assert!(!stdout.contains(&f.broker.password) && !stderr.contains(&f.broker.password), "the password is never shown");
    drop(nginx);
    let _ = b.container.rm().await;
    let _ = cleanup::remove_run(&run_id).await;
    let _ = network::remove(&net).await;
}

/// The broker's whole log (it logs every client's connect and DISCONNECT).
fn broker_log(id: &str) -> String {
    let out = Command::new("docker").args(["logs", id]).output().expect("docker logs runs");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Processes whose environment names a client id under `prefix`.
fn processes_with(prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc lists").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(env) = std::fs::read(entry.path().join("environ")) {
            if String::from_utf8_lossy(&env).contains(&format!("MATRIX_CLIENT_ID={prefix}")) {
                found.push(name);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_mid_probe_ends_every_builtin_session_with_disconnect_and_leaves_no_process() {
    let run_id = labels::new_run_id();
    let b = start_broker(&run_id, "bookworm", None, None).await;
    // One real client through the recording proxy too: the harness's own CLI playing rfc6455
    // under the command contract, from a matrix file of this test's.
    let dir = std::env::temp_dir().join(format!("mm-probe-test-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).expect("a folder");
    let text = std::fs::read_to_string(root().join("matrix.toml")).expect("matrix.toml");
    let config = dir.join("matrix.toml");
    std::fs::write(&config, format!("{text}\n[clients.self-rfc6455]\ncommand = [\"mosquitto-matrix\", \"client\", \"--profile\", \"rfc6455\"]\n"))
        .expect("the test's matrix file");
    let f = file();
    let prefix = format!("ctrlc-{:06x}-", rand::random::<u32>() & 0xff_ffff);
    let url = format!("ws://{}:{}/mqtt", b.host, b.ws_port);
    let mut child = Command::new(cli())
        .arg("--config")
        .arg(&config)
        .args(["probe", &url, "--columns", "rfc6455,no-pong,paho-java-1.2.5,self-rfc6455", "--keepalive", "30s", "--hold", "120s"])
        .args(["--username", &f.broker.username, "--client-id-prefix", &prefix])
        .env("MATRIX_PROBE_PASSWORD", &f.broker.password)
        .env("MATRIX_SELF", cli())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the probe starts");
    // Every session connected: the broker logs each client id.
    let deadline = Instant::now() + Duration::from_secs(30);
    let ids: Vec<String> = loop {
        let log = broker_log(b.container.id());
        let ids: Vec<String> = log
            .lines()
            .filter(|l| l.contains("New client connected") && l.contains(&prefix) && !l.contains("-check"))
            .filter_map(|l| l.split(" as ").nth(1).and_then(|r| r.split(' ').next()).map(str::to_string))
            .collect();
        if ids.len() >= 4 {
            break ids;
        }
        assert!(Instant::now() < deadline, "the four sessions did not connect within 30 s:\n{log}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(processes_with(&prefix).len(), 1, "the command client runs");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).expect("SIGINT sent");
    let stopped = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("the probe is waited for") {
            break s;
        }
        assert!(stopped.elapsed() < Duration::from_secs(10), "the probe did not end within 10 s of Ctrl-C");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("SIGINT: stopped"), "{stderr}");
    // The built-in sessions (rfc6455, no-pong, paho-java-1.2.5) said DISCONNECT.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = broker_log(b.container.id());
    let said: Vec<&String> = ids.iter().filter(|id| log.contains(&format!("Received DISCONNECT from {id}"))).collect();
    assert!(said.len() >= 3, "every built-in session said DISCONNECT; those that did: {said:?} of {ids:?}\n{log}");
    assert!(processes_with(&prefix).is_empty(), "no client process is left: {:?}", processes_with(&prefix));
    assert!(!stderr.contains(&f.broker.password), "the password is never shown");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = b.container.rm().await;
    let _ = cleanup::remove_run(&run_id).await;
}

/// The cell of `column` (its own name, without route or keepalive) on row `tag`.
fn cell<'a>(r: &'a RunResult, tag: &str, column: &str) -> &'a CellResult {
    r.cells
        .iter()
        .find(|c| c.tag == tag && (c.column() == column || c.column().split(' ').next() == Some(column)))
        .unwrap_or_else(|| panic!("no {tag}/{column} in {:?}", r.cells.iter().map(|c| c.id()).collect::<Vec<_>>()))
}

fn first_ping(c: &CellResult) -> Option<Duration> {
    c.verdict.frames.iter().find(|f| f.opcode == 0x9).map(|f| f.at)
}

fn within(a: Option<Duration>, b: Option<Duration>, slack: Duration) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.abs_diff(b) <= slack,
        (None, None) => true,
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_agrees_with_run_at_the_full_hold() {
    let f = file();
    let tags = ["bookworm", "sid"];
    let ws_columns = ["rfc6455", "no-pong", "paho-java-1.2.5"];
    let sel = Selection {
        set: Some("debian".into()),
        tags: Some(tags.iter().map(|t| t.to_string()).collect()),
        profiles: Some(ws_columns.iter().chain(["tcp"].iter()).map(|p| p.to_string()).collect()),
        routes: Some(vec!["direct".into()]),
        ..Selection::default()
    };
    let plan = Plan::new(&f, &sel).expect("a plan");
    assert!(plan.reaches_five_minute_mark(), "the full hold");
    let run_id = labels::new_run_id();
    let keepalive = format!("{}s", f.timing.keepalive.as_secs());
    let hold = format!("{}s", f.timing.hold.as_secs());
    let brokers = futures_util::future::join_all(tags.iter().map(|t| start_broker(&run_id, t, None, None))).await;
    let mut asks = Vec::new();
    for b in &brokers {
        asks.push(ask_for(&format!("ws://{}:{}/mqtt", b.host, b.ws_port), &ws_columns, &[&keepalive], &hold));
        asks.push(ask_for(&format!("mqtt://{}:{}", b.host, b.tcp_port), &["tcp"], &[&keepalive], &hold));
    }
    let started = Instant::now();
    let matrix_run = labels::new_run_id();
    let (ran, probed) = tokio::join!(run::run(&plan, &matrix_run, None), futures_util::future::join_all(asks.iter().map(run_probe)));
    eprintln!("run and probes side by side in {:.1} s", started.elapsed().as_secs_f64());
    let slack = Duration::from_millis(500);
    let mut differences = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let (ws, tcp) = (&probed[2 * i], &probed[2 * i + 1]);
        eprintln!("{tag}:\n{}{}", ws.answer, tcp.answer);
        for column in ws_columns.iter().chain(["tcp"].iter()) {
            let p = if *column == "tcp" { &tcp.result } else { &ws.result };
            let pc = cell(p, &p.tags[0].tag, column);
            let rc = cell(&ran, tag, column);
            let (pv, rv) = (&pc.verdict, &rc.verdict);
            let same = pv.outcome == rv.outcome && within(first_ping(pc), first_ping(rc), slack) && within(pv.broker_time(), rv.broker_time(), slack);
            eprintln!(
                "{tag}/{column}: probe {} ping {:?} end {:?} | run {} ping {:?} end {:?}",
                pv.outcome.name(),
                first_ping(pc),
                pv.broker_time(),
                rv.outcome.name(),
                first_ping(rc),
                rv.broker_time()
            );
            if !same {
                differences.push(format!("{tag}/{column}: probe {} ({}) vs run {} ({})", pv.outcome.name(), pv.cause, rv.outcome.name(), rv.cause));
            }
        }
        assert_ne!(ws.result.cells.iter().find(|c| c.column().starts_with("rfc6455")).map(|c| c.verdict.outcome), Some(Outcome::Error));
    }
    for b in brokers {
        let _ = b.container.rm().await;
    }
    let _ = cleanup::remove_run(&run_id).await;
    assert!(differences.is_empty(), "the probe and run disagree:\n{}", differences.join("\n"));
}
