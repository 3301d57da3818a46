//! The MQTT 3.1.1 packets a session needs, both directions, with a bounded decoder.

use bytes::{Buf, BytesMut};

/// Largest packet a session accepts (remaining length); a hold moves only small packets.
pub const MAX_PACKET: usize = 1 << 20;

/// A packet that could not be read from the peer's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The remaining-length field runs past four bytes.
    #[error("MQTT remaining length is longer than four bytes")]
    BadLength,
    /// The packet is larger than [`MAX_PACKET`].
    #[error("MQTT packet announces {0} bytes, more than the {MAX_PACKET} allowed")]
    TooLarge(usize),
    /// The packet body does not match its type.
    #[error("malformed MQTT {kind} packet: {why}")]
    Malformed {
        /// The packet type's name.
        kind: &'static str,
        /// What is wrong.
        why: &'static str,
    },
}

/// A decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT, as a broker reads it.
    Connect {
        /// Client identifier.
        client_id: String,
        /// User name, if given.
        username: Option<String>,
        /// Password, if given.
        password: Option<Vec<u8>>,
        /// Keepalive in seconds.
        keepalive: u16,
    },
    /// CONNACK with its return code (0 accepted).
    ConnAck {
        /// Return code.
        code: u8,
    },
    /// PUBLISH (QoS 0 only is produced; QoS 1/2 are read and their packet id skipped).
    Publish {
        /// Topic name.
        topic: String,
        /// Payload bytes.
        payload: Vec<u8>,
        /// RETAIN flag.
        retain: bool,
    },
    /// SUBSCRIBE with its packet id and topic filters.
    Subscribe {
        /// Packet identifier.
        id: u16,
        /// Topic filters.
        filters: Vec<String>,
    },
    /// SUBACK with its packet id and return codes.
    SubAck {
        /// Packet identifier.
        id: u16,
        /// One return code per filter.
        codes: Vec<u8>,
    },
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect,
    /// Any other packet type, kept by its number.
    Other {
        /// The packet type (upper nibble of the first byte).
        kind: u8,
    },
}

/// Human words for a CONNACK return code (MQTT 3.1.1 §3.2.2.3).
pub fn connack_reason(code: u8) -> &'static str {
    match code {
        0 => "connection accepted",
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "unknown return code",
    }
}

/// Takes one complete packet off the front of `buf`, or `Ok(None)` when more bytes are needed.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Packet>, PacketError> {
    let Some(&first) = buf.first() else { return Ok(None) };
    let mut len = 0usize;
    let mut header_len = 1;
    loop {
        if header_len > 4 {
            return Err(PacketError::BadLength);
        }
        let Some(&b) = buf.get(header_len) else { return Ok(None) };
        len |= ((b & 0x7f) as usize) << (7 * (header_len - 1));
        header_len += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    if len > MAX_PACKET {
        return Err(PacketError::TooLarge(len));
    }
    if buf.len() < header_len + len {
        return Ok(None);
    }
    buf.advance(header_len);
    let body = buf.split_to(len);
    parse_body(first, &body).map(Some)
}

