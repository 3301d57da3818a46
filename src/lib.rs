//! mosquitto-matrix: holds MQTT-over-WebSocket sessions past the 5-minute mark on every
//! Mosquitto image tag and fills a pass/EOF table per tag and client behaviour.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod baseline;
pub mod broker;
pub mod cleanup;
pub mod compare;
pub mod discover;
pub mod frame;
pub mod handshake;
pub mod junit;
pub mod labels;
pub mod live;
pub mod matrix;
pub mod mqtt;
pub mod profile;
pub mod progress;
pub mod record;
pub mod report;
pub mod results;
pub mod run;
pub mod rumqttc_session;
pub mod session;
pub mod units;
pub mod verdict;
