//! Measurement: raw instants → per-request metrics, statistics over samples (pure), and
//! resource sampling of engine processes. Nothing here knows the result model; grouping
//! records into summaries is [`crate::export::summary`].

pub mod bandwidth;
pub mod calibration;
pub mod d2d;
pub mod drift;
pub mod gpu;
pub mod hist;
pub mod inference;
pub mod metrics;
pub mod parity;
pub mod prefill;
pub mod rapl;
pub mod resources;
pub mod roofline;
pub mod startup;
pub mod stats;
pub mod telemetry;
pub mod throttle;
