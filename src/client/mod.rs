//! HTTP client side: wire protocols, pure stream parsers, and one streaming request
//! turned into a [`Trace`] of raw instants.
//!
//! - [`http`]: the measuring HTTP/1.1 client: pooled connections that stamp the instant
//!   each request's first byte is written.
//! - [`sse`]: a pure, incremental Server-Sent-Events parser (no I/O).
//! - [`ndjson`]: a pure, incremental newline-delimited JSON splitter (Ollama).
//! - [`protocol`]: request bodies per wire protocol, and decoding of one event's JSON into
//!   [`StreamEvent`]s (pure).
//! - [`think`]: which content deltas are inside a `<think>` block (pure, incremental).
//! - [`stream`]: executes one request and stamps each event when it is parsed out of the
//!   bytes (not once per read).
//!
//! The wire protocol a target speaks ([`Protocol`], [`MaxTokensField`]) is a word of the
//! engine's target ([`crate::engine`], below); it is named here too.

pub mod http;
pub mod ndjson;
pub mod protocol;
pub mod sockq;
pub mod sse;
pub mod stream;
pub mod think;

pub use crate::engine::{MaxTokensField, Protocol};
use crate::measure::metrics::Timeline;
use crate::results::{EngineReport, Retries};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// The prompt of one request, in both forms: messages for chat endpoints, the text
/// rendered by our chat template for raw endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptInput {
    pub messages: Vec<Message>,
    pub rendered: String,
}

/// Token usage as reported by the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// Prompt tokens served from the engine's prompt cache
    /// (`usage.prompt_tokens_details.cached_tokens`).
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

/// What one parsed event meant.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Non-empty generated text.
    Content(String),
    /// Non-empty reasoning text from a field of its own (`reasoning_content`,
    /// `reasoning`, Ollama's `thinking`).
    Reasoning(String),
    /// Of the completion tokens, those the server says the model spent reasoning
    /// (`usage.completion_tokens_details.reasoning_tokens`).
    ReasoningTokens(u64),
    Usage(Usage),
    Timings(EngineReport),
    FinishReason(String),
    /// The server reported an error inside the stream.
    Error(String),
    /// End of stream marker (`[DONE]`, `done: true`, `stop: true`).
    Done,
}

/// A fully specified request: where, how, what.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub url: String,
    pub protocol: Protocol,
    pub body: serde_json::Value,
    pub stream: bool,
    /// Whole-request timeout.
    pub timeout: Duration,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub enum RequestError {
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    /// The whole-request timeout; `waiting` says for what (see [`stream::timeout_phase`]).
    #[error("timed out after {seconds:.1} s {waiting}")]
    Timeout { seconds: f64, waiting: String },
    #[error("stream ended before completion ({0})")]
    Truncated(String),
    #[error("malformed stream: {0}")]
    Malformed(String),
    #[error("engine error: {0}")]
    Engine(String),
    #[error("transport error: {0}")]
    Transport(String),
    /// Ended by us: the engine went idle with this request outstanding (see
    /// [`crate::load::watchdog`]); says where the request sat.
    #[error("no answer while the engine was idle: {0}")]
    Stalled(String),
    /// Ended by us so that it goes out again: it sat unwritten on its connection while
    /// the engine was idle, so the engine never saw it (see [`crate::load::watchdog`]).
    #[error("not written while the engine was idle: {0}")]
    NotSent(String),
    /// Ended by us: the engine's process exited while this request was outstanding.
    #[error("the engine exited: {0}")]
    EngineExited(String),
}

/// Everything recorded about one request, before metrics are derived.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub timeline: Timeline,
    /// Concatenated generated text.
    pub text: String,
    pub usage: Option<Usage>,
    pub engine_report: Option<EngineReport>,
    pub finish_reason: Option<String>,
    pub http_status: Option<u16>,
    /// Set when the request failed; a failed trace still carries what was received.
    pub error: Option<RequestError>,
    /// Set when the request was sent again on a new connection because its first attempt
    /// died on a reused keep-alive connection before any response byte (see
    /// [`http::HttpClient::send_noting_retry`]); `timeline.sent` is the retry's.
    pub retries: Option<Retries>,
    /// Set when the stream carried reasoning (its own deltas, or a `<think>` block).
    pub reasoning: Option<crate::measure::metrics::Reasoning>,
}
