//! The plan: matrix.toml and what a run asks of it come in; the cells to run go out.
//!
//! Pure: nothing here does I/O but reading the file. It names the columns ([`Profile`]),
//! the outcomes a cell may be expected to have ([`Outcome`]) and the durations a session
//! runs by ([`Timing`]) and the routes from client to broker ([`Route`]), so every stage above speaks the same words; and it carries what
//! matrix.toml knows beyond the run: upstream issues behind failure patterns ([`KnownIssue`])
//! and release versions to order tags by ([`Version`]), and where each client is released
//! ([`releases`]), which client versions a run installs on demand ([`ondemand`]), and how a
//! run starts its real clients ([`ClientMode`]).

pub mod column;
pub mod copies;
pub mod cost;
pub mod expectation;
pub mod file;
pub mod known;
pub mod ondemand;
pub mod mode;
pub mod releases;
pub mod route;
pub mod selection;
pub mod timing;
pub mod version;

pub use column::{Column, CommandClient, Profile, Transport};
pub use cost::Cost;
pub use expectation::{Expectation, Outcome};
pub use file::{BrokerSettings, ClientVersions, ConfigError, ImageSet, MatrixFile};
pub use known::KnownIssue;
pub use mode::ClientMode;
pub use route::{ProxyName, Route};
pub use version::Version;
pub use selection::{config_path, parse_speed, Cell, LeftOut, Plan, Selection, SelectionOrigin, Shard, CONFIG_VAR, MAX_SPEED, SELECTION_VARS};
pub use timing::{Timing, DEFAULT_LATE_PONG, DEFAULT_ROUND_TRIP_TIMEOUT, DEFAULT_SETUP_TIMEOUT, FIVE_MINUTE_MARK, LWS_PONG_WINDOW};
