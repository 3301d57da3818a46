//! The transparent recording proxy of one command cell.
//!
//! The command connects to a loopback listener of ours; we connect to the broker's mapped
//! port and forward bytes unchanged, both ways, as they arrive (no-delay on both sockets).
//! A FIN is mirrored as a FIN (half-close), a reset as a reset. A copy of every read goes to
//! the [`Recorder`] before it is forwarded, so the recorder sees cause before effect. The
//! first connection is the one judged; later ones (a reconnect) are forwarded and counted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

use crate::client::recorder::{Recorder, Watch};
use crate::client::Started;
use crate::judge::record::{Party, SessionRecord, SocketEnd};

/// How long the proxy waits for the broker to accept its connection.
const UPSTREAM_CONNECT: Duration = Duration::from_secs(10);

/// A failure of the proxy itself: never the broker's or the client's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The loopback listener could not be opened.
    #[error("the recording proxy could not listen on 127.0.0.1: {0}")]
    Listen(String),
    /// The broker's mapped port could not be reached.
    #[error("the recording proxy could not connect to the broker at {addr}: {why}")]
    Upstream {
        /// host:port.
        addr: String,
        /// The operating system's words.
        why: String,
    },
    /// The proxy task itself failed.
    #[error("the recording proxy failed: {0}")]
    Task(String),
}

/// What the proxy saw of a cell.
#[derive(Debug)]
pub struct Seen {
    /// The record of the first connection, if the client made one.
    pub record: Option<SessionRecord>,
    /// How many connections the client opened.
    pub connections: usize,
}

/// A running proxy.
pub struct Proxy {
    port: u16,
    stop: Option<oneshot::Sender<Duration>>,
    task: JoinHandle<Result<Seen, ProxyError>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`;
    /// `started` is told when the first connection's CONNACK goes by.
    pub async fn start(upstream: String, watch: Watch, started: Started) -> Result<Proxy, ProxyError> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| ProxyError::Listen(e.to_string()))?;
        let port = listener.local_addr().map_err(|e| ProxyError::Listen(e.to_string()))?.port();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, upstream, watch, started, stopped));
        Ok(Proxy { port, stop: Some(stop), task })
    }

    /// The loopback port the client connects to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops accepting, waits up to `grace` for open connections to end, and returns what it saw.
    pub async fn finish(mut self, grace: Duration) -> Result<Seen, ProxyError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(grace);
        }
        (&mut self.task).await.map_err(|e| ProxyError::Task(e.to_string()))?
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    listener: TcpListener,
    upstream: String,
    watch: Watch,
    started: Started,
    mut stopped: oneshot::Receiver<Duration>,
) -> Result<Seen, ProxyError> {
    let mut recorder: Option<Arc<Mutex<Recorder>>> = None;
    let mut relays: Vec<JoinHandle<Result<(), ProxyError>>> = Vec::new();
    let mut connections = 0;
    let grace = loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                let origin = Instant::now();
                connections += 1;
                let rec = if recorder.is_none() {
                    let r = Arc::new(Mutex::new(Recorder::new(watch.clone())));
                    recorder = Some(Arc::clone(&r));
                    Some(r)
                } else {
                    None
                };
                relays.push(tokio::spawn(relay(client, upstream.clone(), rec, origin, started.clone())));
            }
            grace = &mut stopped => break grace.unwrap_or(Duration::ZERO),
        }
    };
    drop(listener);
    let deadline = Instant::now() + grace;
    let mut first_error = None;
    for (i, relay) in relays.into_iter().enumerate() {
        match tokio::time::timeout_at(deadline, relay).await {
            Ok(Ok(Err(e))) if i == 0 => first_error = Some(e),
            Ok(_) => {}
            // Still open after the grace: the client is gone, so whatever is left is dropped.
            Err(_) => {}
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let record = recorder.map(|r| match Arc::try_unwrap(r) {
        Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()).finish(),
        Err(shared) => take(&shared),
    });
    Ok(Seen { record, connections })
}

/// The record from a recorder a timed-out relay may still hold.
fn take(shared: &Arc<Mutex<Recorder>>) -> SessionRecord {
    let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
    let watch = guard.watch().clone();
    std::mem::replace(&mut *guard, Recorder::new(watch)).finish()
}

/// One direction of a relay.
struct Pipe {
    from: Party,
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    open: bool,
}

async fn relay(
    client: TcpStream,
    upstream: String,
    rec: Option<Arc<Mutex<Recorder>>>,
    origin: Instant,
    started: Started,
) -> Result<(), ProxyError> {
    let broker = match timeout(UPSTREAM_CONNECT, TcpStream::connect(&upstream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(ProxyError::Upstream { addr: upstream, why: e.to_string() }),
        Err(_) => return Err(ProxyError::Upstream { addr: upstream, why: format!("no answer within {UPSTREAM_CONNECT:?}") }),
    };
    let _ = client.set_nodelay(true);
    let _ = broker.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (br, bw) = broker.into_split();
    let mut up = Pipe { from: Party::Client, read: cr, write: bw, open: true };
    let mut down = Pipe { from: Party::Broker, read: br, write: cw, open: true };
    let (mut ubuf, mut dbuf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let mut told = false;
    let mut note = |f: &dyn Fn(&mut Recorder)| {
        if let Some(r) = &rec {
            let mut guard = r.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard);
            if !told && guard.connected() {
                told = true;
                started.reached();
            }
        }
    };
    while up.open || down.open {
        let (pipe, read) = tokio::select! {
            r = up.read.read(&mut ubuf), if up.open => (&mut up, r.map(|n| (n, &ubuf[..n]))),
            r = down.read.read(&mut dbuf), if down.open => (&mut down, r.map(|n| (n, &dbuf[..n]))),
        };
        let t = origin.elapsed();
        let from = pipe.from;
        match read {
            Ok((0, _)) => {
                note(&|r| r.closed(from, t, SocketEnd::Eof));
                // Half-close: the other side reads its end of stream and may still answer.
                let _ = pipe.write.shutdown().await;
                pipe.open = false;
            }
            Ok((_, bytes)) => {
                note(&|r| r.bytes(from, t, bytes));
                // A failed write means the receiving side is gone; its own read reports how.
                let _ = pipe.write.write_all(bytes).await;
            }
            Err(e) => {
                let how = SocketEnd::of(&e);
                note(&|r| r.closed(from, t, how.clone()));
                if how == SocketEnd::Reset {
                    // Mirror the reset: a zero linger makes the close below send RST.
                    let _ = pipe.write.as_ref().set_zero_linger();
                }
                return Ok(());
            }
        }
    }
    Ok(())
}
