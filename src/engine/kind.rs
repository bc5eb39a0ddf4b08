//! The kinds of engine inferbench has an adapter for, as a type: every place that branches
//! on the engine matches on [`EngineKind`], and a kind the code does not know cannot get
//! past the config.

use serde::{Deserialize, Serialize};

/// An engine adapter. Spelled in the config and the results as its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// llama.cpp: `llama-server`, `llama-completion` / `llama-cli`.
    LlamaCpp,
    /// PyTorch / transformers: `python/pytorch_server.py`, `python/generate.py`.
    PyTorch,
    /// Ollama: `ollama serve`, `ollama run`.
    Ollama,
    /// Uzu: `cli server`, `cli bench`, `cli run`.
    Uzu,
    /// Any OpenAI-compatible server (vLLM, SGLang, TGI, …), started from `command`.
    OpenAi,
    /// inferbench's synthetic engine (`inferbench mock-engine`).
    Mock,
}

impl EngineKind {
    pub const ALL: [EngineKind; 6] = [
        EngineKind::LlamaCpp,
        EngineKind::PyTorch,
        EngineKind::Ollama,
        EngineKind::Uzu,
        EngineKind::OpenAi,
        EngineKind::Mock,
    ];

    /// The name used in the config and the results.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::LlamaCpp => "llamacpp",
            EngineKind::PyTorch => "pytorch",
            EngineKind::Ollama => "ollama",
            EngineKind::Uzu => "uzu",
            EngineKind::OpenAi => "openai",
            EngineKind::Mock => "mock",
        }
    }

    /// The kind of that name, if there is one.
    pub fn parse(name: &str) -> Option<EngineKind> {
        EngineKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Every name, for messages: "llamacpp, pytorch, …".
    pub fn names() -> String {
        EngineKind::ALL.map(EngineKind::as_str).join(", ")
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_parse() {
        for k in EngineKind::ALL {
            let json = serde_json::to_string(&k).expect("serializes");
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(serde_json::from_str::<EngineKind>(&json).ok(), Some(k));
            assert_eq!(EngineKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EngineKind::parse("vllm"), None);
    }
}
