//! The report: a run's results come in; the summary, tables (the terminal view that fits
//! 120 columns and the full grid), Markdown, HTML, JSON, JUnit, diffs, merged shards,
//! baselines, the agreement of two columns and live progress go out.

pub mod agree;
pub mod baseline;
pub mod compact;
pub mod compare;
pub mod html;
pub mod junit;
pub mod live;
pub mod progress;
pub mod summary;
pub mod text;
pub mod timeline;

pub use text::{broker_failure_text, cell_text, digest_change_text, failures, json, markdown, outcome_text, table, table_wide, write_files, write_whole, WriteError};
