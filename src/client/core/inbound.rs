//! One direction's bytes: WebSocket frames (or none, over TCP), then the MQTT packets in
//! their payloads, handed out in wire order.

use bytes::BytesMut;

use crate::wire::frame::{self, opcode, FrameError, RawFrame};
use crate::wire::mqtt::{self, Packet, PacketError, Protocol};

/// What one direction's bytes held next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A WebSocket frame (its data, if any, is already queued for the packet decoder).
    Frame(RawFrame),
    /// An MQTT packet.
    Packet(Packet),
}

/// Bytes that are not what the protocol allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// A WebSocket frame that cannot be read.
    #[error("an invalid WebSocket frame ({0})")]
    Frame(#[from] FrameError),
    /// An MQTT packet that cannot be read.
    #[error("an invalid MQTT packet ({0})")]
    Packet(#[from] PacketError),
}

/// The decoder of one direction of a session.
#[derive(Debug)]
pub struct Inbound {
    ws: bool,
    frames: BytesMut,
    mqtt: BytesMut,
    protocol: Protocol,
}

impl Inbound {
    /// A decoder for a WebSocket (`ws`) or plain TCP connection of `protocol`.
    pub fn new(ws: bool, protocol: Protocol) -> Inbound {
        Inbound { ws, frames: BytesMut::new(), mqtt: BytesMut::new(), protocol }
    }

    /// Switches the packet layout (an observer learns it from the client's CONNECT).
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
    }

    /// Bytes as they arrived.
    pub fn push(&mut self, data: &[u8]) {
        if self.ws {
            self.frames.extend_from_slice(data);
        } else {
            self.mqtt.extend_from_slice(data);
        }
    }

    /// The next frame or packet, in wire order: a frame, then the packets its payload
    /// completed, then the next frame. `Ok(None)` when more bytes are needed.
    pub fn next_item(&mut self) -> Result<Option<Item>, InboundError> {
        if let Some(p) = mqtt::decode_as(&mut self.mqtt, self.protocol)? {
            return Ok(Some(Item::Packet(p)));
        }
        if !self.ws {
            return Ok(None);
        }
        let Some(f) = frame::decode(&mut self.frames)? else { return Ok(None) };
        if matches!(f.opcode, opcode::BINARY | opcode::CONTINUATION) {
            self.mqtt.extend_from_slice(&f.payload);
        }
        Ok(Some(Item::Frame(f)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_split_over_frames_comes_out_after_the_frame_that_completes_it() {
        let mut i = Inbound::new(true, Protocol::V311);
        let ping = mqtt::encode(&Packet::PingResp);
        i.push(&frame::encode(opcode::BINARY, &ping[..1], false));
        i.push(&frame::encode(opcode::BINARY, &ping[1..], false));
        assert!(matches!(i.next_item(), Ok(Some(Item::Frame(f))) if f.payload == ping[..1]));
        assert!(matches!(i.next_item(), Ok(Some(Item::Frame(f))) if f.payload == ping[1..]));
        assert_eq!(i.next_item(), Ok(Some(Item::Packet(Packet::PingResp))));
        assert_eq!(i.next_item(), Ok(None));
    }

    #[test]
    fn bad_bytes_say_which_layer_they_broke() {
        let mut i = Inbound::new(true, Protocol::V311);
        i.push(&[0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(i.next_item(), Err(InboundError::Frame(FrameError::TooLarge(_)))));
        let mut t = Inbound::new(false, Protocol::V5);
        t.push(&[0x20, 3, 0, 0, 9]);
        let err = t.next_item().expect_err("property length past the packet");
        assert!(err.to_string().starts_with("an invalid MQTT packet (malformed MQTT CONNACK packet: property length 9"), "{err}");
    }
}
