//! WebSocket frames at the wire level, on tungstenite's frame types.
//!
//! tungstenite's `Message` stream answers every PING by itself; the client
//! profiles must decide for themselves (Paho Java drops the connection, some
//! clients never answer), so sessions read and write single frames here.

use std::io::Cursor;

use bytes::{Buf, BytesMut};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

/// Largest frame payload a session accepts; MQTT traffic in a hold is tiny.
pub const MAX_PAYLOAD: u64 = 1 << 20;

/// Largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame that could not be read from the peer's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header itself is malformed (e.g. a non-minimal length encoding).
    #[error("malformed WebSocket frame header: {0}")]
    Header(String),
    /// The announced payload is larger than a session ever needs.
    #[error("WebSocket frame announces {0} payload bytes, more than the {MAX_PAYLOAD} allowed")]
    TooLarge(u64),
    /// A control frame longer than 125 bytes or fragmented (RFC 6455 §5.5).
    #[error("WebSocket control frame with opcode 0x{opcode:x} is {len} bytes long or fragmented")]
    BadControl {
        /// The frame's opcode.
        opcode: u8,
        /// Its payload length.
        len: u64,
    },
}

/// One frame as read off the wire: opcode as its raw number, payload unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// The opcode as sent (0x0 continuation, 0x1 text, 0x2 binary, 0x8 close, 0x9 ping, 0xA pong, others reserved).
    pub opcode: u8,
    /// The FIN bit.
    pub fin: bool,
    /// Whether the sender masked the payload.
    pub masked: bool,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

/// Opcode numbers, as RFC 6455 §5.2 names them.
pub mod opcode {
    /// Continuation frame.
    pub const CONTINUATION: u8 = 0x0;
    /// Text frame.
    pub const TEXT: u8 = 0x1;
    /// Binary frame.
    pub const BINARY: u8 = 0x2;
    /// Close frame.
    pub const CLOSE: u8 = 0x8;
    /// Ping frame.
    pub const PING: u8 = 0x9;
    /// Pong frame.
    pub const PONG: u8 = 0xA;
}

/// The name a person reads for an opcode, e.g. `PING (0x9)`.
pub fn opcode_name(op: u8) -> String {
    let name = match op {
        opcode::CONTINUATION => "CONTINUATION",
        opcode::TEXT => "TEXT",
        opcode::BINARY => "BINARY",
        opcode::CLOSE => "CLOSE",
        opcode::PING => "PING",
        opcode::PONG => "PONG",
        _ => "RESERVED",
    };
    format!("{name} (0x{op:x})")
}

/// Takes one complete frame off the front of `buf`, or `Ok(None)` when more bytes are needed.
///
/// Never panics and never allocates more than [`MAX_PAYLOAD`] for a frame, whatever the bytes.
pub fn decode(buf: &mut BytesMut) -> Result<Option<RawFrame>, FrameError> {
    let mut cursor = Cursor::new(&buf[..]);
    let (header, len) = match FrameHeader::parse(&mut cursor) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return Ok(None),
        Err(e) => return Err(FrameError::Header(e.to_string())),
    };
    let op = u8::from(header.opcode);
    if len > MAX_PAYLOAD {
        return Err(FrameError::TooLarge(len));
    }
    if op >= opcode::CLOSE && (len > MAX_CONTROL_PAYLOAD as u64 || !header.is_final) {
        return Err(FrameError::BadControl { opcode: op, len });
    }
    let header_len = cursor.position() as usize;
    // `len` is at most MAX_PAYLOAD, so this cannot overflow.
    let total = header_len + len as usize;
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    buf.advance(header_len);
    let mut payload = buf.split_to(len as usize).to_vec();
    if let Some(key) = header.mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Ok(Some(RawFrame { opcode: op, fin: header.is_final, masked: header.mask.is_some(), payload }))
}

/// Encodes one final frame; `masked` picks a random key as RFC 6455 §5.3 requires of clients.
pub fn encode(op: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    encode_fragment(op, payload, masked, true)
}

/// Encodes one frame with an explicit FIN bit, for fragmented messages.
pub fn encode_fragment(op: u8, payload: &[u8], masked: bool, fin: bool) -> Vec<u8> {
    let header = FrameHeader {
        is_final: fin,
        opcode: to_opcode(op),
        mask: masked.then(rand::random::<[u8; 4]>),
        ..FrameHeader::default()
    };
    let frame = Frame::from_payload(header, payload.to_vec().into());
    let mut out = Vec::with_capacity(payload.len() + 14);
    // Writing into a Vec cannot fail.
    let _ = frame.format(&mut out);
    out
}

/// The payload of a close frame: status code and UTF-8 reason (RFC 6455 §5.5.1).
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p.truncate(MAX_CONTROL_PAYLOAD);
    p
}

/// Reads a close frame's payload: code (if any) and reason, lossily decoded.
pub fn parse_close(payload: &[u8]) -> (Option<u16>, String) {
    match payload {
        [a, b, rest @ ..] => (Some(u16::from_be_bytes([*a, *b])), String::from_utf8_lossy(rest).into_owned()),
        _ => (None, String::new()),
    }
}

fn to_opcode(op: u8) -> OpCode {
    match op {
        0x0 => OpCode::Data(Data::Continue),
        0x1 => OpCode::Data(Data::Text),
        0x2 => OpCode::Data(Data::Binary),
        0x3..=0x7 => OpCode::Data(Data::Reserved(op)),
        0x8 => OpCode::Control(Control::Close),
        0x9 => OpCode::Control(Control::Ping),
        0xA => OpCode::Control(Control::Pong),
        _ => OpCode::Control(Control::Reserved(op & 0xF)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_frame_round_trips_through_encode_and_decode() {
        let mut buf = BytesMut::from(&encode(opcode::PING, b"hi", true)[..]);
        let f = decode(&mut buf).expect("valid frame").expect("complete frame");
        assert_eq!(f, RawFrame { opcode: opcode::PING, fin: true, masked: true, payload: b"hi".to_vec() });
        assert!(buf.is_empty());
    }

    #[test]
    fn a_partial_frame_waits_for_more_bytes() {
        let bytes = encode(opcode::BINARY, &[7; 300], false);
        let mut buf = BytesMut::from(&bytes[..10]);
        assert_eq!(decode(&mut buf), Ok(None));
        buf.extend_from_slice(&bytes[10..]);
        assert_eq!(decode(&mut buf).expect("valid").expect("complete").payload, vec![7; 300]);
    }

    #[test]
    fn an_oversized_length_is_refused_without_allocating() {
        let mut buf = BytesMut::from(&[0x82u8, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(decode(&mut buf), Err(FrameError::TooLarge(_))));
    }

    #[test]
    fn a_long_control_frame_is_refused() {
        let mut buf = BytesMut::from(&encode(opcode::PING, &[0; 126], false)[..]);
        assert!(matches!(decode(&mut buf), Err(FrameError::BadControl { opcode: 9, len: 126 })));
    }

    #[test]
    fn a_close_payload_with_bad_utf8_is_read_lossily() {
        assert_eq!(parse_close(&[0x03, 0xe8, 0xff]), (Some(1000), "\u{fffd}".to_string()));
        assert_eq!(parse_close(b"1000"), (Some(0x3130), "00".to_string()));
        assert_eq!(parse_close(&[]), (None, String::new()));
    }
}
