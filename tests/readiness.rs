//! Readiness probes against a fake broker on a local port: the back-off through resets,
//! refusals, silence and "no 101 yet", the clean goodbye, and an exit that ends the wait.
//! No Docker, milliseconds each.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use mosquitto_matrix::engine::readiness::{self, Listener, Liveness, Probe, ReadinessError, PROBE_CLIENT_PREFIX};
use mosquitto_matrix::plan::Transport;
use mosquitto_matrix::wire::frame::{self, opcode};
use mosquitto_matrix::wire::mqtt::{self, Packet};

/// What the fake does with one connection.
#[derive(Debug, Clone, Copy)]
enum Act {
    /// Accept, then reset (RST) at once.
    Reset,
    /// Accept, then close (FIN) at once, as docker-proxy does when nothing listens behind it.
    Close,
    /// Accept and never say a word.
    Silent,
    /// WebSocket only: answer the upgrade with this status line instead of 101.
    Status(&'static str),
    /// Answer CONNECT with a CONNACK of this return code (over WebSocket after a 101).
    ConnAck(u8),
}

/// What the fake saw on a connection it answered.
#[derive(Debug, Clone, Default)]
struct Seen {
    client_id: String,
    username: Option<String>,
    disconnect: bool,
    close_frame: bool,
    ended_by_client: bool,
}

/// A fake broker: the n-th connection gets `acts[n]`, every later one the last act.
struct Fake {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<Mutex<usize>>,
}

impl Fake {
    async fn start(transport: Transport, acts: Vec<Act>) -> Fake {
        let socket = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
        Fake::serve(socket, transport, acts)
    }

    fn serve(socket: TcpListener, transport: Transport, acts: Vec<Act>) -> Fake {
        let port = socket.local_addr().expect("bound").port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let connections: Arc<Mutex<usize>> = Arc::default();
        let (log, count) = (Arc::clone(&seen), Arc::clone(&connections));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = socket.accept().await else { return };
                let n = {
                    let mut c = count.lock().expect("count");
                    *c += 1;
                    *c - 1
                };
                let act = acts[n.min(acts.len() - 1)];
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    if let Some(s) = answer(stream, transport, act).await {
                        log.lock().expect("seen").push(s);
                    }
                });
            }
        });
        Fake { port, seen, connections }
    }

    fn listener(&self, transport: Transport) -> Listener {
        Listener::plain(transport, "127.0.0.1", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    fn connections(&self) -> usize {
        *self.connections.lock().expect("count")
    }
}

async fn answer(mut stream: TcpStream, transport: Transport, act: Act) -> Option<Seen> {
    match act {
        Act::Reset => {
            let _ = stream.set_zero_linger();
            return None;
        }
        Act::Close => return None,
        Act::Silent => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return None;
        }
        _ => {}
    }
    let ws = transport == Transport::Ws;
    let mut buf = BytesMut::new();
    if ws {
        let head = read_head(&mut stream, &mut buf).await?;
        if let Act::Status(line) = act {
            let _ = stream.write_all(format!("HTTP/1.1 {line}\r\nContent-Length: 0\r\n\r\n").as_bytes()).await;
            return None;
        }
        let key = head.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))?.trim().to_string();
        let reply = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
            derive_accept_key(key.as_bytes())
        );
        stream.write_all(reply.as_bytes()).await.ok()?;
    }
    let Act::ConnAck(code) = act else { return None };
    let mut seen = Seen::default();
    let mut packets = BytesMut::new();
    loop {
        // Everything the client sends, frame by frame on WebSocket.
        loop {
            if ws {
                match frame::decode(&mut buf).ok()? {
                    Some(f) if f.opcode == opcode::CLOSE => seen.close_frame = true,
                    Some(f) => packets.extend_from_slice(&f.payload),
                    None => break,
                }
            } else {
                packets.unsplit(buf.split());
                break;
            }
        }
        while let Some(p) = mqtt::decode(&mut packets).ok()? {
            match p {
                Packet::Connect { client_id, username, .. } => {
                    seen.client_id = client_id;
                    seen.username = username;
                    let connack = mqtt::encode(&Packet::connack(code));
                    let bytes = if ws { frame::encode(opcode::BINARY, &connack, false) } else { connack };
                    stream.write_all(&bytes).await.ok()?;
                }
                Packet::Disconnect { .. } => seen.disconnect = true,
                _ => {}
            }
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) => {
                seen.ended_by_client = true;
                return Some(seen);
            }
            Ok(_) => {}
            Err(_) => return Some(seen),
        }
    }
}

