//! Load generation beyond the seed's one request at a time: closed-loop concurrency,
//! open-loop arrival rates, sweeps over either, warm-up, SLOs and goodput.
//!
//! - [`schedule`]: pure — flags → steps, seeded arrival times, sweep and SLO parsing.
//! - [`executor`]: runs the steps against one server ([`executor::run_load`]).
//! - [`calibrate`]: a step's shape sent again to the synthetic engine on this host: the
//!   client's own TTFT and TPOT error at that load.
//! - [`input_sweep`]: pure — `--sweep input:…`: prefill and decode apart at exact input
//!   lengths, TTFT regressed on length, llama-bench's pp/tg beside them.
//! - worker I of N's share of a step (`--shard I/N`) is [`crate::results::Shard`]: the
//!   results record it, and `inferbench merge` reads it back.
//! - [`report`]: pure — one step's records → throughput windows, timeline, goodput,
//!   client headroom.
//! - [`search`]: pure — `--find`: which load to probe next, Wilson intervals on SLO
//!   attainment, the boundary.
//! - [`precision`]: pure — `--target-ci`: when a step's metric is precise enough to stop.
//! - [`watchdog`]: a step never stalls: requests outstanding while the engine is idle end
//!   as failed within seconds, saying where each sat.

pub mod calibrate;
pub mod executor;
pub mod input_sweep;
pub mod precision;
pub mod report;
pub mod schedule;
pub mod search;
pub mod watchdog;

pub use executor::{LoadOptions, LoadPrompt, run_load};
