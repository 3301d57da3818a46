//! The judge: session records come in; verdicts, and results against the plan's
//! expectations, go out.
//!
//! Pure: no I/O, no clocks (the run stamps its times). A [`record::SessionRecord`] is what a
//! client saw; [`verdict::outcome`] decides what it means and [`verdict::sentence`] words it
//! ([`verdict::decide`] does both); [`results`] compares it with matrix.toml.

pub mod record;
pub mod results;
pub mod verdict;
