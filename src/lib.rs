//! mosquitto-matrix: holds MQTT-over-WebSocket sessions past the 5-minute mark on every
//! Mosquitto image tag and fills a pass/EOF table per tag and client.
//!
//! The modules are the stages of the data, lowest first; a module imports only from
//! stages below its own (`tests/layers.rs` checks it):
//!
//! | stage | in | out |
//! |---|---|---|
//! | [`wire`] | bytes | WebSocket frames, the upgrade, MQTT packets |
//! | [`plan`] | matrix.toml, the selection | cells to run, expectations, durations |
//! | [`judge`] | session records | verdicts, results against expectations |
//! | [`engine`] | an image and tag | a running broker, its ports and facts |
//! | [`client`] | a broker address and a column | a session record |
//! | [`peer`] | a behaviour and a client's bytes | a scripted broker's bytes, what it saw |
//! | [`run`] | a plan | a run's results, progress events |
//! | [`probe`] | a live endpoint's URL | the same results, and what the endpoint does in words |
//! | [`conformance`] | columns and cases | a grid of how each client met each broker behaviour |
//! | [`report`] | results | tables, Markdown, JSON, JUnit, diff, merge, baseline |
//! | [`history`] | results, night after night | a history folder, each cell's changes, a static site |
//!
//! [`units`] (durations as people write them) sits beneath them all.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod units;

pub mod wire;

pub mod plan;

pub mod judge;

pub mod engine;

pub mod client;

pub mod peer;

pub mod run;

pub mod probe;

pub mod conformance;

pub mod report;

pub mod history;
