//! The transparent recording proxy of one command cell.
//!
//! The command connects to a loopback listener of ours; we connect to the broker's mapped
//! port and forward bytes unchanged, both ways, as they arrive (no-delay on both sockets).
//! A FIN is mirrored as a FIN (half-close), a reset as a reset. A copy of every read goes to
//! the [`Recorder`] before it is forwarded, so the recorder sees cause before effect. The
//! first connection is the one judged; later ones (a reconnect) are forwarded and counted.
//!
//! On a TLS route the proxy is two TLS sessions: it terminates the client's TLS with the
//! run's server certificate (signed by the same run CA the client trusts) and opens its own
//! TLS session to the broker, trusting the run's CA. The recorder sees the plain bytes
//! between them. An end is passed on as it came: close_notify then FIN as close_notify then
//! FIN, a bare FIN (rustls' "unexpected EOF") as a bare FIN, a reset as a reset.
//!
//! Every proxy of the process runs on threads of its own ([`RELAY_THREADS`], one runtime
//! for all): a broker's PING and the client's PONG pass through here, and at ×30 the client
//! has 0.33 s of real time for the round. On the harness's own runtime they waited behind
//! its other work (cells ending, brokers starting) up to 0.23 s in the worst runs.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

use crate::client::lateness::Lateness;
use crate::client::meter;
use crate::client::recorder::{Recorder, Watch};
use crate::client::Started;
use crate::engine::stream::{self, Stream};
use crate::engine::tls::RunTls;
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
    /// The broker's address is not `host:port`.
    #[error("the recording proxy was given {0:?}, not host:port")]
    Address(String),
    /// The client did not complete the TLS handshake with the proxy (it did not trust the
    /// run's certificate, or spoke no TLS).
    #[error("the client did not complete TLS with the recording proxy: {0}")]
    ClientTls(String),
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

/// How many threads carry every proxy's bytes.
pub const RELAY_THREADS: usize = 2;

