//! One client session against one broker over a socket: connect (and, on a TLS route, the
//! TLS handshake), upgrade, then move bytes between the stream and the session core's
//! [`Player`], which holds every rule. Plain and TLS are one [`Stream`]: the session code is
//! the same; on TLS the end of the session sends close_notify before the FIN.
//!
//! The same code runs against real brokers and the scripted peer; durations come from
//! [`Timing`], so a test can make "300 s" happen in 300 ms.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep_until, timeout, Instant};

use crate::client::core::{Event, Player, Script, Step};
use crate::client::Started;
use crate::engine::stream::{self, ConnectError, Stream};
use crate::engine::tls::{self, RunTls};
use crate::judge::record::{End, SessionRecord, SocketEnd};
use crate::plan::{Profile, Timing, Transport};
use crate::wire::handshake::{self, HandshakeError};
use crate::wire::mqtt::Protocol;

/// Where and as whom a session connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// The client profile.
    pub profile: Profile,
    /// The MQTT protocol of its CONNECT.
    pub protocol: Protocol,
    /// Host to connect to (loopback for local engines).
    pub host: String,
    /// The port for the profile's transport, as mapped on the host (the `wss` port with `tls`).
    pub port: u16,
    /// WebSocket path (Paho uses `/mqtt`).
    pub path: String,
    /// MQTT user name.
    pub username: String,
    /// MQTT password.
    pub password: String,
    /// MQTT client identifier.
    pub client_id: String,
    /// The topic of the round trip (`test/<client id>` in the matrix).
    pub topic: String,
    /// Durations.
    pub timing: Timing,
    /// Told once CONNACK accepted the session.
    pub started: Started,
    /// TLS with the run's CA (`wss://`), or `None` for plain.
    pub tls: Option<Arc<RunTls>>,
}

/// Runs one session to its end and returns what it observed. Never fails: a session
/// that could not run is a record with [`End::HarnessError`].
pub async fn run(spec: &SessionSpec) -> SessionRecord {
    run_until(spec, std::future::pending()).await
}

/// [`run`], stopped early when `stop` gives a reason (the probe's Ctrl-C): a session the
/// broker accepted says goodbye first ([`Player::stop`]: DISCONNECT, then the close frame);
/// one still connecting ends at once. Either way the record's end is the harness's error.
pub async fn run_until(spec: &SessionSpec, stop: impl std::future::Future<Output = String>) -> SessionRecord {
    tokio::pin!(stop);
    let mut player = Player::new(Script {
        profile: spec.profile,
        protocol: spec.protocol,
        timing: spec.timing,
        client_id: spec.client_id.clone(),
        username: spec.username.clone(),
        password: spec.password.clone(),
        topic: spec.topic.clone(),
    });
    let addr = format!("{}:{}", spec.host, spec.port);
    let start = Instant::now();
    let connected = tokio::select! {
        c = timeout(spec.timing.setup_timeout, stream::connect(&spec.host, spec.port, spec.tls.as_deref())) => c,
        why = &mut stop => return player.finish(End::HarnessError { detail: why }),
    };
    let mut stream = match connected {
        Ok(Ok(s)) => s,
        // The broker ended the connection during TLS's handshake: its answer, as during the
        // upgrade. A certificate we do not trust is the harness's own failure (below).
        Ok(Err(ConnectError::Tls { source, .. })) if !tls::is_tls_refusal(&source) => {
            return player.finish(End::SocketEnded { at: Duration::ZERO, how: SocketEnd::of(&source) })
        }
        Ok(Err(e)) => return player.finish(End::HarnessError { detail: e.to_string() }),
        Err(_) => {
            let what = if spec.tls.is_some() { "connect and complete a TLS handshake with" } else { "connect to" };
            return player.finish(End::HarnessError { detail: format!("could not {what} {addr} within {:?}", spec.timing.setup_timeout) });
        }
    };
    let mut leftover = BytesMut::new();
    let mut subprotocol = None;
    if spec.profile.transport() == Transport::Ws {
        let upgraded = tokio::select! {
            u = timeout(spec.timing.setup_timeout, handshake::upgrade(&mut stream, &spec.host, spec.port, &spec.path)) => u,
            why = &mut stop => return player.finish(End::HarnessError { detail: why }),
        };
        match upgraded {
            Ok(Ok(up)) => {
                subprotocol = up.subprotocol;
                leftover = up.leftover;
            }
            Ok(Err(HandshakeError::Refused(detail))) => {
                return player.finish(End::UpgradeRefused { detail: format!("WebSocket upgrade refused: {detail}") })
            }
            Ok(Err(HandshakeError::Io(e))) => return player.finish(End::SocketEnded { at: Duration::ZERO, how: SocketEnd::of(&e) }),
            Err(_) => {
                let detail = format!("no answer to the WebSocket upgrade on {addr} within {:?}", spec.timing.setup_timeout);
                return player.finish(End::HarnessError { detail });
            }
        }
    }
    let mut step = player.open(start.elapsed(), subprotocol);
    if step.end.is_none() && !leftover.is_empty() {
        let more = player.input(start.elapsed(), &leftover);
        step = join(step, more);
    }
    let end = drive(&mut player, &mut stream, start, step, &spec.started, stop).await;
    let _ = timeout(Duration::from_secs(1), stream.shutdown()).await;
    player.finish(end)
}

/// Moves bytes between the socket and the player until the player says the session ended.
async fn drive(
    player: &mut Player,
    stream: &mut Stream,
    start: Instant,
    mut step: Step,
    started: &Started,
    mut stop: std::pin::Pin<&mut impl std::future::Future<Output = String>>,
) -> End {
    let mut inbuf = BytesMut::with_capacity(4096);
    let mut stopped = false;
    loop {
        if step.events.contains(&Event::Connected) {
            started.reached();
        }
        if !step.out.is_empty() {
            if let Err(e) = stream.write_all(&step.out).await {
                // The client gives up whatever happens to its last write.
                if let Some(end) = step.end {
                    return end;
                }
                let closed = player.closed(start.elapsed(), SocketEnd::of(&e));
                return closed.end.unwrap_or(End::SocketEnded { at: Duration::ZERO, how: SocketEnd::of(&e) });
            }
        }
        if let Some(end) = step.end {
            return end;
        }
        let wake = player.next_wake().map(|d| start + d);
        step = tokio::select! {
            read = stream.read_buf(&mut inbuf) => match read {
                Ok(0) => player.closed(start.elapsed(), SocketEnd::Eof),
                Ok(_) => {
                    let bytes = inbuf.split();
                    player.input(start.elapsed(), &bytes)
                }
                Err(e) => player.closed(start.elapsed(), SocketEnd::of(&e)),
            },
            _ = sleep_until(wake.unwrap_or(start + Duration::from_secs(86_400))) => player.tick(start.elapsed()),
            why = &mut stop, if !stopped => {
                stopped = true;
                player.stop(start.elapsed(), &why)
            }
        };
    }
}

/// Two steps as one: their bytes and events in order, the first end.
fn join(mut a: Step, b: Step) -> Step {
    a.out.extend(b.out);
    a.events.extend(b.events);
    a.end = a.end.or(b.end);
    a
}

