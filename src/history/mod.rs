//! The history of results: every night's run kept, and what each cell did over time.
//!
//! In: JSON results (`report::json`'s files). Out: a history folder ([`store`]: one file per
//! run, exactly the bytes given, and an append-only index), each cell's current result with
//! the run it holds since and every change ([`lines`], pure), and the static site built from
//! them ([`site`], pure: it returns the files, the caller writes them). [`store`] is the only
//! part that touches the disk; nothing here reads the clock.

pub mod lines;
pub mod site;
pub mod store;

pub use lines::{CellHistory, History};
pub use store::{HistoryError, Store};
