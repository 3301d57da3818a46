//! The MQTT packets a session needs, both directions, with a bounded decoder: MQTT 3.1.1
//! and MQTT 5 (its properties and reason codes).
//!
//! A packet's layout depends on the protocol of its connection, which only CONNECT says
//! (its protocol level); every other packet is decoded and encoded [`as`](decode_as) the
//! connection's [`Protocol`]. MQTT 5 properties are read and checked on every packet that has
//! them; CONNECT, CONNACK, DISCONNECT and AUTH keep theirs, since a report quotes them.

use std::fmt;

use bytes::{Buf, BytesMut};

/// Largest packet a session accepts (remaining length); a hold moves only small packets.
pub const MAX_PACKET: usize = 1 << 20;

/// The MQTT protocol a connection speaks, as CONNECT's protocol level says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
pub enum Protocol {
    /// MQTT 3.1.1, protocol level 4.
    #[default]
    #[serde(rename = "3.1.1")]
    V311,
    /// MQTT 5.0, protocol level 5.
    #[serde(rename = "5")]
    V5,
}

impl Protocol {
    /// Both, in the order a column runs them.
    pub const ALL: [Protocol; 2] = [Protocol::V311, Protocol::V5];

    /// The protocol level byte of CONNECT.
    pub fn level(self) -> u8 {
        match self {
            Protocol::V311 => 4,
            Protocol::V5 => 5,
        }
    }

    /// The name matrix.toml, the command line and the contract use: `3.1.1` or `5`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::V311 => "3.1.1",
            Protocol::V5 => "5",
        }
    }

    /// Reads a name as [`Protocol::name`] spells it (`5.0` and `311` too).
    pub fn from_name(name: &str) -> Option<Protocol> {
        match name.trim() {
            "3.1.1" | "311" | "4" => Some(Protocol::V311),
            "5" | "5.0" => Some(Protocol::V5),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A packet that could not be read from the peer's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The remaining-length field runs past four bytes.
    #[error("MQTT remaining length is longer than four bytes")]
    BadLength,
    /// The packet is larger than [`MAX_PACKET`].
    #[error("MQTT packet announces {0} bytes, more than the {MAX_PACKET} allowed")]
    TooLarge(usize),
    /// The packet body does not match its type; `why` names the field.
    #[error("malformed MQTT {kind} packet: {why}")]
    Malformed {
        /// The packet type's name.
        kind: &'static str,
        /// What is wrong, naming the field.
        why: String,
    },
}

fn malformed(kind: &'static str, why: impl Into<String>) -> PacketError {
    PacketError::Malformed { kind, why: why.into() }
}

/// The value of one MQTT 5 property (MQTT 5 §2.2.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A byte.
    Byte(u8),
    /// A two-byte integer.
    U16(u16),
    /// A four-byte integer.
    U32(u32),
    /// A variable byte integer.
    VarInt(u32),
    /// A UTF-8 string.
    Str(String),
    /// Binary data.
    Binary(Vec<u8>),
    /// A UTF-8 string pair (user property).
    Pair(String, String),
}

/// One MQTT 5 property: its identifier and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The identifier, e.g. 0x1F reason string.
    pub id: u8,
    /// The value, of the type the identifier requires.
    pub value: Value,
}

/// The properties of an MQTT 5 packet, in wire order (empty on MQTT 3.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties(pub Vec<Property>);

/// Property identifiers a report names (MQTT 5 §2.2.2.2).
pub mod property {
    /// Session Expiry Interval (u32).
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    /// Assigned Client Identifier (string).
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    /// Server Keep Alive (u16).
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    /// Reason String (string).
    pub const REASON_STRING: u8 = 0x1F;
    /// Receive Maximum (u16).
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    /// Topic Alias Maximum (u16).
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    /// User Property (string pair).
    pub const USER_PROPERTY: u8 = 0x26;
}

