//! The wire: bytes in, frames and packets out, and back.
//!
//! WebSocket frames ([`frame`]) and the MQTT 3.1.1 and 5 packets a session needs ([`mqtt`]):
//! pure codecs, fuzzed. The client side of the WebSocket upgrade ([`handshake`]): reading the
//! answer ([`handshake::check_response`]) is pure, and [`handshake::upgrade`] writes the request
//! and reads the answer over a stream it is given (async I/O on that stream; no socket of its
//! own, no clock). The lowest stage: imports nothing of ours.

pub mod frame;
pub mod handshake;
pub mod mqtt;
