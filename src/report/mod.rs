//! The report: a run's results come in; the summary, tables (the terminal view that fits
//! 120 columns and the full grid), Markdown, HTML, JSON, JUnit, diffs, merged shards,
//! baselines, the agreement of two columns, the split along a client's versions and live
//! progress go out; and the exit status a result calls for ([`exit`]).
//!
//! The words the renderers share (a cell's text, the run line, a tag's or a proxy's failure)
//! are in [`wording`], which the terminal view ([`compact`]), the full grid and files
//! ([`text`]) and the page ([`html`]) call and which calls none of them: imports point one way.

pub mod agree;
pub mod baseline;
pub mod compact;
pub mod compare;
pub mod conformance;
pub mod conformance_cases;
pub mod conformance_html;
pub mod exit;
pub mod html;
pub mod junit;
pub mod lifeline;
pub mod live;
pub mod progress;
pub mod summary;
pub mod tag_order;
pub mod text;
pub mod timeline;
pub mod versions;
pub mod wording;

pub use text::{failures, json, markdown, table, table_wide, write_files, write_whole, WriteError};
pub use wording::{broker_failure_text, cell_text, digest_change_text, outcome_text};
