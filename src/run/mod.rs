//! The run: a plan comes in; a [`crate::judge::results::RunResult`] goes out.
//!
//! One broker per tag, every cell of every tag at once, each cell's record judged as it
//! ends, with [`Progress`] events for whoever shows them.

pub mod runner;

pub use runner::{run, run_with, Progress, SessionFn};
