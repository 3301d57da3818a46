//! A byte stream to or from a listener: plain TCP, or TLS over TCP (`wss://`), behind one
//! type, so the session, the probes and the recording proxy have one code path for both.
//!
//! [`connect`] is the client side (TCP connect, then the TLS handshake with the run's client
//! configuration, checking the certificate against the host it connects to); [`accept`] the
//! server side the recording proxy plays towards a command client (the run's certificate).
//!
//! Under TLS, the bytes from the socket pass a [`RecordGuard`] before rustls sees them: a
//! peer that writes bytes that are not TLS records (Mosquitto 2.1 on sid writes its WebSocket
//! close frame `88 02 03 e8` in the clear once TLS is shut down) ends the stream with an error
//! that shows those bytes, rather than reaching rustls, which would only say "corrupt
//! message" (and, after our own close_notify, trips a debug assertion of rustls 0.23).

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
    Tls(Box<TlsStream<RecordGuard>>),
    /// TLS over TCP as the server (the recording proxy towards its client), after the handshake.
    Served(Box<tokio_rustls::server::TlsStream<RecordGuard>>),
}

/// The largest TLS record body a peer may send (2^14 plus the most expansion TLS 1.2 allows).
const MAX_RECORD: usize = 16_384 + 2_048;

/// A TCP stream that hands on only whole-looking TLS records: it follows the record headers
/// (content type 20–24, version 3.x, a length within `MAX_RECORD`) and, at the first header
/// that is not one, delivers what came before and then an `InvalidData` error naming the
/// bytes. Writes pass unchanged.
pub struct RecordGuard {
    tcp: TcpStream,
    /// Body bytes left in the current record.
    body_left: usize,
    /// The header bytes read so far (up to 5).
    header: Vec<u8>,
    /// The error to give at the next read, once the bytes before it were delivered.
    pending: Option<String>,
}

impl RecordGuard {
    fn new(tcp: TcpStream) -> RecordGuard {
        RecordGuard { tcp, body_left: 0, header: Vec::with_capacity(5), pending: None }
    }

    /// How many of `bytes` belong to TLS records; the error for the rest, if any.
    fn scan(&mut self, bytes: &[u8]) -> (usize, Option<String>) {
        let mut i = 0;
        while i < bytes.len() {
            if self.body_left > 0 {
                let n = self.body_left.min(bytes.len() - i);
                self.body_left -= n;
                i += n;
                continue;
            }
            self.header.push(bytes[i]);
            i += 1;
            let h = &self.header;
            let bad = (!h.is_empty() && !(20..=24).contains(&h[0])) || (h.len() >= 2 && h[1] != 3);
            if bad {
                let start = i - h.len().min(i);
                let shown: Vec<String> = bytes[start..bytes.len().min(start + 16)].iter().map(|b| format!("{b:02x}")).collect();
                let why = format!("the peer sent bytes that are not TLS records ({}{})", shown.join(" "), if bytes.len() > start + 16 { " …" } else { "" });
                return (start, Some(why));
            }
            if h.len() == 5 {
                let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
                if len > MAX_RECORD {
                    return (i - 5.min(i), Some(format!("the peer sent a TLS record header announcing {len} bytes, more than TLS allows")));
                }
                self.body_left = len;
                self.header.clear();
            }
        }
        (i, None)
    }
}

impl AsyncRead for RecordGuard {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if let Some(why) = &me.pending {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, why.clone())));
        }
        let before = buf.filled().len();
        match Pin::new(&mut me.tcp).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = buf.filled()[before..].to_vec();
                let (good, bad) = me.scan(&fresh);
                if let Some(why) = bad {
                    buf.set_filled(before + good);
                    if good == 0 {
                        return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, why)));
                    }
                    me.pending = Some(why);
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl AsyncWrite for RecordGuard {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

impl Stream {
    /// The TCP socket underneath (for socket options: no-delay, linger).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.get_ref().0.tcp,
            Stream::Served(s) => &s.get_ref().0.tcp,
        }
    }

    /// The TCP socket underneath, to read past TLS: what a goodbye drains after its own
    /// close_notify, so no record after it reaches rustls.
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &mut s.get_mut().0.tcp,
            Stream::Served(s) => &mut s.get_mut().0.tcp,
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
            Stream::Tls(s) => s.get_mut().0.tcp.shutdown().await,
            Stream::Served(s) => s.get_mut().0.tcp.shutdown().await,
        }
    }
}

/// Serves TLS with the run's certificate on an accepted connection (no-delay on); plain
/// without `tls`. The error is [`tls::handshake_error`]'s words.
pub async fn accept(tcp: TcpStream, tls: Option<&RunTls>) -> Result<Stream, String> {
    let _ = tcp.set_nodelay(true);
    match tls {
        None => Ok(Stream::Plain(tcp)),
        Some(run) => match tokio_rustls::TlsAcceptor::from(run.server_config().map_err(|e| e.to_string())?).accept(RecordGuard::new(tcp)).await {
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
            match TlsConnector::from(run.client_config()).connect(name, RecordGuard::new(tcp)).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn guard() -> RecordGuard {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listens");
        let tcp = TcpStream::connect(listener.local_addr().expect("address")).await.expect("connects");
        RecordGuard::new(tcp)
    }

    #[tokio::test]
    async fn tls_records_pass_whole_and_split_anywhere() {
        let mut g = guard().await;
        let records = [&[23u8, 3, 3, 0, 2, 0xaa, 0xbb][..], &[21, 3, 3, 0, 2, 1, 0]].concat();
        assert_eq!(g.scan(&records), (records.len(), None));
        let mut g = guard().await;
        for chunk in records.chunks(3) {
            assert_eq!(g.scan(chunk), (chunk.len(), None));
        }
    }

    #[tokio::test]
    async fn a_websocket_close_frame_in_the_clear_after_a_record_is_cut_off_and_shown() {
        let mut g = guard().await;
        let bytes = [&[23u8, 3, 3, 0, 1, 0xaa][..], &[0x88, 0x02, 0x03, 0xe8]].concat();
        let (good, why) = g.scan(&bytes);
        assert_eq!(good, 6, "the record before it is delivered");
        assert_eq!(why.as_deref(), Some("the peer sent bytes that are not TLS records (88 02 03 e8)"));
    }

    #[tokio::test]
    async fn an_oversized_record_header_is_refused() {
        let mut g = guard().await;
        let (good, why) = g.scan(&[23, 3, 3, 0xff, 0xff]);
        assert_eq!(good, 0);
        assert!(why.is_some_and(|w| w.contains("65535 bytes")));
    }
}
