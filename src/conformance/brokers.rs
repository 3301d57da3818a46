//! Broker conformance: scripted WebSocket clients send each case to a broker tag and the cell
//! says, in a few words, how the broker answered (`close 1002`, `PONG echoes 125 bytes`, `FIN`,
//! `nothing in 2 s`, `101 mqtt`). Short cells: no hold. The frames a case sends and the words
//! for an answer are pure ([`frame_bytes`], [`describe`]); [`run_tag`] starts the tag's broker
//! in Docker (the engine's own [`broker::start`]), opens one loopback connection per case
//! ([`play_case`]: every step under its own deadline, the case under [`CASE_BOUND`]) and removes
//! the broker within [`DISPOSE_BOUND`]. Each answer's kind is [`super::broker_judge`]'s.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::conformance::source::Source;
use crate::engine::{broker, cleanup};
use crate::engine::labels::Labels;
use crate::plan::{BrokerSettings, Transport};
use crate::wire::frame::{self, opcode};
use crate::wire::mqtt::{self, Packet, Protocol};

/// How long a case waits for the broker's answer.
pub const ANSWER_WAIT: Duration = Duration::from_secs(2);
/// The most one broker case may take, connect and writes included.
pub const CASE_BOUND: Duration = Duration::from_secs(10);

/// One broker case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerCase {
    /// Its id, as reports and conformance.toml spell it.
    pub id: &'static str,
    /// What the scripted client sends, in words.
    pub description: &'static str,
    /// The clause that says what the broker must do.
    pub clause: &'static str,
}

/// Every broker case, in report order.
pub const BROKER_CASES: [BrokerCase; 13] = [
    BrokerCase { id: "text-frame", description: "a PINGREQ in a text frame", clause: "MQTT §6 [MQTT-6.0.0-1]: close the connection" },
    BrokerCase { id: "split-connect", description: "CONNECT in three binary frames, as MQTT.js writes it", clause: "MQTT §6 [MQTT-6.0.0-2]; Mosquitto #1974" },
    BrokerCase { id: "packets-in-one-frame", description: "CONNECT and PINGREQ in one binary frame", clause: "MQTT §6 [MQTT-6.0.0-2]" },
    BrokerCase { id: "ping-payload", description: "a PING with 125 bytes", clause: "RFC 6455 §5.5.3: the PONG echoes them" },
    BrokerCase { id: "unsolicited-pong", description: "a PONG, then a PINGREQ", clause: "RFC 6455 §5.5.3: no answer to the PONG" },
    BrokerCase { id: "reserved-opcode", description: "a frame with reserved opcode 0x3", clause: "RFC 6455 §5.2: fail the connection (1002)" },
    BrokerCase { id: "unmasked", description: "an unmasked binary PINGREQ", clause: "RFC 6455 §5.1: close with 1002" },
    BrokerCase { id: "control-126", description: "a PING with 126 bytes", clause: "RFC 6455 §5.5: control frames carry at most 125 bytes" },
    BrokerCase { id: "length-64", description: "a binary PINGREQ with a 64-bit length field", clause: "RFC 6455 §5.2 (the length need not be minimal)" },
    BrokerCase { id: "close", description: "a close frame 1000 \"bye\"", clause: "RFC 6455 §5.5.1: echo a close frame" },
    BrokerCase { id: "subprotocol-mqtt", description: "the upgrade offers mqtt", clause: "MQTT §6 [MQTT-6.0.0-3], [MQTT-6.0.0-4]" },
    BrokerCase { id: "subprotocol-mqttv3.1", description: "the upgrade offers mqttv3.1 only", clause: "MQTT 3.1's subprotocol name" },
    BrokerCase { id: "subprotocol-none", description: "the upgrade offers no subprotocol", clause: "RFC 6455 §4.1" },
];

