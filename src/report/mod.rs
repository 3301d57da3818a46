//! The report: a run's results come in; tables, Markdown, JSON, JUnit, diffs, merged
//! shards, baselines, the agreement of two columns and live progress go out.

pub mod agree;
pub mod baseline;
pub mod compare;
pub mod junit;
pub mod live;
pub mod progress;
pub mod text;

pub use text::{broker_failure_text, cell_text, digest_change_text, failures, json, markdown, outcome_text, table, write_files};
