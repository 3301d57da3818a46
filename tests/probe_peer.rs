//! The probe's whole path without Docker: the library's `probe` against the scripted peer
//! (`mosquitto_matrix::peer`) playing libwebsockets 4 and a hop that ends every session at a
//! fixed time, in tenths of a second. The same session core, judge and analysis as against a
//! real endpoint (tests/probe.rs); only the clock is shorter.

use std::time::Duration;

use mosquitto_matrix::plan::{MatrixFile, Transport};
use mosquitto_matrix::probe::analysis::{HangUpFinding, LimitFinding, PingFinding};
use mosquitto_matrix::probe::ask::{self, Asked};
use mosquitto_matrix::probe::{self, ProbeAsk};
use mosquitto_matrix::peer::{self, Behaviour, Peer, Unmasked};

const UNIT: Duration = Duration::from_millis(100);

fn ask_for(port: u16, columns: &[&str], keepalives: &[&str], hold: &str) -> ProbeAsk {
    let f = MatrixFile::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml")).expect("matrix.toml loads");
    let asked = Asked {
        url: format!("ws://127.0.0.1:{port}/mqtt"),
        columns: Some(columns.iter().map(|c| c.to_string()).collect()),
        hold: Some(hold.into()),
        keepalives: Some(keepalives.iter().map(|k| k.to_string()).collect()),
        username: "u".into(),
        password: "p".into(),
        client_id_prefix: "peer-probe-".into(),
        ..Asked::default()
    };
    ask::build(asked, f.timing, &[], |_| false).expect("a valid ask")
}

#[tokio::test(flavor = "multi_thread")]
async fn against_libwebsockets_4_the_probe_sees_the_ping_the_hang_up_and_paho_java_dropping() {
    let peer = Peer::start(Transport::Ws, Behaviour::Lws4 { ping_at: 20, hangup_after: 10, unmasked: Unmasked::Accept }, UNIT).await.expect("the peer");
    let ask = ask_for(peer.port(), &["rfc6455", "no-pong", "paho-java-1.2.5"], &["1s"], "4s");
    let p = probe::probe(&ask, std::path::Path::new("."), std::future::pending()).await.expect("the probe runs");
    eprintln!("{}", p.answer);
    match p.findings.ping {
        PingFinding::At { first, sessions } => {
            assert!(first.abs_diff(Duration::from_secs(2)) < Duration::from_millis(300), "{first:?}");
            assert_eq!(sessions, 3);
        }
        other => panic!("{other:?}"),
    }
    match &p.findings.hang_up {
        HangUpFinding::After { after, key, .. } => {
            assert!(after.abs_diff(Duration::from_secs(1)) < Duration::from_millis(300), "{after:?}");
            assert_eq!(key, "no-pong");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.findings.limit, LimitFinding::None, "a hang-up after a PING is no timer");
    assert_eq!(p.findings.held, ["rfc6455"]);
    assert_eq!(p.exit_status(), 1);
    assert_eq!(p.result.routes, ["probe"]);
    assert_eq!(p.result.tags[0].broker_version.as_deref(), Some(peer::BROKER_VERSION));
    assert!(p.result.cells.iter().all(|c| c.client_id.as_deref().is_some_and(|id| id.starts_with("peer-probe-"))));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hop_that_ends_every_session_at_the_same_age_is_a_lifetime_whatever_the_keepalive() {
    let peer = Peer::start(Transport::Ws, Behaviour::TcpClose { at: 25 }, UNIT).await.expect("the peer");
    let ask = ask_for(peer.port(), &["rfc6455"], &["1s", "30s"], "5s");
    let p = probe::probe(&ask, std::path::Path::new("."), std::future::pending()).await.expect("the probe runs");
    eprintln!("{}", p.answer);
    match &p.findings.limit {
        LimitFinding::Lifetime { limit, busy, .. } => {
            assert!(limit.abs_diff(Duration::from_millis(2500)) < Duration::from_millis(300), "{limit:?}");
            assert_eq!(busy, &["rfc6455 ka=1s"]);
        }
        other => panic!("{other:?}\n{}", p.answer),
    }
    assert!(p.answer.to_string().contains("ends every session 3 s old whatever its traffic"), "{}", p.answer);
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_listening_is_one_line_before_any_session() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("its address").port()
    };
    let ask = ask_for(port, &["rfc6455"], &["30s"], "5s");
    let e = probe::probe(&ask, std::path::Path::new("."), std::future::pending()).await.expect_err("nothing listens");
    assert_eq!(e.to_string(), format!("ws://127.0.0.1:{port}/mqtt: connection refused: nothing listens on 127.0.0.1:{port}"));
}