/// The mask key of every masked frame the scripted clients send (RFC 6455 §5.7's example key).
/// Fixed, not random, so that a broker answers the same twice: Mosquitto 2.1's own WebSocket
/// code (Debian sid) unmasks an *unmasked* frame with the key of the frame before it, so with
/// random keys its answer to the `unmasked` case was a PINGRESP, a close 1000 or nothing, by
/// chance (measured on sid: key 00000000 gives PINGRESP, 12345678 close 1000 after "malformed
/// packet", 37fa213d nothing). RFC 6455 §5.3 asks a
/// browser for unpredictable keys against proxy cache poisoning; a test client on loopback
/// needs none.
pub const MASK_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One frame as the scripted client writes it, by hand so it may break the rules: any
/// opcode, any length, the mask bit off, the 64-bit length form for a short payload.
pub fn frame_bytes(op: u8, payload: &[u8], masked: bool, long_length: bool) -> Vec<u8> {
    let mut out = vec![0x80 | (op & 0x0f)];
    let mask_bit = if masked { 0x80 } else { 0 };
    let len = payload.len();
    if long_length {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    } else if len > 125 {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | len as u8);
    }
    if masked {
        let key = MASK_KEY;
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// What came back from the broker after a case's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    /// Frames: opcode and payload.
    pub frames: Vec<(u8, Vec<u8>)>,
    /// The broker closed the TCP connection.
    pub fin: bool,
    /// Reading failed (a reset) or the bytes were no WebSocket.
    pub broken: Option<String>,
}

/// The answer in a few words: every frame, then how the connection stands.
pub fn describe(a: &Answer) -> String {
    let mut words: Vec<String> = a
        .frames
        .iter()
        .map(|(op, p)| match *op {
            opcode::CLOSE => match frame::parse_close(p) {
                (Some(code), reason) if reason.is_empty() => format!("close {code}"),
                (Some(code), reason) => format!("close {code} {reason:?}"),
                (None, _) => "close (no code)".into(),
            },
            opcode::PONG => format!("PONG {} bytes", p.len()),
            opcode::BINARY => {
                let mut buf = BytesMut::from(&p[..]);
                let mut names = Vec::new();
                while let Ok(Some(packet)) = mqtt::decode_as(&mut buf, Protocol::V311) {
                    names.push(match packet {
                        Packet::ConnAck { code, .. } => format!("CONNACK {code}"),
                        Packet::PingResp => "PINGRESP".into(),
                        other => format!("{other:?}").split([' ', '{']).next().unwrap_or("packet").to_string(),
                    });
                }
                if names.is_empty() { format!("binary {} bytes", p.len()) } else { names.join(" + ") }
            }
            other => frame::opcode_name(other),
        })
        .collect();
    if let Some(b) = &a.broken {
        words.push(format!("broken: {b}"));
    } else if a.fin {
        words.push("FIN".into());
    }
    if words.is_empty() {
        format!("nothing in {} s", ANSWER_WAIT.as_secs())
    } else {
        words.join(", ")
    }
}

/// One tag's cells: case id and the answer in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    /// The tag.
    pub tag: String,
    /// (case id, answer) per case, in [`BROKER_CASES`] order; an error in words if the broker
    /// could not start.
    pub cells: Vec<(&'static str, String)>,
    /// Where each cell's answer comes from, in `cells` order ([`super::source`]); empty when
    /// every cell was measured by this run and nothing derived was held against it.
    pub sources: Vec<Source>,
}

impl TagRow {
    /// Where cell `i`'s answer comes from.
    pub fn source(&self, i: usize) -> &Source {
        self.sources.get(i).unwrap_or(&Source::Measured)
    }
}

/// How long the removal of a tag's broker may take before the grid goes on without it (the
/// run's labels and the reaper remove what is left).
pub const DISPOSE_BOUND: Duration = Duration::from_secs(30);

/// The most a tag's broker may take to start: the engine's own bounds (the container's start
/// and its listeners `startup_timeout` each, a minute for its questions), and the pull when the
/// engine lacks the image (`local` false). A bound the engine's own waits never reach: it only
/// ends a start that is stuck somewhere else.
pub fn start_bound(settings: &BrokerSettings, local: bool) -> Duration {
    let pull = if local { Duration::ZERO } else { broker::PULL_TIMEOUT };
    pull + settings.startup_timeout * 2 + Duration::from_secs(60)
}