/// The name and value type of a property identifier, `None` for an unknown one.
fn property_kind(id: u8) -> Option<(&'static str, Kind)> {
    use Kind::*;
    Some(match id {
        0x01 => ("payload format indicator", Byte),
        0x02 => ("message expiry interval", U32),
        0x03 => ("content type", Str),
        0x08 => ("response topic", Str),
        0x09 => ("correlation data", Binary),
        0x0B => ("subscription identifier", VarInt),
        0x11 => ("session expiry interval", U32),
        0x12 => ("assigned client identifier", Str),
        0x13 => ("server keep alive", U16),
        0x15 => ("authentication method", Str),
        0x16 => ("authentication data", Binary),
        0x17 => ("request problem information", Byte),
        0x18 => ("will delay interval", U32),
        0x19 => ("request response information", Byte),
        0x1A => ("response information", Str),
        0x1C => ("server reference", Str),
        0x1F => ("reason string", Str),
        0x21 => ("receive maximum", U16),
        0x22 => ("topic alias maximum", U16),
        0x23 => ("topic alias", U16),
        0x24 => ("maximum QoS", Byte),
        0x25 => ("retain available", Byte),
        0x26 => ("user property", Pair),
        0x27 => ("maximum packet size", U32),
        0x28 => ("wildcard subscription available", Byte),
        0x29 => ("subscription identifier available", Byte),
        0x2A => ("shared subscription available", Byte),
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Byte,
    U16,
    U32,
    VarInt,
    Str,
    Binary,
    Pair,
}

impl Properties {
    /// The first value of property `id`, if present.
    pub fn get(&self, id: u8) -> Option<&Value> {
        self.0.iter().find(|p| p.id == id).map(|p| &p.value)
    }

    /// The reason string (0x1F), if present.
    pub fn reason_string(&self) -> Option<&str> {
        match self.get(property::REASON_STRING) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Properties {
    /// `server keep alive 60, reason string "…"`, for a transcript.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let name = property_kind(p.id).map_or("unknown property", |k| k.0);
            match &p.value {
                Value::Byte(v) => write!(f, "{name} {v}")?,
                Value::U16(v) => write!(f, "{name} {v}")?,
                Value::U32(v) | Value::VarInt(v) => write!(f, "{name} {v}")?,
                Value::Str(s) => write!(f, "{name} {s:?}")?,
                Value::Binary(b) => write!(f, "{name} {} B", b.len())?,
                Value::Pair(k, v) => write!(f, "{name} {k:?}={v:?}")?,
            }
        }
        Ok(())
    }
}

/// A decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT, as a broker reads it.
    Connect {
        /// The protocol its level byte asks for.
        protocol: Protocol,
        /// Client identifier.
        client_id: String,
        /// User name, if given.
        username: Option<String>,
        /// Password, if given.
        password: Option<Vec<u8>>,
        /// Keepalive in seconds.
        keepalive: u16,
        /// MQTT 5 properties.
        properties: Properties,
    },
    /// CONNACK with its return code (3.1.1) or reason code (5): 0 accepted.
    ConnAck {
        /// Return or reason code.
        code: u8,
        /// MQTT 5 properties (server keep alive, assigned client identifier …).
        properties: Properties,
    },
    /// PUBLISH (QoS 0 only is produced; QoS 1/2 are read and their packet id skipped; MQTT 5
    /// properties are checked, not kept).
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
    /// SUBACK with its packet id and return (3.1.1) or reason (5) codes.
    SubAck {
        /// Packet identifier.
        id: u16,
        /// One code per filter.
        codes: Vec<u8>,
    },
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT; on MQTT 5 with a reason code (0 normal disconnection) and properties.
    Disconnect {
        /// Reason code (always 0 on MQTT 3.1.1).
        reason: u8,
        /// MQTT 5 properties (reason string …).
        properties: Properties,
    },
    /// AUTH (MQTT 5 only) with its reason code and properties.
    Auth {
        /// Reason code.
        reason: u8,
        /// Properties (authentication method and data).
        properties: Properties,
    },
    /// Any other packet type, kept by its number.
    Other {
        /// The packet type (upper nibble of the first byte).
        kind: u8,
    },
}

impl Packet {
    /// A DISCONNECT with reason 0 and no properties: the only one MQTT 3.1.1 has.
    pub const DISCONNECT: Packet = Packet::Disconnect { reason: 0, properties: Properties(Vec::new()) };

    /// A CONNACK with `code` and no properties.
    pub fn connack(code: u8) -> Packet {
        Packet::ConnAck { code, properties: Properties::default() }
    }
}

/// Human words for a CONNACK code: a return code of MQTT 3.1.1 (§3.2.2.3, 0–5) or a reason
/// code of MQTT 5 (§3.2.2.2, 0x80 and up); the two ranges do not overlap.
pub fn connack_reason(code: u8) -> &'static str {
    match code {
        0 => "connection accepted",
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        0x80.. if reason_name(code) != UNKNOWN_REASON => reason_name(code),
        _ => "unknown return code",
    }
}

