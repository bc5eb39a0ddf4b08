//! The fairness check run before measuring: is the prompt the engine will actually see the
//! same as our reference rendering, token for token?
//!
//! "What the engine sees" is derived from the very request body the benchmark sends
//! ([`crate::client::protocol::build_body`]):
//! - a raw endpoint (llama.cpp `/completion`, `/v1/completions`, Ollama raw generate)
//!   sees the body's `prompt`, tokenized by the engine (llama-server `POST /tokenize`
//!   with `add_special`, as `/completion` does; the PyTorch server's `/tokenize` without
//!   special tokens, as its completions route does);
//! - a chat endpoint sees the engine's own template over the body's `messages`
//!   (llama-server `POST /apply-template` then `/tokenize`; the PyTorch server's
//!   `/apply-template`, which returns the ids generation gets).
//!
//! The reference is our rendering tokenized with our `tokenizer.json` (the template prints
//! BOS itself, so no special tokens are added). Without a tokenizer the texts are compared.
//! Engines that expose no tokenizer (Ollama, Uzu, most OpenAI servers) are reported as
//! not checked, with the reason. A mismatch is a [`TemplateMismatch`] error showing both
//! renderings, unless mismatches are allowed: then the outcome says so and the runner
//! records a flag.

use super::{ApiTarget, EngineKind};
use crate::client::{PromptInput, Protocol};
use crate::prompt::tokenizer::TokenCounter;
use crate::results::Sampling;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FairnessStatus {
    /// Same token ids (or the same text where no ids could be had).
    Match,
    /// Different, and `allow_template_mismatch` let the benchmark go on.
    MismatchAllowed,
    /// The engine exposes no way to see its prompt.
    NotChecked,
}

/// What the check found, for the results and the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FairnessOutcome {
    pub status: FairnessStatus,
    /// How it was checked, e.g. "llama-server /apply-template + /tokenize vs tokenizer.json".
    pub method: String,
    /// The prompt text the engine will see (where it could be read).
    pub engine_prompt: Option<String>,
    pub engine_tokens: Option<Vec<u32>>,
    pub reference_prompt: String,
    pub reference_tokens: Option<Vec<u32>>,
    /// One line for a reader.
    pub detail: String,
}

impl FairnessOutcome {
    /// One line for `EngineInfo::fairness`.
    pub fn summary(&self) -> String {
        let s = match self.status {
            FairnessStatus::Match => "match",
            FairnessStatus::MismatchAllowed => "MISMATCH (allowed)",
            FairnessStatus::NotChecked => "not checked",
        };
        format!("{s}: {} ({})", self.detail, self.method)
    }
}