/// Starts `image:tag` and plays every case against its WebSocket listener, one case after
/// another, each within [`CASE_BOUND`]; then removes the broker within [`DISPOSE_BOUND`].
///
/// Every wait here ends. The broker is removed with [`cleanup::dispose`], never by dropping
/// it: testcontainers' `Drop` removes a container synchronously (`block_in_place` and
/// `block_on`, no deadline), which holds the whole task, and every other tag's cases polled
/// by the same `join_all`, for as long as the engine takes to answer.
pub async fn run_tag(image: &str, tag: &str, settings: &BrokerSettings, run_id: &str) -> TagRow {
    let labels = Labels { run_id: run_id.to_string(), cell: format!("conformance/{tag}"), lifetime: Duration::from_secs(600) };
    // The debian set's images are built here and never pulled: a start that takes longer
    // than its own waits is stuck, and 3 minutes say so, not 13.
    let local = matches!(timeout(ANSWER_WAIT * 15, crate::engine::image::is_local(&format!("{image}:{tag}"))).await, Ok(true));
    let bound = start_bound(settings, local);
    let start = broker::start(image, tag, settings, &labels, &[Transport::Ws], None, None, None, |_| {});
    let started = match timeout(bound, start).await {
        Ok(started) => started.map_err(|e| e.to_string()),
        Err(_) => Err(format!("{image}:{tag}: no broker within {} s", bound.as_secs())),
    };
    let b = match started {
        Ok(b) => b,
        Err(e) => {
            let why = format!("the broker did not start: {e}");
            return TagRow { tag: tag.into(), cells: BROKER_CASES.iter().map(|c| (c.id, why.clone())).collect(), sources: Vec::new() };
        }
    };
    let mut cells = Vec::new();
    for case in BROKER_CASES.iter() {
        cells.push((case.id, play_case(case.id, &b.host, b.ws_port, settings).await));
    }
    // A broker the engine could not remove in time is left to the run's labels and the reaper:
    // the grid's answers are in, and they do not depend on it.
    let _ = cleanup::dispose(b.container, DISPOSE_BOUND).await;
    TagRow { tag: tag.into(), cells, sources: Vec::new() }
}

/// Plays one broker case against a WebSocket listener at `host:port`; the answer in words.
/// It ends within [`CASE_BOUND`] whatever the listener does: each step (connect, the upgrade
/// written, its answer read, the case's frames written, the answer read) has its own deadline,
/// and the words name the step that ran out, as in `could not play: read the answer to the
/// upgrade: nothing within 2 s`.
pub async fn play_case(id: &str, host: &str, port: u16, settings: &BrokerSettings) -> String {
    match timeout(CASE_BOUND, play(id, host, port, settings)).await {
        Ok(Ok(words)) => words,
        Ok(Err(e)) => format!("could not play: {e}"),
        Err(_) => format!("could not play: no end within {} s", CASE_BOUND.as_secs()),
    }
}

/// One step of a case within [`ANSWER_WAIT`]; an error names the step.
async fn step<T>(what: &str, f: impl std::future::Future<Output = std::io::Result<T>>) -> std::io::Result<T> {
    match timeout(ANSWER_WAIT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(std::io::Error::new(e.kind(), format!("{what}: {e}"))),
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{what}: nothing within {} s", ANSWER_WAIT.as_secs()))),
    }
}

/// Opens a WebSocket connection offering `protocol`; the 101's status line and subprotocol.
async fn open(host: &str, port: u16, protocol: Option<&str>) -> std::io::Result<(TcpStream, String, Option<String>, BytesMut)> {
    let mut s = step("connect", TcpStream::connect((host, port))).await?;
    let offer = protocol.map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n")).unwrap_or_default();
    let req = format!(
        "GET /mqtt HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    );
    step("write the upgrade", s.write_all(req.as_bytes())).await?;
    let mut buf = BytesMut::with_capacity(4096);
    let end = step("read the answer to the upgrade", async {
        loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok(i + 4);
            }
            if s.read_buf(&mut buf).await? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the broker closed the connection"));
            }
        }
    })
    .await?;
    let head = String::from_utf8_lossy(&buf.split_to(end)).into_owned();
    let status = head.lines().next().unwrap_or("").to_string();
    let chosen = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case("Sec-WebSocket-Protocol")).map(|(_, v)| v.trim().to_string()));
    Ok((s, status, chosen, buf))
}