const UNKNOWN_REASON: &str = "unknown reason code";

/// Human words for an MQTT 5 reason code of CONNACK, DISCONNECT or AUTH (MQTT 5 §2.4).
pub fn reason_name(code: u8) -> &'static str {
    match code {
        0x00 => "success",
        0x04 => "disconnect with will message",
        0x18 => "continue authentication",
        0x19 => "re-authenticate",
        0x80 => "unspecified error",
        0x81 => "malformed packet",
        0x82 => "protocol error",
        0x83 => "implementation specific error",
        0x84 => "unsupported protocol version",
        0x85 => "client identifier not valid",
        0x86 => "bad user name or password",
        0x87 => "not authorized",
        0x88 => "server unavailable",
        0x89 => "server busy",
        0x8A => "banned",
        0x8B => "server shutting down",
        0x8C => "bad authentication method",
        0x8D => "keep alive timeout",
        0x8E => "session taken over",
        0x8F => "topic filter invalid",
        0x90 => "topic name invalid",
        0x93 => "receive maximum exceeded",
        0x94 => "topic alias invalid",
        0x95 => "packet too large",
        0x96 => "message rate too high",
        0x97 => "quota exceeded",
        0x98 => "administrative action",
        0x99 => "payload format invalid",
        0x9A => "retain not supported",
        0x9B => "QoS not supported",
        0x9C => "use another server",
        0x9D => "server moved",
        0x9E => "shared subscriptions not supported",
        0x9F => "connection rate exceeded",
        0xA0 => "maximum connect time",
        0xA1 => "subscription identifiers not supported",
        0xA2 => "wildcard subscriptions not supported",
        _ => UNKNOWN_REASON,
    }
}

/// Takes one complete MQTT 3.1.1 packet off the front of `buf`, or `Ok(None)` when more
/// bytes are needed.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Packet>, PacketError> {
    decode_as(buf, Protocol::V311)
}

/// Takes one complete packet of a `protocol` connection off the front of `buf`, or
/// `Ok(None)` when more bytes are needed. A CONNECT is read by its own protocol level.
pub fn decode_as(buf: &mut BytesMut, protocol: Protocol) -> Result<Option<Packet>, PacketError> {
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
    parse_body(first, &body, protocol).map(Some)
}

/// One packet's body, read by its type (the high nibble of `first`) under `protocol`.
fn parse_body(first: u8, body: &[u8], protocol: Protocol) -> Result<Packet, PacketError> {
    let mut r = Reader { bytes: body };
    let v5 = protocol == Protocol::V5;
    match first >> 4 {
        1 => parse_connect(&mut r),
        2 if !v5 => parse_connack_v311(body),
        2 => parse_connack_v5(&mut r),
        3 => parse_publish(first, &mut r, v5),
        8 => parse_subscribe(&mut r, v5),
        9 => parse_suback(&mut r, v5),
        12 => Ok(Packet::PingReq),
        13 => Ok(Packet::PingResp),
        14 if !v5 => Ok(Packet::DISCONNECT),
        14 => {
            let (reason, properties) = r.reason_and_properties("DISCONNECT")?;
            Ok(Packet::Disconnect { reason, properties })
        }
        15 if v5 => {
            let (reason, properties) = r.reason_and_properties("AUTH")?;
            Ok(Packet::Auth { reason, properties })
        }
        kind => Ok(Packet::Other { kind }),
    }
}