fn parse_body(first: u8, body: &[u8]) -> Result<Packet, PacketError> {
    let mut r = Reader { bytes: body };
    let packet = match first >> 4 {
        1 => {
            let kind = "CONNECT";
            let _protocol = r.string(kind)?;
            let _level = r.u8(kind)?;
            let flags = r.u8(kind)?;
            let keepalive = r.u16(kind)?;
            let client_id = r.string(kind)?;
            if flags & 0x04 != 0 {
                r.string(kind)?;
                r.binary(kind)?;
            }
            let username = if flags & 0x80 != 0 { Some(r.string(kind)?) } else { None };
            let password = if flags & 0x40 != 0 { Some(r.binary(kind)?.to_vec()) } else { None };
            Packet::Connect { client_id, username, password, keepalive }
        }
        2 => {
            if body.len() != 2 {
                return Err(PacketError::Malformed { kind: "CONNACK", why: "length is not 2" });
            }
            Packet::ConnAck { code: body[1] }
        }
        3 => {
            let kind = "PUBLISH";
            let topic = r.string(kind)?;
            if (first >> 1) & 0x03 != 0 {
                r.u16(kind)?;
            }
            Packet::Publish { topic, payload: r.bytes.to_vec(), retain: first & 0x01 != 0 }
        }
        8 => {
            let kind = "SUBSCRIBE";
            let id = r.u16(kind)?;
            let mut filters = Vec::new();
            while !r.bytes.is_empty() {
                filters.push(r.string(kind)?);
                r.u8(kind)?;
            }
            Packet::Subscribe { id, filters }
        }
        9 => {
            let id = r.u16("SUBACK")?;
            Packet::SubAck { id, codes: r.bytes.to_vec() }
        }
        12 => Packet::PingReq,
        13 => Packet::PingResp,
        14 => Packet::Disconnect,
        kind => Packet::Other { kind },
    };
    Ok(packet)
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, kind: &'static str) -> Result<&'a [u8], PacketError> {
        if self.bytes.len() < n {
            return Err(PacketError::Malformed { kind, why: "truncated" });
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn u8(&mut self, kind: &'static str) -> Result<u8, PacketError> {
        Ok(self.take(1, kind)?[0])
    }
    fn u16(&mut self, kind: &'static str) -> Result<u16, PacketError> {
        let b = self.take(2, kind)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn binary(&mut self, kind: &'static str) -> Result<&'a [u8], PacketError> {
        let n = self.u16(kind)? as usize;
        self.take(n, kind)
    }
    fn string(&mut self, kind: &'static str) -> Result<String, PacketError> {
        let b = self.binary(kind)?;
        String::from_utf8(b.to_vec()).map_err(|_| PacketError::Malformed { kind, why: "string is not UTF-8" })
    }
}

/// Encodes a packet.
pub fn encode(packet: &Packet) -> Vec<u8> {
    let mut body = Vec::new();
    let first = match packet {
        Packet::Connect { client_id, username, password, keepalive } => {
            put_str(&mut body, "MQTT");
            body.push(4);
            let flags = 0x02 | if username.is_some() { 0x80 } else { 0 } | if password.is_some() { 0x40 } else { 0 };
            body.push(flags);
            body.extend_from_slice(&keepalive.to_be_bytes());
            put_str(&mut body, client_id);
            if let Some(u) = username {
                put_str(&mut body, u);
            }
            if let Some(p) = password {
                put_bin(&mut body, p);
            }
            0x10
        }
        Packet::ConnAck { code } => {
            body.extend_from_slice(&[0, *code]);
            0x20
        }
        Packet::Publish { topic, payload, retain } => {
            put_str(&mut body, topic);
            body.extend_from_slice(payload);
            0x30 | u8::from(*retain)
        }
        Packet::Subscribe { id, filters } => {
            body.extend_from_slice(&id.to_be_bytes());
            for f in filters {
                put_str(&mut body, f);
                body.push(0);
            }
            0x82
        }
        Packet::SubAck { id, codes } => {
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(codes);
            0x90
        }
        Packet::PingReq => 0xc0,
        Packet::PingResp => 0xd0,
        Packet::Disconnect => 0xe0,
        Packet::Other { kind } => kind << 4,
    };
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(&body);
    out
}

fn put_bin(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&b[..n]);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bin(out, s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(p: Packet) {
        let mut buf = BytesMut::from(&encode(&p)[..]);
        assert_eq!(decode(&mut buf), Ok(Some(p)));
        assert!(buf.is_empty());
    }

    #[test]
    fn every_packet_round_trips() {
        round_trip(Packet::Connect {
            client_id: "c".into(),
            username: Some("u".into()),
            password: Some(b"p".to_vec()),
            keepalive: 60,
        });
        round_trip(Packet::ConnAck { code: 5 });
        round_trip(Packet::Publish { topic: "t/x".into(), payload: vec![1; 200], retain: true });
        round_trip(Packet::Subscribe { id: 1, filters: vec!["$SYS/broker/version".into(), "test/#".into()] });
        round_trip(Packet::SubAck { id: 1, codes: vec![0, 0] });
        round_trip(Packet::PingReq);
        round_trip(Packet::PingResp);
        round_trip(Packet::Disconnect);
    }

    #[test]
    fn a_connack_of_the_wrong_length_is_malformed() {
        let mut buf = BytesMut::from(&[0x20u8, 3, 0, 0, 0][..]);
        assert!(matches!(decode(&mut buf), Err(PacketError::Malformed { kind: "CONNACK", .. })));
    }

    #[test]
    fn a_five_byte_remaining_length_is_refused() {
        let mut buf = BytesMut::from(&[0x30u8, 0xff, 0xff, 0xff, 0xff, 0x01][..]);
        assert_eq!(decode(&mut buf), Err(PacketError::BadLength));
    }

    #[test]
    fn a_huge_remaining_length_is_refused_before_reading_it() {
        let mut buf = BytesMut::from(&[0x30u8, 0xff, 0xff, 0xff, 0x7f][..]);
        assert!(matches!(decode(&mut buf), Err(PacketError::TooLarge(_))));
    }
}
