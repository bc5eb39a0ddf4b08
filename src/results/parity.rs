//! Greedy parity across engines in the result model ([`ParityReport`], the results'
//! `parity`): each pair of engines' replies to the same prompt compared token by token.
//! Computed by `export::parity` with the math of `measure::parity`.

use super::Mode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Greedy parity across engines (temperature 0, or `--parity`): every pair of engines'
/// replies to the same prompt, compared token by token with our tokenizer (sequential,
/// non-warm-up, successful runs; [`crate::measure::parity`] is the math).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ParityReport {
    /// Why it was computed: "temperature 0" or "--parity".
    pub why: String,
    /// The tokenizer the replies were split with (our `tokenizer.json`).
    pub tokenizer: Option<String>,
    /// Replies that differ within this many tokens depart (16).
    pub early_tokens: u32,
    /// One entry per pair of engines (× mode) that replied to a common prompt.
    pub pairs: Vec<ParityPair>,
    /// Engines (or, with two engines, the pair) whose reply departs from the others'
    /// within `early_tokens` tokens, per prompt; each such run is flagged
    /// `parity_departs`.
    pub departures: Vec<ParityDeparture>,
    /// Why something was not compared (no tokenizer, one engine, a reply that could not
    /// be tokenized).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// An engine in one mode, as parity compares it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct ParityEngine {
    pub engine: String,
    pub mode: Mode,
}

impl ParityEngine {
    /// "llamacpp api".
    pub fn label(&self) -> String {
        format!("{} {}", self.engine, self.mode.as_str())
    }
}

/// Two engines' replies over every prompt both replied to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ParityPair {
    pub a: ParityEngine,
    pub b: ParityEngine,
    /// Prompts both replied to.
    pub prompts: u32,
    /// Reply pairs compared: per prompt, every run of `a` against every run of `b`.
    pub comparisons: u32,
    /// Of those, pairs with the same token ids.
    pub identical: u32,
    /// identical ÷ comparisons, percent.
    pub identical_pct: f64,
    /// Mean common prefix over every comparison, tokens.
    pub mean_common_prefix: f64,
    /// Smallest common prefix of any comparison, tokens.
    pub min_common_prefix: u32,
    /// Mean reply length of each side over the compared runs, tokens.
    pub mean_tokens_a: f64,
    pub mean_tokens_b: f64,
    /// The earliest token position where two replies differ; absent when every pair is
    /// identical.
    pub first_difference: Option<u32>,
    pub per_prompt: Vec<PromptParity>,
}

/// Two engines' replies to one prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PromptParity {
    pub prompt_id: String,
    pub comparisons: u32,
    pub identical: u32,
    pub mean_common_prefix: f64,
    pub min_common_prefix: u32,
    pub mean_tokens_a: f64,
    pub mean_tokens_b: f64,
    /// The earliest position where two replies differ; absent when all are identical.
    pub first_difference: Option<u32>,
    /// The two replies there (model output: escape before showing): a few tokens before
    /// the difference, "▸", a few from it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt_a: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt_b: Option<String>,
}

/// An engine whose reply to a prompt departs from the others' within the first
/// `early_tokens` tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ParityDeparture {
    pub prompt_id: String,
    /// The engine that departs (with two engines: the first of the pair).
    pub engine: ParityEngine,
    /// The engines it departs from (with two engines: the other of the pair).
    pub from: Vec<ParityEngine>,
    /// Two engines only: the pair departs, and with two one cannot say which.
    pub pair_only: bool,
    /// The earliest token position where its reply differs from one of `from`.
    pub position: u32,
    /// Its reply and the other's around that position (model output: escape before
    /// showing).
    pub excerpt: String,
    pub other_excerpt: String,
    /// What the `parity_departs` flag on its runs says.
    pub message: String,
}