/// The runtime every proxy of this process runs on, made by the first proxy; the caller's
/// own when it cannot be made. Its threads inherit the niceness of the thread that made them
/// (the harness's, once raised).
pub(crate) fn relays() -> tokio::runtime::Handle {
    static RELAYS: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    let own = RELAYS.get_or_init(|| {
        // What a waking client, and a proxy, wait to run is measured from the first proxy on.
        meter::start();
        let relays = tokio::runtime::Builder::new_multi_thread().worker_threads(RELAY_THREADS).thread_name("proxy").enable_all().build().ok();
        if let Some(r) = &relays {
            meter::start_relay_meter(r.handle());
        }
        relays
    });
    own.as_ref().map_or_else(tokio::runtime::Handle::current, |r| r.handle().clone())
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`;
    /// `started` is told when the first connection's CONNACK goes by. With `tls`, both legs
    /// are TLS with the run's certificate and CA.
    /// `setup` bounds a client's TLS handshake with the proxy: the cell's own set-up bound (real
    /// time), so a client the machine slows is never cut shorter by the proxy than by itself.
    pub async fn start(upstream: String, watch: Watch, started: Started, tls: Option<Arc<RunTls>>, setup: Duration) -> Result<Proxy, ProxyError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| ProxyError::Listen(e.to_string()))?;
        listener.set_nonblocking(true).map_err(|e| ProxyError::Listen(e.to_string()))?;
        let port = listener.local_addr().map_err(|e| ProxyError::Listen(e.to_string()))?.port();
        let (stop, stopped) = oneshot::channel();
        let legs = Legs { tls, setup };
        // The listener joins the relays' runtime from inside it.
        let task = relays().spawn(async move {
            let listener = TcpListener::from_std(listener).map_err(|e| ProxyError::Listen(e.to_string()))?;
            serve(listener, upstream, watch, started, stopped, legs).await
        });
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
    legs: Legs,
) -> Result<Seen, ProxyError> {
    let mut recorder: Option<(Arc<Mutex<Recorder>>, Instant)> = None;
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
                    recorder = Some((Arc::clone(&r), origin));
                    Some(r)
                } else {
                    None
                };
                relays.push(tokio::spawn(relay(client, upstream.clone(), legs.clone(), rec, origin, started.clone())));
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
    if let (Some((r, origin)), Some(lateness)) = (&recorder, &watch.lateness) {
        note_lateness(r, *origin, lateness).await;
    }
    let record = recorder.map(|(r, origin)| {
        note_cpu_waits(&r, origin);
        match Arc::try_unwrap(r) {
            Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()).finish(),
            Err(shared) => take(&shared),
        }
    });
    Ok(Seen { record, connections })
}

/// Hands the recorder every wait for a CPU the meter saw since the connection was accepted.
fn note_cpu_waits(recorder: &Mutex<Recorder>, origin: Instant) {
    let origin = origin.into_std();
    let waits = meter::waits_between(origin, std::time::Instant::now());
    let mut recorder = recorder.lock().unwrap_or_else(|p| p.into_inner());
    for w in waits {
        recorder.cpu_waited(w.ended.saturating_duration_since(origin), w.length);
    }
}

/// Hands the recorder how late its broker ran (timed by the run's own connection to it) from
/// the broker's last PING to the session's end, the span where a late timer changes a reading.
async fn note_lateness(recorder: &Mutex<Recorder>, origin: Instant, lateness: &Lateness) {
    let origin = origin.into_std();
    let span = recorder.lock().unwrap_or_else(|p| p.into_inner()).lateness_span();
    if let Some((from, to)) = span {
        let late = lateness.within(origin + from, origin + to).await;
        recorder.lock().unwrap_or_else(|p| p.into_inner()).ran_late(late);
    }
}

/// The record from a recorder a timed-out relay may still hold.
fn take(shared: &Arc<Mutex<Recorder>>) -> SessionRecord {
    let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
    let watch = guard.watch().clone();
    std::mem::replace(&mut *guard, Recorder::new(watch)).finish()
}

/// How both legs of a relayed connection are made.
#[derive(Clone)]
struct Legs {
    /// TLS on both legs, with the run's certificate and CA.
    tls: Option<Arc<RunTls>>,
    /// The bound on the client's TLS handshake.
    setup: Duration,
}

/// One relayed connection: the client's leg accepted, the broker's opened, then every byte
/// carried both ways (and copied to the recorder, for the first connection) until both ends close.
async fn relay(
    client: TcpStream,
    upstream: String,
    legs: Legs,
    rec: Option<Arc<Mutex<Recorder>>>,
    origin: Instant,
    started: Started,
) -> Result<(), ProxyError> {
    let Legs { tls, setup } = legs;
    let client = match timeout(setup, stream::accept(client, tls.as_deref())).await {
        Ok(Ok(s)) => s,
        Ok(Err(why)) => return Err(ProxyError::ClientTls(why)),
        Err(_) => return Err(ProxyError::ClientTls(format!("no TLS handshake within the set-up bound of {setup:?}"))),
    };
    let broker = connect_upstream(upstream, tls.as_deref()).await?;
    carry(client, broker, Notes { rec, started, told: false }, origin).await;
    Ok(())
}

/// Opens the broker's leg to `upstream` (`host:port`), within [`UPSTREAM_CONNECT`].
async fn connect_upstream(upstream: String, tls: Option<&RunTls>) -> Result<Stream, ProxyError> {
    let (host, port) = upstream
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| ProxyError::Address(upstream.clone()))?;
    match timeout(UPSTREAM_CONNECT, stream::connect(&host, port, tls)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => {
            let why = match e {
                stream::ConnectError::Tcp { source, .. } => source.to_string(),
                stream::ConnectError::Tls { words, .. } => words,
                other => other.to_string(),
            };
            Err(ProxyError::Upstream { addr: upstream, why })
        }
        Err(_) => Err(ProxyError::Upstream { addr: upstream, why: format!("no answer within {UPSTREAM_CONNECT:?}") }),
    }
}

/// The recorder of the judged connection (none for a reconnect), and whether the cell has
/// been told the CONNACK went by.
struct Notes {
    rec: Option<Arc<Mutex<Recorder>>>,
    started: Started,
    told: bool,
}

impl Notes {
    /// Tells the recorder what happened, and the cell once the recorder has seen the CONNACK.
    fn note(&mut self, f: &dyn Fn(&mut Recorder)) {
        if let Some(r) = &self.rec {
            let mut guard = r.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard);
            if !self.told && guard.connected() {
                self.told = true;
                self.started.reached();
            }
        }
    }
}

/// Carries bytes both ways as they arrive, each read noted before it is forwarded; an end is
/// passed on as it came (FIN as FIN, a bare TLS FIN as a bare FIN, a reset as a reset).
async fn carry(mut client: Stream, mut broker: Stream, mut notes: Notes, origin: Instant) {
    let (mut ubuf, mut dbuf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut up_open, mut down_open) = (true, true);
    while up_open || down_open {
        // Both reads are cancel-safe (plain and TLS alike): the one not chosen loses nothing.
        let (from, read) = tokio::select! {
            r = client.read(&mut ubuf), if up_open => (Party::Client, r),
            r = broker.read(&mut dbuf), if down_open => (Party::Broker, r),
        };
        let t = origin.elapsed();
        let (bytes, to, open): (&[u8], &mut Stream, &mut bool) = match from {
            Party::Client => (&ubuf, &mut broker, &mut up_open),
            Party::Broker => (&dbuf, &mut client, &mut down_open),
        };
        match read {
            Ok(0) => {
                notes.note(&|r| r.closed(from, t, SocketEnd::Eof));
                // Half-close: the other side reads its end of stream and may still answer.
                // On TLS, close_notify first, as the reading side got one.
                let _ = to.shutdown().await;
                *open = false;
            }
            Ok(n) => {
                let bytes = &bytes[..n];
                notes.note(&|r| r.bytes(from, t, bytes));
                // A failed write means the receiving side is gone; its own read reports how.
                let _ = to.write_all(bytes).await;
            }
            // TLS ended by a bare FIN, without close_notify: passed on the same way.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                notes.note(&|r| r.closed(from, t, SocketEnd::Eof));
                let _ = to.fin_only().await;
                *open = false;
            }
            Err(e) => {
                let how = SocketEnd::of(&e);
                notes.note(&|r| r.closed(from, t, how.clone()));
                if how == SocketEnd::Reset {
                    // Mirror the reset: a zero linger makes the close below send RST.
                    let _ = to.tcp().set_zero_linger();
                }
                return;
            }
        }
    }
}
