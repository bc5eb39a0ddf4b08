//! Prompts: the suite (system prompt + tiered Korean prompts), chat-template rendering,
//! and token counting with a `tokenizer.json`.

pub mod suite;
pub mod template;
pub mod tokenizer;

use serde::{Deserialize, Serialize};

/// Expected-output-length tier of a prompt (seed: short 30–80, medium 80–150, long 150+
/// output tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Short,
    Medium,
    Long,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Short => "short",
            Tier::Medium => "medium",
            Tier::Long => "long",
        }
    }
}

/// One user prompt of the suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub id: String,
    pub tier: Tier,
    pub text: String,
}