/// The engine's prompt differs from the reference: shows both.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{engine}: the prompt the engine sees differs from the reference rendering ({detail}).\n  engine:    {engine_prompt:?}\n  reference: {reference_prompt:?}\n{ids}Fix the engine's chat template (servers.{engine}.chat_template, inferbench.chat_template) or pass --allow-template-mismatch to measure anyway"
)]
pub struct TemplateMismatch {
    pub engine: String,
    pub detail: String,
    pub engine_prompt: String,
    pub reference_prompt: String,
    /// Pre-formatted token-id lines (empty when ids were not compared).
    pub ids: String,
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Result<Value> {
    let resp = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let text = resp.text().await.with_context(|| format!("POST {url}"))?;
    if !status.is_success() {
        anyhow::bail!("POST {url} answered {status}: {}", text.trim());
    }
    serde_json::from_str(&text).with_context(|| format!("POST {url}: not JSON: {text}"))
}

fn ids_of(v: &Value, url: &str) -> Result<Vec<u32>> {
    v.get("tokens")
        .and_then(Value::as_array)
        .with_context(|| format!("{url}: no `tokens` array"))?
        .iter()
        .map(|t| {
            // llama-server answers ids, or {id, piece} objects with `with_pieces`.
            t.as_u64()
                .or_else(|| t.get("id").and_then(Value::as_u64))
                .map(|x| x as u32)
                .with_context(|| format!("{url}: token {t} is not an id"))
        })
        .collect()
}

/// POST the chat `messages` to the engine's `/apply-template`: the rendered prompt, the
/// whole answer (the PyTorch server adds `tokens`) and the URL, for error messages.
async fn apply_template(
    client: &reqwest::Client,
    base: &str,
    messages: &Value,
) -> Result<(String, Value, String)> {
    let url = format!("{base}/apply-template");
    let v = post(client, url.clone(), json!({ "messages": messages })).await?;
    let prompt = v
        .get("prompt")
        .and_then(Value::as_str)
        .with_context(|| format!("{url}: no `prompt`"))?
        .to_string();
    Ok((prompt, v, url))
}

/// What the engine will see: (prompt text, token ids if obtainable, method).
async fn engine_view(
    client: &reqwest::Client,
    target: &ApiTarget,
    body: &Value,
) -> Result<Option<(String, Option<Vec<u32>>, String)>> {
    let base = &target.base_url;
    let raw_prompt = body
        .get("prompt")
        .and_then(Value::as_str)
        .map(str::to_string);
    let messages = body.get("messages").cloned();
    match target.kind {
        EngineKind::LlamaCpp => {
            let (text, how) = match (target.protocol, raw_prompt, messages) {
                (Protocol::LlamaCompletion | Protocol::OpenAiCompletions, Some(p), _) => {
                    (p, "request prompt")
                }
                (Protocol::OpenAiChat, _, Some(m)) => {
                    let (p, _, _) = apply_template(client, base, &m).await?;
                    (p, "llama-server /apply-template")
                }
                _ => return Ok(None),
            };
            let url = format!("{base}/tokenize");
            let v = post(
                client,
                url.clone(),
                json!({ "content": text, "add_special": true, "parse_special": true }),
            )
            .await?;
            let ids = ids_of(&v, &url)?;
            Ok(Some((
                text,
                Some(ids),
                format!("{how} + llama-server /tokenize"),
            )))
        }
        EngineKind::PyTorch => match (target.protocol, raw_prompt, messages) {
            (Protocol::OpenAiCompletions, Some(p), _) => {
                let url = format!("{base}/tokenize");
                let v = post(
                    client,
                    url.clone(),
                    json!({ "content": p, "add_special": false }),
                )
                .await?;
                let ids = ids_of(&v, &url)?;
                Ok(Some((
                    p,
                    Some(ids),
                    "request prompt + PyTorch server /tokenize".into(),
                )))
            }
            (Protocol::OpenAiChat, _, Some(m)) => {
                let (p, v, url) = apply_template(client, base, &m).await?;
                let ids = ids_of(&v, &url)?;
                Ok(Some((
                    p,
                    Some(ids),
                    "PyTorch server /apply-template".into(),
                )))
            }
            _ => Ok(None),
        },
        // The synthetic engine shows its template when started with --chat-template.
        EngineKind::Mock => match messages {
            Some(m) if target.protocol == Protocol::OpenAiChat => {
                match apply_template(client, base, &m).await {
                    Ok((p, _, _)) => Ok(Some((p, None, "mock /apply-template".into()))),
                    Err(_) => Ok(None),
                }
            }
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

fn first_difference(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Compare what the engine will see for `reference` with our rendering. `tokenizer` is our
/// reference tokenizer (the model's `tokenizer.json`), when there is one.
pub async fn check(
    target: &ApiTarget,
    reference: &PromptInput,
    sampling: &Sampling,
    tokenizer: Option<&TokenCounter>,
    allow_mismatch: bool,
) -> Result<FairnessOutcome> {
    let body = crate::client::protocol::build_body(target, reference, sampling, true);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    let reference_tokens = match tokenizer {
        Some(t) => Some(t.encode_ids(&reference.rendered, false)?),
        None => None,
    };
    let Some((engine_prompt, engine_tokens, method)) = engine_view(&client, target, &body).await?
    else {
        let why = match target.kind {
            EngineKind::Ollama => "Ollama exposes no tokenizer or template route",
            EngineKind::Uzu => "Uzu applies its own template and exposes no tokenizer route",
            _ => "the server exposes no tokenizer or template route",
        };
        return Ok(FairnessOutcome {
            status: FairnessStatus::NotChecked,
            method: "none".into(),
            engine_prompt: body
                .get("prompt")
                .and_then(Value::as_str)
                .map(str::to_string),
            engine_tokens: None,
            reference_prompt: reference.rendered.clone(),
            reference_tokens,
            detail: why.into(),
        });
    };
    let (same, detail, ids_lines, method) = match (&engine_tokens, &reference_tokens) {
        (Some(e), Some(r)) => {
            let same = e == r;
            let at = first_difference(e, r);
            let detail = if same {
                format!("{} identical token ids", e.len())
            } else {
                format!(
                    "token ids differ at position {at}: engine {} tokens, reference {}",
                    e.len(),
                    r.len()
                )
            };
            let lines = format!("  engine ids:    {e:?}\n  reference ids: {r:?}\n");
            (same, detail, lines, format!("{method} vs tokenizer.json"))
        }
        _ => {
            // No ids on one side: compare text, allowing for a BOS the engine adds itself.
            let bos = target.strip_prompt_prefix.clone().unwrap_or_default();
            let same = engine_prompt == reference.rendered
                || (!bos.is_empty() && format!("{bos}{engine_prompt}") == reference.rendered);
            let detail = if same {
                "identical text".to_string()
            } else {
                "texts differ".to_string()
            };
            (
                same,
                detail,
                String::new(),
                format!("{method} (text only: no tokenizer.json)"),
            )
        }
    };
    if same {
        return Ok(FairnessOutcome {
            status: FairnessStatus::Match,
            method,
            engine_prompt: Some(engine_prompt),
            engine_tokens,
            reference_prompt: reference.rendered.clone(),
            reference_tokens,
            detail,
        });
    }
    if !allow_mismatch {
        return Err(TemplateMismatch {
            engine: target.name.clone(),
            detail,
            engine_prompt,
            reference_prompt: reference.rendered.clone(),
            ids: ids_lines,
        }
        .into());
    }
    Ok(FairnessOutcome {
        status: FairnessStatus::MismatchAllowed,
        method,
        engine_prompt: Some(engine_prompt),
        engine_tokens,
        reference_prompt: reference.rendered.clone(),
        reference_tokens,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_message_shows_both_and_the_fix() {
        let e = TemplateMismatch {
            engine: "llamacpp".into(),
            detail: "token ids differ at position 1".into(),
            engine_prompt: "<bos><bos>hi".into(),
            reference_prompt: "<bos>hi".into(),
            ids: "  engine ids:    [2, 2]\n  reference ids: [2]\n".into(),
        };
        let m = e.to_string();
        assert!(
            m.contains("<bos><bos>hi") && m.contains("\"<bos>hi\""),
            "{m}"
        );
        assert!(m.contains("--allow-template-mismatch"), "{m}");
        assert!(m.contains("engine ids:    [2, 2]"), "{m}");
    }

    #[test]
    fn first_difference_position() {
        assert_eq!(first_difference(&[2, 2, 105], &[2, 105]), 1);
        assert_eq!(first_difference(&[2, 105], &[2, 105]), 2);
    }
}