/// Reads an HTTP request head.
async fn read_head(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = buf.split_to(end + 4);
            return Some(String::from_utf8_lossy(&head).into_owned());
        }
        if stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

fn probe() -> Probe {
    Probe::new("matrix", "matrix-test-only").with_attempt_timeout(Duration::from_millis(300))
}

async fn running() -> Liveness {
    Liveness::Running
}

fn check_clean_goodbye(seen: &[Seen]) {
    assert_eq!(seen.len(), 1, "exactly one probe got through: {seen:?}");
    let s = &seen[0];
    assert!(s.client_id.starts_with(PROBE_CLIENT_PREFIX), "{s:?}");
    assert_eq!(s.username.as_deref(), Some("matrix"));
    assert!(s.disconnect, "a probe says DISCONNECT after an accepted CONNACK: {s:?}");
    assert!(s.ended_by_client, "a probe ends its side of the stream: {s:?}");
}

#[tokio::test]
async fn a_tcp_listener_that_resets_three_times_then_answers_is_ready_after_backing_off() {
    let fake = Fake::start(Transport::Tcp, vec![Act::Reset, Act::Reset, Act::Reset, Act::ConnAck(0)]).await;
    let start = Instant::now();
    let ready = readiness::wait(&[fake.listener(Transport::Tcp)], &probe(), Duration::from_secs(10), running)
        .await
        .expect("ready once it answers");
    // Pauses of 50 + 100 + 200 ms between the four attempts.
    assert!(start.elapsed() >= Duration::from_millis(350), "{:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    assert_eq!(ready.attempts, 4);
    assert_eq!(fake.connections(), 4);
    assert_eq!(ready.connack, [(fake.listener(Transport::Tcp), 0)]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    check_clean_goodbye(&fake.seen());
}

#[tokio::test]
async fn a_refused_connect_is_not_ready_and_the_probe_tries_again_until_something_listens() {
    // A port nothing listens on yet: bound for its number, then let go.
    let port = TcpListener::bind("127.0.0.1:0").await.expect("a port").local_addr().expect("bound").port();
    let listener = Listener::plain(Transport::Tcp, "127.0.0.1", port);
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let socket = TcpListener::bind(("127.0.0.1", port)).await.expect("the same port, now listening");
        Fake::serve(socket, Transport::Tcp, vec![Act::ConnAck(0)])
    });
    let start = Instant::now();
    let ready = readiness::wait(&[listener], &probe(), Duration::from_secs(10), running).await.expect("ready");
    assert!(start.elapsed() >= Duration::from_millis(400), "{:?}", start.elapsed());
    assert!(ready.attempts >= 3, "refused at least twice first: {}", ready.attempts);
    let fake = late.await.expect("the late listener");
    tokio::time::sleep(Duration::from_millis(50)).await;
    check_clean_goodbye(&fake.seen());
}

#[tokio::test]
async fn a_websocket_listener_is_ready_only_after_a_101_with_mqtt_and_a_connack() {
    let acts = vec![Act::Close, Act::Status("503 Service Unavailable"), Act::Reset, Act::ConnAck(0)];
    let fake = Fake::start(Transport::Ws, acts).await;
    let ready = readiness::wait(&[fake.listener(Transport::Ws)], &probe(), Duration::from_secs(10), running)
        .await
        .expect("ready once it answers");
    assert_eq!(ready.attempts, 4);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let seen = fake.seen();
    check_clean_goodbye(&seen);
    assert!(seen[0].close_frame, "a WebSocket probe sends a close frame after DISCONNECT: {seen:?}");
}

