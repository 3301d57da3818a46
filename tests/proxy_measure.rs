//! The reverse-proxy measurements of issue 22: bookworm's broker behind each proxy (and
//! direct, for comparison), built-in profiles as commands on the brokers' clock, one session
//! per (proxy, profile, keepalive), held 330 s of broker time. Prints one row per session:
//! the outcome, when and by whom it ended, whether the broker's WebSocket PING reached the
//! client, and the verdict's cause. Run by name (Docker, the proxy image, the time library):
//!
//! ```sh
//! MATRIX_SPEED=10 cargo test --test proxy_measure -- --nocapture
//! MATRIX_SPEED=1 PROXY_MEASURE_ROUTES=nginx,haproxy PROXY_MEASURE_PROFILES=rfc6455 cargo test --test proxy_measure -- --nocapture
//! ```
//!
//! Knobs: `MATRIX_SPEED` (10), `PROXY_MEASURE_ROUTES` (`direct,nginx,haproxy,caddy,apache`;
//! `nginx-long`, `haproxy-long` for the configuration that makes a long session hold),
//! `PROXY_MEASURE_PROFILES` (`rfc6455,no-pong,paho-java-1.2.5`; real clients as matrix.toml
//! names them too, `paho-java@1.2.5`: `bash clients/setup.sh`), `PROXY_MEASURE_KEEPALIVES`
//! (`60,120`, seconds), `PROXY_MEASURE_HOLD` (`330s`), `PROXY_MEASURE_TAG` (`bookworm`: the
//! debian image's tag; `sid`'s broker sends no WebSocket PING), `PROXY_MEASURE_TLS=1` (over
//! wss: each proxy's TLS listener, direct the broker's own, with the run's certificate). It fails when a session could not run
//! (ERROR): a measurement is never made of a harness failure.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use mosquitto_matrix::client::command::{self, CommandSpec};
use mosquitto_matrix::client::contract::RUN_ID_VAR;
use mosquitto_matrix::client::Started;
use mosquitto_matrix::engine::broker::{self, ClockAsk};
use mosquitto_matrix::engine::clock::{self, Libc};
use mosquitto_matrix::engine::labels::{self, Labels};
use mosquitto_matrix::engine::network;
use mosquitto_matrix::engine::proxy::{self, ProxyAsk, ProxyConfig, ProxyKind, ProxyTls};
use mosquitto_matrix::engine::tls::RunTls;
use mosquitto_matrix::engine::readiness::Probe;
use mosquitto_matrix::judge::verdict::decide;
use mosquitto_matrix::plan::{Column, MatrixFile, Outcome, Plan, Selection, Timing, Transport};
use mosquitto_matrix::wire::frame::opcode;

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name).unwrap_or_else(|_| default.to_string()).split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// One measured session.
struct Row {
    route: String,
    profile: String,
    keepalive: u64,
    outcome: Outcome,
    at: Option<f64>,
    ping: Option<f64>,
    cause: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn bookworm_behind_each_reverse_proxy_with_the_paho_java_and_rfc6455_and_no_pong_profiles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let f = MatrixFile::load(&root.join("matrix.toml")).expect("matrix.toml loads");
    let speed: u32 = std::env::var("MATRIX_SPEED").ok().and_then(|s| s.trim_start_matches(['x', 'X']).parse().ok()).unwrap_or(10);
    let routes = env_list("PROXY_MEASURE_ROUTES", "direct,nginx,haproxy,caddy,apache");
    // Columns as matrix.toml names them: built-in profiles, and real clients (`paho-java@1.2.5`).
    let names = env_list("PROXY_MEASURE_PROFILES", "rfc6455,no-pong,paho-java-1.2.5");
    let selection = Selection { set: Some("debian".into()), profiles: Some(names), ..Selection::default() };
    let columns = Plan::new(&f, &selection).unwrap_or_else(|e| panic!("{e}")).columns;
    let keepalives: Vec<u64> = env_list("PROXY_MEASURE_KEEPALIVES", "60,120").iter().map(|k| k.parse().expect("whole seconds")).collect();
    let hold = humantime::parse_duration(&std::env::var("PROXY_MEASURE_HOLD").unwrap_or_else(|_| "330s".into())).expect("a duration");
    let tag = std::env::var("PROXY_MEASURE_TAG").unwrap_or_else(|_| "bookworm".into());
    let secure = std::env::var("PROXY_MEASURE_TLS").is_ok_and(|v| v == "1");
    let run_id = labels::new_run_id();
    // With TLS: the proxies' TLS listeners (direct: the broker's own wss listener), the client
    // trusting the run's CA.
    let run_tls = secure.then(|| Arc::new(RunTls::temporary(&run_id).expect("the run's TLS material")));
    let proxy_tls = run_tls.as_deref().map(ProxyTls::of);
    let _reaper = mosquitto_matrix::run::reaper::Reaper::start(&run_id);
    let lifetime = Duration::from_secs(3600);
    let net = network::create(&run_id, lifetime).await.expect("network");
    let clock_ask = (speed > 1).then(|| ClockAsk { speed, workdir: root.to_path_buf() });
    let client_env = if speed > 1 {
        clock::clock_env(&clock::library_path(Libc::Glibc, root).to_string_lossy(), speed)
    } else {
        Vec::new()
    };
    let labels = Labels { run_id: run_id.clone(), cell: "measure/bookworm".into(), lifetime };
    let b = broker::start("mosquitto-matrix/debian", &tag, &f.broker, &labels, &[Transport::Ws], clock_ask.as_ref(), run_tls.as_deref(), Some(&net), |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let probe = Probe::new(&f.broker.username, &f.broker.password);
    let mut proxies = Vec::new();
    let mut targets = Vec::new();
    for route in &routes {
        if route == "direct" {
            let facts = format!("mosquitto {} (libwebsockets {})", b.facts.version.as_deref().unwrap_or("?"), b.facts.lws_version.as_deref().unwrap_or("?"));
            let port = if secure { b.wss_port.expect("the broker's wss port") } else { b.ws_port };
            targets.push((route.clone(), b.host.clone(), port, facts));
            continue;
        }
        // `nginx-long`: the configuration that makes a long session hold.
        let (name, config) = match route.strip_suffix("-long") {
            Some(name) => (name, ProxyConfig::LongSession),
            None => (route.as_str(), ProxyConfig::Stock),
        };
        let kind = ProxyKind::from_name(name).unwrap_or_else(|| panic!("no proxy {name}"));
        let p = proxy::start_with(ProxyAsk {
            kind,
            network: &net,
            upstream_host: network::BROKER_ALIAS,
            upstream_port: 9001,
            labels: &labels,
            tls: proxy_tls.as_ref(),
            clock: clock_ask.as_ref(),
            startup_timeout: Duration::from_secs(30),
            probe: &probe,
        }, config)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let port = if secure { p.wss_port.expect("the proxy's wss port") } else { p.ws_port };
        targets.push((route.clone(), p.host.clone(), port, p.label()));
        proxies.push(p);
    }
    for (route, _, _, label) in &targets {
        eprintln!("{route}: {label}");
    }
    let mut sessions = Vec::new();
    for (route, host, port, _) in &targets {
        for column in &columns {
            for &k in &keepalives {
                let timing = Timing {
                    hold,
                    keepalive: Duration::from_secs(k),
                    late_pong: Duration::from_secs(15),
                    setup_timeout: Duration::from_secs(20),
                    round_trip_timeout: Duration::from_secs(10),
                };
                let mut extra_env = client_env.clone();
                extra_env.push((RUN_ID_VAR.to_string(), run_id.clone()));
                let spec = CommandSpec {
                    client: match column.base() {
                        Column::Builtin(profile) => command::builtin_command(*profile, &timing),
                        Column::Command(client) => client.clone(),
                        other => panic!("column {} is neither a profile nor a client", other.name()),
                    },
                    host: host.clone(),
                    port: *port,
                    username: f.broker.username.clone(),
                    password: f.broker.password.clone(),
                    client_id: format!("mm-{route}-{}-{k}", column.name()).replace(['@', '.'], "-"),
                    timing,
                    workdir: root.to_path_buf(),
                    speed: f64::from(speed),
                    extra_env,
                    started: Started::new(),
                    tls: run_tls.clone(),
                    lateness: None,
                };
                let (route, name) = (route.clone(), column.name().to_string());
                sessions.push(async move {
                    let record = command::run(&spec).await;
                    let v = decide(&record);
                    let ping = v.frames.iter().find(|fr| fr.opcode == opcode::PING).map(|fr| fr.at.as_secs_f64());
                    Row { route, profile: name, keepalive: k, outcome: v.outcome, at: v.at.map(|d| d.as_secs_f64()), ping, cause: v.cause }
                });
            }
        }
    }
    let rows = join_all(sessions).await;
    let over = if secure { "wss (TLS listeners)" } else { "ws (plain listeners)" };
    println!("\nspeed x{speed}, hold {:.0} s, {tag} (mosquitto {}), {over}", hold.as_secs_f64(), b.facts.version.as_deref().unwrap_or("?"));
    println!("| route | profile | keepalive | outcome | ended at | broker PING seen | cause |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let at = r.at.map_or("—".to_string(), |a| format!("{a:.1} s"));
        let ping = r.ping.map_or("no".to_string(), |p| format!("{p:.1} s"));
        println!("| {} | {} | {} s | {:?} | {at} | {ping} | {} |", r.route, r.profile, r.keepalive, r.outcome, r.cause);
    }
    for p in &proxies {
        eprintln!("{} log tail:\n  {}", p.label(), p.log_tail(8).await.join("\n  "));
    }
    drop(proxies);
    drop(b);
    mosquitto_matrix::engine::cleanup::remove_run(&run_id).await.expect("clean-up");
    for r in &rows {
        assert_ne!(r.outcome, Outcome::Error, "{}/{}/{} s: {}", r.route, r.profile, r.keepalive, r.cause);
    }
}
