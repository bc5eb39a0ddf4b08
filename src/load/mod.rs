//! Load generation beyond the seed's one request at a time: closed-loop concurrency,
//! open-loop arrival rates, sweeps over either, warm-up, SLOs and goodput.
//!
//! - [`schedule`]: pure — flags → steps, seeded arrival times, sweep and SLO parsing.
//! - [`api`]: `inferbench api` in a load mode: settings → prompts → steps → files.
//! - [`executor`]: runs the steps against one server ([`executor::run_load`]).
//! - [`report`]: pure — one step's records → throughput windows, timeline, goodput,
//!   client headroom.

pub mod api;
pub mod executor;
pub mod report;
pub mod schedule;

pub use api::run_api_load;
pub use executor::{LoadOptions, LoadPrompt, run_load};
