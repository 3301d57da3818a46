//! The scripted broker's I/O: a listener on 127.0.0.1 with an OS-chosen port (plain, or TLS
//! with a given server configuration), one task per client connection that feeds a
//! [`Core`] the bytes it reads and the deadlines it reaches, and does what it says. Reads the
//! clock, owns the sockets; decides nothing.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::peer::behaviour::Behaviour;
use crate::peer::core::{Core, Out};
use crate::peer::observation::{Observation, PeerEnd};
use crate::peer::GRACE_UNITS;
use crate::plan::Transport;

/// A running peer: a listener on 127.0.0.1 with an OS-chosen port.
pub struct Peer {
    port: u16,
    accept: JoinHandle<()>,
    sessions: mpsc::UnboundedReceiver<JoinHandle<Observation>>,
    unit: Duration,
}

impl Peer {
    /// Starts a peer for clients of `transport` that plays `behaviour` with this unit of time.
    pub async fn start(transport: Transport, behaviour: Behaviour, unit: Duration) -> io::Result<Peer> {
        Peer::start_with(transport, behaviour, unit, None).await
    }

    /// The same peer behind TLS with `server` (a `wss` listener): the handshake comes first,
    /// then everything as on a plain peer.
    pub async fn start_with(
        transport: Transport,
        behaviour: Behaviour,
        unit: Duration,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<Peer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (tx, sessions) = mpsc::unbounded_channel();
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                let stream = match &tls {
                    None => PeerStream::Plain(tcp),
                    Some(config) => match TlsAcceptor::from(Arc::clone(config)).accept(tcp).await {
                        Ok(s) => PeerStream::Tls(Box::new(s)),
                        Err(e) => {
                            let failed = Observation::ended(PeerEnd::SocketError(format!("TLS handshake: {e}")));
                            if tx.send(tokio::spawn(async move { failed })).is_err() {
                                break;
                            }
                            continue;
                        }
                    },
                };
                let core = Core::new(transport == Transport::Ws, behaviour, unit);
                if tx.send(tokio::spawn(serve(stream, core))).is_err() {
                    break;
                }
            }
        });
        Ok(Peer { port, accept, sessions, unit })
    }

    /// The port the peer listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops accepting and returns what each session saw, once each has ended; a session
    /// that does not end within twice [`GRACE_UNITS`] is [`PeerEnd::Stuck`].
    pub async fn finish(mut self) -> Vec<Observation> {
        self.accept.abort();
        let bound = self.unit * GRACE_UNITS * 2;
        let mut seen = Vec::new();
        while let Some(mut session) = self.sessions.recv().await {
            match timeout(bound, &mut session).await {
                Ok(Ok(observation)) => seen.push(observation),
                Ok(Err(e)) => seen.push(Observation::ended(PeerEnd::SocketError(format!("the session task failed: {e}")))),
                Err(_) => {
                    session.abort();
                    seen.push(Observation::ended(PeerEnd::Stuck));
                }
            }
        }
        seen
    }
}

/// Drives one connection's core to its end.
async fn serve(mut stream: PeerStream, mut core: Core) -> Observation {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let deadline = core.deadline();
        let far = Instant::now() + Duration::from_secs(3600);
        let outs = tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) => return core.finish(PeerEnd::ClientEof),
                Ok(n) => core.on_bytes(std::time::Instant::now(), &buf[..n]),
                Err(e) => return core.finish(PeerEnd::SocketError(e.to_string())),
            },
            _ = sleep_until(deadline.map_or(far, Instant::from_std)), if deadline.is_some() => core.on_time(std::time::Instant::now()),
        };
        for out in outs {
            let end = match out {
                Out::Write(bytes) => match stream.write_all(&bytes).await {
                    Ok(()) => continue,
                    Err(e) => PeerEnd::SocketError(e.to_string()),
                },
                Out::TryWrite(bytes) => {
                    let _ = stream.write_all(&bytes).await;
                    continue;
                }
                Out::HangUp(why) => hang_up(&mut stream, core.units(GRACE_UNITS), why).await,
                Out::Reset => match stream.set_zero_linger() {
                    // Dropping the stream with the task now sends the RST.
                    Ok(()) => PeerEnd::Reset,
                    Err(e) => PeerEnd::SocketError(format!("could not set SO_LINGER 0: {e}")),
                },
                Out::Drop(end) => end,
            };
            return core.finish(end);
        }
    }
}

/// Ends the connection without a close frame: FIN, then read (and drop) whatever the client
/// still sends until it closes too, so the kernel sends no RST for unread bytes.
async fn hang_up(stream: &mut PeerStream, bound: Duration, why: &'static str) -> PeerEnd {
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 1024];
    let _ = timeout(bound, async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    PeerEnd::HungUp(why)
}

/// A client's connection to the peer: plain, or TLS after the handshake.
enum PeerStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl PeerStream {
    fn set_zero_linger(&self) -> io::Result<()> {
        match self {
            PeerStream::Plain(s) => s.set_zero_linger(),
            PeerStream::Tls(s) => s.get_ref().0.set_zero_linger(),
        }
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
