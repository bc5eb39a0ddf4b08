//! Cold and warm starts in the result model (`--starts N`, an engine's `starts`): each
//! start of the engine split into phases from our clock and the engine's own log lines,
//! with the model file's page-cache residency before the start. The math is
//! [`crate::measure::startup`]; the log lines are read by each engine's `start_mark` ([`crate::engines::start_marks`]).

pub use crate::measure::startup::MarkKind;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `--starts N`: N starts of one engine, each followed by one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StartsReport {
    /// Starts asked for.
    pub asked: u32,
    /// The model file whose page-cache residency is read (mincore(2)) around each start;
    /// `None` when the engine's model file is not known (then no residency is recorded).
    pub model_file: Option<String>,
    /// Whether the first start was made cold, and how (or why it could not be).
    pub cold: ColdStart,
    /// One entry per start, in order.
    pub starts: Vec<StartRun>,
    /// What else a reader should know (clock anchors, lines the engine does not print).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// How the first start was made cold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ColdStart {
    /// The model file's pages were dropped from the page cache before the first start.
    pub dropped: bool,
    /// How they were dropped (`posix_fadvise(POSIX_FADV_DONTNEED)` on the model file),
    /// or why they could not be.
    pub how: String,
}

/// One start of an engine: its phases, the page cache around it, its first request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StartRun {
    /// 1-based.
    #[schemars(range(min = 1))]
    pub index: u32,
    /// The model file in the page cache just before the spawn.
    pub cache_before: Option<PageCache>,
    /// The model file in the page cache after the first token.
    pub cache_after: Option<PageCache>,
    /// Named instants of this start, in milliseconds after the spawn, in time order.
    pub marks: Vec<StartMark>,
    /// The time between each two consecutive marks.
    pub phases: Vec<StartPhase>,
    /// Spawn → ready (our clock: the readiness check answered; Ollama: its model loaded).
    pub ready_ms: Option<f64>,
    /// The first request's time to first token (sent → first content), ms.
    pub ttft_ms: Option<f64>,
    /// Spawn → first token of the first request, ms.
    pub first_token_ms: Option<f64>,
    /// What went wrong in this start (it did not get ready, its request failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The engine's log of this start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// How much of a file the page cache holds (mincore(2) over a mapping of the file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PageCache {
    /// Resident pages ÷ pages of the file, 0–1.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub resident_share: f64,
    pub resident_bytes: u64,
    pub file_bytes: u64,
    /// "cold" (under 1% resident), "warm" (99% or more), else "partial".
    pub state: String,
}

/// One named instant of a start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StartMark {
    pub kind: MarkKind,
    /// Milliseconds after the spawn.
    pub at_ms: f64,
    /// "inferbench" (our clock) or "engine log" (the engine's timestamp on its line).
    pub source: String,
    /// The engine's line, for a mark read from its log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}

/// The time between two consecutive marks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StartPhase {
    pub from: MarkKind,
    pub to: MarkKind,
    pub ms: f64,
}
