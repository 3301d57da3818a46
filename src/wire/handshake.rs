//! The client side of the WebSocket upgrade (RFC 6455 §4), as Paho Java sends it.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::{client::generate_key, derive_accept_key};

/// Largest response head the client reads before giving up.
const MAX_HEAD: usize = 16 * 1024;

/// Why an upgrade did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The server answered, but not with a valid `101 Switching Protocols`.
    #[error("WebSocket upgrade refused: {0}")]
    Refused(String),
    /// The connection failed or ended during the upgrade.
    #[error("connection ended during the WebSocket upgrade: {0}")]
    Io(#[from] std::io::Error),
}

/// What the server said in an accepted upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgraded {
    /// The subprotocol the server chose, if it named one.
    pub subprotocol: Option<String>,
    /// Bytes that arrived after the response head (the first frames).
    pub leftover: BytesMut,
}

/// Upgrades `stream` (plain TCP, or TLS) to a WebSocket on `path`, asking for subprotocol `mqtt`.
pub async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, host: &str, port: u16, path: &str) -> Result<Upgraded, HandshakeError> {
    let key = generate_key();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if let Some(end) = find_head_end(&buf) {
            let head = buf.split_to(end);
            let subprotocol = check_response(&head, &key)?;
            return Ok(Upgraded { subprotocol, leftover: buf });
        }
        if buf.len() > MAX_HEAD {
            return Err(HandshakeError::Refused(format!("response head longer than {MAX_HEAD} bytes")));
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "server closed before answering").into());
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Checks a response head; returns the chosen subprotocol.
pub fn check_response(head: &[u8], key: &str) -> Result<Option<String>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HandshakeError::Refused("incomplete HTTP response".into())),
        Err(e) => return Err(HandshakeError::Refused(format!("malformed HTTP response: {e}"))),
    }
    let code = response.code.unwrap_or(0);
    let status = format!("HTTP {code} {}", response.reason.unwrap_or(""));
    if code != 101 {
        return Err(HandshakeError::Refused(status.trim_end().to_string()));
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };
    let expected = derive_accept_key(key.as_bytes());
    match header("Sec-WebSocket-Accept") {
        Some(accept) if accept == expected => {}
        Some(accept) => return Err(HandshakeError::Refused(format!("Sec-WebSocket-Accept is {accept:?}, expected {expected:?}"))),
        None => return Err(HandshakeError::Refused("101 without Sec-WebSocket-Accept".into())),
    }
    Ok(header("Sec-WebSocket-Protocol"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_101_with_the_right_accept_key_is_an_upgrade() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";
        assert_eq!(check_response(head.as_bytes(), key).expect("valid upgrade"), Some("mqtt".to_string()));
    }

    #[test]
    fn a_404_is_a_refusal_that_names_the_status() {
        let err = check_response(b"HTTP/1.1 404 Not Found\r\n\r\n", "k").expect_err("not an upgrade");
        assert_eq!(err.to_string(), "WebSocket upgrade refused: HTTP 404 Not Found");
    }

    #[test]
    fn garbage_is_a_refusal_not_a_panic() {
        assert!(check_response(b"\x00\xff\r\n\r\n", "k").is_err());
    }
}