/// A CONNECT, read by the protocol level it names itself (a server reads it before it knows).
fn parse_connect(r: &mut Reader<'_>) -> Result<Packet, PacketError> {
    let kind = "CONNECT";
    let _name = r.string(kind, "protocol name")?;
    let level = r.u8(kind, "protocol level")?;
    let protocol = match level {
        5 => Protocol::V5,
        _ => Protocol::V311,
    };
    let flags = r.u8(kind, "connect flags")?;
    let keepalive = r.u16(kind, "keep alive")?;
    let properties = if protocol == Protocol::V5 { r.properties(kind)? } else { Properties::default() };
    let client_id = r.string(kind, "client identifier")?;
    if flags & 0x04 != 0 {
        if protocol == Protocol::V5 {
            r.properties(kind)?;
        }
        r.string(kind, "will topic")?;
        r.binary(kind, "will payload")?;
    }
    let username = if flags & 0x80 != 0 { Some(r.string(kind, "user name")?) } else { None };
    let password = if flags & 0x40 != 0 { Some(r.binary(kind, "password")?.to_vec()) } else { None };
    Ok(Packet::Connect { protocol, client_id, username, password, keepalive, properties })
}

/// An MQTT 3.1.1 CONNACK: exactly two bytes, the second its return code.
fn parse_connack_v311(body: &[u8]) -> Result<Packet, PacketError> {
    if body.len() != 2 {
        return Err(malformed("CONNACK", "length is not 2"));
    }
    Ok(Packet::connack(body[1]))
}

/// An MQTT 5 CONNACK: flags, reason code and properties, nothing after them.
fn parse_connack_v5(r: &mut Reader<'_>) -> Result<Packet, PacketError> {
    let kind = "CONNACK";
    let flags = r.u8(kind, "acknowledge flags")?;
    if flags & 0xfe != 0 {
        return Err(malformed(kind, format!("acknowledge flags 0x{flags:02x} set reserved bits")));
    }
    let code = r.u8(kind, "reason code")?;
    let properties = r.properties(kind)?;
    r.end(kind)?;
    Ok(Packet::ConnAck { code, properties })
}

/// A PUBLISH: its topic, a packet identifier at QoS 1 and 2, v5 properties, the rest payload.
fn parse_publish(first: u8, r: &mut Reader<'_>, v5: bool) -> Result<Packet, PacketError> {
    let kind = "PUBLISH";
    let topic = r.string(kind, "topic name")?;
    if (first >> 1) & 0x03 != 0 {
        r.u16(kind, "packet identifier")?;
    }
    if v5 {
        r.properties(kind)?;
    }
    Ok(Packet::Publish { topic, payload: r.bytes.to_vec(), retain: first & 0x01 != 0 })
}

/// A SUBSCRIBE: its packet identifier and every topic filter (their options skipped).
fn parse_subscribe(r: &mut Reader<'_>, v5: bool) -> Result<Packet, PacketError> {
    let kind = "SUBSCRIBE";
    let id = r.u16(kind, "packet identifier")?;
    if v5 {
        r.properties(kind)?;
    }
    let mut filters = Vec::new();
    while !r.bytes.is_empty() {
        filters.push(r.string(kind, "topic filter")?);
        r.u8(kind, "subscription options")?;
    }
    Ok(Packet::Subscribe { id, filters })
}

