//! The run: a plan comes in; a [`crate::judge::results::RunResult`] goes out.
//!
//! One broker per row (a tag, or a copy of one), with one proxy per (row, proxy) when the
//! plan's routes name proxies, each cell admitted by the [`schedule`]r as
//! the machine has room, every admitted cell holding at once, each cell's record judged as
//! it ends, with [`Progress`] events for whoever shows them. A [`reaper`] process removes
//! the run's containers and clients if this process dies without doing it; [`stop`] names the
//! signal that asked the run to stop. In runtime mode, [`runtimes`] starts one runtime per
//! command column version before the cells, and stops them after.

pub mod reaper;
pub mod runner;
pub mod runtimes;
pub mod schedule;
pub mod stop;

pub use runner::{run, run_with, Progress, SessionFn};
