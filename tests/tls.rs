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
use mosquitto_matrix::plan::{Outcome, Profile};

use support::peer::Behaviour;
use support::{run_cell_with, timing, Cell, UNIT};

/// The profiles that play WebSocket frames themselves.
const WS_FRAME: &[Profile] = &[
    Profile::PahoJava125,
    Profile::Rfc6455,
    Profile::NoPong,
    Profile::CloseOnPing,
    Profile::UnmaskedPong,
    Profile::LatePong,
    Profile::Fragmented,
];

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
    for &profile in WS_FRAME {
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
