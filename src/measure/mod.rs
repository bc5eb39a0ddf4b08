//! Measurement: raw instants → per-request metrics → summaries (pure), and resource
//! sampling of engine processes.

pub mod metrics;
pub mod stats;
pub mod summary;
