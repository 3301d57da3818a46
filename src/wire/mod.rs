//! The wire: bytes in, frames and packets out, and back. Pure codecs, fuzzed.
//!
//! WebSocket frames ([`frame`]), the client side of the upgrade ([`handshake`]) and the
//! MQTT 3.1.1 packets a session needs ([`mqtt`]). The lowest stage: imports nothing of ours.

pub mod frame;
pub mod handshake;
pub mod mqtt;
