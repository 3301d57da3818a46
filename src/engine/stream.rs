//! A byte stream to or from a listener: plain TCP, or TLS over TCP (`wss://`), behind one
//! type, so the session, the probes and the recording proxy have one code path for both.
//!
//! [`connect`] is the client side (TCP connect, then the TLS handshake with the run's client
//! configuration, checking the certificate against the host it connects to); [`accept`] the
//! server side the recording proxy plays towards a command client (the run's certificate).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::engine::tls::{self, RunTls};

/// Why a stream could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The TCP connection failed.
    #[error("could not connect to {addr}: {source}")]
    Tcp {
        /// host:port.
        addr: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The host cannot be named in a certificate check.
    #[error("{host:?} is not a host name or address a TLS certificate can name")]
    ServerName {
        /// The host.
        host: String,
    },
    /// The TLS handshake failed (an untrusted certificate, a reset, an end).
    #[error("{words} (at {addr})")]
    Tls {
        /// host:port.
        addr: String,
        /// What failed, in words ([`tls::handshake_error`]).
        words: String,
        /// The error.
        source: io::Error,
    },
}

impl ConnectError {
    /// The I/O error underneath, for a session that judges how a socket ended.
    pub fn io(&self) -> Option<&io::Error> {
        match self {
            ConnectError::Tcp { source, .. } | ConnectError::Tls { source, .. } => Some(source),
            ConnectError::ServerName { .. } => None,
        }
    }
}

/// A connected stream, plain or TLS.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP as the client, after the handshake.
    Tls(Box<TlsStream<TcpStream>>),
    /// TLS over TCP as the server (the recording proxy towards its client), after the handshake.
    Served(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    /// The TCP socket underneath (for socket options: no-delay, linger).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
            Stream::Served(s) => s.get_ref().0,
        }
    }

    /// The TCP socket underneath, to read past TLS: what a goodbye drains after its own
    /// close_notify, so no record after it reaches rustls.
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_mut().0,
            Stream::Served(s) => s.get_mut().0,
        }
    }

    /// Whether TLS runs on it.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    /// Ends our direction with a bare TCP FIN, without TLS's close_notify: how the proxy
    /// passes on a peer that ended its TLS session without one.
    pub async fn fin_only(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.shutdown().await,
            Stream::Tls(s) => s.get_mut().0.shutdown().await,
            Stream::Served(s) => s.get_mut().0.shutdown().await,
        }
    }
}

/// Serves TLS with the run's certificate on an accepted connection (no-delay on); plain
/// without `tls`. The error is [`tls::handshake_error`]'s words.
pub async fn accept(tcp: TcpStream, tls: Option<&RunTls>) -> Result<Stream, String> {
    let _ = tcp.set_nodelay(true);
    match tls {
        None => Ok(Stream::Plain(tcp)),
        Some(run) => match tokio_rustls::TlsAcceptor::from(run.server_config().map_err(|e| e.to_string())?).accept(tcp).await {
            Ok(s) => Ok(Stream::Served(Box::new(s))),
            Err(e) => Err(tls::handshake_error(&e)),
        },
    }
}

/// Connects to `host:port` (no-delay on), then, with `tls`, completes a TLS handshake that
/// trusts the run's CA only and checks the certificate against `host`.
pub async fn connect(host: &str, port: u16, tls: Option<&RunTls>) -> Result<Stream, ConnectError> {
    let addr = format!("{host}:{port}");
    let tcp = TcpStream::connect((host, port)).await.map_err(|source| ConnectError::Tcp { addr: addr.clone(), source })?;
    let _ = tcp.set_nodelay(true);
    match tls {
        None => Ok(Stream::Plain(tcp)),
        Some(run) => {
            let name = tls::server_name(host).ok_or_else(|| ConnectError::ServerName { host: host.to_string() })?;
            match TlsConnector::from(run.client_config()).connect(name, tcp).await {
                Ok(s) => Ok(Stream::Tls(Box::new(s))),
                Err(source) => Err(ConnectError::Tls { addr, words: tls::handshake_error(&source), source }),
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Served(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Served(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Served(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    /// On TLS: close_notify, then the TCP FIN.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Served(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
