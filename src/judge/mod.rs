//! The judge: session records come in; verdicts, and results against the plan's
//! expectations, go out.
//!
//! Pure: no I/O, no clocks. A [`record::SessionRecord`] is what a client saw;
//! [`verdict::decide`] says what it means; [`results`] compares it with matrix.toml.

pub mod record;
pub mod results;
pub mod verdict;
