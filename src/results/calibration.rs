//! The client's own error bar (issue 21): what a load step's schedule measures against
//! the built-in synthetic engine, whose timing is scripted, minus the script. Data only,
//! plus the lookup reports use to decide whether a difference between engines is real.

use super::StepReport;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Measured minus scripted, ms, over the calibration's successful requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBar {
    #[schemars(range(min = 1))]
    pub n: usize,
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    /// 95% of the errors are within ± this (95th percentile of |measured − scripted|):
    /// a difference between engines smaller than this is within the client's error.
    #[schemars(range(min = 0))]
    pub bound95: f64,
}

/// One load step's calibration: the step's shape sent again to the synthetic engine on
/// this host, scripted at the engine's measured timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Calibration {
    /// `--calibrate` (every request of the step again); `false`: the cheap default, as
    /// many requests as fit in 5% of the step's span.
    pub full: bool,
    /// Why the step was not calibrated (the cheap default would cost more than 5%, or
    /// the step had no TTFT/TPOT to script); the figures below are then absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The scripted time to first token (the engine's median TTFT in the step), ms.
    pub scripted_ttft_ms: Option<f64>,
    /// The scripted time between tokens (the engine's median TPOT in the step), ms.
    pub scripted_tpot_ms: Option<f64>,
    /// Output tokens per scripted reply (the step's mean delivered, rounded).
    pub output_tokens: u32,
    /// Measured requests sent to the synthetic engine, and those that succeeded.
    pub requests: u64,
    pub ok: u64,
    /// The client's TTFT error: measured minus scripted.
    pub ttft_error_ms: Option<ErrorBar>,
    /// The client's TPOT error: measured minus scripted.
    pub tpot_error_ms: Option<ErrorBar>,
    /// What the calibration took, s, and that as a share of the step's span, %.
    pub wall_s: f64,
    pub cost_pct: Option<f64>,
}

/// The widest 95% error bounds of an engine's calibrated steps, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClientErrorBound {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
}

impl ClientErrorBound {
    /// The wider of two engines' bounds, per metric (`None` where neither has one).
    pub fn wider(self, other: ClientErrorBound) -> ClientErrorBound {
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        ClientErrorBound {
            ttft_ms: max(self.ttft_ms, other.ttft_ms),
            tpot_ms: max(self.tpot_ms, other.tpot_ms),
        }
    }
}

/// The client's error bound over `engine`'s calibrated load steps (the widest of them).
pub fn client_error_of(load: &[StepReport], engine: &str) -> ClientErrorBound {
    load.iter()
        .filter(|s| s.engine == engine)
        .filter_map(|s| s.calibration.as_ref())
        .fold(ClientErrorBound::default(), |acc, c| {
            acc.wider(ClientErrorBound {
                ttft_ms: c.ttft_error_ms.as_ref().map(|e| e.bound95),
                tpot_ms: c.tpot_error_ms.as_ref().map(|e| e.bound95),
            })
        })
}
