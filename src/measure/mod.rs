//! Measurement: raw instants → per-request metrics → summaries (pure), and resource
//! sampling of engine processes.

pub mod bandwidth;
pub mod inference;
pub mod metrics;
pub mod resources;
pub mod roofline;
pub mod stats;
pub mod summary;
