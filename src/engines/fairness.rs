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
//! A server given with `--url` that answers llama-server's `GET /props` is checked like a
//! managed llama-server, its reference tokenized by its own `/tokenize` (it may serve any
//! model, so the configured tokenizer.json is not its vocabulary).
//! Engines that expose no tokenizer (Ollama, Uzu, most OpenAI servers) are reported as
//! not checked, with the reason. A mismatch is a [`TemplateMismatch`] error showing both
//! renderings, unless mismatches are allowed: then the outcome says so and the runner
//! records a flag.

use crate::client::{PromptInput, Protocol};
use crate::engine::{ApiTarget, EngineKind};
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
    "{engine}: the prompt the engine sees differs from the reference rendering ({detail}).\n  engine:    {engine_prompt:?}\n  reference: {reference_prompt:?}\n{ids}{fix}"
)]
pub struct TemplateMismatch {
    pub engine: String,
    pub detail: String,
    pub engine_prompt: String,
    pub reference_prompt: String,
    /// Pre-formatted token-id lines (empty when ids were not compared).
    pub ids: String,
    /// What to do about it (see [`mismatch_fix`]).
    pub fix: String,
}

/// The fix for a [`TemplateMismatch`] of `target`: the engine's template where we start
/// it, the server's where it was given with `--url` (we do not start it).
pub fn mismatch_fix(target: &ApiTarget) -> String {
    if target.kind == EngineKind::OpenAi {
        "Start the server with the reference chat template (llama-server: --jinja \
         --chat-template-file with the reference's template, e.g. templates/gemma3.jinja), or \
         pick the reference that matches the server with --chat-template; with --endpoint \
         completions llama-server adds its own BOS to our rendering (use --endpoint chat); or \
         pass --allow-template-mismatch to measure anyway"
            .to_string()
    } else {
        format!(
            "Fix the engine's chat template (servers.{}.chat_template, inferbench.chat_template) \
             or pass --allow-template-mismatch to measure anyway",
            target.name
        )
    }
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

/// Whether the server at `base` is a llama-server: its `GET /props` answers with fields
/// only llama-server's has. A server given with `--url` has kind [`EngineKind::OpenAi`]
/// whatever it is; a llama-server among them is checked like a managed one.
async fn is_llama_server(client: &reqwest::Client, base: &str) -> bool {
    let Ok(resp) = client.get(format!("{base}/props")).send().await else {
        return false;
    };
    if !resp.status().is_success() {
        return false;
    }
    resp.json::<Value>().await.is_ok_and(|v| {
        v.get("default_generation_settings").is_some() || v.get("total_slots").is_some()
    })
}

/// llama-server's view of a request: the raw prompt, or its `/apply-template` over the
/// chat messages, tokenized by its `/tokenize` as the completion routes tokenize.
async fn llama_view(
    client: &reqwest::Client,
    base: &str,
    protocol: Protocol,
    raw_prompt: Option<String>,
    messages: Option<Value>,
) -> Result<Option<(String, Option<Vec<u32>>, String)>> {
    let (text, how) = match (protocol, raw_prompt, messages) {
        (Protocol::LlamaCompletion | Protocol::OpenAiCompletions, Some(p), _) => {
            (p, "request prompt")
        }
        (Protocol::OpenAiChat, _, Some(m)) => {
            let (p, _, _) = apply_template(client, base, &m).await?;
            (p, "llama-server /apply-template")
        }
        _ => return Ok(None),
    };
    let ids = llama_tokenize(client, base, &text, true).await?;
    Ok(Some((
        text,
        Some(ids),
        format!("{how} + llama-server /tokenize"),
    )))
}

/// llama-server's `POST /tokenize` of `text`, special tokens in the text parsed, BOS added
/// when `add_special` (as its completion routes do).
async fn llama_tokenize(
    client: &reqwest::Client,
    base: &str,
    text: &str,
    add_special: bool,
) -> Result<Vec<u32>> {
    let url = format!("{base}/tokenize");
    let v = post(
        client,
        url.clone(),
        json!({ "content": text, "add_special": add_special, "parse_special": true }),
    )
    .await?;
    ids_of(&v, &url)
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
            llama_view(client, base, target.protocol, raw_prompt, messages).await
        }
        EngineKind::OpenAi => {
            if is_llama_server(client, base).await {
                llama_view(client, base, target.protocol, raw_prompt, messages).await
            } else {
                Ok(None)
            }
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
            _ => {
                "the server exposes no tokenizer or template route inferbench knows (its GET \
                 /props does not answer as llama-server's)"
            }
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
    // A llama-server given with `--url` may serve any model, so the reference is not
    // tokenized with the configured tokenizer.json (the runner passes none) but with the
    // server's own vocabulary: our rendering through its `/tokenize`, no BOS added (the
    // template prints it), as tokenizer.json does for a managed one.
    let mut reference_tokens = reference_tokens;
    let mut reference_by = "tokenizer.json";
    if target.kind == EngineKind::OpenAi && engine_tokens.is_some() && reference_tokens.is_none() {
        reference_tokens =
            Some(llama_tokenize(&client, &target.base_url, &reference.rendered, false).await?);
        reference_by = "our rendering through the same /tokenize";
    }
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
            (same, detail, lines, format!("{method} vs {reference_by}"))
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
            fix: mismatch_fix(target),
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
        let mut managed = ApiTarget::openai("llamacpp", "http://h:1", None, true);
        managed.kind = EngineKind::LlamaCpp;
        let e = TemplateMismatch {
            engine: "llamacpp".into(),
            detail: "token ids differ at position 1".into(),
            engine_prompt: "<bos><bos>hi".into(),
            reference_prompt: "<bos>hi".into(),
            ids: "  engine ids:    [2, 2]\n  reference ids: [2]\n".into(),
            fix: mismatch_fix(&managed),
        };
        let m = e.to_string();
        assert!(
            m.contains("<bos><bos>hi") && m.contains("\"<bos>hi\""),
            "{m}"
        );
        assert!(m.contains("--allow-template-mismatch"), "{m}");
        assert!(m.contains("servers.llamacpp.chat_template"), "{m}");
        assert!(m.contains("engine ids:    [2, 2]"), "{m}");
    }

    /// llama-server's tokenizer in miniature: `<bos>`, `<start_of_turn>`, `<end_of_turn>`
    /// are special ids (parsed from the text), every other character is one id; BOS is
    /// put in front with `add_special`.
    fn fake_tokenize(text: &str, add_special: bool) -> Vec<u32> {
        let mut ids = if add_special { vec![2] } else { Vec::new() };
        let mut rest = text;
        'outer: while let Some(c) = rest.chars().next() {
            for (special, id) in [
                ("<bos>", 2),
                ("<start_of_turn>", 105),
                ("<end_of_turn>", 106),
            ] {
                if let Some(r) = rest.strip_prefix(special) {
                    ids.push(id);
                    rest = r;
                    continue 'outer;
                }
            }
            ids.push(c as u32 + 1000);
            rest = &rest[c.len_utf8()..];
        }
        ids
    }

    /// A server given with `--url`. `llama`: it answers llama-server's `/props`. Its
    /// `/apply-template` renders Gemma's turns without the leading `<bos>` (llama-server
    /// cuts the BOS text the template prints, since `/tokenize` adds it), unless
    /// `keep_bos`: then the prompt starts with two.
    async fn fake_server(llama: bool, keep_bos: bool) -> String {
        use axum::Json;
        use axum::routing::{get, post};
        let mut app = axum::Router::new()
            .route(
                "/apply-template",
                post(move |Json(v): Json<Value>| async move {
                    let mut system = String::new();
                    let mut out = if keep_bos {
                        "<bos>".to_string()
                    } else {
                        String::new()
                    };
                    for m in v["messages"].as_array().cloned().unwrap_or_default() {
                        let content = m["content"].as_str().unwrap_or_default().to_string();
                        match m["role"].as_str() {
                            Some("system") => system = format!("{content}\n\n"),
                            _ => out.push_str(&format!(
                                "<start_of_turn>user\n{}{content}<end_of_turn>\n",
                                std::mem::take(&mut system)
                            )),
                        }
                    }
                    out.push_str("<start_of_turn>model\n");
                    Json(json!({ "prompt": out }))
                }),
            )
            .route(
                "/tokenize",
                post(|Json(v): Json<Value>| async move {
                    let text = v["content"].as_str().unwrap_or_default();
                    let add = v["add_special"].as_bool().unwrap_or(false);
                    Json(json!({ "tokens": fake_tokenize(text, add) }))
                }),
            );
        if llama {
            app = app.route(
                "/props",
                get(|| async {
                    Json(json!({"total_slots": 1, "default_generation_settings": {}}))
                }),
            );
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn sampling() -> Sampling {
        Sampling {
            max_tokens: 8,
            temperature: 0.0,
            seed: Some(42),
            top_p: None,
            top_k: None,
            ignore_eos: false,
        }
    }

    fn reference() -> PromptInput {
        crate::prompt::template::ChatTemplate::resolve("gemma3", std::path::Path::new("/"))
            .unwrap()
            .prompt_input("SYS", "질문?")
            .unwrap()
    }

    #[tokio::test]
    async fn a_url_llama_server_is_checked_token_for_token() {
        let base = fake_server(true, false).await;
        let target = ApiTarget::openai("server", &base, None, true);
        let out = check(&target, &reference(), &sampling(), None, false)
            .await
            .unwrap();
        assert_eq!(out.status, FairnessStatus::Match, "{out:?}");
        assert!(
            out.method
                .contains("llama-server /apply-template + llama-server /tokenize")
                && out.method.contains("same /tokenize"),
            "{}",
            out.method
        );
        let ids = out.engine_tokens.unwrap();
        assert_eq!(ids.first(), Some(&2));
        assert_eq!(Some(ids), out.reference_tokens);

        // The same server with a prompt that starts with two BOS is a mismatch.
        let base = fake_server(true, true).await;
        let target = ApiTarget::openai("server", &base, None, true);
        let err = check(&target, &reference(), &sampling(), None, false)
            .await
            .unwrap_err();
        let m = err
            .downcast_ref::<TemplateMismatch>()
            .unwrap_or_else(|| panic!("not a template mismatch: {err:#}"));
        assert!(m.detail.contains("position 1"), "{}", m.detail);
        // A server we did not start: the fix is how to start it, not our config.
        assert!(
            m.fix.contains("--chat-template-file") && !m.fix.contains("servers."),
            "{}",
            m.fix
        );
    }

    #[tokio::test]
    async fn a_url_server_that_is_not_a_llama_server_is_not_checked() {
        // The same routes, but no llama-server /props: not guessed at.
        let base = fake_server(false, true).await;
        let target = ApiTarget::openai("server", &base, None, true);
        let out = check(&target, &reference(), &sampling(), None, false)
            .await
            .unwrap();
        assert_eq!(out.status, FairnessStatus::NotChecked);
        assert!(out.detail.contains("/props"), "{}", out.detail);
    }

    #[test]
    fn first_difference_position() {
        assert_eq!(first_difference(&[2, 2, 105], &[2, 105]), 1);
        assert_eq!(first_difference(&[2, 105], &[2, 105]), 2);
    }
}
