//! `conformance brokers` against brokers that never answer, without Docker: a loopback listener
//! that accepts and says nothing, and one that answers the upgrade and then says nothing. Every
//! broker case must end at its step's deadline with words that name the step, never wait on:
//! the CI dry run once hung for minutes in this grid.

use std::path::Path;
use std::time::{Duration, Instant};

use mosquitto_matrix::conformance::brokers::{play_case, ANSWER_WAIT, BROKER_CASES, CASE_BOUND};
use mosquitto_matrix::plan::MatrixFile;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the listener does with each connection it accepts.
#[derive(Clone, Copy)]
enum Listener {
    /// Accepts, reads nothing, writes nothing, keeps the socket open.
    Silent,
    /// Reads the upgrade, answers 101 with the `mqtt` subprotocol, then reads and says nothing.
    UpgradeThenSilent,
}

/// Starts a listener on a loopback port of the system's choosing; its port.
async fn listen(how: Listener) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let port = l.local_addr().expect("its address").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = l.accept().await {
            if let Listener::UpgradeThenSilent = how {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                                  Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
                    if s.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                    // Read everything and answer nothing, until the client goes.
                    while let Ok(n) = s.read(&mut chunk).await {
                        if n == 0 {
                            return;
                        }
                    }
                });
            } else {
                held.push(s);
            }
        }
    });
    port
}

/// Plays every broker case at once against `port`; each case's words and how long it took.
async fn play_all(port: u16) -> Vec<(&'static str, String, Duration)> {
    let file = MatrixFile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml")).expect("matrix.toml loads");
    let settings = &file.broker;
    futures_util::future::join_all(BROKER_CASES.iter().map(|c| async move {
        let clock = Instant::now();
        let words = play_case(c.id, "127.0.0.1", port, settings).await;
        (c.id, words, clock.elapsed())
    }))
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_broker_case_against_a_listener_that_says_nothing_ends_at_its_deadline_naming_the_step() {
    let port = listen(Listener::Silent).await;
    for (id, words, took) in play_all(port).await {
        assert_eq!(words, "could not play: read the answer to the upgrade: nothing within 2 s", "{id}");
        assert!(took >= ANSWER_WAIT, "{id} ended after {took:?}, before its deadline");
        assert!(took < CASE_BOUND, "{id} took {took:?}, past the case's bound");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_broker_case_against_a_broker_silent_after_the_upgrade_ends_at_its_deadline() {
    let port = listen(Listener::UpgradeThenSilent).await;
    for (id, words, took) in play_all(port).await {
        let want = match id {
            "subprotocol-mqtt" | "subprotocol-mqttv3.1" | "subprotocol-none" => "101 mqtt",
            // Without a CONNACK these cases read the broker's answer for ANSWER_WAIT: nothing.
            "split-connect" | "packets-in-one-frame" => "nothing in 2 s",
            _ => "no CONNACK to a plain CONNECT",
        };
        assert_eq!(words, want, "{id}");
        assert!(took < CASE_BOUND, "{id} took {took:?}, past the case's bound");
        if !id.starts_with("subprotocol-") {
            assert!(took >= ANSWER_WAIT, "{id} ended after {took:?}, before its deadline");
        }
    }
}
