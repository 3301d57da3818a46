//! The session core, without I/O: bytes in with the time, bytes out, events and at most one
//! end. Every rule of a session lives here, once: CONNECT/CONNACK, SUBSCRIBE/SUBACK, the
//! keepalive and the PINGRESP deadline, the round trip, WebSocket control frames, the
//! session's zero (`judge::record::TimeZero`), how a session ends, and whose end it was (a
//! starved client, a broker running late, a raced timeout: `state::blame`).
//!
//! [`Inbound`] turns one direction's bytes into frames and packets; [`State`] holds the
//! rules and is fed both directions; a [`Player`] plays a built-in profile on top of it (the
//! in-process session drives it over a socket); the proxy's recorder feeds a [`State`] from
//! the two byte streams it forwards (observer mode). Times are `Duration`s since the TCP
//! connection opened, so tests run on byte vectors and milliseconds.

pub mod inbound;
pub mod player;
pub mod state;

pub use inbound::{Inbound, InboundError, Item};
pub use player::{Player, Script, Step};
pub use state::{Event, Rules, State, VERSION_TOPIC};