/// Reads frames until a close, the end, or [`ANSWER_WAIT`].
async fn answer(s: &mut TcpStream, mut buf: BytesMut) -> Answer {
    let mut a = Answer::default();
    let deadline = Instant::now() + ANSWER_WAIT;
    loop {
        loop {
            match frame::decode(&mut buf) {
                Ok(Some(f)) => {
                    let close = f.opcode == opcode::CLOSE;
                    a.frames.push((f.opcode, f.payload));
                    if close {
                        return a;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    a.broken = Some(e.to_string());
                    return a;
                }
            }
        }
        match tokio::time::timeout_at(deadline, s.read_buf(&mut buf)).await {
            Err(_) => return a,
            Ok(Ok(0)) => {
                a.fin = true;
                return a;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                a.broken = Some(e.to_string());
                return a;
            }
        }
    }
}

fn connect_packet(settings: &BrokerSettings) -> Vec<u8> {
    mqtt::encode(&Packet::Connect {
        protocol: Protocol::V311,
        client_id: format!("conformance-{}", rand::random::<u32>()),
        username: Some(settings.username.clone()),
        password: Some(settings.password.clone().into_bytes()),
        keepalive: 60,
        properties: Default::default(),
    })
}

const PINGREQ: [u8; 2] = [0xc0, 0];

/// Plays one case on a fresh connection; the answer in words.
async fn play(id: &str, host: &str, port: u16, settings: &BrokerSettings) -> std::io::Result<String> {
    if let Some(offer) = id.strip_prefix("subprotocol-") {
        let offered = (offer != "none").then_some(offer);
        let (_, status, chosen, _) = open(host, port, offered).await?;
        let code = status.split_whitespace().nth(1).unwrap_or("?").to_string();
        return Ok(format!("{code} {}", chosen.unwrap_or_else(|| "(no subprotocol)".into())));
    }
    let (mut s, _, _, buf) = open(host, port, Some("mqtt")).await?;
    let connect = connect_packet(settings);
    let before: Vec<u8> = match id {
        "split-connect" => {
            let (a, rest) = connect.split_at(1);
            let (b, c) = rest.split_at(1);
            [a, b, c].iter().flat_map(|p| frame_bytes(opcode::BINARY, p, true, false)).collect()
        }
        "packets-in-one-frame" => frame_bytes(opcode::BINARY, &[&connect[..], &PINGREQ[..]].concat(), true, false),
        _ => frame_bytes(opcode::BINARY, &connect, true, false),
    };
    step("write the CONNECT", s.write_all(&before)).await?;
    if matches!(id, "split-connect" | "packets-in-one-frame") {
        return Ok(describe(&answer(&mut s, buf).await));
    }
    // Wait for CONNACK before the case's own bytes.
    let connack = answer_until_connack(&mut s, buf).await;
    let Some(buf) = connack else { return Ok("no CONNACK to a plain CONNECT".into()) };
    let bytes = match id {
        "text-frame" => frame_bytes(opcode::TEXT, &PINGREQ, true, false),
        "ping-payload" => frame_bytes(opcode::PING, crate::peer::PING_PAYLOAD_125, true, false),
        "unsolicited-pong" => [frame_bytes(opcode::PONG, b"unsolicited", true, false), frame_bytes(opcode::BINARY, &PINGREQ, true, false)].concat(),
        "reserved-opcode" => frame_bytes(0x3, &PINGREQ, true, false),
        "unmasked" => frame_bytes(opcode::BINARY, &PINGREQ, false, false),
        "control-126" => frame_bytes(opcode::PING, &[b'x'; 126], true, false),
        "length-64" => frame_bytes(opcode::BINARY, &PINGREQ, true, true),
        "close" => frame_bytes(opcode::CLOSE, &frame::close_payload(1000, "bye"), true, false),
        other => return Err(std::io::Error::other(format!("no broker case {other}"))),
    };
    step("write the case's frames", s.write_all(&bytes)).await?;
    Ok(describe(&answer(&mut s, buf).await))
}

/// Reads until the CONNACK frame; the bytes after it, or `None` when none came.
async fn answer_until_connack(s: &mut TcpStream, mut buf: BytesMut) -> Option<BytesMut> {
    let deadline = Instant::now() + ANSWER_WAIT;
    loop {
        if let Ok(Some(f)) = frame::decode(&mut buf) {
            return (f.opcode == opcode::BINARY && f.payload.first() == Some(&0x20)).then_some(buf);
        }
        match tokio::time::timeout_at(deadline, s.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_64_bit_length_frame_decodes_as_the_same_frame() {
        let mut buf = BytesMut::from(&frame_bytes(opcode::BINARY, &PINGREQ, true, true)[..]);
        let f = frame::decode(&mut buf).expect("valid").expect("complete");
        assert_eq!((f.opcode, f.masked, f.payload), (opcode::BINARY, true, PINGREQ.to_vec()));
    }

    #[test]
    fn an_answer_reads_as_its_frames_then_the_end() {
        let a = Answer { frames: vec![(opcode::PONG, vec![0; 125]), (opcode::CLOSE, vec![0x03, 0xea])], fin: false, broken: None };
        assert_eq!(describe(&a), "PONG 125 bytes, close 1002");
        assert_eq!(describe(&Answer { fin: true, ..Answer::default() }), "FIN");
        assert_eq!(describe(&Answer::default()), "nothing in 2 s");
    }
}
