//! The `tls` route's clients against the scripted peer behind TLS (`wss`), no Docker: the
//! built-in session speaks TLS with the run's CA through the same code as plain, so every
//! profile must end over TLS exactly as it ends over plain; and a certificate from another
//! CA is the harness's error, said in words, never a broker verdict.

// Shared with the profile cells; this file uses a part of it.
#[allow(dead_code)]
mod support;

use std::sync::Arc;
use std::time::Duration;

use mosquitto_matrix::engine::tls::RunTls;
use mosquitto_matrix::judge::record::End;
use mosquitto_matrix::plan::{Outcome, Profile, Transport};

use support::peer::Behaviour;
use support::{run_cell_with, timing, Cell, UNIT};

/// The profiles that play WebSocket frames themselves.
fn ws_frame() -> impl Iterator<Item = Profile> {
    Profile::ALL.into_iter().filter(|p| p.is_frame_level() && p.transport() == Transport::Ws)
}

fn run_tls() -> Arc<RunTls> {
    Arc::new(RunTls::temporary("tls-test").expect("the run's TLS material is made"))
}

/// Outcome, who ended it, the close code and the end time within `slack` units.
fn same_end(plain: &Cell, tls: &Cell, slack: u32) -> Result<(), String> {
    let (a, b) = (&plain.verdict, &tls.verdict);
    let near = match (a.at, b.at) {
        (Some(x), Some(y)) => x.abs_diff(y) <= UNIT * slack,
        (x, y) => x == y,
    };
    if a.outcome == b.outcome && a.ended_by == b.ended_by && a.close_code == b.close_code && near {
        Ok(())
    } else {
        Err(format!("{}: plain {:?} at {:?} ({}) but TLS {:?} at {:?} ({})", plain.profile, a.outcome, a.at, a.cause, b.outcome, b.at, b.cause))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_built_in_profile_ends_over_tls_as_it_ends_over_plain_against_libwebsockets_4() {
    let tls = run_tls();
    let mut runs = Vec::new();
    for profile in ws_frame() {
        for t in [None, Some(Arc::clone(&tls))] {
            runs.push(tokio::spawn(run_cell_with(profile, Behaviour::LWS4, UNIT, timing(profile), t)));
        }
    }
    let mut cells = Vec::new();
    for run in runs {
        cells.push(run.await.expect("the cell's task ran").expect("the cell ran"));
    }
    let mismatches: Vec<String> = cells.chunks(2).filter_map(|pair| same_end(&pair[0], &pair[1], 4).err()).collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let paho = &cells[1];
    assert_eq!(paho.verdict.outcome, Outcome::Eof, "paho-java-1.2.5 drops on the PING over TLS too: {}", paho.verdict.cause);
    assert!(paho.peer.iter().all(|o| o.upgrade.is_some()), "the peer read the upgrade inside TLS");
}

#[tokio::test]
async fn rumqttc_holds_over_tls_against_a_broker_that_never_pings() {
    let tls = run_tls();
    let cell = run_cell_with(Profile::Rumqttc, Behaviour::NO_PINGS, UNIT, timing(Profile::Rumqttc), Some(tls)).await.expect("the cell ran");
    assert_eq!(cell.verdict.outcome, Outcome::Ok, "{}", cell.verdict.cause);
}

#[tokio::test]
async fn a_session_that_does_not_trust_the_servers_certificate_is_a_harness_error_that_says_so() {
    let ours = run_tls();
    let theirs = run_tls();
    let peer = support::peer::Peer::start_with(
        mosquitto_matrix::plan::Transport::Ws,
        Behaviour::NO_PINGS,
        UNIT,
        Some(theirs.server_config().expect("a server side")),
    )
    .await
    .expect("the peer listens");
    let mut spec = support::spec(Profile::Rfc6455, peer.port(), timing(Profile::Rfc6455));
    spec.tls = Some(ours);
    let record = mosquitto_matrix::client::run(&spec).await;
    let End::HarnessError { detail } = &record.end else { panic!("not a harness error: {:?}", record.end) };
    assert!(detail.contains("the server's certificate is not trusted") && detail.contains("UnknownIssuer"), "{detail}");
    assert!(detail.contains(&format!("127.0.0.1:{}", peer.port())), "names where: {detail}");
    let _ = tokio::time::timeout(Duration::from_secs(2), peer.finish()).await;
}

/// One command cell (`mosquitto-matrix client --profile P` under the contract) through the
/// recording proxy, both of whose legs are TLS, against the TLS peer.
async fn command_over_tls(profile: Profile, tls: Arc<RunTls>) -> (mosquitto_matrix::judge::record::SessionRecord, Cell) {
    use mosquitto_matrix::client::command::{self, CommandSpec};
    let t = timing(profile);
    let peer = support::peer::Peer::start_with(profile.transport(), Behaviour::LWS4, UNIT, Some(tls.server_config().expect("a server side")))
        .await
        .expect("the peer listens");
    let spec = CommandSpec { tls: Some(Arc::clone(&tls)), ..support::command_spec(command::builtin_command(profile, &t), peer.port(), t) };
    let record = command::run(&spec).await;
    let verdict = mosquitto_matrix::judge::verdict::decide(&record);
    let seen = peer.finish().await;
    let cell = Cell { profile, behaviour: Behaviour::LWS4, unit: UNIT, record: record.clone(), verdict, peer: seen };
    (record, cell)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_through_the_tls_proxy_ends_as_in_process_and_the_recorder_sees_the_ping_inside_tls() {
    let tls = run_tls();
    for profile in [Profile::PahoJava125, Profile::Rfc6455, Profile::NoPong] {
        let inside = run_cell_with(profile, Behaviour::LWS4, UNIT, timing(profile), Some(Arc::clone(&tls))).await.expect("the cell ran");
        let (record, outside) = command_over_tls(profile, Arc::clone(&tls)).await;
        same_end(&inside, &outside, 3).unwrap_or_else(|e| panic!("{e}\nprocess: {:?}", record.process));
        let ping = record.frames.iter().find(|f| f.opcode == 0x9).unwrap_or_else(|| panic!("{profile}: the proxy recorded no PING: {:?}", record.frames));
        assert!(ping.at.abs_diff(UNIT * 15) <= UNIT * 3, "{profile}: PING at {:?}", ping.at);
        assert!(outside.peer.iter().all(|o| o.upgrade.is_some()), "{profile}: the peer read the proxy's upgrade inside TLS");
    }
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_proxys_certificate_is_an_error_that_names_tls() {
    use mosquitto_matrix::client::command::{self, CommandSpec};
    let ours = run_tls();
    let t = timing(Profile::Rfc6455);
    let peer = support::peer::Peer::start_with(Profile::Rfc6455.transport(), Behaviour::NO_PINGS, UNIT, Some(ours.server_config().expect("a server side")))
        .await
        .expect("the peer listens");
    // The client is told another run's CA: it refuses the proxy's certificate.
    let theirs = run_tls();
    let mut client = command::builtin_command(Profile::Rfc6455, &t);
    client.command.splice(0..0, ["env".to_string(), format!("MATRIX_CA_FILE={}", theirs.ca_file.display())]);
    client.command.remove(2);
    client.command.insert(2, mosquitto_matrix::client::command::own_cli().display().to_string());
    let spec = CommandSpec { tls: Some(ours), ..support::command_spec(client, peer.port(), t) };
    let record = command::run(&spec).await;
    let End::HarnessError { detail } = &record.end else { panic!("not an error: {:?}", record.end) };
    assert!(detail.contains("the client did not complete TLS with the recording proxy"), "{detail}");
    assert!(detail.contains("not trusted"), "the client's own words are kept: {detail}");
    let _ = tokio::time::timeout(Duration::from_secs(2), peer.finish()).await;
}

#[tokio::test]
async fn a_readiness_probe_over_tls_gets_its_connack_and_says_wss_and_another_ca_is_not_ready() {
    use mosquitto_matrix::engine::readiness::{self, Listener, Probe};
    let tls = run_tls();
    let peer = support::peer::Peer::start_with(
        mosquitto_matrix::plan::Transport::Ws,
        Behaviour::NO_PINGS,
        UNIT,
        Some(tls.server_config().expect("a server side")),
    )
    .await
    .expect("the peer listens");
    let listener = Listener { transport: mosquitto_matrix::plan::Transport::Ws, host: "127.0.0.1".into(), port: peer.port(), tls: Some(Arc::clone(&tls)) };
    assert_eq!(listener.to_string(), format!("wss 9443 at 127.0.0.1:{}", peer.port()));
    let probe = Probe::new("matrix", "secret");
    assert_eq!(readiness::attempt(&listener, &probe).await, Ok(0), "101 and CONNACK inside TLS");
    let foreign = Listener { tls: Some(run_tls()), ..listener.clone() };
    let why = readiness::attempt(&foreign, &probe).await.expect_err("another CA is refused");
    assert!(why.contains("not trusted"), "{why}");
    let _ = tokio::time::timeout(Duration::from_secs(2), peer.finish()).await;
}

/// How an upstream TLS server ends its side after sending `hello`.
#[derive(Debug, Clone, Copy)]
enum UpstreamEnd {
    /// close_notify, then FIN.
    CloseNotify,
    /// A bare FIN, no close_notify.
    BareFin,
}

/// Through the recording proxy's two TLS legs to a TLS server that sends `hello` and ends
/// as `end` says: what the client reads, and how its stream ends.
async fn through_proxy_to(end: UpstreamEnd) -> (Vec<u8>, std::io::Result<usize>) {
    use mosquitto_matrix::client::proxy::Proxy;
    use mosquitto_matrix::client::recorder::Watch;
    use mosquitto_matrix::engine::stream;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tls = run_tls();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listens");
    let port = listener.local_addr().expect("address").port();
    let server = tls.server_config().expect("a server side");
    let upstream = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("the proxy connects");
        let mut s = tokio_rustls::TlsAcceptor::from(server).accept(tcp).await.expect("the proxy's TLS");
        s.write_all(b"hello").await.expect("written");
        match end {
            UpstreamEnd::CloseNotify => s.shutdown().await.expect("close_notify and FIN"),
            UpstreamEnd::BareFin => s.get_mut().0.shutdown().await.expect("a bare FIN"),
        }
        // Held open until the proxy has passed the end on.
        let mut rest = Vec::new();
        let _ = s.get_mut().0.read_to_end(&mut rest).await;
    });
    let watch = Watch {
        column: "rfc6455".into(),
        transport: mosquitto_matrix::plan::Transport::Tcp,
        hold: Duration::from_secs(1),
        keepalive: Duration::from_secs(1),
        client_id: "c".into(),
        topic: "test/c".into(),
        speed: 1.0,
        protocol: mosquitto_matrix::wire::mqtt::Protocol::V311,
        lateness: None,
    };
    let proxy = Proxy::start(format!("127.0.0.1:{port}"), watch, Default::default(), Some(Arc::clone(&tls)), Duration::from_secs(10)).await.expect("a proxy");
    let mut client = stream::connect("127.0.0.1", proxy.port(), Some(&tls)).await.expect("the proxy's certificate is trusted");
    let mut got = vec![0u8; 5];
    client.read_exact(&mut got).await.expect("hello comes through both legs");
    let mut more = [0u8; 16];
    let last = client.read(&mut more).await;
    drop(client);
    let _ = proxy.finish(Duration::from_secs(1)).await;
    let _ = upstream.await;
    (got, last)
}

#[tokio::test]
async fn the_tls_proxy_passes_a_close_notify_on_as_a_close_notify_and_a_bare_fin_as_a_bare_fin() {
    let (got, last) = through_proxy_to(UpstreamEnd::CloseNotify).await;
    assert_eq!(got, b"hello");
    assert!(matches!(last, Ok(0)), "close_notify then FIN reads as a clean end: {last:?}");
    let (got, last) = through_proxy_to(UpstreamEnd::BareFin).await;
    assert_eq!(got, b"hello");
    let e = last.expect_err("a bare FIN is not a clean TLS end");
    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
}