/// A SUBACK: its packet identifier and one return code a filter.
fn parse_suback(r: &mut Reader<'_>, v5: bool) -> Result<Packet, PacketError> {
    let id = r.u16("SUBACK", "packet identifier")?;
    if v5 {
        r.properties("SUBACK")?;
    }
    Ok(Packet::SubAck { id, codes: r.bytes.to_vec() })
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, kind: &'static str, field: &str) -> Result<&'a [u8], PacketError> {
        if self.bytes.len() < n {
            return Err(malformed(kind, format!("{field} truncated")));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn u8(&mut self, kind: &'static str, field: &str) -> Result<u8, PacketError> {
        Ok(self.take(1, kind, field)?[0])
    }
    fn u16(&mut self, kind: &'static str, field: &str) -> Result<u16, PacketError> {
        let b = self.take(2, kind, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, kind: &'static str, field: &str) -> Result<u32, PacketError> {
        let b = self.take(4, kind, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn binary(&mut self, kind: &'static str, field: &str) -> Result<&'a [u8], PacketError> {
        let n = self.u16(kind, field)? as usize;
        self.take(n, kind, field)
    }
    fn string(&mut self, kind: &'static str, field: &str) -> Result<String, PacketError> {
        let b = self.binary(kind, field)?;
        String::from_utf8(b.to_vec()).map_err(|_| malformed(kind, format!("{field} is not UTF-8")))
    }
    fn var_int(&mut self, kind: &'static str, field: &str) -> Result<u32, PacketError> {
        let mut value = 0u32;
        for i in 0..4 {
            let b = self.u8(kind, field)?;
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed(kind, format!("{field} is a variable byte integer longer than four bytes")))
    }
    fn end(&self, kind: &'static str) -> Result<(), PacketError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(malformed(kind, format!("{} stray bytes after the properties", self.bytes.len())))
        }
    }
    /// A property length and the properties it covers (MQTT 5 §2.2.2).
    fn properties(&mut self, kind: &'static str) -> Result<Properties, PacketError> {
        let len = self.var_int(kind, "property length")? as usize;
        if len > self.bytes.len() {
            return Err(malformed(kind, format!("property length {len} runs past the packet ({} bytes left)", self.bytes.len())));
        }
        let mut inner = Reader { bytes: self.take(len, kind, "properties")? };
        let mut out = Vec::new();
        while !inner.bytes.is_empty() {
            let id = inner.u8(kind, "property identifier")?;
            let Some((name, value_kind)) = property_kind(id) else {
                return Err(malformed(kind, format!("unknown property identifier 0x{id:02x}")));
            };
            let value = match value_kind {
                Kind::Byte => Value::Byte(inner.u8(kind, name)?),
                Kind::U16 => Value::U16(inner.u16(kind, name)?),
                Kind::U32 => Value::U32(inner.u32(kind, name)?),
                Kind::VarInt => Value::VarInt(inner.var_int(kind, name)?),
                Kind::Str => Value::Str(inner.string(kind, name)?),
                Kind::Binary => Value::Binary(inner.binary(kind, name)?.to_vec()),
                Kind::Pair => Value::Pair(inner.string(kind, name)?, inner.string(kind, name)?),
            };
            out.push(Property { id, value });
        }
        Ok(Properties(out))
    }
    /// DISCONNECT's and AUTH's body: nothing (reason 0), a reason code, or both and properties.
    fn reason_and_properties(&mut self, kind: &'static str) -> Result<(u8, Properties), PacketError> {
        if self.bytes.is_empty() {
            return Ok((0, Properties::default()));
        }
        let reason = self.u8(kind, "reason code")?;
        let properties = if self.bytes.is_empty() { Properties::default() } else { self.properties(kind)? };
        self.end(kind)?;
        Ok((reason, properties))
    }
}

/// Encodes a packet of an MQTT 3.1.1 connection (a CONNECT by its own protocol).
pub fn encode(packet: &Packet) -> Vec<u8> {
    encode_as(packet, Protocol::V311)
}

/// Encodes a packet of a `protocol` connection (a CONNECT by its own protocol).
pub fn encode_as(packet: &Packet, protocol: Protocol) -> Vec<u8> {
    let v5 = protocol == Protocol::V5;
    let mut body = Vec::new();
    let first = match packet {
        Packet::Connect { protocol, client_id, username, password, keepalive, properties } => {
            put_str(&mut body, "MQTT");
            body.push(protocol.level());
            let flags = 0x02 | if username.is_some() { 0x80 } else { 0 } | if password.is_some() { 0x40 } else { 0 };
            body.push(flags);
            body.extend_from_slice(&keepalive.to_be_bytes());
            if *protocol == Protocol::V5 {
                put_properties(&mut body, properties);
            }
            put_str(&mut body, client_id);
            if let Some(u) = username {
                put_str(&mut body, u);
            }
            if let Some(p) = password {
                put_bin(&mut body, p);
            }
            0x10
        }
        Packet::ConnAck { code, properties } => {
            body.extend_from_slice(&[0, *code]);
            if v5 {
                put_properties(&mut body, properties);
            }
            0x20
        }
        Packet::Publish { topic, payload, retain } => {
            put_str(&mut body, topic);
            if v5 {
                body.push(0);
            }
            body.extend_from_slice(payload);
            0x30 | u8::from(*retain)
        }
        Packet::Subscribe { id, filters } => {
            body.extend_from_slice(&id.to_be_bytes());
            if v5 {
                body.push(0);
            }
            for f in filters {
                put_str(&mut body, f);
                body.push(0);
            }
            0x82
        }
        Packet::SubAck { id, codes } => {
            body.extend_from_slice(&id.to_be_bytes());
            if v5 {
                body.push(0);
            }
            body.extend_from_slice(codes);
            0x90
        }
        Packet::PingReq => 0xc0,
        Packet::PingResp => 0xd0,
        Packet::Disconnect { reason, properties } => {
            if v5 && (*reason != 0 || !properties.is_empty()) {
                body.push(*reason);
                put_properties(&mut body, properties);
            }
            0xe0
        }
        Packet::Auth { reason, properties } => {
            body.push(*reason);
            put_properties(&mut body, properties);
            0xf0
        }
        Packet::Other { kind } => kind << 4,
    };
    let mut out = vec![first];
    put_var_int(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

fn put_var_int(out: &mut Vec<u8>, mut len: usize) {
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
}

fn put_properties(out: &mut Vec<u8>, properties: &Properties) {
    let mut body = Vec::new();
    for p in &properties.0 {
        body.push(p.id);
        match &p.value {
            Value::Byte(v) => body.push(*v),
            Value::U16(v) => body.extend_from_slice(&v.to_be_bytes()),
            Value::U32(v) => body.extend_from_slice(&v.to_be_bytes()),
            Value::VarInt(v) => put_var_int(&mut body, *v as usize),
            Value::Str(s) => put_str(&mut body, s),
            Value::Binary(b) => put_bin(&mut body, b),
            Value::Pair(k, v) => {
                put_str(&mut body, k);
                put_str(&mut body, v);
            }
        }
    }
    put_var_int(out, body.len());
    out.extend_from_slice(&body);
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

    fn round_trip_as(p: Packet, protocol: Protocol) {
        let mut buf = BytesMut::from(&encode_as(&p, protocol)[..]);
        assert_eq!(decode_as(&mut buf, protocol), Ok(Some(p)));
        assert!(buf.is_empty());
    }

    fn connect(protocol: Protocol, properties: Properties) -> Packet {
        Packet::Connect {
            protocol,
            client_id: "c".into(),
            username: Some("u".into()),
            password: Some(b"p".to_vec()),
            keepalive: 60,
            properties,
        }
    }

    fn props(list: Vec<(u8, Value)>) -> Properties {
        Properties(list.into_iter().map(|(id, value)| Property { id, value }).collect())
    }

    #[test]
    fn every_packet_round_trips_under_both_protocols() {
        for protocol in Protocol::ALL {
            round_trip_as(connect(protocol, Properties::default()), protocol);
            round_trip_as(Packet::connack(5), protocol);
            round_trip_as(Packet::Publish { topic: "t/x".into(), payload: vec![1; 200], retain: true }, protocol);
            round_trip_as(Packet::Subscribe { id: 1, filters: vec!["$SYS/broker/version".into(), "test/#".into()] }, protocol);
            round_trip_as(Packet::SubAck { id: 1, codes: vec![0, 0] }, protocol);
            round_trip_as(Packet::PingReq, protocol);
            round_trip_as(Packet::PingResp, protocol);
            round_trip_as(Packet::DISCONNECT, protocol);
        }
    }

    #[test]
    fn v5_packets_keep_their_properties_and_reason_codes() {
        let p = props(vec![
            (property::SESSION_EXPIRY_INTERVAL, Value::U32(0)),
            (property::RECEIVE_MAXIMUM, Value::U16(20)),
            (property::USER_PROPERTY, Value::Pair("k".into(), "v".into())),
        ]);
        round_trip_as(connect(Protocol::V5, p.clone()), Protocol::V5);
        round_trip_as(Packet::ConnAck { code: 0, properties: props(vec![(property::SERVER_KEEP_ALIVE, Value::U16(30))]) }, Protocol::V5);
        let reason = props(vec![(property::REASON_STRING, Value::Str("bye".into()))]);
        round_trip_as(Packet::Disconnect { reason: 0x8D, properties: reason.clone() }, Protocol::V5);
        round_trip_as(Packet::Auth { reason: 0x18, properties: props(vec![(0x15, Value::Str("SCRAM".into()))]) }, Protocol::V5);
        assert_eq!(reason.reason_string(), Some("bye"));
        assert_eq!(reason_name(0x8D), "keep alive timeout");
    }

    #[test]
    fn mosquittos_v5_connack_is_read_with_its_properties() {
        // A v5 CONNACK: flags, reason 0, then 6 bytes of properties: topic alias maximum 10
        // and receive maximum 20.
        let bytes = [0x20, 0x09, 0x00, 0x00, 0x06, 0x22, 0x00, 0x0a, 0x21, 0x00, 0x14];
        let mut buf = BytesMut::from(&bytes[..]);
        let p = decode_as(&mut buf, Protocol::V5).expect("valid").expect("complete");
        assert_eq!(
            p,
            Packet::ConnAck {
                code: 0,
                properties: props(vec![(property::TOPIC_ALIAS_MAXIMUM, Value::U16(10)), (property::RECEIVE_MAXIMUM, Value::U16(20))])
            }
        );
        // The same bytes on a 3.1.1 connection are not a CONNACK.
        assert!(decode(&mut BytesMut::from(&bytes[..])).is_err());
    }

    #[test]
    fn a_short_v5_disconnect_means_normal_disconnection_and_a_one_byte_one_has_only_its_reason() {
        assert_eq!(decode_as(&mut BytesMut::from(&[0xe0u8, 0][..]), Protocol::V5), Ok(Some(Packet::DISCONNECT)));
        assert_eq!(
            decode_as(&mut BytesMut::from(&[0xe0u8, 1, 0x8d][..]), Protocol::V5),
            Ok(Some(Packet::Disconnect { reason: 0x8d, properties: Properties::default() }))
        );
    }

    #[test]
    fn malformed_v5_packets_name_the_field() {
        let cases: [(&[u8], &str); 6] = [
            (&[0x20, 3, 0, 0, 5], "property length 5 runs past the packet (0 bytes left)"),
            (&[0x20, 4, 0, 0, 1, 0x7f], "unknown property identifier 0x7f"),
            (&[0x20, 5, 0, 0, 2, 0x13, 0], "server keep alive truncated"),
            (&[0x20, 3, 0x02, 0, 0], "acknowledge flags 0x02 set reserved bits"),
            (&[0xe0, 4, 0x8d, 0x80, 0x80, 0x80], "property length truncated"),
            (&[0x20, 4, 0, 0, 0, 9], "1 stray bytes after the properties"),
        ];
        for (bytes, why) in cases {
            let err = decode_as(&mut BytesMut::from(bytes), Protocol::V5).expect_err("malformed");
            assert!(matches!(&err, PacketError::Malformed { why: w, .. } if w == why), "{bytes:02x?}: {err}");
        }
        let err = decode_as(&mut BytesMut::from(&[0xe0u8, 7, 0x80, 5, 0x1f, 0, 2, 0xff, 0xfe][..]), Protocol::V5).expect_err("bad UTF-8");
        assert_eq!(err.to_string(), "malformed MQTT DISCONNECT packet: reason string is not UTF-8");
        let long = [0xe0u8, 6, 0, 0xff, 0xff, 0xff, 0xff, 0x01];
        let err = decode_as(&mut BytesMut::from(&long[..]), Protocol::V5).expect_err("five-byte property length");
        assert!(err.to_string().contains("property length is a variable byte integer longer than four bytes"), "{err}");
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
