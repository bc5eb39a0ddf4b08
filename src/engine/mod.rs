//! The words every layer uses to speak of an engine: its kind ([`EngineKind`]), the
//! target the client talks to ([`ApiTarget`]) with the wire protocol it speaks
//! ([`Protocol`], [`MaxTokensField`]), and the GPUs it may use ([`multigpu`]).
//! Pure data, low in the house: the client, the config and the records read it. What
//! starts, checks and drives engines (launch helpers, fairness, each engine's folder) is
//! in `engines/`, above.

pub mod kind;
pub mod multigpu;

pub use kind::EngineKind;
use serde::{Deserialize, Serialize};

/// The wire protocol a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// OpenAI `/v1/chat/completions` (messages in, deltas out).
    OpenAiChat,
    /// OpenAI `/v1/completions` (rendered prompt in, text out).
    OpenAiCompletions,
    /// llama.cpp native `/completion` (rendered prompt, `content` + `timings`).
    LlamaCompletion,
    /// Ollama `/api/generate` (NDJSON, nanosecond durations).
    OllamaGenerate,
    /// Ollama `/api/chat` (NDJSON, nanosecond durations).
    OllamaChat,
}

impl Protocol {
    /// Whether the streamed body is NDJSON (Ollama) rather than SSE.
    pub fn is_ndjson(self) -> bool {
        matches!(self, Protocol::OllamaGenerate | Protocol::OllamaChat)
    }
}

/// Which field carries the output-length limit; engines read different ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    MaxTokens,
    MaxCompletionTokens,
    /// llama.cpp native `n_predict`.
    NPredict,
    /// Ollama `options.num_predict`.
    NumPredict,
}

/// How the benchmark talks to one engine's server: everything the runner needs to build
/// requests and judge responses, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiTarget {
    /// Config key, e.g. "llamacpp".
    pub name: String,
    /// Adapter kind.
    pub kind: EngineKind,
    /// Base URL without a trailing slash, e.g. "http://127.0.0.1:8002".
    pub base_url: String,
    /// Path of the measured endpoint, e.g. "/v1/chat/completions".
    pub endpoint: String,
    pub protocol: Protocol,
    /// Model name sent in the body, where the protocol has one.
    pub model: Option<String>,
    pub max_tokens_field: MaxTokensField,
    /// Send `ignore_eos` (and `min_tokens`) when the settings ask for fixed lengths.
    pub supports_ignore_eos: bool,
    /// Send `stream_options.include_usage`.
    pub include_usage: bool,
    /// Extra JSON fields merged into every request body (e.g. `cache_prompt: false`).
    pub extra_body: serde_json::Map<String, serde_json::Value>,
    /// A 200 response whose content starts with "Error:" and reports zero usage is a
    /// failed run (Uzu).
    pub error_text_is_failure: bool,
    /// Text removed from the start of our rendered prompt before it is sent to a raw
    /// endpoint: the BOS token's text, for engines that add BOS themselves when they
    /// tokenize a raw prompt (llama.cpp `/completion`, Ollama raw generate). Sending it
    /// anyway gives the model two BOS tokens. Use [`ApiTarget::raw_prompt`].
    #[serde(default)]
    pub strip_prompt_prefix: Option<String>,
}

/// The root of an OpenAI-compatible server from a base URL as people write it:
/// `http://h:p`, `http://h:p/`, `http://h:p/v1` and `http://h:p/v1/` all give `http://h:p`
/// (endpoints are paths from the root, `/v1/...`). A path before `/v1` stays
/// (`http://h/proxy/v1` gives `http://h/proxy`).
pub fn server_root(base_url: &str) -> String {
    let trimmed = base_url.trim().trim_end_matches('/');
    let root = match trimmed.len().checked_sub(3) {
        Some(i) if trimmed.is_char_boundary(i) && trimmed[i..].eq_ignore_ascii_case("/v1") => {
            &trimmed[..i]
        }
        _ => trimmed,
    };
    root.trim_end_matches('/').to_string()
}

impl ApiTarget {
    /// A generic OpenAI-compatible server that inferbench did not start. `base_url` may
    /// be the server's root or its `/v1` (with or without a trailing slash): both name
    /// the same server (see [`server_root`]).
    pub fn openai(name: &str, base_url: &str, model: Option<String>, chat: bool) -> Self {
        ApiTarget {
            name: name.to_string(),
            kind: EngineKind::OpenAi,
            base_url: server_root(base_url),
            endpoint: if chat {
                "/v1/chat/completions".into()
            } else {
                "/v1/completions".into()
            },
            protocol: if chat {
                Protocol::OpenAiChat
            } else {
                Protocol::OpenAiCompletions
            },
            model,
            max_tokens_field: MaxTokensField::MaxTokens,
            supports_ignore_eos: false,
            include_usage: true,
            extra_body: serde_json::Map::new(),
            error_text_is_failure: false,
            strip_prompt_prefix: None,
        }
    }

    /// The text to send as the prompt of a raw (non-chat) request: our rendering, minus
    /// [`ApiTarget::strip_prompt_prefix`] when it starts with it.
    pub fn raw_prompt<'a>(&self, rendered: &'a str) -> &'a str {
        match &self.strip_prompt_prefix {
            Some(prefix) if !prefix.is_empty() => {
                rendered.strip_prefix(prefix.as_str()).unwrap_or(rendered)
            }
            _ => rendered,
        }
    }

    /// Full URL of the measured endpoint.
    pub fn url(&self) -> String {
        format!("{}{}", self.base_url, self.endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_with_or_without_v1_name_the_same_endpoint() {
        for base in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/v1",
            "http://127.0.0.1:8080/v1/",
            " http://127.0.0.1:8080/V1/ ",
        ] {
            let t = ApiTarget::openai("x", base, None, true);
            assert_eq!(t.base_url, "http://127.0.0.1:8080", "from {base:?}");
            assert_eq!(
                t.url(),
                "http://127.0.0.1:8080/v1/chat/completions",
                "from {base:?}"
            );
            let t = ApiTarget::openai("x", base, None, false);
            assert_eq!(t.url(), "http://127.0.0.1:8080/v1/completions");
        }
        assert_eq!(server_root("http://h/proxy/v1/"), "http://h/proxy");
        // Only a whole `/v1` segment is the API prefix.
        assert_eq!(server_root("http://h/apiv1"), "http://h/apiv1");
        assert_eq!(server_root("http://h:1/v2"), "http://h:1/v2");
    }
}