#[tokio::test]
async fn a_connack_that_refuses_still_proves_the_listener_works() {
    let fake = Fake::start(Transport::Tcp, vec![Act::ConnAck(5)]).await;
    let ready = readiness::wait(&[fake.listener(Transport::Tcp)], &probe(), Duration::from_secs(5), running).await.expect("ready");
    assert_eq!(ready.connack[0].1, 5);
    assert_eq!(ready.attempts, 1);
}

#[tokio::test]
async fn every_listener_must_answer_not_just_one() {
    let tcp = Fake::start(Transport::Tcp, vec![Act::ConnAck(0)]).await;
    let ws = Fake::start(Transport::Ws, vec![Act::Close, Act::Close, Act::ConnAck(0)]).await;
    let listeners = [tcp.listener(Transport::Tcp), ws.listener(Transport::Ws)];
    let ready = readiness::wait(&listeners, &probe(), Duration::from_secs(5), running).await.expect("ready");
    assert_eq!(ready.connack.len(), 2);
    assert_eq!(tcp.connections(), 1, "an answered listener is not probed again");
    assert_eq!(ws.connections(), 3);
}

#[tokio::test]
async fn a_listener_that_never_answers_is_not_ready_within_the_limit_with_its_last_answer() {
    let closing = Fake::start(Transport::Tcp, vec![Act::Close]).await;
    let silent = Fake::start(Transport::Ws, vec![Act::Silent]).await;
    let listeners = [closing.listener(Transport::Tcp), silent.listener(Transport::Ws)];
    let start = Instant::now();
    let err = readiness::wait(&listeners, &probe(), Duration::from_secs(1), running).await.expect_err("never ready");
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(1) && took < Duration::from_millis(1600), "{took:?}");
    let text = err.to_string();
    assert!(text.starts_with("broker not ready within 1 s ("), "{text}");
    // A close with our CONNECT unread reaches us as an end or as a reset: both are "not yet".
    let tcp = format!("tcp 1883 at 127.0.0.1:{}: connection ", closing.port);
    assert!(text.contains(&tcp) && text.contains("before CONNACK"), "{text}");
    // The last attempt is bounded by what is left of the limit, and says so.
    assert!(text.contains(&format!("ws 9001 at 127.0.0.1:{}: no answer within 0.", silent.port)), "{text}");
}

#[tokio::test]
async fn an_exited_container_ends_the_wait_at_once_with_its_status() {
    let fake = Fake::start(Transport::Tcp, vec![Act::Close]).await;
    let asked = Arc::new(Mutex::new(0));
    let count = Arc::clone(&asked);
    let liveness = move || {
        let count = Arc::clone(&count);
        async move {
            let mut n = count.lock().expect("count");
            *n += 1;
            if *n >= 3 {
                Liveness::Exited { status: Some(1) }
            } else {
                Liveness::Running
            }
        }
    };
    let start = Instant::now();
    let err = readiness::wait(&[fake.listener(Transport::Tcp)], &probe(), Duration::from_secs(60), liveness).await.expect_err("exited");
    assert_eq!(err, ReadinessError::Exited { status: Some(1) });
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
    assert_eq!(fake.connections(), 2, "two rounds, then the exit was seen before a third");
}

#[tokio::test]
async fn the_connect_a_probe_sends_asks_for_a_clean_session() {
    let socket = TcpListener::bind("127.0.0.1:0").await.expect("port");
    let port = socket.local_addr().expect("bound").port();
    let server = tokio::spawn(async move {
        let (mut s, _) = socket.accept().await.expect("a probe connects");
        let mut raw = vec![0u8; 256];
        let n = s.read(&mut raw).await.expect("CONNECT");
        let _ = s.write_all(&mqtt::encode(&Packet::connack(0))).await;
        raw.truncate(n);
        raw
    });
    let listener = Listener::plain(Transport::Tcp, "127.0.0.1", port);
    readiness::attempt(&listener, &probe()).await.expect("CONNACK");
    let raw = server.await.expect("the server saw it");
    // Fixed header (2 bytes), protocol name "MQTT" (6), level 4, then the connect flags.
    assert_eq!(&raw[2..9], b"\x00\x04MQTT\x04", "{raw:?}");
    assert_eq!(raw[9] & 0x02, 0x02, "clean session: {:08b}", raw[9]);
}
